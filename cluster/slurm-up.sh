#!/usr/bin/env bash
# Bring up a real single-node SLURM cluster on localhost for descent's cluster test
# (tests/test_slurm.py), without systemd: munge, MariaDB + slurmdbd (accounting, so that `sacct`
# answers, which snakemake-executor-plugin-slurm uses for job states), slurmctld and slurmd, with
# one partition `debug`. Adapted from ../shared/cluster/slurm-up.sh.
#
# usage: cluster/slurm-up.sh [--no-accounting]
#
# Needs root and a Debian/Ubuntu apt (installs slurm-wlm, munge, slurmdbd, mariadb-server when
# missing). Idempotent: daemons already running are left alone; when the generated slurm.conf
# changes, the running SLURM daemons are restarted. Every wait has a timeout.
# Exit status: 0 up; 2 this machine cannot run it (not root, no apt, packages unavailable);
# 1 anything else (a daemon did not come up: see /var/log/slurm/).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
LOGDIR=/var/log/slurm
APT_UPDATE_TIMEOUT=${SLURM_UP_APT_UPDATE_TIMEOUT:-90}
APT_INSTALL_TIMEOUT=${SLURM_UP_APT_INSTALL_TIMEOUT:-150}

log() { echo "slurm-up: $*"; }
die() { echo "slurm-up: error: $*" >&2; exit 1; }
unavailable() { echo "slurm-up: unavailable: $*" >&2; exit 2; }
show_log() { [ -s "$1" ] && { echo "--- last lines of $1:" >&2; tail -n 15 "$1" >&2; }; return 0; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

ACCT=1
case "${1:-}" in
  "") ;;
  --no-accounting) ACCT=0 ;;
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--no-accounting]" >&2; exit 64 ;;
esac

[ "$(id -u)" = 0 ] || unavailable "needs root (installs Debian packages and starts daemons as root)"
command -v timeout >/dev/null || unavailable "coreutils 'timeout' not found"

# --- packages --------------------------------------------------------------------------------
PKGS="slurm-wlm munge"; [ $ACCT = 1 ] && PKGS="$PKGS slurmdbd mariadb-server"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null || unavailable "apt-get not found (needs Debian/Ubuntu) to install:$missing"
  log "installing$missing (apt-get, up to $((APT_UPDATE_TIMEOUT + APT_INSTALL_TIMEOUT)) s)"
  export DEBIAN_FRONTEND=noninteractive
  # No service may start from a package's postinst: we start every daemon ourselves below.
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  # shellcheck disable=SC2064
  trap "[ $added_policy = 1 ] && rm -f /usr/sbin/policy-rc.d" EXIT
  timeout "$APT_UPDATE_TIMEOUT" apt-get -qq -o DPkg::Lock::Timeout=30 update \
    || unavailable "apt-get update failed or took over ${APT_UPDATE_TIMEOUT} s (no network or mirror?)"
  # shellcheck disable=SC2086
  timeout "$APT_INSTALL_TIMEOUT" apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=30 $missing > /tmp/slurm-up-apt.log 2>&1 \
    || { tail -n 15 /tmp/slurm-up-apt.log >&2
         unavailable "apt-get install$missing failed or took over ${APT_INSTALL_TIMEOUT} s"; }
  [ $added_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi
NEEDED="munged munge unmunge slurmctld slurmd sinfo srun sbatch squeue scontrol"
[ $ACCT = 1 ] && NEEDED="$NEEDED slurmdbd sacct mariadbd mariadb mariadb-install-db"
for b in $NEEDED; do
  command -v "$b" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$b" >/dev/null \
    || unavailable "'$b' not found after installing $PKGS"
done
export PATH=$PATH:/usr/sbin:/sbin

# --- configuration ---------------------------------------------------------------------------
MEM=$(timeout 20 slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
[ -n "$MEM" ] || die "'slurmd -C' did not report RealMemory"
CPUS=$(nproc)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOGDIR" /run/munge
chown munge:munge /run/munge
if [ $ACCT = 1 ]; then
  STORAGE="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost"
else
  STORAGE="AccountingStorageType=accounting_storage/none"
fi
NEW_CONF=$(cat <<CONF
# written by descent's cluster/slurm-up.sh: a single-node test cluster
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
$STORAGE
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=300
NodeName=localhost CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
)
if [ "$(cat /etc/slurm/slurm.conf 2>/dev/null)" != "$NEW_CONF" ]; then
  if alive /run/slurmctld.pid || alive /run/slurmd.pid; then
    log "slurm.conf changed: restarting the running SLURM daemons"
    "$HERE/slurm-down.sh" --slurm-only
  fi
  printf '%s\n' "$NEW_CONF" > /etc/slurm/slurm.conf
fi

# --- munge -----------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
if alive /run/munge/munged.pid; then
  log "munged already running"
else
  rm -f /run/munge/munged.pid
  runuser -u munge -- munged || die "munged did not start"   # writes /run/munge/munged.pid
fi
timeout 15 bash -c 'until munge -n 2>/dev/null | unmunge >/dev/null 2>&1; do sleep 0.2; done' \
  || die "munge does not answer after 15 s"

# --- accounting: MariaDB + slurmdbd ----------------------------------------------------------
if [ $ACCT = 1 ]; then
  if timeout 5 mariadb -e 'select 1' >/dev/null 2>&1; then
    log "MariaDB already running"
  else
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
      timeout 60 mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOGDIR/mariadb-install.out" 2>&1 \
        || { show_log "$LOGDIR/mariadb-install.out"; die "mariadb-install-db failed"; }
    fi
    setsid mariadbd --user=mysql >"$LOGDIR/mariadb.out" 2>&1 </dev/null &
    timeout 30 bash -c 'until mariadb -e "select 1" >/dev/null 2>&1; do sleep 0.2; done' \
      || { show_log "$LOGDIR/mariadb.out"; die "MariaDB does not answer after 30 s"; }
  fi
  timeout 15 mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;" \
    || die "could not create the MariaDB user for slurmdbd"
  cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=$LOGDIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
CONF
  chmod 600 /etc/slurm/slurmdbd.conf
  if alive /run/slurmdbd.pid; then
    log "slurmdbd already running"
  else
    rm -f /run/slurmdbd.pid
    slurmdbd || { show_log "$LOGDIR/slurmdbd.log"; die "slurmdbd did not start"; }
  fi
  # slurmctld dies ("...we have no TRES from it") if slurmdbd is not listening yet
  timeout 60 bash -c 'until (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null; do sleep 0.2; done' \
    || { show_log "$LOGDIR/slurmdbd.log"; die "slurmdbd does not listen on port 6819 after 60 s"; }
fi

# --- slurmctld + slurmd ----------------------------------------------------------------------
if alive /run/slurmctld.pid; then
  log "slurmctld already running"
else
  rm -f /run/slurmctld.pid
  slurmctld || { show_log "$LOGDIR/slurmctld.log"; die "slurmctld did not start"; }
fi
if alive /run/slurmd.pid; then
  log "slurmd already running"
else
  rm -f /run/slurmd.pid
  slurmd -N localhost || { show_log "$LOGDIR/slurmd.log"; die "slurmd did not start"; }
fi
# idle, or mixed/allocated when jobs already run (second call while in use)
node_ready='sinfo -h -n localhost -o %T 2>/dev/null | grep -qxE "idle|mixed|allocated|completing"'
if ! timeout 30 bash -c "until $node_ready; do sleep 0.5; done"; then
  # a node left down/drained by an earlier run: give it back to the partition once
  timeout 10 scontrol update NodeName=localhost State=RESUME 2>/dev/null || true
  timeout 30 bash -c "until $node_ready; do sleep 0.5; done" \
    || { sinfo >&2 || true; show_log "$LOGDIR/slurmctld.log"; show_log "$LOGDIR/slurmd.log"
         die "node 'localhost' not idle after 60 s"; }
fi
timeout 10 sinfo

# --- smoke test: one batch job, and (with accounting) sacct must know it -----------------------
jobid=$(timeout 60 sbatch --parsable --wait -p debug -t 1 -o /dev/null --wrap true) \
  || die "a one-second test job did not complete within 60 s (see $LOGDIR/)"
if [ $ACCT = 1 ]; then
  timeout 30 bash -c "until sacct -n -X -P -j $jobid -o State 2>/dev/null | grep -qx COMPLETED; do sleep 0.5; done" \
    || die "sacct does not report test job $jobid as COMPLETED after 30 s (accounting broken?)"
  log "test job $jobid COMPLETED (sacct answers)"
else
  log "test job $jobid done (no accounting: use --slurm-status-command squeue)"
fi
log "up: partition 'debug', $CPUS CPUs, ${MEM} MB"
