#!/usr/bin/env bash
# The SLURM test for .ci/run: when this machine allows (root, apt-get), bring up the single-node
# cluster (cluster/slurm-up.sh), run `pytest -m slurm` against it with DESCENT_SLURM=1, and bring
# it down again (cluster/slurm-down.sh). Otherwise print "SLURM test skipped: <reason>" and exit 0.
# Runs with the python on PATH (the one .ci/run activated). Finishes within DESCENT_SLURM_BUDGET
# seconds (default 280): every step has a timeout. A cluster that was already up is left up.
set -uo pipefail
cd "$(dirname "$0")/.."

BUDGET=${DESCENT_SLURM_BUDGET:-280}
DOWN_RESERVE=30          # seconds kept for slurm-down.sh
TEST_MIN=110             # the test takes ~85 s (local run ~12 s, SLURM run ~65 s)
UP_LOG=$(mktemp /tmp/descent-slurm-up.XXXXXX.log)
start=$SECONDS
left() { echo $((BUDGET - (SECONDS - start))); }
skip() { echo "SLURM test skipped: $*"; exit 0; }

[ "$(id -u)" = 0 ] || skip "not root (cluster/slurm-up.sh installs Debian packages and starts daemons)"
command -v apt-get >/dev/null || skip "apt-get not found (cluster/slurm-up.sh needs Debian/Ubuntu)"
command -v timeout >/dev/null || skip "coreutils 'timeout' not found"
PY=$(command -v python || command -v python3) || skip "no python on PATH"
# The plugin is an extra, not a test dependency: once installed it probes sacct/squeue whenever
# snakemake starts (9 s per run on a machine with SLURM's clients but no controller).
timeout 300 "$PY" -m pip install --quiet -e ".[slurm]" >/dev/null 2>&1 \
  || skip "could not install the slurm extra (snakemake-executor-plugin-slurm)"
timeout 60 "$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
  || skip "snakemake-executor-plugin-slurm is not installed for $PY"

was_up=0
[ -s /run/slurmctld.pid ] && kill -0 "$(cat /run/slurmctld.pid)" 2>/dev/null && was_up=1
down() {
  if [ $was_up = 0 ]; then
    timeout -k 5 $DOWN_RESERVE cluster/slurm-down.sh || echo "WARN: cluster/slurm-down.sh failed"
  fi
}
trap down EXIT
trap 'exit 130' INT TERM

echo "== SLURM: cluster/slurm-up.sh"
SLURM_UP_APT_UPDATE_TIMEOUT=60 SLURM_UP_APT_INSTALL_TIMEOUT=100 \
  timeout -k 5 180 cluster/slurm-up.sh >"$UP_LOG" 2>&1
rc=$?
cat "$UP_LOG"
case $rc in
  0) ;;
  2) skip "$(sed -n 's/^slurm-up: unavailable: //p' "$UP_LOG" | tail -1)" ;;
  124|137) echo "FAIL: cluster/slurm-up.sh did not finish within 180 s"; exit 1 ;;
  *) echo "FAIL: cluster/slurm-up.sh exited $rc"; exit 1 ;;
esac
rm -f "$UP_LOG"

t=$(( $(left) - DOWN_RESERVE ))
[ "$t" -ge $TEST_MIN ] || skip "setting up the cluster took $((SECONDS - start)) s; \
only $t s of the ${BUDGET} s budget left for a ~90 s test"
echo "== SLURM: pytest -m slurm (up to $t s)"
DESCENT_SLURM=1 timeout -k 10 "$t" "$PY" -m pytest -m slurm -q
rc=$?
case $rc in
  0) echo "== SLURM test passed in $((SECONDS - start)) s" ;;
  124|137) echo "FAIL: pytest -m slurm did not finish within $t s" ;;
  *) echo "FAIL: pytest -m slurm exited $rc" ;;
esac
exit $rc
