"""The workflow on a real SLURM cluster through profiles/slurm gives the local run's results.

Needs a running SLURM with accounting (cluster/slurm-up.sh, as root) and DESCENT_SLURM=1;
cluster/ci.sh does both. Skipped otherwise, with the reason. Each cluster job costs seconds
(sbatch, then srun, each starting snakemake, plus the plugin's status polling), so the copy holds
one small dataset and two variants: 7 jobs, plus one that records the job's environment.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm"
DATASET = "sleep"
WANTED_VARIANTS = ("batch-gd", "newton")
VOLATILE = {"seconds"}  # wall-clock time of a fit: the only field allowed to differ

# An extra rule in the copy only: what a SLURM job sees of the submitting environment.
ENV_PROBE_RULE = '''

rule slurm_env_probe:
    output:
        "results/env_probe.json",
    resources:
        mem_mb=256,
        runtime=5,
    run:
        import json, os, sys
        import descent

        with open(output[0], "w") as f:
            json.dump({"PATH": os.environ.get("PATH", ""), "python": sys.executable,
                       "descent": descent.__file__,
                       "SLURM_JOB_ID": os.environ.get("SLURM_JOB_ID")}, f)
'''

pytestmark = pytest.mark.slurm


def _why_not() -> str | None:
    """None when a SLURM cluster is there to run on, else the reason to skip."""
    if os.environ.get("DESCENT_SLURM") != "1":
        return ("needs a real SLURM cluster: run cluster/ci.sh as root (it starts one and sets "
                "DESCENT_SLURM=1), or set DESCENT_SLURM=1 where sinfo answers")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed in this environment"
    for tool in ("sinfo", "sacct", "sbatch"):
        if shutil.which(tool) is None:
            return f"DESCENT_SLURM=1 but '{tool}' is not on PATH"
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%P %a %T"], capture_output=True, text=True,
                              timeout=15)
    except subprocess.TimeoutExpired:
        return "DESCENT_SLURM=1 but sinfo did not answer within 15 s"
    if done.returncode != 0 or not done.stdout.strip():
        return f"DESCENT_SLURM=1 but sinfo does not answer: {done.stderr.strip()[:200]}"
    return None


@pytest.fixture(scope="module")
def cluster() -> None:
    reason = _why_not()
    if reason:
        pytest.skip(reason)


def _project(tmp: Path) -> Path:
    """A copy of the workflow with one dataset and two variants of config/config.yaml."""
    project = tmp / "project"
    (project / "data").mkdir(parents=True)
    (project / "config").mkdir()
    shutil.copytree(ROOT / "workflow", project / "workflow")
    for name in ("environment.yml",):  # referenced by rules' conda: directives, when present
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, project / name)
    snakefile = (ROOT / "Snakefile").read_text(encoding="utf-8")
    (project / "Snakefile").write_text(snakefile + ENV_PROBE_RULE, encoding="utf-8")
    for suffix in (".md", ".yaml"):
        shutil.copy(ROOT / "data" / f"{DATASET}{suffix}", project / "data")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    variants = config["variants"]
    chosen = [v for v in WANTED_VARIANTS if v in variants]
    chosen += [v for v, s in variants.items() if v not in chosen and "datasets" not in s]
    config["variants"] = {v: variants[v] for v in chosen[:2]}
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return project


def _text(output: str | bytes | None) -> str:
    """Partial output of a timed-out process (bytes even with text=True)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _snakemake(project: Path, *args: str, timeout: float) -> tuple[str, float]:
    """Run snakemake in the copy with this interpreter's environment; (output, wall seconds)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = [sys.executable, "-m", "snakemake", "all", "slurm_env_probe", *args]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as error:
        text = _text(error.stdout) + _text(error.stderr)
        for run_id in re.findall(r"SLURM run ID: (\S+)", text):  # leave no job behind
            subprocess.run(["scancel", "--name", run_id], timeout=15, check=False)
        raise AssertionError(f"snakemake {' '.join(args)} took over {timeout} s:\n{text}") from None
    wall = time.monotonic() - started
    text = done.stdout + done.stderr
    assert done.returncode == 0, f"snakemake {' '.join(args)} failed:\n{text}"
    return text, wall


def _finished_jobs(log: str) -> list[str]:
    """Rules of the jobs snakemake ran, without the local target rule `all`."""
    rules = re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", log)
    return [rule for rule in rules if rule != "all"]


def _sacct(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    """SLURM job id → (job name, state) as accounting has it."""
    done = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "-o", "JobID,JobName,State"],
        capture_output=True, text=True, timeout=30, check=True)
    rows = [line.split("|") for line in done.stdout.splitlines() if line.strip()]
    return {row[0]: (row[1], row[2]) for row in rows}


def _summary(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k not in VOLATILE} for row in csv.DictReader(f)]


def test_slurm_run_matches_local_run(cluster, tmp_path, capsys):
    project = _project(tmp_path)

    # 1. local, as the reference (and the per-job cost without a scheduler)
    local_log, local_wall = _snakemake(project, "--cores", "2", timeout=90)
    local_jobs = _finished_jobs(local_log)
    (project / "results").rename(project / "results-local")
    shutil.rmtree(project / "logs", ignore_errors=True)

    # 2. the same copy through SLURM, with the project's profile as a user would run it
    slurm_log, slurm_wall = _snakemake(
        project, "--profile", str(PROFILE),
        "--slurm-init-seconds-before-status-checks", "1",  # test cluster: check from 1 s on
        "--slurm-no-account",  # the test cluster has no accounts (the guess only warns)
        "--slurm-keep-successful-logs",
        timeout=150)
    slurm_jobs = _finished_jobs(slurm_log)
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", slurm_log)
    run_ids = re.findall(r"SLURM run ID: (\S+)", slurm_log)

    # every job went through sbatch, and accounting (what the plugin polls) saw each complete
    assert sorted(slurm_jobs) == sorted(local_jobs)
    assert len(submitted) == len(slurm_jobs), slurm_log
    assert len(run_ids) == 1, slurm_log
    states = _sacct(submitted)
    assert set(states) == set(submitted), f"sacct misses jobs: {states} vs {submitted}"
    assert {name for name, _ in states.values()} == {run_ids[0]}
    assert {state for _, state in states.values()} == {"COMPLETED"}, states

    # the job ran in the submitting environment: its PATH, interpreter and descent package
    probe = json.loads((project / "results" / "env_probe.json").read_text(encoding="utf-8"))
    import descent

    assert probe["SLURM_JOB_ID"] in submitted
    assert str(Path(sys.executable).parent) in probe["PATH"].split(os.pathsep)
    assert probe["python"] == sys.executable
    assert probe["descent"] == descent.__file__

    # identical results: the summary apart from `seconds`, the fits' coefficients exactly
    assert _summary(project / "results" / "summary.csv") == _summary(
        project / "results-local" / "summary.csv")
    fits = sorted((project / "results" / DATASET / "fits").glob("*.json"))
    assert len(fits) == 2
    for fit in fits:
        cluster_fit = json.loads(fit.read_text(encoding="utf-8"))
        local_fit = json.loads(
            (project / "results-local" / DATASET / "fits" / fit.name).read_text(encoding="utf-8"))
        assert cluster_fit["coef"] == local_fit["coef"], fit.name
        assert {k: v for k, v in cluster_fit.items() if k not in VOLATILE} == {
            k: v for k, v in local_fit.items() if k not in VOLATILE}, fit.name

    n = len(slurm_jobs)
    with capsys.disabled():
        print(f"\nSLURM vs local, {n} jobs ({', '.join(sorted(slurm_jobs))}), 2 CPUs:"
              f"\n  local: {local_wall:6.1f} s wall, {local_wall / n:5.2f} s per job"
              f"\n  SLURM: {slurm_wall:6.1f} s wall, {slurm_wall / n:5.2f} s per job"
              f"\n  overhead under SLURM: {(slurm_wall - local_wall) / n:+.2f} s per job")
