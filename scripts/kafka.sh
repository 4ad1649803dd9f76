#!/usr/bin/env bash
# A one-node Apache Kafka (KRaft, combined broker and controller) on 127.0.0.1:9092, for
# the README's cluster quick start, from the jars `scripts/test.sh` installs under
# $TRAWL_TOOLS. Its data lives in a fresh temporary directory; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${TRAWL_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/trawl-tools}"
K="$TOOLS/kafka-4.4.0"
[ -d "$K/libs" ] || { echo "no Apache Kafka in $K: run scripts/test.sh once (it installs it)" >&2; exit 1; }
D="$(mktemp -d -t trawl-kafka-XXXXXX)"
cp tests/support/kafka/log4j2.properties "$D/"
cat > "$D/server.properties" <<P
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://127.0.0.1:9092
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$D/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
P
java=(java -Xmx512m -Dlog4j2.configurationFile="$D/log4j2.properties" -cp "$K/libs/*")
id="$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
"${java[@]}" kafka.tools.StorageTool format --cluster-id="$id" --config "$D/server.properties" >/dev/null
echo "Apache Kafka on 127.0.0.1:9092 (data in $D)"
exec "${java[@]}" kafka.Kafka "$D/server.properties"
