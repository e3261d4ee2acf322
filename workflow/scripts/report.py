"""Thin adapter: report.html, report.md and summary.csv from everything in results/."""

import sys

# The package from this checkout when it is not installed (a cluster node, --use-conda).
sys.path.insert(0, f"{snakemake.scriptdir}/../../src")

from descent.jobs import report_stage, run_stage

run_stage(
    report_stage,
    log=snakemake.log[0],
    datasets=list(snakemake.params.datasets),
    variants=list(snakemake.params.variants),
    unfitted=dict(snakemake.params.unfitted),
    config_hash=snakemake.params.config_hash,
    gap_target=snakemake.params.gap_target,
    html_out=snakemake.output.html,
    md_out=snakemake.output.md,
    csv_out=snakemake.output.csv,
)
