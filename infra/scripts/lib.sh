# Shared helpers of the infra scripts (sourced, not run).

# stop_pidfile PIDFILE CMDLINE_PATTERN NAME TIMEOUT_SECONDS
# Signals only the process recorded in the pid file, and only if its command line matches
# (never by name), waits for it, then SIGKILLs it after the timeout. Removes the pid file.
stop_pidfile() {
  local pidfile="$1" pattern="$2" name="$3" timeout="$4" pid
  if [[ ! -f "$pidfile" ]]; then
    say "not running (no $pidfile)"
    return 0
  fi
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -qa "$pattern" "/proc/$pid/cmdline" 2>/dev/null; then
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((timeout * 2))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "still running after $timeout s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
    say "stopped"
  else
    say "pid file present but no $name process ${pid:-?}; cleaning up"
  fi
  rm -f "$pidfile"
}
