"""Thin adapter: iterations to the gap target, datasets × variants."""

import sys

# The package from this checkout when it is not installed (a cluster node, --use-conda).
sys.path.insert(0, f"{snakemake.scriptdir}/../../src")

from descent.jobs import heatmap_stage, run_stage

run_stage(
    heatmap_stage,
    log=snakemake.log[0],
    fits=list(snakemake.input.fits),
    gap_target=snakemake.params.gap_target,
    heatmap_out=snakemake.output.heatmap,
)
