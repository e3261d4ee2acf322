"""All the Python of the workflow: config validation, dataset discovery, input functions."""

import hashlib
import json
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

from descent.discovery import (
    WorkflowConfigError,
    check_variant_datasets,
    descent_code_hash,
    discover_datasets,
    effective_variants,
)

min_version("8.20")


def stop(message):
    """A workflow-level mistake: one clear line on the terminal, then a non-zero exit."""
    print(f"descent: error: {message}", file=sys.stderr)
    sys.exit(1)


CONFIG_SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"

try:
    VARIANTS = effective_variants(
        config, CONFIG_SCHEMA
    )  # clear, key-naming messages first
    validate(
        config, schema="../schemas/config.schema.yaml"
    )  # then fill schema defaults
    DATA_DIR = Path(config.get("data_dir", "data"))
    DATASETS = discover_datasets(DATA_DIR, config.get("datasets"))
    check_variant_datasets(VARIANTS, DATASETS)
except WorkflowConfigError as error:
    stop(str(error))
except Exception as error:  # jsonschema's message names the offending key
    stop(f"config/config.yaml: {str(error).splitlines()[0]}")

FITTED = sorted(name for name, ds in DATASETS.items() if ds.fit)
UNFITTED = {name: ds.why for name, ds in DATASETS.items() if not ds.fit}
CONFIG_HASH = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[
    :16
]
# Jobs call the descent library, which Snakemake's code trigger (the script only) does not
# see: its hash is a parameter, so a changed library reruns what it computes.
CODE_HASH = descent_code_hash()


wildcard_constraints:
    ds="[a-z0-9][a-z0-9_-]*",
    v="[a-z0-9][a-z0-9_-]*",


def get_table(wildcards):
    return str(DATASETS[wildcards.ds].table)


def get_spec(wildcards):
    return str(DATASETS[wildcards.ds].spec)


def get_variant(wildcards):
    """The settings a fit depends on (not `datasets:`, which only decides where it runs)."""
    return {k: v for k, v in VARIANTS[wildcards.v].items() if k != "datasets"}


def variants_of(ds):
    """Variants that apply to a dataset (the peak family needs one numeric feature)."""
    return [v for v, settings in VARIANTS.items() if DATASETS[ds].accepts(settings)]


def peak_variants_of(ds):
    """Multi-start variants of the non-convex family on a dataset (they get a landscape plot)."""
    return [v for v in variants_of(ds) if VARIANTS[v].get("family") == "peak"]


def get_fits(wildcards):
    return expand(
        "results/{ds}/fits/{v}.json", ds=wildcards.ds, v=variants_of(wildcards.ds)
    )


def get_traces(wildcards):
    return expand(
        "results/{ds}/fits/{v}.trace.npz", ds=wildcards.ds, v=variants_of(wildcards.ds)
    )


def all_fits(wildcards):
    return [f"results/{ds}/fits/{v}.json" for ds in FITTED for v in variants_of(ds)]


def report_inputs(wildcards):
    """Everything the report shows: validation of every dataset, fits and plots of fitted ones."""
    inputs = {f"validation_{ds}": f"results/{ds}/validation.json" for ds in DATASETS}
    for ds in FITTED:
        inputs[f"reference_{ds}"] = f"results/{ds}/reference.json"
        inputs[f"plots_{ds}"] = f"results/{ds}/cost_curves.png"
        for v in peak_variants_of(ds):
            inputs[f"restarts_{ds}_{v}"] = f"results/{ds}/restarts_{v}.png"
    inputs["heatmap"] = "results/heatmap.png"
    return inputs


def report_after_failure():
    """With --keep-going the report rule cannot run (its inputs failed), so render it here from
    what exists: the failed datasets are listed with the reason each job left behind."""
    from descent.jobs import report_stage

    try:
        report_stage(
            datasets=list(DATASETS),
            variants=list(VARIANTS),
            config_hash=CONFIG_HASH,
            gap_target=config["gap_target"],
            html_out="results/report.html",
            md_out="results/report.md",
            csv_out="results/summary.csv",
            unfitted=UNFITTED,
        )
    except (
        Exception
    ) as error:  # never hide the original failure behind a report failure
        print(f"descent: could not render the partial report: {error}", file=sys.stderr)
        return
    print(
        "descent: some jobs failed; results/report.html lists them (partial report)",
        file=sys.stderr,
    )


# --- resources, sized from the data (a 6-row table and a 10-million-row one differ) -------


def input_mb(input):
    return sum(Path(f).stat().st_size for f in input if Path(f).exists()) / 2**20


def table_mem_mb(wildcards, input):
    """Parsing, validation and the design hold a few copies of the table in memory."""
    return int(1024 + 6 * input_mb(input))


def table_runtime(wildcards, input):
    """Minutes: generous for a slow shared disk."""
    return int(10 + input_mb(input) / 50)


def fit_mem_mb(wildcards, input):
    """A fit memory-maps the design; only chunks, batches and the trace are resident."""
    return int(1024 + 1.5 * input_mb(input))


def fit_runtime(wildcards, input):
    return int(30 + input_mb(input) / 20)


def plot_mem_mb(wildcards, input):
    return int(1536 + 1.5 * input_mb(input))
