#!/usr/bin/env bash
# Stop the local Kafka started by kafka-up.sh (pid file .infra/kafka/kafka.pid).
#
#   bash infra/scripts/kafka-down.sh          # stop, keep topics/offsets in .infra/kafka/data
#   bash infra/scripts/kafka-down.sh --wipe   # stop and delete the data dir (next up formats fresh)
#
# Only the process recorded in the pid file is signalled (never by name). Jars in .infra/kafka/libs are kept.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="${KAFKA_INFRA_DIR:-$ROOT/.infra/kafka}"
PIDFILE="$BASE/kafka.pid"
WIPE=""
for arg in "$@"; do
  case "$arg" in
    --wipe) WIPE=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "[kafka-down] unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { echo "[kafka-down] $*"; }

if [[ -f "$PIDFILE" ]]; then
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q 'kafka.Kafka' "/proc/$pid/cmdline" 2>/dev/null; then
    say "stopping Kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    # Controlled shutdown of a single KRaft node normally takes 1-5 s.
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "still running after 30 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
    say "stopped"
  else
    say "pid file present but no Kafka process ${pid:-?}; cleaning up"
  fi
  rm -f "$PIDFILE"
else
  say "not running (no $PIDFILE)"
fi

if [[ -n "$WIPE" ]]; then
  rm -rf "$BASE/data"
  say "wiped $BASE/data"
fi
