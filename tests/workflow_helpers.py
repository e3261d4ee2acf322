"""Run the real Snakemake workflow on a temporary copy of the project."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

SLEEP_TABLE = """\
| Sleep Duration (hours) | Performance Index |
| 4 | 55 |
| 5 | 65 |
| 6 | 75 |
| 7 | 85 |
| 8 | 95 |
| 9 | 80 |
"""

SLEEP_SPEC = {
    "title": "Sleep duration and performance",
    "source": "test copy of the article's sleep table",
    "columns": [
        {"name": "Sleep Duration (hours)", "type": "float", "checks": {"ge": 0, "le": 24}},
        {"name": "Performance Index", "type": "float", "checks": {"ge": 0, "le": 100}},
    ],
    "key": ["Sleep Duration (hours)"],
    "model": {
        "target": "Performance Index",
        "features": ["Sleep Duration (hours)"],
        "degree": 2,
    },
}

CARS_CSV = """\
Car Model,City MPG,Highway MPG
Toyota Prius,54,50
Honda Civic,32,42
Ford Fusion,23,34
BMW 3 Series,26,36
Tesla Model S,101,102
Chevrolet Camaro,16,24
"""

CARS_SPEC = {
    "title": "Car fuel efficiency",
    "source": "test copy of the article's car table",
    "columns": [
        {"name": "Car Model", "type": "str", "checks": {"unique": True}},
        {"name": "City MPG", "type": "float", "checks": {"gt": 0}},
        {"name": "Highway MPG", "type": "float", "checks": {"gt": 0}},
    ],
    "key": ["Car Model"],
    "model": {"target": "Highway MPG", "features": ["City MPG"]},
}

SMALL_VARIANTS = {
    "batch-gd": {"optimizer": "gd"},
    "newton": {"optimizer": "newton", "learning_rate": 1.0, "max_iter": 50},
    "adam": {
        "optimizer": "adam",
        "learning_rate": 0.05,
        "schedule": {"name": "exponential_decay", "rate": 0.998},
    },
}


def make_project(
    tmp: Path,
    datasets: dict[str, tuple[str, str, dict]] | None = None,
    variants: dict | None = None,
) -> Path:
    """A copy of the workflow with its own data/ and config; returns its folder."""
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "Snakefile", project / "Snakefile")
    shutil.copy(ROOT / "environment.yml", project / "environment.yml")
    shutil.copytree(ROOT / "workflow", project / "workflow")
    (project / "config").mkdir()
    (project / "data").mkdir()
    datasets = (
        datasets
        if datasets is not None
        else {
            "sleep": ("sleep.md", SLEEP_TABLE, SLEEP_SPEC),
            "cars": ("cars.csv", CARS_CSV, CARS_SPEC),
        }
    )
    for name, (file_name, table, spec) in datasets.items():
        add_dataset(project, name, file_name, table, spec)
    write_config(project, variants if variants is not None else SMALL_VARIANTS)
    return project


def add_dataset(project: Path, name: str, file_name: str, table: str | bytes, spec: dict) -> None:
    """Drop a table and its spec into the project's data/."""
    path = project / "data" / file_name
    if isinstance(table, bytes):
        path.write_bytes(table)
    else:
        path.write_text(table, encoding="utf-8")
    (project / "data" / f"{name}.yaml").write_text(
        yaml.safe_dump(spec, sort_keys=False), encoding="utf-8"
    )


def write_config(project: Path, variants: dict, **extra) -> None:
    config = {
        "gap_target": 1e-6,
        "defaults": {"max_iter": 5000, "seed": 0},
        "variants": variants,
        **extra,
    }
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


def snakemake(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``snakemake ARGS`` in the project folder with this interpreter's environment."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def planned_jobs(project: Path, *args: str) -> dict[str, int]:
    """Rule name → number of jobs a dry run plans (empty when nothing is to be done)."""
    done = snakemake(project, "--dry-run", "--quiet", "rules", *args)
    text = done.stdout + done.stderr
    counts: dict[str, int] = {}
    in_table = False
    for line in text.splitlines():
        if line.strip().startswith("job") and "count" in line:
            in_table = True
            continue
        if in_table:
            match = re.match(r"^\s*([A-Za-z_]\w*)\s+(\d+)\s*$", line)
            if match and match.group(1) != "total":
                counts[match.group(1)] = int(match.group(2))
            elif line.strip() and not line.strip().startswith("-") and not match:
                in_table = False
    return counts
