#!/usr/bin/env bash
# A single-node Apache Kafka 4.4 (KRaft, combined broker and controller) on 127.0.0.1:9092 (controller
# 127.0.0.1:9093) for the @meshkit/messaging-kafka suites, run from Maven Central jars:
#   - fetches the jars (scripts/services/kafka/pom.xml) into .cache/kafka/libs only when they are missing;
#   - formats the log dir .cache/kafka/data only when it has no meta.properties;
#   - reuses a broker that already answers on 9092;
#   - writes the PID to .cache/services/kafka.pid (down.sh stops it), the log to .cache/services/kafka.log.
# Needs java (17+) and mvn on PATH. MESHKIT_KAFKA_HEAP overrides the heap (default 512m).
# MESHKIT_KAFKA_PORT / MESHKIT_KAFKA_CONTROLLER_PORT run a second broker on other ports (a broker the
# failure tests may kill and restart without disturbing one shared on 9092): it gets its own log dir
# .cache/kafka/data-<port> and config; point the tests at it with MESHKIT_KAFKA_BROKER=127.0.0.1:<port>.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/lib.sh"
mkdir -p "$root/.cache/services"

port="${MESHKIT_KAFKA_PORT:-9092}"
controller="${MESHKIT_KAFKA_CONTROLLER_PORT:-$((port + 1))}"
for p in "$port" "$controller"; do
  if ! [[ "$p" =~ ^[0-9]+$ ]] || [ "$p" -lt 1 ] || [ "$p" -gt 65535 ]; then
    echo "services: MESHKIT_KAFKA_PORT / MESHKIT_KAFKA_CONTROLLER_PORT must be ports, got '$p'" >&2
    exit 1
  fi
done
if [ "$port" = "$controller" ]; then
  echo "services: the Kafka broker and controller need two ports, both are $port" >&2
  exit 1
fi
if port_open 127.0.0.1 "$port"; then exit 0; fi
for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "services: Kafka needs $tool (apt-get install openjdk-17-jre-headless maven)" >&2
    exit 1
  fi
done

home="$root/.cache/kafka"
libs="$home/libs"
if [ ! -e "$libs/.complete" ]; then
  echo "services: fetching the Kafka jars into $libs" >&2
  rm -rf "$libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$libs" >&2
  touch "$libs/.complete"
fi

if [ "$port" = 9092 ]; then suffix=''; else suffix="-$port"; fi
data="$home/data$suffix"
config="$home/server$suffix.properties"
cat >"$config" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data
num.partitions=6
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
PROPS

cp="$libs/*"
if [ ! -e "$data/meta.properties" ]; then
  echo "services: formatting the Kafka log dir $data" >&2
  java -cp "$cp" kafka.tools.StorageTool format -t meshkit-kraft-cluster00 -c "$config" >&2
fi

echo "services: starting Kafka (log dir $data)" >&2
KAFKA_HEAP="${MESHKIT_KAFKA_HEAP:-512m}"
nohup java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
  -cp "$cp" kafka.Kafka "$config" >"$root/.cache/services/kafka.log" 2>&1 &
echo $! >"$root/.cache/services/kafka.pid"
wait_port 127.0.0.1 "$port" 90 Kafka
# The port opens before the broker has registered with its controller: wait until it serves metadata.
deadline=$((SECONDS + 60))
until java -cp "$cp" org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server 127.0.0.1:$port \
  >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then echo "services: Kafka did not become ready" >&2; exit 1; fi
  sleep 1
done
echo "services: Kafka ready on 127.0.0.1:$port" >&2
