#!/usr/bin/env bash
# A single-node Slurm on this machine (Debian's slurm-wlm + munge), for the test that runs
# an experiment through `safereflect run --launcher slurm`. Best effort: it exits non-zero
# when Slurm cannot start here, and that test then skips (no `sbatch`, or no answering controller).
# Needs root (it installs packages and starts daemons). No accounting database: job states
# come from submitit's result files and squeue (see safereflect/experiment/launch.py).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "slurm.sh: needs root" >&2; exit 1; fi
if ! command -v slurmctld >/dev/null 2>&1; then
    (timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq slurm-wlm munge) \
        >/tmp/ci-slurm-install.log 2>&1 || { echo "slurm.sh: apt-get failed (/tmp/ci-slurm-install.log)" >&2; exit 1; }
fi
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
for _ in $(seq 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "slurm.sh: single-node Slurm up on $host ($cpus CPUs)"; exit 0
    fi
    sleep 1
done
echo "slurm.sh: Slurm did not come up (/var/log/slurm/*.log)" >&2
exit 1
