#!/usr/bin/env bash
# Start a one-node SLURM on this machine (Debian's slurm-wlm and munge): munged, slurmctld and slurmd, with a minimal
# slurm.conf naming this host as controller and only node. Run as root; tools/slurm_down.sh stops it.
#   apt-get install -y slurm-wlm munge && sudo tools/slurm_up.sh && sinfo
# SLURM_CONF (default /etc/slurm/slurm.conf) is where the configuration goes; LABKIT_SLURM_STATE (default
# /var/lib/labkit-slurm) holds the state, spool and logs.
set -euo pipefail
for cmd in munged slurmctld slurmd sinfo; do
  command -v "$cmd" >/dev/null || { echo "slurm_up: $cmd not found; install it: apt-get install -y slurm-wlm munge" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "slurm_up: run as root (munged and slurmd need it): sudo $0" >&2; exit 2; }

conf=${SLURM_CONF:-/etc/slurm/slurm.conf}
state=${LABKIT_SLURM_STATE:-/var/lib/labkit-slurm}
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)     # MB, a tenth kept for the system
mkdir -p "$(dirname "$conf")" "$state/ctld" "$state/d" "$state/log" /run/munge /var/log/munge /var/lib/munge

# munge: one key for the node (kept if there is one), the daemon as the munge user
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- munged
munge -n | unmunge >/dev/null || { echo "slurm_up: munge does not work (see /var/log/munge/munged.log)" >&2; exit 1; }

cat > "$conf" <<CONF
# one node: $host is the controller and the only compute node (written by tools/slurm_up.sh)
ClusterName=labkit
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF=$conf
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 60); do                                  # the node is up when it is idle (or already running jobs)
  if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    sinfo; echo "slurm_up: one-node SLURM running ($host, $cpus CPUs, $mem MB); configuration in $conf"; exit 0
  fi
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm_up: the node did not become idle; see $state/log/slurmctld.log and $state/log/slurmd.log" >&2
sinfo -N -l >&2 || true
exit 1
