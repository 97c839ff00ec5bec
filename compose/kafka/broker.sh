#!/usr/bin/env bash
# Run a single-node Apache Kafka broker (KRaft, combined broker + controller) in the foreground,
# from the Maven Central jars listed in pom.xml beside this script. No docker needed: Java 17+ and
# Maven only.
#
# Usage: compose/kafka/broker.sh [--data-dir DIR] [--host HOST] [--port PORT]
#                                [--controller-port PORT] [--fetch-only]
#
#   --data-dir DIR          config, logs and partition data (env KAFKA_DATA_DIR). Default: a new
#                           temporary directory, removed when the broker exits. An existing,
#                           already formatted DIR is reused as it is (data survives restarts).
#   --host HOST             listener host (env KAFKA_HOST, default 127.0.0.1)
#   --port PORT             client listener port (env KAFKA_PORT, default 9092)
#   --controller-port PORT  KRaft controller port (env KAFKA_CONTROLLER_PORT, default PORT+1)
#   --fetch-only            only fetch the jars into compose/kafka/lib, then exit
#
# Env: KAFKA_HEAP_OPTS (default "-Xms128m -Xmx512m"), KAFKA_JVM_OPTS (extra JVM options),
#      JAVA (java binary, default $JAVA_HOME/bin/java or java), MVN (default mvn).
# Clients connect to HOST:PORT. Stop with Ctrl-C / SIGTERM (clean shutdown).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
LIB="$HERE/lib"
POM="$HERE/pom.xml"
STAMP="$LIB/.pom-sha256"
CDS_ARCHIVE="$LIB/kafka.jsa"

DATA_DIR="${KAFKA_DATA_DIR:-}"
HOST="${KAFKA_HOST:-127.0.0.1}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-}"
FETCH_ONLY=0

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --data-dir) DATA_DIR="$2"; shift 2 ;;
        --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
        --host) HOST="$2"; shift 2 ;;
        --host=*) HOST="${1#*=}"; shift ;;
        --port) PORT="$2"; shift 2 ;;
        --port=*) PORT="${1#*=}"; shift ;;
        --controller-port) CONTROLLER_PORT="$2"; shift 2 ;;
        --controller-port=*) CONTROLLER_PORT="${1#*=}"; shift ;;
        --fetch-only) FETCH_ONLY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "broker.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
CONTROLLER_PORT="${CONTROLLER_PORT:-$((PORT + 1))}"

if [ -n "${JAVA:-}" ]; then :
elif [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then JAVA="$JAVA_HOME/bin/java"
else JAVA=java
fi
MVN="${MVN:-mvn}"

# --- (a) jars: fetched once into lib/ (and cached in ~/.m2); refetched when pom.xml changes ---
fetch_jars() {
    local want tmp
    want="$(sha256sum "$POM" | cut -d' ' -f1)"
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
        return 0
    fi
    command -v "$MVN" >/dev/null 2>&1 || { echo "broker.sh: '$MVN' not found (needed to fetch the Kafka jars)" >&2; exit 1; }
    echo "broker.sh: fetching Kafka jars into $LIB" >&2
    tmp="$(mktemp -d "$HERE/.lib-tmp.XXXXXX")"
    if ! "$MVN" -B -q -f "$POM" dependency:copy-dependencies -DoutputDirectory="$tmp" \
            > "$tmp/.mvn.log" 2>&1; then
        cat "$tmp/.mvn.log" >&2
        rm -rf "$tmp"
        echo "broker.sh: mvn failed to fetch the Kafka jars" >&2
        exit 1
    fi
    rm -f "$tmp/.mvn.log"
    printf '%s\n' "$want" > "$tmp/.pom-sha256"
    chmod 755 "$tmp"
    rm -rf "$LIB"
    mv "$tmp" "$LIB"
}

if command -v flock >/dev/null 2>&1; then
    # the same lock as tests/support/kafka_broker.py: one fetch at a time
    exec 9>>"$HERE/.lib.lock"
    flock 9
    fetch_jars
    flock -u 9
    exec 9>&-
else
    fetch_jars
fi
[ "$FETCH_ONLY" = 1 ] && exit 0

CP="$LIB/*"
CLEANUP_DIR=""
if [ -z "$DATA_DIR" ]; then
    DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/kafka-broker.XXXXXX")"
    CLEANUP_DIR="$DATA_DIR"
fi
mkdir -p "$DATA_DIR"
DATA_DIR="$(cd "$DATA_DIR" && pwd -P)"

# --- (b) configuration ---
cat > "$DATA_DIR/server.properties" <<EOF
# single combined broker + controller node (KRaft), written by compose/kafka/broker.sh
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR/kafka-logs
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
# one node: internal topics must have replication factor 1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
# a broker restarted after a crash can register only once its old session expired (default 9 s)
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
# small machine: fewer threads, smaller buffers
num.network.threads=2
num.io.threads=4
background.threads=4
log.cleaner.dedupe.buffer.size=8388608
EOF

cat > "$DATA_DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
EOF

cat > "$DATA_DIR/log4j2-tools.properties" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF

# Class-data-sharing archive of the broker's classes: created on the first clean shutdown,
# then reused (about halves JVM start-up). The JVM ignores it if the jars or the JDK changed.
CDS_OPTS=()
CDS_TMP=""
if [ -f "$CDS_ARCHIVE" ]; then
    CDS_OPTS=("-XX:SharedArchiveFile=$CDS_ARCHIVE")
else
    CDS_TMP="$CDS_ARCHIVE.$$.tmp"
    CDS_OPTS=("-XX:ArchiveClassesAtExit=$CDS_TMP")
fi

# shellcheck disable=SC2206
JVM_OPTS=(${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1
          -XX:-UsePerfData -Xlog:cds*=error -Djava.awt.headless=true
          "-Dlog4j2.configurationFile=$DATA_DIR/log4j2.properties"
          "-Dkafka.logs.dir=$DATA_DIR" ${KAFKA_JVM_OPTS:-})

# --- (c) format storage once (dynamic KRaft quorum: --standalone) ---
if [ ! -f "$DATA_DIR/kafka-logs/meta.properties" ]; then
    TOOL_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xlog:cds*=error
               "-Dlog4j2.configurationFile=$DATA_DIR/log4j2-tools.properties")
    [ -f "$CDS_ARCHIVE" ] && TOOL_OPTS+=("-XX:SharedArchiveFile=$CDS_ARCHIVE")
    CLUSTER_ID="$("$JAVA" "${TOOL_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool random-uuid)"
    "$JAVA" "${TOOL_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool format --standalone \
        --cluster-id "$CLUSTER_ID" --config "$DATA_DIR/server.properties" >&2
fi

# --- (d) run in the foreground ---
echo "broker.sh: Kafka on $HOST:$PORT (controller $HOST:$CONTROLLER_PORT), data in $DATA_DIR" >&2
"$JAVA" "${JVM_OPTS[@]}" "${CDS_OPTS[@]}" -cp "$CP" kafka.Kafka "$DATA_DIR/server.properties" &
JAVA_PID=$!
trap 'kill -TERM "$JAVA_PID" 2>/dev/null || true' INT TERM HUP
rc=0
while :; do
    wait "$JAVA_PID" && rc=0 || rc=$?
    kill -0 "$JAVA_PID" 2>/dev/null || break   # wait was interrupted by a trapped signal
done
if [ -n "$CDS_TMP" ] && [ -s "$CDS_TMP" ]; then
    mv -f "$CDS_TMP" "$CDS_ARCHIVE"
else
    rm -f "$CDS_TMP"
fi
if [ -n "$CLEANUP_DIR" ]; then
    rm -rf "$CLEANUP_DIR"
fi
# 143 = terminated by our SIGTERM after Ctrl-C: a normal stop
[ "$rc" = 143 ] && rc=0
exit "$rc"
