#!/usr/bin/env bash
# Start a one-node SLURM cluster on localhost for tests/slurm: munged -> slurmctld -> slurmd,
# with two fake GPUs. Run as root on Debian 12; installs slurm-wlm and munge if missing.
#
# Everything it writes (config, state, spool, logs, PID files, the munge key and socket) lives
# under one base directory, HCS_STEPS_SLURM_BASE (default /tmp/hcs-steps-slurm), so that
# stop-slurm.sh stops exactly what this started and removes nothing else. The only file
# outside it is the /etc/slurm/slurm.conf symlink: SLURM's jobstep plugin strips SLURM_CONF
# inside jobs, so srun there finds the config only at the default path.
#
# No accounting (slurmdbd): the profile's status command is squeue, which needs none (sacct
# would fail), and MinJobAge keeps finished jobs visible to squeue long enough to be seen.
#
# Idempotent: a second run with the cluster up only checks that it answers.
set -euo pipefail
# The daemons live in /usr/sbin, which a non-login root shell may lack on its PATH.
export PATH="$PATH:/usr/sbin:/sbin"

BASE=${HCS_STEPS_SLURM_BASE:-/tmp/hcs-steps-slurm}
SYSTEM_CONF=/etc/slurm/slurm.conf
started=$(date +%s)

say() { echo "start-slurm: $*"; }
fail() {
    echo "start-slurm: $*" >&2
    for log in "$BASE"/log/*.log; do
        [ -f "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
    done
    exit 1
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

[ "$(id -u)" = 0 ] || fail "must run as root (it installs packages and starts slurmd)"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi

if running "$BASE/run/slurmctld.pid" && running "$BASE/run/slurmd.pid"; then
    sinfo -h >/dev/null && { say "already running under $BASE"; exit 0; }
fi

mkdir -p "$BASE"/{etc,state,spool,log,run,gpu,munge}
# munged refuses a socket directory others can write to, and clients need to reach it.
chmod 0755 "$BASE" "$BASE/munge"
chmod 0700 "$BASE/etc"

# --- munge: its own key and socket, so a system munged (if any) is left alone.
if [ ! -s "$BASE/etc/munge.key" ]; then
    dd if=/dev/urandom of="$BASE/etc/munge.key" bs=1024 count=1 status=none
fi
chmod 0600 "$BASE/etc/munge.key"
if ! running "$BASE/run/munged.pid"; then
    munged --key-file="$BASE/etc/munge.key" --socket="$BASE/munge/munge.socket" \
        --pid-file="$BASE/run/munged.pid" --log-file="$BASE/log/munged.log" \
        --seed-file="$BASE/munge/munged.seed" --force
fi

# --- two fake GPUs: SLURM drops a GPU line without File= and drains the node, so point it
# at character devices (1,3 is /dev/null's major/minor: harmless to open).
for i in 0 1; do
    [ -c "$BASE/gpu/gpu$i" ] || mknod "$BASE/gpu/gpu$i" c 1 3
done

# --- the node as slurmd sees it (CPUs, sockets, memory), renamed to localhost.
node=$(slurmd -C | head -n 1 | sed -E 's/^NodeName=[^ ]+/NodeName=localhost/')

cat >"$BASE/etc/gres.conf" <<EOF
NodeName=localhost Name=gpu File=$BASE/gpu/gpu[0-1]
EOF

cat >"$BASE/etc/slurm.conf" <<EOF
# Written by tests/slurm/start-slurm.sh; removed by stop-slurm.sh.
ClusterName=hcs-steps-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$BASE/munge/munge.socket
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
# Cores and memory are consumable, so jobs share the node; without a default memory per
# CPU a job that gives no --mem takes all of it.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
# No cgroups in a container: track processes by parent PID, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
MailProg=/bin/true
# A node that comes back after a restart takes jobs again.
ReturnToService=2
# Finished jobs stay visible to squeue (the status command) for this long.
MinJobAge=300
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
KillWait=5
# A request the node can never satisfy is refused by sbatch instead of pending forever.
EnforcePartLimits=ALL
$node Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF

mkdir -p /etc/slurm
if [ -e "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" != "$BASE/etc/slurm.conf" ]; then
    fail "$SYSTEM_CONF exists and is not this cluster's; refusing to replace it"
fi
ln -sfn "$BASE/etc/slurm.conf" "$SYSTEM_CONF"
export SLURM_CONF="$BASE/etc/slurm.conf"

running "$BASE/run/slurmctld.pid" || slurmctld
for _ in $(seq 50); do
    scontrol ping 2>/dev/null | grep -q UP && break
    sleep 0.2
done
scontrol ping | grep -q UP || fail "slurmctld does not answer"

running "$BASE/run/slurmd.pid" || slurmd -N localhost
for _ in $(seq 100); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null | head -n 1)
    case $state in
    idle | mixed | allocated) break ;;
    drain* | down*) scontrol update nodename=localhost state=resume 2>/dev/null || true ;;
    esac
    sleep 0.2
done
case $state in
idle | mixed | allocated) ;;
*) fail "node localhost is '$state', not idle" ;;
esac

sinfo
say "cluster up under $BASE in $(($(date +%s) - started)) s"
