"""Thin adapter: design matrix, Gram statistics and the exact optimum."""

from descent.jobs import design_stage, run_stage

run_stage(
    design_stage,
    log=snakemake.log[0],
    dataset=snakemake.wildcards.ds,
    label="design",
    parquet=snakemake.input.parquet,
    spec=snakemake.input.spec,
    design_out=snakemake.output.design,
    reference_out=snakemake.output.reference,
)
