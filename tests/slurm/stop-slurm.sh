#!/usr/bin/env bash
# Stop the cluster tests/slurm/start-slurm.sh started: only the daemons named in its PID
# files, then its base directory and the /etc/slurm/slurm.conf symlink if it is ours.
set -uo pipefail
# The daemons live in /usr/sbin, which a non-login root shell may lack on its PATH.
export PATH="$PATH:/usr/sbin:/sbin"

BASE=${HCS_STEPS_SLURM_BASE:-/tmp/hcs-steps-slurm}
SYSTEM_CONF=/etc/slurm/slurm.conf

stop() {
    local name=$1 pidfile=$BASE/run/$1.pid pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    # A stale PID file may name a process that is no longer ours.
    if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
        kill "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "stop-slurm: stopped $name ($pid)"
    fi
    rm -f "$pidfile"
}

# Jobs first, so that slurmd does not leave their processes behind.
if [ -f "$BASE/etc/slurm.conf" ] && [ -f "$BASE/run/slurmctld.pid" ]; then
    SLURM_CONF=$BASE/etc/slurm.conf timeout 10 scancel --full --quiet --user=root 2>/dev/null
fi
stop slurmd
stop slurmctld
stop munged

if [ "$(readlink "$SYSTEM_CONF" 2>/dev/null)" = "$BASE/etc/slurm.conf" ]; then
    rm -f "$SYSTEM_CONF"
fi
# Keep the logs of a failed CI run readable: HCS_STEPS_SLURM_KEEP=1 leaves the directory.
# Only a directory start-slurm.sh wrote (its config says so) is removed.
if [ "${HCS_STEPS_SLURM_KEEP:-0}" != 1 ] &&
    grep -qs "Written by tests/slurm/start-slurm.sh" "$BASE/etc/slurm.conf"; then
    rm -rf "$BASE"
fi
