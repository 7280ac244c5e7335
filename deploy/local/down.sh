#!/usr/bin/env bash
# Stops what deploy/local/up.sh started (by the pid files in its state
# directory), newest data first: Prometheus, relay, store, then the rest.
# Each gets SIGTERM and up to 30 s to finish (the store flushes its head),
# then SIGKILL. `down.sh --purge` also deletes the state directory.
set -euo pipefail
dir="${RAMPART_LOCAL_DIR:-${TMPDIR:-/tmp}/rampart-local}"
[ -d "$dir" ] || { echo "down.sh: nothing to stop ($dir does not exist)"; exit 0; }
dir="$(cd "$dir" && pwd)"

# A live process (a zombie, dead but not yet reaped by its new parent, is not).
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }

stop() { # name
  local pidfile="$dir/run/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  # Only a process that up.sh started: its command line names this directory
  # (a recycled pid belongs to someone else).
  if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if alive "$pid"; then
      echo "down.sh: $1 ($pid) did not stop in 30 s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped $1 ($pid)"
  fi
  rm -f "$pidfile"
}

for name in prometheus relay store alertmanager node-exporter; do
  stop "$name"
done
if [ "${1:-}" = "--purge" ]; then
  rm -rf "$dir"
  echo "removed $dir"
fi
