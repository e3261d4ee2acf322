#!/usr/bin/env bash
# Stop the daemons cluster/slurm-up.sh started, by their PID files only (TERM, then KILL after
# 10 s). Jobs still queued or running are cancelled first. Idempotent: what is not running is
# skipped. Adapted from ../shared/cluster/slurm-down.sh.
#
# usage: cluster/slurm-down.sh [--slurm-only]   (--slurm-only: keep munge and MariaDB running)
set -uo pipefail

log() { echo "slurm-down: $*"; }
[ "$(id -u)" = 0 ] || { echo "slurm-down: error: needs root (the daemons run as root)" >&2; exit 2; }
export PATH=$PATH:/usr/sbin:/sbin

PIDFILES="/run/slurmd.pid /run/slurmctld.pid"
[ "${1:-}" = "--slurm-only" ] || PIDFILES="$PIDFILES /run/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid"

# cancel leftover jobs while slurmctld still answers, so no slurmstepd outlives slurmd
if [ -s /run/slurmctld.pid ] && kill -0 "$(cat /run/slurmctld.pid)" 2>/dev/null; then
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs $jobs"
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null || true
    timeout 15 bash -c 'while [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do sleep 0.5; done' || true
  fi
fi

status=0
for f in $PIDFILES; do
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if ! kill "$pid" 2>/dev/null; then rm -f "$f"; continue; fi   # stale pid file
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "WARN: $f pid $pid ignored TERM for 10 s, sending KILL"
    kill -9 "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "ERROR: pid $pid ($f) survives KILL"; status=1; }
  fi
  log "stopped $(basename "$f" .pid) (pid $pid)"
  rm -f "$f"
done
exit $status
