"""Thin adapter: the plots of one dataset."""

from descent.jobs import plot_dataset_stage, run_stage

run_stage(
    plot_dataset_stage,
    log=snakemake.log[0],
    dataset=snakemake.wildcards.ds,
    label="plot",
    design=snakemake.input.design,
    reference=snakemake.input.reference,
    fits=list(snakemake.input.fits),
    outputs=dict(snakemake.output.items()),
)
