#!/usr/bin/env bash
# Local services for dev and CI, without Docker (npm run infra:up):
#   Kafka (KRaft, 127.0.0.1:9092)         infra/scripts/kafka-up.sh     - required, failure = exit 1
#   Schema registry (Apicurio, ccompat)   infra/scripts/registry-up.sh  - optional, failure = mock registry
#   Redis (127.0.0.1:6379)                reused if it answers PING, else redis-server --daemonize
# All idempotent. Prints the env vars to export and writes them to .infra/env (source it: `. .infra/env`).
#
#   bash infra/scripts/up.sh [--no-registry] [--no-redis]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/infra/scripts"
REDIS_PORT="${REDIS_PORT:-6379}"
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
WANT_REGISTRY=1; WANT_REDIS=1
for arg in "$@"; do
  case "$arg" in
    --no-registry) WANT_REGISTRY="" ;;
    --no-redis) WANT_REDIS="" ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "[up] unknown argument: $arg" >&2; exit 2 ;;
  esac
done
[[ "${INFRA_REGISTRY:-1}" != 0 ]] || WANT_REGISTRY=""

mkdir -p "$ROOT/.infra"

redis_ping() { # port -> 0 if PONG
  if command -v redis-cli >/dev/null 2>&1; then
    [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == "PONG" ]]
  else
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'PING\r\n' >&3 && IFS= read -r l <&3 && [[ \"\$l\" == +PONG* ]]" 2>/dev/null
  fi
}

# --- Kafka (required) ---
bash "$HERE/kafka-up.sh"

# --- Schema registry (optional) ---
SCHEMA_REGISTRY_URL=""
if [[ -n "$WANT_REGISTRY" ]]; then
  bash "$HERE/registry-up.sh" || echo "[up] registry-up failed; using the mock registry" >&2
  url="http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
  if curl -sf -m 2 -o /dev/null "$url/subjects"; then SCHEMA_REGISTRY_URL="$url"; fi
fi

# --- Redis ---
REDIS_URL=""
if [[ -n "$WANT_REDIS" ]]; then
  if redis_ping "$REDIS_PORT"; then
    echo "[up] Redis already answers on 127.0.0.1:$REDIS_PORT"
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  elif ! command -v redis-server >/dev/null 2>&1; then
    echo "[up] redis-server not found: apt-get install redis-server (coalflow falls back to ioredis-mock without REDIS_URL)" >&2
  else
    mkdir -p "$ROOT/.infra/redis"
    redis-server --daemonize yes --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$ROOT/.infra/redis" --pidfile "$ROOT/.infra/redis/redis.pid" --logfile "$ROOT/.infra/redis/redis.log"
    for _ in $(seq 1 20); do redis_ping "$REDIS_PORT" && break; sleep 0.25; done
    if redis_ping "$REDIS_PORT"; then
      echo "[up] started redis-server on 127.0.0.1:$REDIS_PORT (pid $(cat "$ROOT/.infra/redis/redis.pid" 2>/dev/null))"
      REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    else
      echo "[up] redis-server did not answer PING (see .infra/redis/redis.log)" >&2
    fi
  fi
fi

{
  echo "# written by infra/scripts/up.sh $(date -Is)"
  echo "export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
  if [[ -n "$SCHEMA_REGISTRY_URL" ]]; then echo "export SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL"; else echo "unset SCHEMA_REGISTRY_URL  # mock registry"; fi
  if [[ -n "$REDIS_URL" ]]; then echo "export REDIS_URL=$REDIS_URL"; else echo "unset REDIS_URL  # ioredis-mock"; fi
} > "$ROOT/.infra/env"

echo
echo "# Local services are up. Export (or: . .infra/env):"
grep -v '^#' "$ROOT/.infra/env"
