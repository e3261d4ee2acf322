"""Thin adapter: fit one variant on one dataset (NumPy only)."""

import sys

# The package from this checkout when it is not installed (a cluster node, --use-conda).
sys.path.insert(0, f"{snakemake.scriptdir}/../../src")

from descent.jobs import fit_stage, run_stage

run_stage(
    fit_stage,
    log=snakemake.log[0],
    dataset=snakemake.wildcards.ds,
    label=f"fit_{snakemake.wildcards.v}",
    design=snakemake.input.design,
    xstd=snakemake.input.xstd,
    variant_name=snakemake.wildcards.v,
    variant=dict(snakemake.params.variant),
    fit_out=snakemake.output.fit,
    trace_out=snakemake.output.trace,
)
