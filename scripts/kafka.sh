#!/usr/bin/env bash
# kafka.sh — a real Apache Kafka broker for the integration tests.
#
# One KRaft node (broker and controller in one JVM) on loopback ports picked
# at start, with a throw-away data directory. The jars come from Maven
# Central through mvn and are cached in the git-ignored .cache/ of the
# repository, so the script works from a fresh clone anywhere and needs
# nothing outside it but java, mvn and kcat. See docs/internals/TEST-BROKER.md.
#
#   scripts/kafka.sh fetch    download Kafka and its dependencies (once)
#   scripts/kafka.sh start    fetch if needed, start, wait until it serves,
#                             write .cache/kafka/run/broker.env
#   scripts/kafka.sh stop     stop the recorded broker, delete its data
#   scripts/kafka.sh stop --keep [--kill]
#                             stop it (SIGTERM, or SIGKILL with --kill) and
#                             keep its data and ports for a restart
#   scripts/kafka.sh restart [--kill]
#                             start the recorded broker again on the same
#                             ports with the same data (stopping it first
#                             if it runs): a broker outage for the fault
#                             tests (tests/faults/test_broker_bounce.c)
#   scripts/kafka.sh status   say whether the recorded broker is serving
set -euo pipefail

KAFKA_VERSION=3.9.1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache="$root/.cache"
libs="$cache/kafka/$KAFKA_VERSION/libs"
m2="$cache/m2"
run="$cache/kafka/run"
state="$run/broker.env"
start_timeout=${ND_KAFKA_START_TIMEOUT:-90}
stop_timeout=${ND_KAFKA_STOP_TIMEOUT:-30}
heap=${ND_KAFKA_HEAP:--Xmx512m -Xms256m}
# The broker the caller uses, before load_state sets the recorded one.
expected=${ND_TEST_BOOTSTRAP:-}

say() { echo "kafka.sh: $*"; }
die() { echo "kafka.sh: error: $*" >&2; exit 1; }

usage() {
  cat <<EOF
usage: scripts/kafka.sh fetch|start|stop [--keep [--kill]]|restart [--kill]|status|--help

  fetch   Download Apache Kafka $KAFKA_VERSION (org.apache.kafka:kafka_2.13)
          and its runtime jars with mvn into .cache/kafka/$KAFKA_VERSION/libs.
          Does nothing when they are there.
  start   Fetch if needed, stop a broker left by an earlier run, start a
          single-node KRaft broker on free 127.0.0.1 ports with a temporary
          data directory, wait until it serves (at most ${start_timeout}s),
          and write .cache/kafka/run/broker.env:
            ND_TEST_BOOTSTRAP=127.0.0.1:PORT
            ND_TEST_KAFKA_VERSION=$KAFKA_VERSION
            ND_KAFKA_PID, ND_KAFKA_DATA_DIR, ND_KAFKA_LOG
  stop    Stop the broker recorded in broker.env (SIGTERM, then SIGKILL
          after ${stop_timeout}s), delete its data directory and broker.env.
          Exit 0 when there is none.
          --keep: keep the data directory and broker.env, so that restart
          brings the same broker back; --kill: SIGKILL at once (an
          unclean stop, as a crashed machine) instead of SIGTERM.
  restart Start the broker recorded in broker.env again, on the same
          ports, with the same data directory and cluster id, and wait
          until it serves (at most ${start_timeout}s). If it still runs,
          it is stopped first as by stop --keep (--kill: with SIGKILL).
          Fails (exit 1) when a port is taken meanwhile: it never moves.
          stop --keep and restart refuse to act on a broker other than
          ND_TEST_BOOTSTRAP when that is set.
  status  Print the recorded broker and whether it answers; exit 1 if not.

Environment: ND_KAFKA_START_TIMEOUT (s), ND_KAFKA_STOP_TIMEOUT (s),
ND_KAFKA_HEAP (JVM heap flags, default "-Xmx512m -Xms256m").
Use it from a shell:  scripts/kafka.sh start && set -a &&
  . .cache/kafka/run/broker.env && set +a
EOF
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found (scripts/setup.sh installs it)"
}

fetched() { [ -f "$libs/.complete" ]; }

cmd_fetch() {
  if fetched; then
    say "Apache Kafka $KAFKA_VERSION already in ${libs#"$root"/}"
    return 0
  fi
  need mvn
  need java
  local t0 tmp
  t0=$(date +%s)
  say "fetching Apache Kafka $KAFKA_VERSION and its runtime dependencies from Maven Central"
  mkdir -p "$cache/kafka/$KAFKA_VERSION" "$m2"
  tmp=$(mktemp -d "$cache/kafka/$KAFKA_VERSION/libs.tmp.XXXXXX")
  # -ntp keeps one line per artifact out of the log; the plugin's own lines
  # (one per copied jar) are the progress.
  if ! mvn -B -ntp -Dstyle.color=never -f "$here/kafka/pom.xml" \
      -Dmaven.repo.local="$m2" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$tmp" 2>&1 \
      | sed -u -e 's/\x1b\[[0-9;]*m//g' -e '/^\(\[INFO\] -*\)\?$/d' \
               -e 's/^/  mvn: /'; then
    rm -rf "$tmp"
    die "mvn could not fetch Kafka $KAFKA_VERSION (see above)"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || {
    rm -rf "$tmp"
    die "mvn ran but kafka_2.13-$KAFKA_VERSION.jar is missing"
  }
  touch "$tmp/.complete"
  rm -rf "$libs"
  mv "$tmp" "$libs"
  say "fetched $(ls "$libs" | grep -c '\.jar$') jars ($(du -sh "$libs" | cut -f1)) in $(( $(date +%s) - t0 ))s"
}

# A TCP port on 127.0.0.1 nobody listens on, below the ephemeral range so
# that outgoing connections do not take it in the meantime.
port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 12000 ))
    [ "$p" != "${1:-}" ] || continue
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}

# Reads broker.env into variables of this shell, without trusting it as code.
load_state() {
  ND_TEST_BOOTSTRAP="" ND_KAFKA_PID="" ND_KAFKA_DATA_DIR="" ND_KAFKA_LOG=""
  [ -f "$state" ] || return 1
  local k v
  while IFS='=' read -r k v; do
    case "$k" in
      ND_TEST_BOOTSTRAP|ND_KAFKA_PID|ND_KAFKA_DATA_DIR|ND_KAFKA_LOG)
        printf -v "$k" '%s' "$v" ;;
    esac
  done <"$state"
  return 0
}

# True when pid is alive and is the broker of data dir $2 (pids get reused).
is_our_broker() {
  local pid=$1 dir=$2
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -F -e "kafka.Kafka" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -F -e "$dir" || return 1
}

serves() {
  timeout 15 kcat -b "$1" -L -m 5 2>/dev/null | grep -q -E '^ +1 brokers:'
}

cmd_stop() {
  local keep=0 sig=TERM a
  for a in "$@"; do
    case "$a" in
      --keep) keep=1 ;;
      --kill) sig=KILL ;;
      *) die "stop: unknown option '$a'" ;;
    esac
  done
  [ $keep = 1 ] || [ $sig = TERM ] || die "stop: --kill only with --keep"
  exec 9>>"$run.lock"
  flock -w 120 9 || die "another kafka.sh holds $run.lock"
  if [ $keep = 1 ]; then
    load_state || die "no broker recorded"
    check_expected
    halt "$ND_KAFKA_PID" "$ND_KAFKA_DATA_DIR" $sig
    say "stopped (SIG$sig), data kept in $ND_KAFKA_DATA_DIR for restart"
    return 0
  fi
  stop_locked
}

# stop --keep and restart bounce a broker other tests may be using: only
# the one the caller means (ND_TEST_BOOTSTRAP, when set) may be bounced.
check_expected() {
  if [ -n "$expected" ] && [ "$expected" != "$ND_TEST_BOOTSTRAP" ]; then
    die "the recorded broker is $ND_TEST_BOOTSTRAP, not $expected (ND_TEST_BOOTSTRAP): it is not this script's to bounce"
  fi
}

# Stops broker pid (of data dir $2) with signal $3 (TERM: then KILL after
# stop_timeout) and waits until it is gone.
halt() {
  local pid=$1 dir=$2 sig=$3 i
  if ! is_our_broker "$pid" "$dir"; then
    say "recorded broker (pid ${pid:-?}) is not running"
    return 0
  fi
  say "stopping broker pid $pid ($ND_TEST_BOOTSTRAP) with SIG$sig"
  kill -"$sig" "$pid" 2>/dev/null || true
  for (( i = 0; i < stop_timeout * 10; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "broker did not stop within ${stop_timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
}

stop_locked() {
  load_state || { say "no broker recorded"; return 0; }
  local dir=$ND_KAFKA_DATA_DIR
  halt "$ND_KAFKA_PID" "$dir" TERM
  # Only ever delete a directory this script made.
  case "$dir" in
    */nd-kafka.*) rm -rf -- "$dir" ;;
    "") ;;
    *) say "not deleting unexpected data dir '$dir'" ;;
  esac
  rm -f "$state"
  say "stopped"
}

show_log_tail() {
  local log=$1
  # The broker logs its whole configuration first; errors are the news.
  if grep -q -E ' (ERROR|FATAL) ' "$log" 2>/dev/null; then
    echo "---- errors in $log ----" >&2
    grep -E -A 3 ' (ERROR|FATAL) ' "$log" | head -n 40 >&2
  fi
  echo "---- last lines of $log ----" >&2
  tail -n 40 "$log" >&2 2>/dev/null || true
  if [ -s "$run/stdout.log" ]; then
    echo "---- last lines of $run/stdout.log ----" >&2
    tail -n 30 "$run/stdout.log" >&2
  fi
  echo "----" >&2
}

# Starts the broker of data dir $1 in the background (its stdout: ours),
# waits for its pid file.
launch() {
  local dir=$1 i
  rm -f "$dir/pid"
  # 9>&-: the broker must not inherit the lock of this script, or every
  # later start and stop would wait on it for as long as the broker lives.
  # setsid: the broker outlives the caller's terminal and process group, so
  # a Ctrl-C in the test runner reaches its trap, which then runs stop.
  # Writing $$ before exec gives the JVM's own pid.
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$dir/pid" \
    java $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true \
      -Dlog4j.configuration="file:$here/kafka/log4j.properties" \
      -Dkafka.logs.dir="$run" \
      -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
      </dev/null 2>&1 9>&- &
  for (( i = 0; i < 50; i++ )); do
    [ -s "$dir/pid" ] && break
    sleep 0.1
  done
}

# One attempt: 0 = serving, 1 = failed, 2 = failed on a port taken meanwhile.
try_start() {
  local bport cport dir cluster_id pid cp log t0 i
  bport=$(free_port)
  cport=$(free_port "$bport")
  dir=$(mktemp -d "${TMPDIR:-/tmp}/nd-kafka.XXXXXX")
  log="$run/server.log"
  cp="$libs/*"
  rm -f "$log" "$run/stdout.log" "$run/format.log"
  sed -e "s|@BROKER_PORT@|$bport|g" -e "s|@CONTROLLER_PORT@|$cport|g" \
      -e "s|@DATA_DIR@|$dir|g" "$here/kafka/server.properties.in" \
      >"$dir/server.properties"

  cluster_id=$(java -Xmx128m -cp "$cp" \
      -Dlog4j.configuration="file:$here/kafka/log4j-tool.properties" \
      kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  [ -n "$cluster_id" ] || { rm -rf -- "$dir"; die "StorageTool random-uuid failed"; }
  if ! java -Xmx256m -cp "$cp" \
      -Dlog4j.configuration="file:$here/kafka/log4j-tool.properties" \
      kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$dir/server.properties" >"$run/format.log" 2>&1; then
    cat "$run/format.log" >&2
    rm -rf -- "$dir"
    die "formatting the KRaft storage failed"
  fi

  launch "$dir" >"$run/stdout.log"
  pid=$(cat "$dir/pid" 2>/dev/null || true)
  # Written before the wait: a start interrupted from here on can be stopped.
  {
    echo "ND_TEST_BOOTSTRAP=127.0.0.1:$bport"
    echo "ND_TEST_KAFKA_VERSION=$KAFKA_VERSION"
    echo "ND_KAFKA_PID=$pid"
    echo "ND_KAFKA_DATA_DIR=$dir"
    printf 'ND_KAFKA_LOG=%q\n' "$log"  # the repository path may have spaces
  } >"$state.tmp"
  mv "$state.tmp" "$state"

  t0=$(date +%s)
  say "waiting for the broker (pid $pid) on 127.0.0.1:$bport"
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      if grep -q -i "address already in use" "$log" "$run/stdout.log" 2>/dev/null; then
        say "port taken meanwhile, retrying on other ports"
        stop_locked >/dev/null
        return 2
      fi
      say "the broker exited during startup" >&2
      show_log_tail "$log"
      stop_locked >/dev/null
      return 1
    fi
    if serves "127.0.0.1:$bport"; then
      break
    fi
    if (( $(date +%s) - t0 >= start_timeout )); then
      say "the broker did not serve within ${start_timeout}s" >&2
      show_log_tail "$log"
      stop_locked >/dev/null
      return 1
    fi
    sleep 0.5
  done
  # The version the broker reports about itself, not the one we asked for.
  local v
  v=$(grep -m1 -o 'Kafka version: [^ ]*' "$log" 2>/dev/null | awk '{print $3}' || true)
  if [ -n "$v" ] && [ "$v" != "$KAFKA_VERSION" ]; then
    say "warning: the broker reports version $v"
  fi
  say "up in $(( $(date +%s) - t0 ))s (server log: ${log#"$root"/})"
  echo "Apache Kafka ${v:-$KAFKA_VERSION} (KRaft) listening on 127.0.0.1:$bport"
}

cmd_start() {
  need java
  need kcat
  cmd_fetch
  mkdir -p "$run"
  exec 9>>"$run.lock"
  flock -w 120 9 || die "another kafka.sh holds $run.lock"
  if [ -f "$state" ]; then
    say "stopping the broker left by an earlier run"
    stop_locked
  fi
  local attempt rc
  for attempt in 1 2 3; do
    rc=0
    try_start || rc=$?
    [ $rc -eq 2 ] || break
  done
  [ $rc -eq 0 ] || die "the broker did not start"
}

cmd_restart() {
  local sig=TERM a pid port t0 start
  for a in "$@"; do
    case "$a" in
      --kill) sig=KILL ;;
      *) die "restart: unknown option '$a'" ;;
    esac
  done
  need java
  need kcat
  exec 9>>"$run.lock"
  flock -w 120 9 || die "another kafka.sh holds $run.lock"
  load_state || die "no broker recorded: start one first"
  check_expected
  [ -f "$ND_KAFKA_DATA_DIR/server.properties" ] ||
    die "no data directory $ND_KAFKA_DATA_DIR to restart from"
  halt "$ND_KAFKA_PID" "$ND_KAFKA_DATA_DIR" $sig
  # The same ports: clients keep their bootstrap address, as they keep a
  # broker's host name when it comes back.
  port=${ND_TEST_BOOTSTRAP##*:}
  for a in $port $(sed -n 's/^controller.quorum.voters=.*:\([0-9]*\)$/\1/p' \
                     "$ND_KAFKA_DATA_DIR/server.properties"); do
    port_in_use "$a" && die "port $a on 127.0.0.1 is taken: cannot restart the broker on the same port"
  done
  [ -f "$ND_KAFKA_LOG" ] && mv -f "$ND_KAFKA_LOG" "$ND_KAFKA_LOG.before-restart"
  start=$(date +%s)
  launch "$ND_KAFKA_DATA_DIR" >>"$run/stdout.log"
  pid=$(cat "$ND_KAFKA_DATA_DIR/pid" 2>/dev/null || true)
  [ -n "$pid" ] || die "the broker did not start (no pid)"
  sed -i "s/^ND_KAFKA_PID=.*/ND_KAFKA_PID=$pid/" "$state"
  say "waiting for the broker (pid $pid) on $ND_TEST_BOOTSTRAP again"
  t0=$(date +%s)
  until serves "$ND_TEST_BOOTSTRAP"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail "$ND_KAFKA_LOG"
      die "the broker exited while restarting (same ports, same data)"
    fi
    if (( $(date +%s) - t0 >= start_timeout )); then
      show_log_tail "$ND_KAFKA_LOG"
      die "the broker did not serve again within ${start_timeout}s"
    fi
    sleep 0.5
  done
  say "serving again on $ND_TEST_BOOTSTRAP in $(( $(date +%s) - start ))s"
}

cmd_status() {
  if ! load_state; then
    say "no broker recorded"
    return 1
  fi
  if ! is_our_broker "$ND_KAFKA_PID" "$ND_KAFKA_DATA_DIR"; then
    say "recorded broker (pid ${ND_KAFKA_PID:-?}) is not running; run stop"
    return 1
  fi
  if serves "$ND_TEST_BOOTSTRAP"; then
    say "Apache Kafka $KAFKA_VERSION serving on $ND_TEST_BOOTSTRAP (pid $ND_KAFKA_PID, data $ND_KAFKA_DATA_DIR)"
    return 0
  fi
  say "broker pid $ND_KAFKA_PID runs but does not answer on $ND_TEST_BOOTSTRAP"
  return 1
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) mkdir -p "$run"; shift; cmd_stop "$@" ;;
  restart) mkdir -p "$run"; shift; cmd_restart "$@" ;;
  status) cmd_status ;;
  -h|--help|help) usage ;;
  "") usage >&2; exit 2 ;;
  *) echo "kafka.sh: unknown command '$1'" >&2; usage >&2; exit 2 ;;
esac
