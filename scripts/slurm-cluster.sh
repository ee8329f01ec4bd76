#!/usr/bin/env bash
# A one-node SLURM cluster (with accounting) for the rehearsal of the real-model path: Debian bookworm,
# root, no systemd as PID 1. Packages come from scripts/install-system-deps.sh (installed here if missing).
# Started and stopped by tests/workflow/test_rehearsal.py and `make rehearsal`; daemons are stopped by PID.
#
#   slurm-cluster.sh [start]   install (if needed), configure, start daemons (idempotent)
#   slurm-cluster.sh stop      stop every daemon this script started, by the PID in its file
#   slurm-cluster.sh status    show which daemons are running
#
# Environment:
#   SLURM_ACCOUNTING=slurmdbd  (default) MariaDB + slurmdbd, so `sacct`/`sacctmgr` work and
#                              snakemake-executor-plugin-slurm runs with its defaults.
#                    none      no database; sacct fails ("Slurm accounting storage is
#                              disabled"), so snakemake must get --slurm-status-command squeue.
#   SLURM_FAKE_GPU=1           advertise one fake GPU (gres gpu:1, File=/dev/null) so that
#                              rules with gpu=1 / gres="gpu:1" can be scheduled (no real GPU!).
#   SLURM_CI_ACCOUNT=ci        SLURM account created for the current user (slurmdbd mode).
#   SLURM_CI_DIR=/run/slurm-ci where PID files and daemon stdout/stderr go.
set -euo pipefail

MODE="${1:-start}"
ACCOUNTING="${SLURM_ACCOUNTING:-slurmdbd}"
FAKE_GPU="${SLURM_FAKE_GPU:-0}"
ACCOUNT="${SLURM_CI_ACCOUNT:-ci}"
CI_DIR="${SLURM_CI_DIR:-/run/slurm-ci}"
PID_DIR="$CI_DIR/pids"
LOG_DIR="$CI_DIR/logs"
NODE="$(hostname -s)"

log() { echo "[slurm-cluster] $*" >&2; }

# --- PID helpers -------------------------------------------------------------
# running NAME COMM: true if $PID_DIR/NAME.pid holds a live process whose comm is COMM
running() {
  local f="$PID_DIR/$1.pid" pid
  [ -s "$f" ] || return 1
  pid="$(cat "$f")"
  kill -0 "$pid" 2>/dev/null || return 1
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$2" ]
}

# launch NAME CMD...: start CMD (which must exec the daemon itself, in the foreground)
# in the background and record its PID.  nohup execs, so $! is the daemon's PID.
launch() {
  local name="$1"; shift
  nohup "$@" >"$LOG_DIR/$name.out" 2>&1 </dev/null &
  echo $! >"$PID_DIR/$name.pid"
  log "started $name (pid $(cat "$PID_DIR/$name.pid"))"
}

stop_one() {  # stop_one NAME COMM
  local f="$PID_DIR/$1.pid" pid i
  if running "$1" "$2"; then
    pid="$(cat "$f")"
    kill -TERM "$pid"
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$f"
}

wait_for() {  # wait_for DESCRIPTION SECONDS CMD...
  local what="$1" secs="$2" i; shift 2
  for i in $(seq 1 $((secs * 2))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "timed out waiting for $what"; return 1
}

do_stop() {
  mkdir -p "$PID_DIR"
  # jobs still queued or running (a run stopped halfway) end with the cluster, not after it
  if running slurmctld slurmctld; then
    jobs="$(squeue -h -o %i 2>/dev/null || true)"
    if [ -n "$jobs" ]; then
      log "cancelling jobs left in the queue: $(echo $jobs)"
      scancel $jobs 2>/dev/null || true
      wait_for "the cancelled jobs to end" 30 sh -c '[ -z "$(squeue -h -o %i 2>/dev/null)" ]' || true
    fi
  fi
  stop_one slurmd slurmd
  stop_one slurmctld slurmctld
  stop_one slurmdbd slurmdbd
  stop_one mariadbd mariadbd
  stop_one munged munged
  # slurmctld/slurmdbd run as user slurm and cannot remove their own pid files in /run;
  # a stale /run/slurmctld.pid makes `apt-get remove slurmctld` fail (its prerm runs scancel)
  local d; for d in slurmd slurmctld slurmdbd; do running "$d" "$d" || rm -f "/run/$d.pid"; done
}

do_status() {
  local d
  for d in munged:munged mariadbd:mariadbd slurmdbd:slurmdbd slurmctld:slurmctld slurmd:slurmd; do
    if running "${d%%:*}" "${d##*:}"; then echo "${d%%:*}: running (pid $(cat "$PID_DIR/${d%%:*}.pid"))"
    else echo "${d%%:*}: stopped"; fi
  done
}

case "$MODE" in
  stop) do_stop; exit 0 ;;
  status) do_status; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

mkdir -p "$PID_DIR" "$LOG_DIR"

# --- 1. packages ---------------------------------------------------------------
PKGS=(slurmctld slurmd slurm-client munge)
[ "$ACCOUNTING" = slurmdbd ] && PKGS+=(slurmdbd mariadb-server)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  # postinst scripts try to start the services; without systemd that is refused (harmless)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. host name must resolve (slurmd finds its node by `hostname -s`) ----------
getent hosts "$NODE" >/dev/null || echo "127.0.0.1 $NODE" >>/etc/hosts

# --- 3. munge ---------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key
mkdir -p /run/munge; chown munge:munge /run/munge; chmod 755 /run/munge
if ! running munged munged; then
  launch munged setpriv --reuid=munge --regid=munge --clear-groups /usr/sbin/munged --foreground
fi
wait_for munged 20 munge -n

# --- 4. MariaDB + slurmdbd (optional) --------------------------------------------
if [ "$ACCOUNTING" = slurmdbd ]; then
  mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
  if ! running mariadbd mariadbd; then
    launch mariadbd /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
      --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900
  fi
  wait_for mariadbd 60 mariadb-admin ping
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
              CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmci
StorageLoc=slurm_acct_db
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
EOF
  chown slurm:slurm /etc/slurm/slurmdbd.conf; chmod 600 /etc/slurm/slurmdbd.conf
fi

# --- 5. slurm.conf ------------------------------------------------------------------
CPUS="$(nproc)"
MEM_MB=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) * 85 / 100 ))
GRES_NODE=""; GRES_TYPES=""
if [ "$FAKE_GPU" = 1 ]; then GRES_NODE=" Gres=gpu:1"; GRES_TYPES="GresTypes=gpu"; fi
if [ "$ACCOUNTING" = slurmdbd ]; then
  ACCT=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nJobAcctGatherType=jobacct_gather/linux'
else
  ACCT=$'AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none'
fi
mkdir -p /var/log/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
chown slurm:slurm /var/log/slurm /var/lib/slurm/slurmctld
new_conf="$(cat <<EOF
# generated by scripts/slurm-cluster.sh
ClusterName=ci
SlurmctldHost=$NODE
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
DefMemPerCPU=500
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
MinJobAge=300
$GRES_TYPES
$ACCT
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$NODE CPUs=$CPUS RealMemory=$MEM_MB$GRES_NODE State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)"
restart=0
if [ "$(cat /etc/slurm/slurm.conf 2>/dev/null)" != "$new_conf" ]; then
  printf '%s\n' "$new_conf" >/etc/slurm/slurm.conf; restart=1
fi
if [ "$FAKE_GPU" = 1 ]; then
  gres="NodeName=$NODE Name=gpu File=/dev/null"
  [ "$(cat /etc/slurm/gres.conf 2>/dev/null)" = "$gres" ] || { echo "$gres" >/etc/slurm/gres.conf; restart=1; }
elif [ -e /etc/slurm/gres.conf ]; then
  rm -f /etc/slurm/gres.conf; restart=1
fi
if [ "$restart" = 1 ]; then stop_one slurmd slurmd; stop_one slurmctld slurmctld; fi

# --- 6. daemons -------------------------------------------------------------------
if [ "$ACCOUNTING" = slurmdbd ]; then
  running slurmdbd slurmdbd || launch slurmdbd /usr/sbin/slurmdbd -D
  wait_for slurmdbd 30 sacctmgr -n list cluster
else
  stop_one slurmdbd slurmdbd; stop_one mariadbd mariadbd
fi
running slurmctld slurmctld || launch slurmctld /usr/sbin/slurmctld -D
wait_for slurmctld 30 bash -c 'scontrol ping | grep -q UP'
running slurmd slurmd || launch slurmd /usr/sbin/slurmd -D
# a node left DOWN/INVAL by an earlier run is put back into service
scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
wait_for "node $NODE idle" 30 bash -c "sinfo -h -n '$NODE' -o %T | grep -qE '^(idle|mixed|allocated)'"

# --- 7. accounting objects ------------------------------------------------------------
if [ "$ACCOUNTING" = slurmdbd ]; then
  wait_for "cluster registration" 30 bash -c 'sacctmgr -n -P list cluster format=cluster | grep -qx ci'
  user="$(id -un)"
  sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT" \
    || sacctmgr -i add account "$ACCOUNT" Description=ci Organization=ci >/dev/null
  sacctmgr -n -P list assoc user="$user" account="$ACCOUNT" format=user | grep -qx "$user" \
    || sacctmgr -i add user "$user" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null
fi

log "ready: $(sinfo -h -o '%P %a %D %T %N %G' | tr '\n' ' ')(accounting=$ACCOUNTING)"
