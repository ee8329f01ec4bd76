#!/usr/bin/env bash
# A local, offline Hugging Face hub: olah 0.5.4 serving the git repositories under MIRRORS as hub repos
# (<mirrors>/models/<org>/<repo>, <mirrors>/datasets/<org>/<repo>, branch main). Clients point at it with
# HF_ENDPOINT=http://127.0.0.1:<port>. Used by the rehearsal (make rehearsal) and the hub tests.
#
#   scripts/olah-hub.sh start MIRRORS STATE_DIR [PORT]   install olah into .tools/olah if needed, start it
#                                                       in the background (PID in STATE_DIR/olah.pid)
#   scripts/olah-hub.sh stop STATE_DIR                   stop it by that PID
#   scripts/olah-hub.sh install                          only create .tools/olah (pinned, offline-able)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OLAH_VENV:-$ROOT/.tools/olah}"
UV="${UV:-$ROOT/.venv/bin/uv}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
log() { echo "[olah-hub] $*" >&2; }

install() {
  if [ -x "$VENV/bin/olah-cli" ] && cmp -s "$ROOT/scripts/olah-requirements.txt" "$VENV/.requirements.txt"; then
    return 0
  fi
  log "installing olah into $VENV (scripts/olah-requirements.txt)"
  "$UV" venv -q --allow-existing -p "$PY" "$VENV"
  VIRTUAL_ENV="$VENV" "$UV" pip install -q -r "$ROOT/scripts/olah-requirements.txt"
  cp "$ROOT/scripts/olah-requirements.txt" "$VENV/.requirements.txt"
}

start() {
  local mirrors state port pid i
  mirrors="$(cd "$1" && pwd)"; state="$2"; port="${3:-8090}"
  mkdir -p "$state/cache"; state="$(cd "$state" && pwd)"
  install
  if [ -s "$state/olah.pid" ] && kill -0 "$(cat "$state/olah.pid")" 2>/dev/null; then
    log "already running (pid $(cat "$state/olah.pid"))"; return 0
  fi
  cat >"$state/olah.toml" <<EOF
[basic]
host = "127.0.0.1"
port = $port
repos-path = "$state/cache"
mirrors-path = ["$mirrors"]
mirror-netloc = "127.0.0.1:$port"
mirror-lfs-netloc = "127.0.0.1:$port"

[accessibility]
offline = true
EOF
  (cd "$state" && exec nohup "$VENV/bin/olah-cli" -c "$state/olah.toml" >"$state/olah.log" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$state/olah.pid"
  for i in $(seq 1 120); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/api/models/none/none', timeout=1)" 2>/dev/null \
       || "$PY" -c "
import urllib.request, urllib.error, sys
try: urllib.request.urlopen('http://127.0.0.1:$port/', timeout=1)
except urllib.error.HTTPError: sys.exit(0)
except Exception: sys.exit(1)
" 2>/dev/null; then
      log "started olah (pid $pid) on http://127.0.0.1:$port serving $mirrors"; return 0
    fi
    kill -0 "$pid" 2>/dev/null || { log "olah exited; see $state/olah.log"; tail -20 "$state/olah.log" >&2; return 1; }
    sleep 0.5
  done
  log "olah did not answer within 60 s; see $state/olah.log"; return 1
}

stop() {
  local state="$1" pid i
  [ -s "$state/olah.pid" ] || return 0
  pid="$(cat "$state/olah.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    log "stopped olah (pid $pid)"
  fi
  rm -f "$state/olah.pid"
}

case "${1:-}" in
  install) install ;;
  start) shift; [ $# -ge 2 ] || { echo "usage: $0 start MIRRORS STATE_DIR [PORT]" >&2; exit 2; }; start "$@" ;;
  stop) shift; [ $# -ge 1 ] || { echo "usage: $0 stop STATE_DIR" >&2; exit 2; }; stop "$1" ;;
  *) echo "usage: $0 install | start MIRRORS STATE_DIR [PORT] | stop STATE_DIR" >&2; exit 2 ;;
esac
