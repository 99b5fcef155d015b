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
# shellcheck source=lib.sh
. "$ROOT/infra/scripts/lib.sh"

# Controlled shutdown of a single KRaft node normally takes 1-5 s.
stop_pidfile "$PIDFILE" 'kafka.Kafka' Kafka 30

if [[ -n "$WIPE" ]]; then
  rm -rf "$BASE/data"
  say "wiped $BASE/data"
fi
