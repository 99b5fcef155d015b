#!/usr/bin/env bash
# Stop what infra/scripts/up.sh started (npm run infra:down):
#   Kafka (kafka-down.sh), the Apicurio registry (registry-down.sh), and redis-server only if up.sh started it
#   (pid file .infra/redis/redis.pid; a Redis that was already running is left alone).
#
#   bash infra/scripts/down.sh [--wipe]     # --wipe also deletes Kafka's data dir
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/infra/scripts"
rc=0

bash "$HERE/registry-down.sh" || rc=1
bash "$HERE/kafka-down.sh" "$@" || rc=1

pidfile="$ROOT/.infra/redis/redis.pid"
if [[ -f "$pidfile" ]]; then
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -qa 'redis-server' "/proc/$pid/cmdline" 2>/dev/null; then
    echo "[down] stopping redis-server started by up.sh (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  rm -f "$pidfile"
else
  echo "[down] Redis not started by up.sh; left alone"
fi
rm -f "$ROOT/.infra/env"
exit $rc
