"""Thin adapter: the plots of one dataset."""

import sys

# The package from this checkout when it is not installed (a cluster node, --use-conda).
sys.path.insert(0, f"{snakemake.scriptdir}/../../src")

from descent.jobs import plot_dataset_stage, run_stage

run_stage(
    plot_dataset_stage,
    log=snakemake.log[0],
    dataset=snakemake.wildcards.ds,
    label="plot",
    design=snakemake.input.design,
    xstd=snakemake.input.xstd,
    reference=snakemake.input.reference,
    fits=list(snakemake.input.fits),
    outputs=dict(snakemake.output.items()),
)
