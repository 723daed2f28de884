#!/usr/bin/env bash
# Redis on 127.0.0.1:6379 for the @meshkit/http idempotency-store suite. Machines of this kind start it
# before any work; when nothing answers there, this starts it again with the machine's own command.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib.sh"

if port_open 127.0.0.1 6379; then exit 0; fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "services: redis-server is not installed (apt-get install redis-server)" >&2
  exit 1
fi
echo "services: starting Redis" >&2
mkdir -p /var/lib/redis /var/log/redis
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log
wait_port 127.0.0.1 6379 30 Redis
