"""Thin adapter: parse and validate one table; failures as a table on the terminal."""

import sys

# The package from this checkout when it is not installed (a cluster node, --use-conda).
sys.path.insert(0, f"{snakemake.scriptdir}/../../src")

from descent.jobs import run_stage, validate_stage

run_stage(
    validate_stage,
    log=snakemake.log[0],
    dataset=snakemake.wildcards.ds,
    label="validate",
    spec=snakemake.input.spec,
    parquet_out=snakemake.output.parquet,
    report_out=snakemake.output.report,
    rejected_out=snakemake.output.rejected,
)
