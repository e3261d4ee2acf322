"""Thin adapter: iterations to the gap target, datasets × variants."""

from descent.jobs import heatmap_stage, run_stage

run_stage(
    heatmap_stage,
    log=snakemake.log[0],
    fits=list(snakemake.input.fits),
    gap_target=snakemake.params.gap_target,
    heatmap_out=snakemake.output.heatmap,
)
