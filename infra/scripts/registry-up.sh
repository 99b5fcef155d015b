#!/usr/bin/env bash
# Start a local Confluent-compatible schema registry without Docker:
# Apicurio Registry (Quarkus app, in-memory H2 storage) serving the Confluent API at
#   http://127.0.0.1:${REGISTRY_PORT:-8081}/apis/ccompat/v7
#
#   bash infra/scripts/registry-up.sh      # idempotent; exits 0 if the registry already answers
#
# The distribution is Maven Central's io.apicurio:apicurio-registry-app:<v>:tar.gz:all (~115 MB), fetched with
# curl (mvn cannot resolve it: its parent POM io.apicurio:apicurio-registry is not on the Maven mirror used here),
# sha1-checked and cached in ${COALFLOW_CACHE_DIR:-~/.cache/coalflow}; unpacked into .infra/registry/ (gitignored).
# Version: 3.0.9 is the newest that runs on Java 17 (3.3.x is compiled for Java 21, class file 65).
# Storage is in memory: every start is an empty registry (like the client's mock).
#
# Never fatal by default: if the registry cannot run, it says why and exits 0 - callers (up.sh, .ci/run) then
# leave SCHEMA_REGISTRY_URL unset and coalflow uses the @confluentinc/schemaregistry mock client.
# REGISTRY_REQUIRED=1 turns failures into exit 1.
#
# Env: APICURIO_VERSION (3.0.9), REGISTRY_PORT (8081), REGISTRY_HEAP (384m), REGISTRY_START_TIMEOUT (90),
#      MAVEN_CENTRAL_URL (https://repo.maven.apache.org/maven2), COALFLOW_CACHE_DIR (~/.cache/coalflow)
set -euo pipefail

APICURIO_VERSION="${APICURIO_VERSION:-3.0.9}"
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
REGISTRY_HEAP="${REGISTRY_HEAP:-384m}"
REGISTRY_START_TIMEOUT="${REGISTRY_START_TIMEOUT:-90}"
MAVEN_CENTRAL_URL="${MAVEN_CENTRAL_URL:-https://repo.maven.apache.org/maven2}"
CACHE="${COALFLOW_CACHE_DIR:-${HOME:-/tmp}/.cache/coalflow}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="$ROOT/.infra/registry"
APP="$BASE/app-$APICURIO_VERSION"
PIDFILE="$BASE/registry.pid"
LOGFILE="$BASE/registry.log"
URL="http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"

say() { echo "[registry-up] $*"; }
giveup() {
  echo "[registry-up] $*" >&2
  if [[ -n "${REGISTRY_REQUIRED:-}" ]]; then exit 1; fi
  echo "[registry-up] no real schema registry: leave SCHEMA_REGISTRY_URL unset, coalflow uses the mock registry client" >&2
  exit 0
}
answers() { curl -sf -m 2 -o /dev/null "$URL/subjects"; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

command -v curl >/dev/null 2>&1 || giveup "curl is required: apt-get install curl"
if answers; then
  say "registry already answers at $URL"
  exit 0
fi
if port_open "$REGISTRY_PORT"; then
  giveup "127.0.0.1:$REGISTRY_PORT is taken by something that is not a ccompat registry (GET $URL/subjects failed)"
fi

command -v java >/dev/null 2>&1 || giveup "Java 17+ is required: apt-get install openjdk-17-jre-headless"
java_major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
[[ -z "$java_major" || "$java_major" -ge 17 ]] || giveup "Java 17+ is required (found $java_major): apt-get install openjdk-17-jre-headless"

mkdir -p "$BASE" "$CACHE"

# Fetch + unpack once per version.
if [[ ! -f "$APP/.ok" ]]; then
  name="apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
  url="$MAVEN_CENTRAL_URL/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/$name"
  tarball="$CACHE/$name"
  m2="${HOME:-/root}/.m2/repository/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/$name"
  [[ -f "$tarball" || ! -f "$m2" ]] || cp "$m2" "$tarball"
  want="$(curl -sf -m 30 "$url.sha1" | awk '{print $1}')" || want=""
  if [[ -f "$tarball" && -n "$want" && "$(sha1sum "$tarball" | awk '{print $1}')" != "$want" ]]; then rm -f "$tarball"; fi
  if [[ ! -f "$tarball" ]]; then
    say "downloading $url"
    t0=$(date +%s)
    curl -sfL --retry 3 -m 600 -o "$tarball.part" "$url" || { rm -f "$tarball.part"; giveup "download failed: $url"; }
    if [[ -n "$want" && "$(sha1sum "$tarball.part" | awk '{print $1}')" != "$want" ]]; then
      rm -f "$tarball.part"; giveup "sha1 mismatch for $url"
    fi
    mv "$tarball.part" "$tarball"
    say "downloaded $(du -h "$tarball" | cut -f1) in $(( $(date +%s) - t0 ))s"
  fi
  rm -rf "$APP"
  mkdir -p "$APP"
  tar xzf "$tarball" -C "$APP" || { rm -rf "$APP"; giveup "cannot unpack $tarball"; }
  touch "$APP/.ok"
fi

# Quarkus "fast-jar" (quarkus-run.jar) in 3.1+, "legacy-jar" (*-runner.jar + lib/) in 3.0.x / 2.x.
runner=""
if [[ -f "$APP/quarkus-run.jar" ]]; then runner="$APP/quarkus-run.jar"; else runner="$(ls "$APP"/*-runner.jar 2>/dev/null | head -1 || true)"; fi
[[ -n "$runner" ]] || giveup "no runnable jar (quarkus-run.jar / *-runner.jar) in $APP"

if [[ -f "$PIDFILE" ]] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then rm -f "$PIDFILE"; fi
if [[ ! -f "$PIDFILE" ]]; then
  say "starting Apicurio Registry $APICURIO_VERSION (in-memory) on 127.0.0.1:$REGISTRY_PORT (log: $LOGFILE)"
  echo "===== $(date -Is) start Apicurio Registry $APICURIO_VERSION =====" >>"$LOGFILE"
  cd "$BASE"
  nohup setsid java "-Xmx$REGISTRY_HEAP" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
    -Dquarkus.http.host=127.0.0.1 "-Dquarkus.http.port=$REGISTRY_PORT" \
    '-Dquarkus.log.category."io.quarkus.vertx.http.runtime.filters.accesslog".level=WARN' \
    -jar "$runner" >>"$LOGFILE" 2>&1 </dev/null &
  echo $! > "$PIDFILE"
  cd "$ROOT"
fi
pid="$(cat "$PIDFILE")"

t0=$(date +%s)
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PIDFILE"
    tail -n 25 "$LOGFILE" >&2
    if grep -q 'UnsupportedClassVersionError' "$LOGFILE"; then
      giveup "Apicurio Registry $APICURIO_VERSION needs a newer Java than $java_major (use APICURIO_VERSION=3.0.9 on Java 17)"
    fi
    giveup "Apicurio Registry exited during startup (see $LOGFILE)"
  fi
  if (( $(date +%s) - t0 >= REGISTRY_START_TIMEOUT )); then
    kill -TERM "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    tail -n 25 "$LOGFILE" >&2
    giveup "registry did not answer at $URL within ${REGISTRY_START_TIMEOUT}s (see $LOGFILE)"
  fi
  sleep 0.5
done

# Confluent Schema Registry's global default is BACKWARD; make the Apicurio ccompat default match.
curl -sf -m 5 -o /dev/null -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
  --data '{"compatibility":"BACKWARD"}' "$URL/config" || say "warning: could not set global compatibility BACKWARD"

say "Apicurio Registry $APICURIO_VERSION up: SCHEMA_REGISTRY_URL=$URL (pid $pid, ready in $(( $(date +%s) - t0 ))s)"
