#!/usr/bin/env bash
# Stops the services up.sh started itself (by PID), leaving the machine's own services running.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
for pidfile in "$root"/.cache/services/*.pid; do
  [ -e "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null && echo "services: stopped $(basename "$pidfile" .pid) ($pid)" >&2
  rm -f "$pidfile"
done
