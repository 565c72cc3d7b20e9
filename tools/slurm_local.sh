#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, to try and test the cluster path (README, "Clusters").
#
#   tools/slurm_local.sh start     # writes its config into $RLKIT_SLURM_DIR, starts munged, slurmctld, slurmd
#   tools/slurm_local.sh status    # the node and the queue
#   tools/slurm_local.sh stop      # stops the three daemons by their pid files
#   export SLURM_CONF=$RLKIT_SLURM_DIR/slurm.conf   # what sbatch/squeue (and submitit) need; `start` prints it
#
# Installs nothing: it needs Debian's packages (apt-get install slurmctld slurmd slurm-client munge)
# and root (the daemons run as root without systemd or cgroups: proctrack/linuxproc, task/none).
# RLKIT_SLURM_DIR defaults to ~/.cache/rlkit-slurm; everything it writes stays there.
set -euo pipefail

DIR=${RLKIT_SLURM_DIR:-$HOME/.cache/rlkit-slurm}
CONF=$DIR/slurm.conf
HOST=$(hostname -s)

need() {
  for exe in munged slurmctld slurmd sinfo; do
    command -v "$exe" >/dev/null || PATH=$PATH:/usr/sbin command -v "$exe" >/dev/null || {
      echo "slurm_local: $exe not found; install Debian's slurmctld slurmd slurm-client munge" >&2; exit 1; }
  done
  [ "$(id -u)" = 0 ] || { echo "slurm_local: run as root (the daemons need it)" >&2; exit 1; }
}

write_config() {
  mkdir -p "$DIR"/{state,spool,log,run}
  chmod 700 "$DIR"
  if [ ! -f "$DIR/munge.key" ]; then
    head -c 1024 /dev/urandom > "$DIR/munge.key"
    chmod 400 "$DIR/munge.key"
  fi
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))   # MB, 1 GB left to the OS
  cat > "$CONF" <<EOF
ClusterName=rlkit-local
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/run/munge.socket,cred_expire=10   # a requeued job waits cred_expire s (default 120)
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2   # look at pending jobs every 2 s (defaults 60, 30)
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=2                # seconds from SIGTERM to SIGKILL (submitit ignores SIGTERM; clusters often use 30)
NodeName=$HOST CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}

running() { local pid; pid=$(cat "$1" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }   # the daemon may remove its file meanwhile

start() {
  need
  write_config
  export PATH=$PATH:/usr/sbin SLURM_CONF=$CONF
  running "$DIR/run/munged.pid" || munged --key-file="$DIR/munge.key" --socket="$DIR/run/munge.socket" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/run/munge.seed" \
    --force
  running "$DIR/run/slurmctld.pid" || slurmctld -f "$CONF"
  running "$DIR/run/slurmd.pid" || slurmd -f "$CONF"
  for _ in $(seq 60); do
    state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null || true)
    case "$state" in
      idle|mix|alloc) echo "slurm_local: node $HOST is $state; export SLURM_CONF=$CONF"; return 0 ;;
      down*|drain*) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
  done
  echo "slurm_local: the node did not become idle in 60 s; see $DIR/log/" >&2
  exit 1
}

stop() {
  for daemon in slurmd slurmctld munged; do
    pid=$DIR/run/$daemon.pid
    if running "$pid"; then
      kill "$(cat "$pid")"
      for _ in $(seq 20); do running "$pid" || break; sleep 0.5; done
    fi
    rm -f "$pid"
  done
  echo "slurm_local: stopped"
}

status() {
  export PATH=$PATH:/usr/sbin SLURM_CONF=$CONF
  sinfo -N -o "%N %t %C" && squeue
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
