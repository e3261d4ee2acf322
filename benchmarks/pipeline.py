"""Wall time of the whole pipeline on this machine: cold run, no-op rerun, one added dataset.

    python benchmarks/pipeline.py [--cores 4] [--repeat 1]

Runs the real workflow (``snakemake --cores N``) on a temporary copy of the project with the
default config and the built-in data, and prints each time next to its target:
cold run ≤ 60 s, no-op rerun ≤ 5 s, adding one small dataset ≤ 15 s. With ``--repeat``, each
phase is timed that many times on fresh copies and the median is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"cold run": 60.0, "no-op rerun": 5.0, "add one dataset": 15.0}
NEW_TABLE = "| x | y |\n| 1 | 2.1 |\n| 2 | 3.9 |\n| 3 | 6.2 |\n| 4 | 7.8 |\n| 5 | 10.1 |\n"
NEW_SPEC = """title: Added dataset
source: benchmarks/pipeline.py
columns:
  - {name: x, type: float}
  - {name: y, type: float}
model: {target: y, features: [x]}
"""


def copy_project(where: Path) -> Path:
    """The workflow, config and data, as a user's checkout would have them."""
    project = where / "project"
    project.mkdir()
    for name in ("Snakefile", "environment.yml"):
        shutil.copy(ROOT / name, project / name)
    for name in ("workflow", "config", "data"):
        shutil.copytree(ROOT / name, project / name)
    return project


def run(project: Path, cores: int) -> float:
    """Seconds for one ``snakemake --cores N``; fails loudly if the run fails."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "all"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"snakemake failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def one_round(cores: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp))
        times = {"cold run": run(project, cores), "no-op rerun": run(project, cores)}
        (project / "data" / "added.md").write_text(NEW_TABLE, encoding="utf-8")
        (project / "data" / "added.yaml").write_text(NEW_SPEC, encoding="utf-8")
        times["add one dataset"] = run(project, cores)
        jobs = len(list((project / "results").glob("*/fits/*.json")))
    times["fits"] = jobs
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rounds = [one_round(args.cores) for _ in range(args.repeat)]
    print(
        f"descent pipeline, snakemake --cores {args.cores}, {os.cpu_count()} CPUs, "
        f"{int(rounds[0]['fits'])} fit jobs, median of {args.repeat}"
    )
    print(f"{'phase':<18}{'seconds':>10}{'target':>10}{'ratio':>8}  verdict")
    for phase, target in TARGETS.items():
        seconds = statistics.median(r[phase] for r in rounds)
        verdict = "meets target" if seconds <= target else "MISSES target"
        print(f"{phase:<18}{seconds:>10.1f}{target:>10.0f}{seconds / target:>8.2f}  {verdict}")


if __name__ == "__main__":
    main()
