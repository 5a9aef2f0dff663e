#!/usr/bin/env bash
# A one-node Slurm on this machine, to run cluster/*.slurm for real (scripts/test_slurm.sh). Needs root.
#   bash cluster/local-slurm.sh up       install slurm-wlm and munge if missing, write /etc/slurm/slurm.conf,
#                                        start munged, slurmctld and slurmd, wait until the node is idle
#   bash cluster/local-slurm.sh down     stop the daemons `up` started
#   bash cluster/local-slurm.sh status   the daemons and `sinfo`
# `up` is idempotent: with the daemons running on the same configuration it only waits for the node.
# Made for containers and CI machines: no systemd, no cgroups (proctrack/linuxproc, task/none), no accounting
# database, loopback addresses only. Everything Slurm writes (state, spool, logs, pid files) is under
# $LOCAL_SLURM_DIR (default /var/spool/longlm-slurm). It refuses to overwrite a slurm.conf it did not write.
set -euo pipefail

DIR=${LOCAL_SLURM_DIR:-/var/spool/longlm-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# Written by longlm-dist cluster/local-slurm.sh"
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60}      # seconds to wait for the node to become idle
NODE=$(hostname -s 2>/dev/null || hostname)
[ -n "$NODE" ] || NODE=localhost

say() { echo "local-slurm: $*"; }
die() { echo "local-slurm: $*" >&2; exit 1; }

# A daemon's pid from its pid file, if that process is still alive.
alive_pid() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Sends SIGTERM to the daemon named by a pid file and waits (up to 20 s) for it to exit.
stop_daemon() {
  local name=$1 pidfile=$2 pid i
  if pid=$(alive_pid "$pidfile"); then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then say "$name ($pid) did not stop on SIGTERM; sending SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
    say "stopped $name ($pid)"
  fi
  rm -f "$pidfile"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

show_logs() {
  local f
  for f in /var/log/munge/munged.log "$DIR/slurmctld.log" "$DIR/slurmd.log"; do
    [ -f "$f" ] || continue
    echo "----- last lines of $f -----" >&2
    tail -n 25 "$f" >&2
  done
  echo "----- sinfo -----" >&2
  sinfo -N -l 2>&1 >&2 || true
  sinfo -R 2>&1 >&2 || true
}

install_packages() {
  local missing=0 tool
  for tool in slurmctld slurmd sbatch sinfo scontrol munged munge; do
    command -v "$tool" >/dev/null 2>&1 || missing=1
  done
  [ $missing = 0 ] && return 0
  say "installing slurm-wlm and munge (apt-get)"
  apt-get update -q >/dev/null || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null \
    || die "apt-get install slurm-wlm munge failed"
}

# The node's line for slurm.conf: what slurmd measures here (CPUs, sockets, cores, threads, memory), minus
# its uptime, at the loopback address.
node_line() {
  local measured
  measured=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]*//' -e 's/ *UpTime=.*//')
  echo "NodeName=$NODE NodeAddr=127.0.0.1$measured State=UNKNOWN"
}

write_conf() {
  cat <<EOF
$MARKER: a one-node Slurm on this machine for tests.
# Stop it with: bash cluster/local-slurm.sh down
ClusterName=longlm-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
# No cgroups (containers usually cannot create them): processes are tracked through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# A node that restarts comes back into service by itself.
ReturnToService=2
# Seconds between SIGTERM and SIGKILL when a job is cancelled or out of time.
KillWait=5
# Finished jobs stay visible to scontrol show job for 10 minutes.
MinJobAge=600
# An srun step whose task exits non-zero is ended at once (srun --kill-on-bad-exit=1 for every step).
KillOnBadExit=1
InactiveLimit=0
SlurmctldTimeout=60
SlurmdTimeout=60
StateSaveLocation=$DIR/slurmctld
SlurmdSpoolDir=$DIR/slurmd
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$(node_line)
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge_works; then return 0; fi
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null 2>&1; then mungekey --create --keyfile=/etc/munge/munge.key --force
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
  fi
  local user=root
  id munge >/dev/null 2>&1 && user=munge
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown "$user" /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
  chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  chmod 0755 /run/munge
  chmod 0400 /etc/munge/munge.key
  rm -f /run/munge/munged.pid
  if [ "$user" = munge ]; then
    runuser -u munge -- munged
  else
    munged --force
  fi
  touch "$DIR/munged.ours"        # `down` stops munged only if `up` started it
  local i
  for i in $(seq 1 20); do munge_works && { say "started munged"; return 0; }; sleep 0.5; done
  show_logs; die "munged started but munge -n | unmunge fails"
}

node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n 1; }

wait_idle() {
  local start state=""
  start=$(date +%s)
  while [ $(( $(date +%s) - start )) -lt "$TIMEOUT" ]; do
    state=$(node_state || true)
    case "$state" in
      idle|mixed|allocated|completing) say "node $NODE is $state (sinfo after $(( $(date +%s) - start )) s)"; return 0 ;;
      down*|drain*|drained*)
        # Left down or drained by an earlier run (e.g. restarted daemons): put it back into service.
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 1
  done
  echo "local-slurm: node $NODE is not idle after $TIMEOUT s (state: '${state:-none}')" >&2
  show_logs
  exit 1
}

up() {
  [ "$(id -u)" = 0 ] || die "run as root (it installs packages, writes /etc/slurm and starts daemons)"
  install_packages
  mkdir -p "$DIR/slurmctld" "$DIR/slurmd" /etc/slurm
  if [ -f "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; not touching it (a real Slurm may be configured here)"
  fi
  local new restart=0
  new=$(write_conf)
  if [ ! -f "$CONF" ] || [ "$new" != "$(cat "$CONF")" ]; then
    echo "$new" > "$CONF"
    say "wrote $CONF"
    restart=1
  fi
  start_munge
  if [ $restart = 1 ]; then
    stop_daemon slurmd "$DIR/slurmd.pid"
    stop_daemon slurmctld "$DIR/slurmctld.pid"
  fi
  if ! alive_pid "$DIR/slurmctld.pid" >/dev/null; then
    slurmctld -f "$CONF" || { show_logs; die "slurmctld did not start"; }
    say "started slurmctld"
  fi
  if ! alive_pid "$DIR/slurmd.pid" >/dev/null; then
    slurmd -f "$CONF" -N "$NODE" || { show_logs; die "slurmd did not start"; }
    say "started slurmd"
  fi
  wait_idle
}

down() {
  stop_daemon slurmd "$DIR/slurmd.pid"
  stop_daemon slurmctld "$DIR/slurmctld.pid"
  if [ -f "$DIR/munged.ours" ]; then
    stop_daemon munged /run/munge/munged.pid
    rm -f "$DIR/munged.ours"
  fi
}

status() {
  local name pidfile pid
  for name in munged slurmctld slurmd; do
    pidfile=$DIR/$name.pid
    [ $name = munged ] && pidfile=/run/munge/munged.pid
    if pid=$(alive_pid "$pidfile"); then echo "$name: running ($pid)"; else echo "$name: not running"; fi
  done
  sinfo -N -l 2>&1 || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: bash cluster/local-slurm.sh up|down|status" >&2; exit 2 ;;
esac
