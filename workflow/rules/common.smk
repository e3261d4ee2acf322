"""All the Python of the workflow: config validation, dataset discovery, input functions."""

import hashlib
import json
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

from descent.discovery import (
    WorkflowConfigError,
    check_variant_datasets,
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
    VARIANTS = effective_variants(config, CONFIG_SCHEMA)  # clear, key-naming messages first
    validate(config, schema="../schemas/config.schema.yaml")  # then fill schema defaults
    DATA_DIR = Path(config.get("data_dir", "data"))
    DATASETS = discover_datasets(DATA_DIR, config.get("datasets"))
    check_variant_datasets(VARIANTS, DATASETS)
except WorkflowConfigError as error:
    stop(str(error))
except Exception as error:  # jsonschema's message names the offending key
    stop(f"config/config.yaml: {str(error).splitlines()[0]}")

FITTED = sorted(name for name, ds in DATASETS.items() if ds.fit)
CONFIG_HASH = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


wildcard_constraints:
    ds="[a-z0-9][a-z0-9_-]*",
    v="[a-z0-9][a-z0-9_-]*",


def get_table(wildcards):
    return str(DATASETS[wildcards.ds].table)


def get_spec(wildcards):
    return str(DATASETS[wildcards.ds].spec)


def get_variant(wildcards):
    return VARIANTS[wildcards.v]


def variants_of(ds):
    """Variants that apply to a dataset (the peak family needs one numeric feature)."""
    return [v for v, settings in VARIANTS.items() if DATASETS[ds].accepts(settings)]


def get_fits(wildcards):
    return expand("results/{ds}/fits/{v}.json", ds=wildcards.ds, v=variants_of(wildcards.ds))


def get_traces(wildcards):
    return expand("results/{ds}/fits/{v}.trace.npz", ds=wildcards.ds, v=variants_of(wildcards.ds))


def all_fits(wildcards):
    return [f"results/{ds}/fits/{v}.json" for ds in FITTED for v in variants_of(ds)]


def report_inputs(wildcards):
    """Everything the report shows: validation of every dataset, fits and plots of fitted ones."""
    inputs = {f"validation_{ds}": f"results/{ds}/validation.json" for ds in DATASETS}
    for ds in FITTED:
        inputs[f"reference_{ds}"] = f"results/{ds}/reference.json"
        inputs[f"plots_{ds}"] = f"results/{ds}/cost_curves.png"
    inputs["heatmap"] = "results/heatmap.png"
    return inputs
