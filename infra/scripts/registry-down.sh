#!/usr/bin/env bash
# Stop the local Apicurio Registry started by registry-up.sh (pid file .infra/registry/registry.pid).
# Storage is in memory, so stopping also forgets every schema. Only the recorded pid is signalled.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PIDFILE="$ROOT/.infra/registry/registry.pid"
say() { echo "[registry-down] $*"; }

if [[ ! -f "$PIDFILE" ]]; then
  say "not running (no $PIDFILE)"
  exit 0
fi
pid="$(cat "$PIDFILE" 2>/dev/null || true)"
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -qa 'apicurio\|quarkus-run' "/proc/$pid/cmdline" 2>/dev/null; then
  say "stopping registry (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 20 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  say "stopped"
else
  say "pid file present but no registry process ${pid:-?}; cleaning up"
fi
rm -f "$PIDFILE"
