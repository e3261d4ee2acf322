"""Thin adapter: design matrix, Gram statistics and the exact optimum."""

import sys

# The package from this checkout when it is not installed (a cluster node, --use-conda).
sys.path.insert(0, f"{snakemake.scriptdir}/../../src")

from descent.jobs import design_stage, run_stage

run_stage(
    design_stage,
    log=snakemake.log[0],
    dataset=snakemake.wildcards.ds,
    label="design",
    parquet=snakemake.input.parquet,
    spec=snakemake.input.spec,
    design_out=snakemake.output.design,
    xstd_out=snakemake.output.xstd,
    reference_out=snakemake.output.reference,
)
