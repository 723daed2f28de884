#!/usr/bin/env bash
# Starts every external service the integration suites need, when it is not already answering, and
# exports nothing: the suites read their addresses from MESHKIT_* variables with these defaults.
#   PostgreSQL 127.0.0.1:5432 (db test), RabbitMQ 127.0.0.1:5672, etcd 127.0.0.1:23790,
#   Kafka 127.0.0.1:9092 (up-kafka.sh: single-node KRaft from Maven Central jars in .cache/kafka)
# RabbitMQ is started and waited for by up-rabbitmq.sh. Each start command is the machine's own; a service we start ourselves (etcd, Kafka) runs from .cache and
# its PID is written to .cache/services/<name>.pid so down.sh stops only what we started.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/lib.sh"
mkdir -p "$root/.cache/services"

if ! port_open 127.0.0.1 5432; then
  echo "services: starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  wait_port 127.0.0.1 5432 60 PostgreSQL
fi

for script in "$here"/up-*.sh; do
  [ -e "$script" ] && bash "$script"
done
echo "services: ready" >&2
