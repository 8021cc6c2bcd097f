#!/usr/bin/env bash
# Fetch, start and stop a real single-node Apache Kafka 4.x broker (KRaft,
# combined broker+controller on 127.0.0.1) for streamflix's tests.
# See scripts/kafka/README.md. Run `scripts/kafka.sh help` for usage.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CONF_DIR=$SCRIPT_DIR/kafka
POM=$CONF_DIR/pom.xml

# The default version is the one in the POM, so it is written in one place only.
POM_KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)
KAFKA_VERSION=${STREAMFLIX_KAFKA_VERSION:-$POM_KAFKA_VERSION}
CACHE_DIR=${STREAMFLIX_KAFKA_CACHE:-$HOME/.cache/streamflix/kafka-$KAFKA_VERSION}
LIBS=$CACHE_DIR/libs
FETCH_MARKER=$CACHE_DIR/.fetched

STATE_DIR=${STREAMFLIX_KAFKA_STATE:-$REPO_ROOT/target/kafka}
STATE_MARKER=$STATE_DIR/.streamflix-kafka-state
PID_FILE=$STATE_DIR/broker.pid
PORT_FILE=$STATE_DIR/broker.port
BROKER_LOG=$STATE_DIR/broker.log
DATA_DIR=$STATE_DIR/data

HOST=127.0.0.1
PORT=${STREAMFLIX_KAFKA_PORT:-9092}
CONTROLLER_PORT=${STREAMFLIX_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
START_TIMEOUT=${STREAMFLIX_KAFKA_START_TIMEOUT:-60}
STOP_TIMEOUT=${STREAMFLIX_KAFKA_STOP_TIMEOUT:-20}
# Serial GC: on a 2-core machine it runs no concurrent GC threads next to the
# engine under test, and young pauses on a 512 MB heap are a few ms.
BROKER_JVM_OPTS=${STREAMFLIX_KAFKA_JVM_OPTS:--Xms512m -Xmx512m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError}
TOOL_JVM_OPTS=${STREAMFLIX_KAFKA_TOOL_JVM_OPTS:--Xmx512m -XX:+UseSerialGC}
# For the short admin calls the script makes itself: start fast, run little.
QUICK_JVM_OPTS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"

if [[ -n ${JAVA_HOME:-} ]]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi
MIN_JAVA=17

say() { printf 'kafka.sh: %s\n' "$*"; }
die() { printf 'kafka.sh: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<EOF
usage: scripts/kafka.sh COMMAND [ARGS...]

  fetch                 copy Kafka $KAFKA_VERSION (broker, tools, log4j2) and every
                        runtime dependency into $LIBS
                        with Maven; does nothing when already fetched
  start [--keep-data]   (fetch if needed,) format a fresh KRaft log dir under
                        $STATE_DIR
                        and start the broker on $HOST:$PORT; waits until it answers
                        a metadata request (up to ${START_TIMEOUT}s). --keep-data keeps the
                        log dir of the previous run (restart with its topics/data)
  stop                  stop the broker started by 'start' (SIGTERM, then SIGKILL
                        after ${STOP_TIMEOUT}s); does nothing when not running
  status                say whether it runs (exit 0) or not (exit 3)
  tool CLASS [ARGS...]  run a Kafka class with the cached classpath, e.g.
                        tool org.apache.kafka.tools.TopicCommand --bootstrap-server $HOST:$PORT --list
  topics ARGS...              = tool org.apache.kafka.tools.TopicCommand
  consumer-perf-test ARGS...  = tool org.apache.kafka.tools.ConsumerPerformance
  producer-perf-test ARGS...  = tool org.apache.kafka.tools.ProducerPerformance
  console-producer ARGS...    = tool org.apache.kafka.tools.ConsoleProducer
  console-consumer ARGS...    = tool org.apache.kafka.tools.consumer.ConsoleConsumer
                        (these shorthands add --bootstrap-server \${KAFKA_BOOTSTRAP:-$HOST:$PORT}
                        unless ARGS give one; producer-perf-test adds none)

environment: STREAMFLIX_KAFKA_VERSION, STREAMFLIX_KAFKA_CACHE, STREAMFLIX_KAFKA_STATE,
  STREAMFLIX_KAFKA_PORT, STREAMFLIX_KAFKA_CONTROLLER_PORT, STREAMFLIX_KAFKA_START_TIMEOUT,
  STREAMFLIX_KAFKA_STOP_TIMEOUT, STREAMFLIX_KAFKA_JVM_OPTS, STREAMFLIX_KAFKA_TOOL_JVM_OPTS,
  JAVA_HOME (see scripts/kafka/README.md)
EOF
}

# --- Java -------------------------------------------------------------------

java_advice() {
  cat >&2 <<EOF
kafka.sh: Kafka $KAFKA_VERSION needs Java $MIN_JAVA or newer ('$JAVA' above).
kafka.sh: install one (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)
kafka.sh: or point JAVA_HOME at a Java $MIN_JAVA+ installation, then run this again.
EOF
}

check_java() {
  local out major
  if ! out=$("$JAVA" -version 2>&1); then
    printf '%s\n' "$out" >&2
    java_advice
    exit 1
  fi
  # 'openjdk version "17.0.15" ...' or 'java version "1.8.0_392"' (major 1)
  major=$(sed -n 's/^[^"]*version "\([0-9]*\).*/\1/p' <<<"$out" | head -n 1)
  if [[ -z $major ]]; then
    say "warning: could not read the Java version from '$JAVA -version':" >&2
    printf '%s\n' "$out" >&2
  elif ((major < MIN_JAVA)); then
    printf '%s\n' "$out" >&2
    if [[ -f $FETCH_MARKER ]]; then
      # show what this JVM itself says about Kafka's classes
      "$JAVA" -cp "$LIBS/*" kafka.Kafka --version 2>&1 | head -n 3 >&2 || true
    fi
    java_advice
    exit 1
  fi
}

# --- fetch ------------------------------------------------------------------

fetch_stamp() {
  # version + POM content: a changed POM (e.g. another log4j) fetches again
  printf 'kafka %s pom %s\n' "$KAFKA_VERSION" "$(sha256sum "$POM" | cut -d' ' -f1)"
}

is_fetched() {
  [[ -f $FETCH_MARKER && -d $LIBS ]] && [[ "$(cat "$FETCH_MARKER")" == "$(fetch_stamp)" ]]
}

cmd_fetch() {
  if is_fetched; then
    [[ ${1:-} == quiet ]] || say "Kafka $KAFKA_VERSION already fetched in $LIBS"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 ||
    die "Maven (mvn) is needed to fetch Kafka: install it (Debian/Ubuntu: apt-get install maven)"
  say "fetching Kafka $KAFKA_VERSION with Maven into $LIBS ..."
  mkdir -p "$CACHE_DIR"
  local tmp=$CACHE_DIR/libs.tmp.$$
  rm -rf "$tmp"
  # -f: the POM is not in the working directory; runtime scope is what the JVM
  # needs. jansi.noreset: Maven 3.8 prints stray ESC[0m codes even with -q -B.
  if ! MAVEN_OPTS="${MAVEN_OPTS:-} -Djansi.noreset=true" mvn -q -B -f "$POM" \
    -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp"; then
    rm -rf "$tmp"
    die "Maven could not fetch Kafka $KAFKA_VERSION (see its output above)"
  fi
  [[ -n $(compgen -G "$tmp/kafka_2.13-*.jar") ]] || {
    rm -rf "$tmp"
    die "Maven ran but no kafka_2.13 jar arrived in $tmp"
  }
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  fetch_stamp >"$FETCH_MARKER"
  say "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) into $LIBS"
}

# --- process helpers --------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# The pid in the pid file, if that process is alive and is our broker.
running_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid args
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  args=$(ps -o args= -p "$pid" 2>/dev/null) || return 1
  [[ $args == *kafka.Kafka* ]] || return 1
  printf '%s\n' "$pid"
}

running_port() { if [[ -f $PORT_FILE ]]; then cat "$PORT_FILE"; else echo "$PORT"; fi; }

bootstrap_default() { echo "${KAFKA_BOOTSTRAP:-$HOST:$PORT}"; }

run_quick_tool() { # CLASS ARGS...: a short admin call, logs to stderr at WARN
  local class=$1
  shift
  # shellcheck disable=SC2086 # the JVM options are a word list
  "$JAVA" $QUICK_JVM_OPTS -Dlog4j2.configurationFile="$CONF_DIR/log4j2-tools.properties" \
    -cp "$LIBS/*" "$class" "$@"
}

# --- start ------------------------------------------------------------------

random_cluster_id() {
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding (22 chars),
  # like `kafka-storage random-uuid`; not starting with '-' so no CLI parser
  # mistakes it for an option.
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id == -* ]] || break
  done
  printf '%s\n' "$id"
}

write_server_properties() {
  cat >"$STATE_DIR/server.properties" <<EOF
# Written by scripts/kafka.sh at each start; edit the script, not this file.
# A single-node KRaft test broker: broker and controller in one process.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA_DIR

# Topics: the engine and the tests create theirs through the admin API, so a
# misspelt topic name fails loudly instead of creating an empty topic.
auto.create.topics.enable=false
num.partitions=4
default.replication.factor=1
min.insync.replicas=1

# Internal topics on one node: replication factor 1, few partitions (creating
# the default 50 partitions of __consumer_offsets slows the first group join).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Consumer groups form at once instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0

# Tests keep what they write: no deletion by age (size is unlimited by default).
log.retention.ms=-1
log.retention.bytes=-1

# The log cleaner (compacted topics only) would take 128 MB of the 512 MB heap.
log.cleaner.dedupe.buffer.size=33554432
EOF
}

format_log_dir() {
  local cluster_id
  cluster_id=$(random_cluster_id)
  if ! run_quick_tool kafka.tools.StorageTool format \
    --config "$STATE_DIR/server.properties" --cluster-id "$cluster_id" \
    >"$STATE_DIR/format.log" 2>&1; then
    cat "$STATE_DIR/format.log" >&2
    die "formatting the KRaft log dir $DATA_DIR failed"
  fi
  say "formatted KRaft log dir $DATA_DIR (cluster id $cluster_id)"
}

# Wipe the state dir, but only one that this script made (or an empty one).
wipe_state() {
  [[ -n $STATE_DIR && $STATE_DIR != / ]] || die "refusing to wipe state dir '$STATE_DIR'"
  if [[ -e $STATE_DIR ]]; then
    if [[ ! -f $STATE_MARKER && -n $(ls -A "$STATE_DIR") ]]; then
      die "$STATE_DIR exists and was not made by kafka.sh; refusing to wipe it (set STREAMFLIX_KAFKA_STATE)"
    fi
    rm -rf "$STATE_DIR"
  fi
}

cmd_start() {
  local keep=false arg
  for arg in "$@"; do
    case $arg in
      --keep-data) keep=true ;;
      *) die "start: unknown argument '$arg' (only --keep-data)" ;;
    esac
  done

  local pid
  if pid=$(running_pid); then
    local rport
    rport=$(running_port)
    say "kafka already running on $HOST:$rport (pid $pid), started by this script; not restarting"
    [[ $rport == "$PORT" ]] || say "warning: it listens on $rport, not on STREAMFLIX_KAFKA_PORT=$PORT" >&2
    return 0
  fi

  cmd_fetch quiet
  check_java

  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$p"; then
      die "port $HOST:$p is already in use by another process (not a broker started by this script); stop it, or choose other ports with STREAMFLIX_KAFKA_PORT / STREAMFLIX_KAFKA_CONTROLLER_PORT, or use it with KAFKA_BOOTSTRAP"
    fi
  done

  if [[ $keep == false ]]; then
    wipe_state
  elif [[ -e $STATE_DIR && ! -f $STATE_MARKER ]]; then
    die "$STATE_DIR was not made by kafka.sh; cannot --keep-data from it"
  fi
  mkdir -p "$STATE_DIR"
  touch "$STATE_MARKER"
  rm -f "$PID_FILE"
  write_server_properties
  echo "$PORT" >"$PORT_FILE"

  if [[ -f $DATA_DIR/meta.properties ]]; then
    say "keeping the log dir $DATA_DIR ($(sed -n 's/^cluster.id=//p' "$DATA_DIR/meta.properties" | sed 's/^/cluster id /'))"
  else
    [[ $keep == false ]] || say "--keep-data: no earlier log dir in $DATA_DIR; starting with a fresh one"
    format_log_dir
  fi

  {
    printf '\n===== kafka.sh start %s: Kafka %s on %s:%s (controller %s) =====\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$KAFKA_VERSION" "$HOST" "$PORT" "$CONTROLLER_PORT"
  } >>"$BROKER_LOG"
  # setsid + nohup: the broker outlives this script and is not hit by the
  # caller's Ctrl-C or hang-up; `stop` ends it.
  # shellcheck disable=SC2086 # the JVM options are a word list
  setsid nohup "$JAVA" $BROKER_JVM_OPTS -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CONF_DIR/log4j2-broker.properties" \
    -Dkafka.logs.dir="$STATE_DIR" \
    -cp "$LIBS/*" kafka.Kafka "$STATE_DIR/server.properties" \
    >>"$BROKER_LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"

  # Ready = the port accepts connections AND a metadata request (list topics)
  # succeeds.
  local admin_conf=$STATE_DIR/admin.properties
  printf 'request.timeout.ms=5000\ndefault.api.timeout.ms=10000\n' >"$admin_conf"
  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "the broker (pid $pid) exited during startup; last lines of $BROKER_LOG:" >&2
      tail -n 40 "$BROKER_LOG" >&2
      rm -f "$PID_FILE"
      exit 1
    fi
    if port_open "$PORT" &&
      run_quick_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$PORT" \
        --command-config "$admin_conf" --list >"$STATE_DIR/ready-check.log" 2>&1; then
      break
    fi
    if ((SECONDS >= deadline)); then
      say "the broker (pid $pid) is not ready after ${START_TIMEOUT}s; last lines of $BROKER_LOG:" >&2
      tail -n 40 "$BROKER_LOG" >&2
      if [[ -s $STATE_DIR/ready-check.log ]]; then
        say "last readiness check (TopicCommand --list) said:" >&2
        tail -n 10 "$STATE_DIR/ready-check.log" >&2
      fi
      # a half-started broker would make the next 'start' say "already running"
      cmd_stop >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "kafka ready on $HOST:$PORT (pid $pid)"
}

# --- stop / status ----------------------------------------------------------

cmd_stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    say "kafka not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "broker (pid $pid) still running after ${STOP_TIMEOUT}s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  say "kafka stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid=$(running_pid); then
    echo "kafka running on $HOST:$(running_port) (pid $pid), state in $STATE_DIR"
  else
    echo "kafka not running"
    exit 3
  fi
}

# --- tools ------------------------------------------------------------------

cmd_tool() {
  [[ $# -ge 1 ]] || die "tool: missing CLASS (e.g. org.apache.kafka.tools.TopicCommand)"
  cmd_fetch quiet >&2
  check_java
  local class=$1
  shift
  # shellcheck disable=SC2086 # the JVM options are a word list
  exec "$JAVA" $TOOL_JVM_OPTS -Dlog4j2.configurationFile="$CONF_DIR/log4j2-tools.properties" \
    -cp "$LIBS/*" "$class" "$@"
}

# A shorthand: CLASS, then ARGS with --bootstrap-server added if missing.
cmd_tool_with_bootstrap() {
  local class=$1 arg
  shift
  for arg in "$@"; do
    case $arg in
      --bootstrap-server | --bootstrap-server=* | --help | -h | --version)
        cmd_tool "$class" "$@"
        ;;
    esac
  done
  cmd_tool "$class" --bootstrap-server "$(bootstrap_default)" "$@"
}

main() {
  local cmd=${1:-help}
  [[ $# -eq 0 ]] || shift
  case $cmd in
    fetch) cmd_fetch "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    tool) cmd_tool "$@" ;;
    topics) cmd_tool_with_bootstrap org.apache.kafka.tools.TopicCommand "$@" ;;
    consumer-perf-test) cmd_tool_with_bootstrap org.apache.kafka.tools.ConsumerPerformance "$@" ;;
    producer-perf-test) cmd_tool org.apache.kafka.tools.ProducerPerformance "$@" ;;
    console-producer) cmd_tool_with_bootstrap org.apache.kafka.tools.ConsoleProducer "$@" ;;
    console-consumer) cmd_tool_with_bootstrap org.apache.kafka.tools.consumer.ConsoleConsumer "$@" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
