#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Runs the single-node Apache Kafka and Apache Pulsar brokers that eventbus
# tests use, as plain JVM processes built from Maven Central jars (no Docker).
#
#   scripts/brokers.sh up      [kafka|pulsar|all]   start (no-op if already serving)
#   scripts/brokers.sh down    [kafka|pulsar|all]   stop and delete their data
#   scripts/brokers.sh restart kafka|pulsar         kill -9 and start again, data kept
#   scripts/brokers.sh status  [kafka|pulsar|all]
#   scripts/brokers.sh env                          print the EVENTBUS_TEST_* exports
#   scripts/brokers.sh kafka-tools                  resolve Kafka's command-line tools (up does
#                  it too) and print the folder of their jars
#   scripts/brokers.sh run [kafka|pulsar|all|kafka-cluster] -- CMD...
#                  start the brokers, run CMD with EVENTBUS_TEST_* set, then stop
#                  the brokers this call started (also when CMD fails)
#
# kafka-cluster is a separate 3-node Kafka KRaft cluster (every node broker and
# controller, topics with 3 replicas and min.insync.replicas=2) for failover
# tests; `all` does not include it. Besides up, down, status and run:
#
#   scripts/brokers.sh kill  kafka-cluster NODE   SIGKILL node NODE (1, 2 or 3)
#   scripts/brokers.sh start kafka-cluster NODE   start node NODE again on its data
#
# Its ports come from EVENTBUS_KAFKA_CLUSTER_PORTS (19092,19093,19094) and
# EVENTBUS_KAFKA_CLUSTER_CONTROLLER_PORTS (19192,19193,19194); `env` prints
# EVENTBUS_TEST_KAFKA_CLUSTER.
#
# Ports (all on 127.0.0.1) come from EVENTBUS_KAFKA_PORT (9092),
# EVENTBUS_KAFKA_SASL_PORT (9093), EVENTBUS_KAFKA_CONTROLLER_PORT (9094),
# EVENTBUS_KAFKA_TLS_PORT (9095), EVENTBUS_PULSAR_PORT (6650), EVENTBUS_PULSAR_HTTP_PORT (8080) and
# EVENTBUS_PULSAR_BOOKIE_PORT (3181). Jars are cached in .cache/, data and logs
# live in .brokers/<broker>/. Kafka's command-line tools (console producer and
# consumer, for the interop tests) are resolved beside the Kafka broker into
# .cache/tools/. See docs/CONTRIBUTING-brokers.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.sh
source "$ROOT/scripts/versions.sh"

KAFKA_PORT=${EVENTBUS_KAFKA_PORT:-9092}
KAFKA_SASL_PORT=${EVENTBUS_KAFKA_SASL_PORT:-9093}
KAFKA_CONTROLLER_PORT=${EVENTBUS_KAFKA_CONTROLLER_PORT:-9094}
KAFKA_TLS_PORT=${EVENTBUS_KAFKA_TLS_PORT:-9095}
PULSAR_PORT=${EVENTBUS_PULSAR_PORT:-6650}
PULSAR_HTTP_PORT=${EVENTBUS_PULSAR_HTTP_PORT:-8080}
PULSAR_BOOKIE_PORT=${EVENTBUS_PULSAR_BOOKIE_PORT:-3181}
KAFKA_CLUSTER_PORTS=${EVENTBUS_KAFKA_CLUSTER_PORTS:-19092,19093,19094}
KAFKA_CLUSTER_CONTROLLER_PORTS=${EVENTBUS_KAFKA_CLUSTER_CONTROLLER_PORTS:-19192,19193,19194}
START_TIMEOUT=${EVENTBUS_BROKER_START_TIMEOUT:-180s}

CACHE=$ROOT/.cache
STATE=$ROOT/.brokers
CONFIG=$ROOT/scripts/config
BROKERCHECK=$CACHE/bin/brokercheck
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
KEYTOOL=${JAVA_HOME:+$JAVA_HOME/bin/}keytool

# Kafka's own scripts default to a 1 GiB heap; Pulsar standalone's to 2 GiB heap
# and 4 GiB direct memory, far more than tests need on a 2-core CI machine.
KAFKA_JVM_OPTS=(-Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError)
PULSAR_JVM_OPTS=(-Xms256m -Xmx1g -XX:MaxDirectMemorySize=512m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
  # From Pulsar's bin/pulsar: Netty, BookKeeper and the broker reach into JDK
  # internals, which Java 17 only allows when opened explicitly.
  -Dio.netty.tryReflectionSetAccessible=true
  --add-opens java.base/java.io=ALL-UNNAMED --add-opens java.base/java.util.zip=ALL-UNNAMED
  --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/jdk.internal.misc=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/sun.net=ALL-UNNAMED
  --add-opens java.management/sun.management=ALL-UNNAMED
  -Djava.net.preferIPv4Stack=true
  # Lets the in-process bookie find its ledgers in Pulsar's (RocksDB) metadata store.
  -Dbookkeeper.metadata.bookie.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataBookieDriver
  -Dbookkeeper.metadata.client.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataClientDriver
  -Dlog4j2.is.webapp=false)

# Three cluster nodes must fit beside the single brokers on a 2-core CI
# machine: small heaps, the serial collector, and the C1 compiler only.
KAFKA_CLUSTER_JVM_OPTS=(-Xms128m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError)

# Any fixed valid id will do: one cluster per data directory, never shared.
KAFKA_CLUSTER_ID=ZXZlbnRidXMtdGVzdHMwMQ
# The test user of the SASL_PLAINTEXT listener: PLAIN in kafka.properties,
# SCRAM-SHA-256 and SCRAM-SHA-512 credentials added when storage is formatted.
# internal/testbroker has the same (KafkaSASLUser, KafkaSASLPassword).
KAFKA_SASL_USER=eventbus
KAFKA_SASL_PASSWORD=eventbus-secret
# Protects the throwaway keystores of the TLS listener, generated at each
# fresh start into .brokers/kafka/tls/ and deleted by `down`.
KAFKA_TLS_STORE_PASSWORD=eventbus-tls

# A broker holds files open for every partition, and tests create many
# topics: give the JVMs the most open files the system allows.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log() { printf 'brokers: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

now_ms() { date +%s%3N; }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%01ds' $((ms / 1000)) $((ms % 1000 / 100)); }

# ---------------------------------------------------------------- prerequisites

require_java() {
  command -v "$JAVA" >/dev/null || die "java not found: install a JDK 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"
  command -v "$KEYTOOL" >/dev/null || die "keytool not found next to java: install a full JDK 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME; it makes the Kafka TLS listener's certificates"
  local version major
  version=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)
  major=${version%%[.-]*}
  [[ $major =~ ^[0-9]+$ && $major -ge 17 ]] || die "java $version found, Kafka 4 and Pulsar 4 need 17 or newer: install openjdk-17-jdk-headless or set JAVA_HOME"
}

require_go() {
  command -v go >/dev/null || die "go not found: install Go (https://go.dev/dl/), it builds the readiness check"
}

# lib_dir NAME prints where the runtime jars of a broker, or of kafka-tools
# (Kafka's command-line tools), are cached.
lib_dir() {
  case $1 in
    kafka) printf '%s/brokers/kafka-%s/lib\n' "$CACHE" "$KAFKA_VERSION" ;;
    kafka-tools) printf '%s/tools/kafka-tools-%s/lib\n' "$CACHE" "$KAFKA_VERSION" ;;
    pulsar) printf '%s/brokers/pulsar-%s/lib\n' "$CACHE" "$PULSAR_VERSION" ;;
  esac
}

# resolve_jars NAME copies the runtime jars of a broker or of kafka-tools
# into lib_dir with Maven, on first use only.
resolve_jars() {
  local name=$1 lib start
  lib=$(lib_dir "$name")
  [[ -f $lib/.complete ]] && return 0
  command -v mvn >/dev/null || die "mvn not found: install Apache Maven 3.8 or newer (Debian/Ubuntu: apt-get install maven), it downloads the $name jars once"
  log "resolving $name jars from Maven Central into ${lib#"$ROOT"/} (first run only)"
  start=$(now_ms)
  local versions=(-Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$KAFKA_LOG4J_VERSION")
  [[ $name == pulsar ]] && versions=(-Dpulsar.version="$PULSAR_VERSION")
  rm -rf "$lib"
  # One private local repository per broker: self-contained under .cache/, and
  # safe to fill concurrently (Maven 3.8 does not lock a shared one).
  mvn -B -q -s "${EVENTBUS_MAVEN_SETTINGS:-$ROOT/scripts/maven/settings.xml}" \
    -Dmaven.repo.local="$CACHE/m2/$name" -f "$ROOT/scripts/maven/$name/pom.xml" "${versions[@]}" \
    "org.apache.maven.plugins:maven-dependency-plugin:$MAVEN_DEPENDENCY_PLUGIN_VERSION:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$lib" 2>&1 |
    sed 's/\x1b\[[0-9;]*m//g' >&2 || # Debian's Maven prints colour codes even with -B
    die "resolving the $name jars with Maven failed (output above)"
  touch "$lib/.complete"
  log "resolved $name jars in $(since "$start")"
}

build_brokercheck() {
  (cd "$ROOT" && go build -o "$BROKERCHECK" ./integration/brokercheck) ||
    die "building integration/brokercheck failed (it needs cgo and a C compiler for confluent-kafka-go)"
}

# ---------------------------------------------------------------- processes

# The nodes of kafka-cluster (kafka-cluster-1, -2, -3) keep their files in
# .brokers/kafka-cluster/.
state_dir() {
  case $1 in
    kafka-cluster-*) printf '%s/kafka-cluster\n' "$STATE" ;;
    *) printf '%s/%s\n' "$STATE" "$1" ;;
  esac
}
pid_file() { printf '%s/%s.pid\n' "$(state_dir "$1")" "$1"; }
log_file() { printf '%s/%s.log\n' "$(state_dir "$1")" "$1"; }

# running NAME prints the broker's PID if the recorded process is alive and
# really ours: PIDs get reused, so the command line must carry our marker.
running() {
  local pidfile pid stat args
  pidfile=$(pid_file "$1")
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  read -r stat args < <(ps -o stat=,args= -p "$pid" 2>/dev/null) || return 1
  [[ $stat != Z* && $args == *"-Deventbus.broker=$1 "* ]] || return 1
  printf '%s\n' "$pid"
}

port_free() {
  # Succeeds when nothing accepts connections on the port.
  ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

require_ports_free() {
  local name=$1 port var
  shift
  for var in "$@"; do
    port=${!var}
    [[ $port =~ ^[0-9]+$ ]] || die "EVENTBUS_${var}=$port is not a port number"
    port_free "$port" || die "port $port (EVENTBUS_${var}) is in use by another process, so $name cannot start: stop that process or choose another port with EVENTBUS_${var}"
  done
}

# launch NAME DIR JAVA_ARGS... starts the JVM detached from this shell and
# terminal (so Ctrl-C or closing the terminal does not kill it), with stdout
# and stderr appended to the broker's log, and records its PID.
launch() {
  local name=$1 dir=$2 detach=()
  shift 2
  command -v setsid >/dev/null && detach=(setsid)
  # The subshell execs, so $! is the JVM's PID. fd 9 is our lock: not inherited.
  (cd "$dir" && exec "${detach[@]}" "$JAVA" "-Deventbus.broker=$name" "$@" </dev/null >>"$(log_file "$name")" 2>&1 9>&-) &
  printf '%s\n' "$!" >"$(pid_file "$name")"
}

configure_kafka() {
  local dir=$STATE/kafka
  mkdir -p "$dir/data"
  make_kafka_tls "$dir/tls"
  # Later keys win in a Java properties file: append what varies per machine.
  {
    cat "$CONFIG/kafka.properties"
    printf '\n# Appended by scripts/brokers.sh\n'
    printf 'listeners=PLAINTEXT://127.0.0.1:%s,SASL_PLAINTEXT://127.0.0.1:%s,SSL://127.0.0.1:%s,CONTROLLER://127.0.0.1:%s\n' \
      "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_TLS_PORT" "$KAFKA_CONTROLLER_PORT"
    printf 'advertised.listeners=PLAINTEXT://127.0.0.1:%s,SASL_PLAINTEXT://127.0.0.1:%s,SSL://127.0.0.1:%s\n' \
      "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_TLS_PORT"
    printf 'controller.quorum.voters=1@127.0.0.1:%s\n' "$KAFKA_CONTROLLER_PORT"
    printf 'log.dirs=%s\n' "$dir/data"
    printf 'listener.name.ssl.ssl.keystore.location=%s\n' "$dir/tls/broker.p12"
    printf 'listener.name.ssl.ssl.keystore.password=%s\n' "$KAFKA_TLS_STORE_PASSWORD"
    printf 'listener.name.ssl.ssl.key.password=%s\n' "$KAFKA_TLS_STORE_PASSWORD"
  } >"$dir/server.properties"
  # Record the addresses, so `env` and `restart` use the ports of this start.
  {
    printf 'EVENTBUS_TEST_KAFKA=127.0.0.1:%s\n' "$KAFKA_PORT"
    printf 'EVENTBUS_TEST_KAFKA_SASL=127.0.0.1:%s\n' "$KAFKA_SASL_PORT"
    printf 'EVENTBUS_TEST_KAFKA_TLS=127.0.0.1:%s\n' "$KAFKA_TLS_PORT"
    printf 'EVENTBUS_TEST_KAFKA_TLS_CA=%s\n' "$dir/tls/ca.pem"
  } >"$dir/addresses"
}

# make_kafka_tls DIR creates, with the JDK's keytool only, a throwaway CA
# (DIR/ca.pem, what clients trust) and the TLS listener's key and certificate
# signed by it (DIR/broker.p12). The certificate names IP 127.0.0.1 only, no
# host name, so clients must connect to 127.0.0.1 to pass host name checks.
# The CA's key goes with DIR when `down` deletes .brokers/kafka.
make_kafka_tls() {
  local tls=$1 kt start
  start=$(now_ms)
  rm -rf "$tls"
  mkdir -p "$tls"
  # Seven short JVM runs: the C1 compiler and serial GC halve each one's time.
  kt=(-J-XX:TieredStopAtLevel=1 -J-XX:+UseSerialGC -storetype PKCS12 -storepass "$KAFKA_TLS_STORE_PASSWORD" -keypass "$KAFKA_TLS_STORE_PASSWORD" -noprompt)
  {
    "$KEYTOOL" -genkeypair -keystore "$tls/ca.p12" "${kt[@]}" -alias ca -keyalg EC -groupname secp256r1 \
      -dname "CN=eventbus test CA" -ext bc:c -validity 365 &&
      "$KEYTOOL" -exportcert -keystore "$tls/ca.p12" "${kt[@]}" -alias ca -rfc -file "$tls/ca.pem" &&
      "$KEYTOOL" -genkeypair -keystore "$tls/broker.p12" "${kt[@]}" -alias broker -keyalg EC -groupname secp256r1 \
        -dname "CN=eventbus test broker" -validity 365 &&
      "$KEYTOOL" -certreq -keystore "$tls/broker.p12" "${kt[@]}" -alias broker -file "$tls/broker.csr" &&
      "$KEYTOOL" -gencert -keystore "$tls/ca.p12" "${kt[@]}" -alias ca -infile "$tls/broker.csr" \
        -ext san=ip:127.0.0.1 -ext eku=serverAuth -validity 365 -rfc -outfile "$tls/broker.pem" &&
      "$KEYTOOL" -importcert -keystore "$tls/broker.p12" "${kt[@]}" -alias ca -file "$tls/ca.pem" &&
      "$KEYTOOL" -importcert -keystore "$tls/broker.p12" "${kt[@]}" -alias broker -file "$tls/broker.pem"
  } >>"$(log_file kafka)" 2>&1 9>&- || fail kafka "creating the TLS listener's certificates with keytool failed"
  log "made the Kafka TLS listener's CA and certificate in $(since "$start")"
}

configure_pulsar() {
  local dir=$STATE/pulsar
  mkdir -p "$dir/data"
  {
    cat "$CONFIG/standalone.conf"
    printf '\n# Appended by scripts/brokers.sh\n'
    printf 'brokerServicePort=%s\nwebServicePort=%s\n' "$PULSAR_PORT" "$PULSAR_HTTP_PORT"
    # The bookie binds all interfaces unless given the loopback one by name.
    if [[ -e /sys/class/net/lo ]]; then printf 'listeningInterface=lo\n'; fi
  } >"$dir/standalone.conf"
  printf '%s\n' "$PULSAR_BOOKIE_PORT" >"$dir/bookie-port"
  printf 'EVENTBUS_TEST_PULSAR=pulsar://127.0.0.1:%s\nEVENTBUS_TEST_PULSAR_ADMIN=http://127.0.0.1:%s\n' \
    "$PULSAR_PORT" "$PULSAR_HTTP_PORT" >"$dir/addresses"
}

# start_NAME launches the broker from the configuration in .brokers/NAME.
start_kafka() {
  local dir=$STATE/kafka lib
  lib=$(lib_dir kafka)
  local java_args=(-cp "$lib/*" -Dlog4j2.configurationFile="$CONFIG/log4j2.xml")
  # KRaft needs formatted storage; --ignore-formatted keeps data on restarts.
  # The SCRAM credentials live in the metadata log, so they are only added
  # when storage is formatted: on a fresh start, not on a restart.
  "$JAVA" "${java_args[@]}" kafka.tools.StorageTool format --cluster-id "$KAFKA_CLUSTER_ID" \
    --config "$dir/server.properties" --ignore-formatted \
    --add-scram "SCRAM-SHA-256=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]" \
    >>"$(log_file kafka)" 2>&1 ||
    fail kafka "formatting Kafka storage failed"
  launch kafka "$dir" "${KAFKA_JVM_OPTS[@]}" "${java_args[@]}" kafka.Kafka "$dir/server.properties"
}

start_pulsar() {
  local dir=$STATE/pulsar lib
  lib=$(lib_dir pulsar)
  # Where this start's lines begin in the (appended) log, for pulsar_steady.
  PULSAR_LOG_FROM=$(($(stat -c %s "$(log_file pulsar)" 2>/dev/null || echo 0) + 1))
  if [[ -d $dir/data/metadata ]]; then
    # Existing data, left by a SIGKILL or a crash: drop the dead process's
    # ephemeral nodes first, or the bookie's registration flaps forever (see
    # scripts/pulsar/DropEphemeralNodes.java).
    "$JAVA" -cp "$lib/*" "$ROOT/scripts/pulsar/DropEphemeralNodes.java" "$dir/data/metadata" \
      >>"$(log_file pulsar)" 2>&1 9>&- || fail pulsar "dropping stale ephemeral nodes from Pulsar's metadata store failed"
  fi
  launch pulsar "$dir" "${PULSAR_JVM_OPTS[@]}" -cp "$lib/*" -Dlog4j2.configurationFile="$CONFIG/log4j2.xml" \
    org.apache.pulsar.PulsarStandaloneStarter --config "$dir/standalone.conf" \
    --no-functions-worker --no-stream-storage \
    --metadata-dir "$dir/data/metadata" --bookkeeper-dir "$dir/data/bookkeeper" \
    --bookkeeper-port "$(<"$dir/bookie-port")"
}

# wait_serving NAME returns once a produce and a consume succeed on every
# listener of the broker; on failure it shows the end of the broker's log.
wait_serving() {
  local name=$1 pid args=() start
  start=$(now_ms)
  pid=$(running "$name") || fail "$name" "$name exited while starting"
  addresses "$name"
  if [[ $name == kafka ]]; then
    args=(-kafka "$EVENTBUS_TEST_KAFKA" -kafka-sasl "$EVENTBUS_TEST_KAFKA_SASL")
    # A broker configured by an older version of this script has no TLS listener.
    if [[ -n ${EVENTBUS_TEST_KAFKA_TLS:-} ]]; then
      args+=(-kafka-tls "$EVENTBUS_TEST_KAFKA_TLS" -kafka-tls-ca "$EVENTBUS_TEST_KAFKA_TLS_CA")
    fi
  else
    args=(-pulsar "$EVENTBUS_TEST_PULSAR" -pulsar-admin "$EVENTBUS_TEST_PULSAR_ADMIN")
  fi
  "$BROKERCHECK" "${args[@]}" -pid "$pid" -timeout "$START_TIMEOUT" 9>&- ||
    fail "$name" "$name (pid $pid) is not serving"
  if [[ $name == pulsar ]]; then pulsar_steady "$pid"; fi
  log "$name serving (pid $pid, ready after $(since "$start")), log: ${STATE#"$ROOT"/}/$name/$name.log"
}

# pulsar_steady PID returns once Pulsar passed three checks in a row, a
# second apart, without its bookie dropping out meanwhile: the admin API lists
# the bookie, a new topic can be created (a new ledger on the bookie), the
# broker's health check produces and consumes, and the transaction
# coordinator's assign topic exists (bus.Transactional needs it). One round
# trip on an existing topic is not enough: a bookie whose registration flaps
# serves it now and then, yet fails most new ledgers.
pulsar_steady() {
  local pid=$1 admin=${EVENTBUS_TEST_PULSAR_ADMIN%/} bookie deadline ok=0 flaps last=-1 topic err
  bookie=127.0.0.1:$(<"$STATE/pulsar/bookie-port")
  deadline=$(($(now_ms) + 60000))
  command -v curl >/dev/null || die "curl not found: install curl, it checks Pulsar's admin API"
  while ((ok < 3)); do
    running pulsar >/dev/null || fail pulsar "pulsar (pid $pid) exited after it served"
    ((($(now_ms)) < deadline)) ||
      fail pulsar "pulsar (pid $pid) served once but is not steady: ${err:-its bookie $bookie keeps dropping out}"
    sleep 1
    err=
    flaps=$(tail -c "+${PULSAR_LOG_FROM:-1}" "$(log_file pulsar)" | grep -c "PulsarRegistrationClient - Bookie $bookie deleted") || true
    topic=persistent/public/default/eventbus-brokercheck-$(now_ms)
    if ((last >= 0 && flaps != last)); then
      err="its bookie $bookie dropped out $((flaps - last)) times in a second"
    elif ! curl -fsS --max-time 10 "$admin/admin/v2/bookies/all" | grep -qF "\"$bookie\""; then
      err="the admin API does not list the bookie $bookie"
    elif ! curl -fsS --max-time 20 -X PUT "$admin/admin/v2/$topic" >/dev/null 2>&1; then
      err="creating the new topic $topic failed"
    elif ! curl -fsS --max-time 20 "$admin/admin/v2/brokers/health?topicVersion=V2" >/dev/null 2>&1; then
      err="the broker health check (produce and consume) failed"
    elif ! curl -fsS --max-time 10 "$admin/admin/v2/persistent/pulsar/system/transaction_coordinator_assign/partitions" |
      grep -q '"partitions":[1-9]'; then
      err="the transaction coordinator's assign topic pulsar/system/transaction_coordinator_assign is missing"
    fi
    curl -fsS --max-time 10 -X DELETE "$admin/admin/v2/$topic?force=true" >/dev/null 2>&1 || true
    last=$flaps
    if [[ -n $err ]]; then ok=0; else ok=$((ok + 1)); fi
  done
}

fail() {
  local name=$1 logf
  logf=$(log_file "$name")
  if [[ -f $logf ]]; then
    log "last lines of $logf:"
    tail -n 60 "$logf" | sed 's/^/  | /' >&2
  fi
  die "$2 (full log: $logf)"
}

# addresses NAME exports the EVENTBUS_TEST_* variables of a configured broker.
addresses() {
  local file=$STATE/$1/addresses line
  [[ -f $file ]] || return 1
  while IFS= read -r line; do export "${line?}"; done <"$file"
}

# stop NAME: SIGTERM, up to 30s for a clean shutdown, then SIGKILL.
stop() {
  local name=$1 pid i
  if pid=$(running "$name"); then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      running "$name" >/dev/null || break
      sleep 0.2
    done
    if running "$name" >/dev/null; then
      log "$name did not stop within 30s of SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$name"
    fi
  fi
}

wait_gone() {
  local i
  for ((i = 0; i < 100; i++)); do
    running "$1" >/dev/null || return 0
    sleep 0.1
  done
  die "$1 is still running after SIGKILL"
}

# ---------------------------------------------------------------- kafka-cluster

cluster_port() { local ports; IFS=, read -ra ports <<<"$KAFKA_CLUSTER_PORTS"; printf '%s\n' "${ports[$(($1 - 1))]}"; }
cluster_controller_port() { local ports; IFS=, read -ra ports <<<"$KAFKA_CLUSTER_CONTROLLER_PORTS"; printf '%s\n' "${ports[$(($1 - 1))]}"; }

# configure_kafka_cluster writes each node's configuration: the single
# broker's file with one PLAINTEXT listener, its own node id and ports, and
# a replication of 3 with 2 in sync, tuned to notice a dead node in seconds.
configure_kafka_cluster() {
  local dir=$STATE/kafka-cluster node voters=() bootstrap=()
  mkdir -p "$dir"
  for node in 1 2 3; do
    voters+=("$node@127.0.0.1:$(cluster_controller_port "$node")")
    bootstrap+=("127.0.0.1:$(cluster_port "$node")")
  done
  for node in 1 2 3; do
    mkdir -p "$dir/node$node/data"
    {
      cat "$CONFIG/kafka.properties"
      printf '\n# Appended by scripts/brokers.sh for node %s of kafka-cluster\n' "$node"
      printf 'node.id=%s\n' "$node"
      printf 'listeners=PLAINTEXT://127.0.0.1:%s,CONTROLLER://127.0.0.1:%s\n' "$(cluster_port "$node")" "$(cluster_controller_port "$node")"
      printf 'advertised.listeners=PLAINTEXT://127.0.0.1:%s\n' "$(cluster_port "$node")"
      printf 'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n'
      printf 'controller.quorum.voters=%s\n' "$(IFS=,; echo "${voters[*]}")"
      printf 'log.dirs=%s\n' "$dir/node$node/data"
      printf 'default.replication.factor=3\nmin.insync.replicas=2\nunclean.leader.election.enable=false\n'
      printf 'offsets.topic.replication.factor=3\ntransaction.state.log.replication.factor=3\ntransaction.state.log.min.isr=2\n'
      printf 'share.coordinator.state.topic.replication.factor=3\nshare.coordinator.state.topic.min.isr=2\n'
      # A killed node is fenced, and its partitions get new leaders, after
      # 3 s without heartbeats instead of 9 s.
      printf 'broker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=500\n'
      printf 'replica.lag.time.max.ms=10000\n'
    } >"$dir/node$node/server.properties"
  done
  printf 'EVENTBUS_TEST_KAFKA_CLUSTER=%s\n' "$(IFS=,; echo "${bootstrap[*]}")" >"$dir/addresses"
}

# start_cluster_node NODE launches one node on its (formatted) data.
start_cluster_node() {
  local node=$1 dir=$STATE/kafka-cluster/node$1 lib
  lib=$(lib_dir kafka)
  local java_args=(-cp "$lib/*" -Dlog4j2.configurationFile="$CONFIG/log4j2.xml")
  "$JAVA" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC "${java_args[@]}" kafka.tools.StorageTool format \
    --cluster-id "$KAFKA_CLUSTER_ID" --config "$dir/server.properties" --ignore-formatted \
    >>"$(log_file "kafka-cluster-$node")" 2>&1 9>&- ||
    fail "kafka-cluster-$node" "formatting node $node's storage failed"
  launch "kafka-cluster-$node" "$dir" "${KAFKA_CLUSTER_JVM_OPTS[@]}" "${java_args[@]}" kafka.Kafka "$dir/server.properties"
}

# wait_port NAME PORT waits up to 60 s for NAME to accept connections.
wait_port() {
  local name=$1 port=$2 i
  for ((i = 0; i < 600; i++)); do
    running "$name" >/dev/null || fail "$name" "$name exited while starting"
    port_free "$port" || return 0
    sleep 0.1
  done
  fail "$name" "$name does not accept connections on port $port after 60s"
}

cluster_up() {
  local node to_start=() pids=() start
  for node in 1 2 3; do
    running "kafka-cluster-$node" >/dev/null || to_start+=("$node")
  done
  require_go
  if ((${#to_start[@]})); then
    require_java
    for node in "${to_start[@]}"; do
      for port in "$(cluster_port "$node")" "$(cluster_controller_port "$node")"; do
        port_free "$port" || die "port $port (node $node of kafka-cluster, EVENTBUS_KAFKA_CLUSTER_PORTS or EVENTBUS_KAFKA_CLUSTER_CONTROLLER_PORTS) is in use by another process"
      done
    done
  fi
  build_brokercheck &
  local jobs=($!)
  if ((${#to_start[@]})); then resolve_jars kafka & jobs+=($!); fi
  for job in "${jobs[@]}"; do wait "$job" || exit 1; done
  start=$(now_ms)
  if ((${#to_start[@]})); then
    log "starting kafka-cluster nodes ${to_start[*]}"
    [[ -f $STATE/kafka-cluster/addresses ]] || configure_kafka_cluster
    for node in "${to_start[@]}"; do start_cluster_node "$node"; done
  fi
  for node in 1 2 3; do pids+=("$(running "kafka-cluster-$node")") || fail "kafka-cluster-$node" "node $node exited while starting"; done
  addresses kafka-cluster
  # A produce and consume through the cluster: every node registered, the
  # check topic created with 3 replicas.
  "$BROKERCHECK" -kafka "$EVENTBUS_TEST_KAFKA_CLUSTER" -pid "${pids[0]}" -timeout "$START_TIMEOUT" 9>&- ||
    fail kafka-cluster-1 "kafka-cluster is not serving"
  log "kafka-cluster serving (pids ${pids[*]}, ready after $(since "$start")), logs: ${STATE#"$ROOT"/}/kafka-cluster/"
}

# cluster_down kills the nodes outright: their data is deleted anyway, and
# the last node of a cluster stopping one by one waits 30 s for a quorum
# that is gone.
cluster_down() {
  local node
  for node in 1 2 3; do cluster_kill "$node"; done
  rm -rf "${STATE:?}/kafka-cluster"
}

cluster_kill() {
  local node=$1 pid
  [[ $node =~ ^[123]$ ]] || die "want a kafka-cluster node: 1, 2 or 3"
  if pid=$(running "kafka-cluster-$node"); then
    log "killing kafka-cluster node $node (pid $pid) with SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "kafka-cluster-$node"
  fi
}

cluster_start() {
  local node=$1
  [[ $node =~ ^[123]$ ]] || die "want a kafka-cluster node: 1, 2 or 3"
  [[ -f $STATE/kafka-cluster/addresses ]] || die "kafka-cluster was never started: run scripts/brokers.sh up kafka-cluster first"
  running "kafka-cluster-$node" >/dev/null && { log "kafka-cluster node $node already running"; return 0; }
  require_java
  log "starting kafka-cluster node $node on its existing data"
  start_cluster_node "$node"
  wait_port "kafka-cluster-$node" "$(cluster_port "$node")"
  log "kafka-cluster node $node accepts connections"
}

# ---------------------------------------------------------------- commands

brokers_of() {
  case ${1:-all} in
    all) echo kafka pulsar ;;
    kafka | pulsar | kafka-cluster) echo "$1" ;;
    *) die "unknown broker '$1': want kafka, pulsar, all or kafka-cluster" ;;
  esac
}

cmd_up() {
  [[ ${1:-} == kafka-cluster ]] && { cluster_up; return; }
  local names name to_start=() jobs=() job
  read -ra names <<<"$(brokers_of "${1:-all}")"
  for name in "${names[@]}"; do
    if running "$name" >/dev/null; then
      log "$name already running, checking it serves"
    else
      to_start+=("$name")
    fi
  done
  require_go
  if ((${#to_start[@]})); then
    require_java
    for name in "${to_start[@]}"; do
      case $name in
        kafka) require_ports_free kafka KAFKA_PORT KAFKA_SASL_PORT KAFKA_TLS_PORT KAFKA_CONTROLLER_PORT ;;
        pulsar) require_ports_free pulsar PULSAR_PORT PULSAR_HTTP_PORT PULSAR_BOOKIE_PORT ;;
      esac
    done
  fi
  # The slow parts of a first run, all network or compiler bound: overlap them.
  build_brokercheck &
  jobs+=($!)
  if [[ " ${names[*]} " == *" kafka "* ]]; then
    resolve_jars kafka-tools &
    jobs+=($!)
  fi
  for name in "${to_start[@]}"; do
    resolve_jars "$name" &
    jobs+=($!)
  done
  for job in "${jobs[@]}"; do wait "$job" || exit 1; done
  # Start every broker first and wait afterwards, so their startups overlap.
  for name in "${to_start[@]}"; do
    log "starting $name"
    "configure_$name"
    "start_$name"
  done
  for name in "${names[@]}"; do
    wait_serving "$name"
  done
}

cmd_down() {
  [[ ${1:-} == kafka-cluster ]] && { cluster_down; rmdir "$STATE" 2>/dev/null || true; return; }
  local names name
  read -ra names <<<"$(brokers_of "${1:-all}")"
  for name in "${names[@]}"; do
    stop "$name"
    rm -rf "${STATE:?}/$name"
  done
  rmdir "$STATE" 2>/dev/null || true
}

cmd_restart() {
  local name=${1:-}
  [[ $name == kafka || $name == pulsar ]] || die "restart needs one broker: kafka or pulsar"
  [[ -f $STATE/$name/addresses ]] || die "$name was never started: run scripts/brokers.sh up $name first"
  require_java
  require_go
  build_brokercheck
  resolve_jars "$name"
  local pid
  if pid=$(running "$name"); then
    log "killing $name (pid $pid) with SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true # it may have died on its own meanwhile
    wait_gone "$name"
  fi
  log "starting $name on its existing data"
  "start_$name"
  wait_serving "$name"
}

cmd_status() {
  local names name pid status=0
  if [[ ${1:-} == kafka-cluster ]]; then
    for name in kafka-cluster-1 kafka-cluster-2 kafka-cluster-3; do
      if pid=$(running "$name"); then
        echo "$name: running, pid $pid, log ${STATE#"$ROOT"/}/kafka-cluster/$name.log"
      else
        echo "$name: not running"
        status=3
      fi
    done
    return "$status"
  fi
  read -ra names <<<"$(brokers_of "${1:-all}")"
  for name in "${names[@]}"; do
    if pid=$(running "$name"); then
      echo "$name: running, pid $pid, log ${STATE#"$ROOT"/}/$name/$name.log"
    else
      echo "$name: not running"
      status=3
    fi
  done
  return "$status"
}

cmd_env() {
  local name
  for name in kafka pulsar kafka-cluster; do
    [[ -f $STATE/$name/addresses ]] && sed 's/^/export /' "$STATE/$name/addresses"
  done
  if [[ -f $STATE/kafka/addresses ]] && tools_lib >/dev/null; then
    printf 'export EVENTBUS_TEST_KAFKA_TOOLS=%s\n' "$(tools_lib)"
  fi
  return 0
}

# tools_lib prints the folder of the resolved kafka-tools jars, if they are.
tools_lib() {
  local lib
  lib=$(lib_dir kafka-tools)
  [[ -f $lib/.complete ]] || return 1
  printf '%s\n' "$lib"
}

cmd_kafka_tools() {
  resolve_jars kafka-tools
  tools_lib
}

# Brokers that `run` started and must stop. Global: the EXIT trap runs after
# the function's locals are gone.
RUN_STARTED=()

cmd_run() {
  local which=all
  if [[ ${1:-} != -- ]]; then which=${1:-all}; shift || true; fi
  [[ ${1:-} == -- ]] || die "usage: scripts/brokers.sh run [kafka|pulsar|all] -- command [args...]"
  shift
  local names name
  read -ra names <<<"$(brokers_of "$which")"
  for name in "${names[@]}"; do
    if running "$name" >/dev/null || { [[ $name == kafka-cluster ]] && running kafka-cluster-1 >/dev/null; }; then
      # Someone started it with `make brokers-up`: it keeps running for them.
      log "$name is already running: leaving it running afterwards"
    else
      RUN_STARTED+=("$name")
    fi
  done
  trap stop_run_started EXIT
  trap 'exit 130' INT TERM
  locked cmd_up "$which"
  for name in "${names[@]}"; do addresses "$name"; done
  if [[ " ${names[*]} " == *" kafka "* ]]; then
    EVENTBUS_TEST_KAFKA_TOOLS=$(tools_lib) || die "the kafka-tools jars were not resolved"
    export EVENTBUS_TEST_KAFKA_TOOLS
  fi
  "$@"
}

# shellcheck disable=SC2317,SC2329 # invoked by the EXIT trap
stop_run_started() {
  local status=$? name
  for name in "${RUN_STARTED[@]}"; do locked cmd_down "$name"; done
  exit "$status"
}

# locked CMD... runs CMD holding a lock, so that two concurrent calls (two
# terminals, two `make test`) cannot start or stop the same broker at once.
locked() {
  mkdir -p "$CACHE"
  if command -v flock >/dev/null; then
    (
      exec 9>"$CACHE/brokers.lock"
      flock -w 600 9 || die "waited 10 minutes for another scripts/brokers.sh to finish"
      "$@"
    )
  else
    "$@"
  fi
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    up) locked cmd_up "$@" && cmd_env ;;
    down) locked cmd_down "$@" ;;
    kill | start)
      [[ ${1:-} == kafka-cluster ]] || die "$cmd works on kafka-cluster nodes: scripts/brokers.sh $cmd kafka-cluster NODE"
      locked "cluster_$cmd" "${2:-}"
      ;;
    restart) locked cmd_restart "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env ;;
    kafka-tools) locked cmd_kafka_tools ;;
    run) cmd_run "$@" ;;
    *)
      sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

main "$@"
