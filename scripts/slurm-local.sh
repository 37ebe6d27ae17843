#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for `gen sweep --executor slurm` and its tests:
# Debian's slurm-wlm and munge, run as root, state under $GEN_SLURM_DIR (default
# /tmp/gen-slurm). Idempotent: a cluster already answering is left as it is.
#
#   scripts/slurm-local.sh          start (installing the packages when missing, as root)
#   scripts/slurm-local.sh stop     stop the daemons
#
# Real clusters need none of this: `gen sweep --executor slurm` only calls sbatch, squeue
# and sacct, and its tasks need the gen binary on a file system the nodes share.
set -euo pipefail

STATE="${GEN_SLURM_DIR:-/tmp/gen-slurm}"
CONF=/etc/slurm/slurm.conf
MARK="# written by gen's scripts/slurm-local.sh"

say() { echo "slurm-local: $*" >&2; }

stop() {
  pkill -x slurmd 2>/dev/null || true
  pkill -x slurmctld 2>/dev/null || true
  pkill -x munged 2>/dev/null || true
  say "stopped"
}

node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -n1; }

if [ "${1:-start}" = stop ]; then stop; exit 0; fi

case "$(node_state)" in
  idle*|mixed*|allocated*|completing*) say "already up ($(node_state))"; exit 0 ;;
esac

if [ "$(id -u)" != 0 ]; then
  say "must run as root (it starts munged and the Slurm daemons)"; exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  say "installing slurmctld, slurmd, slurm-client and munge (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null; }
fi

if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  say "$CONF exists and was not written by this script; not touching a real cluster's config"; exit 1
fi

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb="$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)"
mkdir -p "$STATE"/{ctld,spool,log} /etc/slurm
cat > "$CONF" <<EOF
$MARK
ClusterName=gen-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
# Look at the queue every 2 s (default 60), so a requeued or released job starts at once.
SchedulerParameters=sched_interval=2
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=30
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

# munged as the munge user, with its socket directory owned by it.
if ! pgrep -x munged >/dev/null; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  [ -s /etc/munge/munge.key ] || { mungekey --create >/dev/null 2>&1 || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged
fi

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 1 60); do
  case "$(node_state)" in
    idle*|mixed*|allocated*) say "up: node $host ($cpus CPUs, ${mem_mb} MB), state in $STATE"; exit 0 ;;
    down*|drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
say "the node did not come up within 30 s; see $STATE/log/slurmctld.log and slurmd.log"
exit 1
