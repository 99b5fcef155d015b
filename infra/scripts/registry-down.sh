#!/usr/bin/env bash
# Stop the local Apicurio Registry started by registry-up.sh (pid file .infra/registry/registry.pid).
# Storage is in memory, so stopping also forgets every schema. Only the recorded pid is signalled.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PIDFILE="$ROOT/.infra/registry/registry.pid"
say() { echo "[registry-down] $*"; }
# shellcheck source=lib.sh
. "$ROOT/infra/scripts/lib.sh"

stop_pidfile "$PIDFILE" 'apicurio\|quarkus-run' registry 20
