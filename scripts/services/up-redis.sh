#!/usr/bin/env bash
# Starts Redis on 127.0.0.1:6379 (no persistence) for the @meshkit/http idempotency-store suite, unless
# something already answers there (machines that run their own Redis). Its PID goes to
# .cache/services/redis.pid so down.sh stops only it; its log to .cache/services/redis.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/lib.sh"
mkdir -p "$root/.cache/services"

if port_open 127.0.0.1 6379; then exit 0; fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "services: redis-server is not installed (apt-get install redis-server)" >&2
  exit 1
fi
echo "services: starting Redis" >&2
nohup redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
  >"$root/.cache/services/redis.log" 2>&1 &
echo $! >"$root/.cache/services/redis.pid"
wait_port 127.0.0.1 6379 30 Redis
