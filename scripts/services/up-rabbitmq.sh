#!/usr/bin/env bash
# Starts the machine's RabbitMQ (127.0.0.1:5672, guest/guest) with `rabbitmq-server -detached` when
# nothing answers on 5672, then waits until it accepts AMQP connections: the port opening is not
# enough, the broker must answer the AMQP 0-9-1 protocol header with its connection.start frame.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/lib.sh"
host=127.0.0.1
port=5672

amqp_ready() {
  local reply
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'AMQP\x00\x00\x09\x01' >&3
  reply="$(timeout 3 head -c 1 <&3 | od -An -tx1 | tr -d ' \n' || true)"
  exec 3>&- 3<&-
  [ "$reply" = "01" ] # frame type 1: a method frame (connection.start)
}

if ! port_open "$host" "$port"; then
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "services: RabbitMQ is not installed (apt-get install rabbitmq-server)" >&2
    exit 1
  fi
  echo "services: starting RabbitMQ" >&2
  rabbitmq-server -detached
fi
deadline=$((SECONDS + 120))
until amqp_ready; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "services: RabbitMQ did not accept AMQP connections on $host:$port within 120 s" >&2
    exit 1
  fi
  sleep 0.5
done
