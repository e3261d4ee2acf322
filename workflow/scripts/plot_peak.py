"""Thin adapter: the peak model's (μ, s) landscape with every start's end point."""

import sys

# The package from this checkout when it is not installed (a cluster node, --use-conda).
sys.path.insert(0, f"{snakemake.scriptdir}/../../src")

from descent.jobs import plot_peak_stage, run_stage

run_stage(
    plot_peak_stage,
    log=snakemake.log[0],
    dataset=snakemake.wildcards.ds,
    label=f"plot_restarts_{snakemake.wildcards.v}",
    design=snakemake.input.design,
    fit=snakemake.input.fit,
    peak_out=snakemake.output.peak,
)
