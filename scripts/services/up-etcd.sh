#!/usr/bin/env bash
# Starts a single-member etcd on 127.0.0.1:23790 (peer 127.0.0.1:23800) with a fresh data dir
# (.cache/services/etcd-data, wiped at each start), unless something already answers there. Its PID goes
# to .cache/services/etcd.pid so down.sh stops only it; its log to .cache/services/etcd.log.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/lib.sh"
mkdir -p "$root/.cache/services"

if port_open 127.0.0.1 23790; then exit 0; fi
if ! command -v etcd >/dev/null 2>&1; then
  echo "services: etcd is not installed (apt-get install etcd-server)" >&2
  exit 1
fi
data="$root/.cache/services/etcd-data"
rm -rf "$data"
echo "services: starting etcd (data in $data)" >&2
nohup etcd --name meshkit --data-dir "$data" \
  --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
  --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster meshkit=http://127.0.0.1:23800 --initial-cluster-state new \
  >"$root/.cache/services/etcd.log" 2>&1 &
echo $! >"$root/.cache/services/etcd.pid"
wait_port 127.0.0.1 23790 30 etcd
