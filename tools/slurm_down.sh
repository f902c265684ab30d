#!/usr/bin/env bash
# Stop the one-node SLURM that tools/slurm_up.sh started: cancel its jobs, then stop slurmd, slurmctld and munged.
set -uo pipefail
[ "$(id -u)" = 0 ] || { echo "slurm_down: run as root: sudo $0" >&2; exit 2; }
export SLURM_CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
command -v scancel >/dev/null && scancel --user=root --quiet 2>/dev/null
for daemon in slurmd slurmctld munged; do
  pid=$(pgrep -x "$daemon") || continue
  kill $pid
  for _ in $(seq 20); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
  kill -0 $pid 2>/dev/null && kill -9 $pid
  echo "slurm_down: stopped $daemon ($pid)"
done
exit 0
