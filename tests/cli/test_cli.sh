#!/usr/bin/env bash
# test_cli.sh NUDGE SRCDIR — the command line: help, version, exit codes,
# configuration errors naming file:line:key, graceful stop on SIGTERM, and
# the demo end to end on the embedded broker. Every wait has a deadline.
set -u
nudge=$1; src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok   $1"; }
bad()  { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     | /' "$2" | head -40; }

# expect NAME CODE PATTERN -- CMD...: exit code and a pattern in stdout+stderr
expect() {
  local name=$1 code=$2 pat=$3; shift 4
  "$@" >"$tmp/out" 2>&1; local rc=$?
  if [ $rc -ne "$code" ]; then bad "$name (exit $rc, wanted $code)" "$tmp/out"; return; fi
  if ! grep -qE -- "$pat" "$tmp/out"; then bad "$name (no /$pat/)" "$tmp/out"; return; fi
  ok "$name"
}

# wait_for FILE PATTERN SECONDS: poll a log with a deadline
wait_for() {
  local end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

expect "version prints the version"        0 '^nudge [0-9]+\.[0-9]+\.[0-9]+ \(librdkafka' -- "$nudge" --version
expect "help lists the commands"           0 'check-config -c FILE'                      -- "$nudge" --help
expect "no command is a usage error"       2 'Usage: nudge'                              -- "$nudge"
expect "unknown command is a usage error"  2 "unknown command 'frobnicate'"              -- "$nudge" frobnicate
expect "check-config wants -c"             2 'requires|-c FILE'                          -- "$nudge" check-config

printf 'log:\n  level: info\ntime:\n  max_out_of_orderness: 5 parsecs\n' >"$tmp/bad-duration.yaml"
expect "bad duration names file, line and key" 2 "bad-duration.yaml:4: key 'time.max_out_of_orderness'" \
  -- "$nudge" check-config -c "$tmp/bad-duration.yaml"

printf 'time:\n  max_out_of_orderness: [5s\n' >"$tmp/bad-yaml.yaml"
expect "broken YAML names the line"        2 'bad-yaml.yaml:[0-9]+'                      -- "$nudge" check-config -c "$tmp/bad-yaml.yaml"

printf 'triggers:\n  - name: a\n    type: no_such_trigger\n' >"$tmp/bad-type.yaml"
expect "unknown trigger type is named"     2 "no_such_trigger"                           -- "$nudge" check-config -c "$tmp/bad-type.yaml"

printf 'processing:\n  threadz: 2\n' >"$tmp/bad-key.yaml"
expect "unknown key is named"              2 "bad-key.yaml:2: key 'processing.threadz'"  -- "$nudge" check-config -c "$tmp/bad-key.yaml"

expect "missing file is an error"          2 'no-such-file.yaml'                         -- "$nudge" check-config -c "$tmp/no-such-file.yaml"

printf 'kafka:\n  bootstrap.servers: 127.0.0.1:1\n  no.such.property: 1\n' >"$tmp/bad-kafka.yaml"
expect "run names a bad librdkafka property" 2 "kafka.no.such.property"                  -- "$nudge" run -c "$tmp/bad-kafka.yaml"

for f in "$src"/config/*.yaml; do
  expect "shipped $(basename "$f") is valid" 0 ': ok' -- "$nudge" check-config -c "$f"
done

NUDGE_TIME_MAX_OUT_OF_ORDERNESS=2s expect "environment overrides the file" 0 'max_out_of_orderness: 2s|max_out_of_orderness: 2000' \
  -- "$nudge" check-config -v -c "$src/config/demo.yaml"

"$nudge" config-doc >"$tmp/configuration.md" 2>&1
if cmp -s "$tmp/configuration.md" "$src/docs/configuration.md"; then ok "docs/configuration.md is generated from the tables"
else bad "docs/configuration.md is stale: run build/nudge config-doc > docs/configuration.md" "$tmp/configuration.md"; fi

# SIGTERM: stops consuming, commits, leaves the group and exits 0 in bounded time.
NUDGE_LOG_LEVEL=info "$nudge" run -c "$src/config/demo.yaml" >"$tmp/run.log" 2>&1 &
pid=$!
if wait_for "$tmp/run.log" 'worker 0: [0-9]+ tasks' 60; then
  kill -TERM $pid
  end=$((SECONDS + 30)); while kill -0 $pid 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
  if kill -0 $pid 2>/dev/null; then kill -KILL $pid; bad "SIGTERM stops within 30 s" "$tmp/run.log"
  else
    wait $pid; rc=$?
    if [ $rc = 0 ] && grep -q 'stopped cleanly' "$tmp/run.log"; then ok "SIGTERM stops cleanly with exit 0"
    else bad "SIGTERM exit code $rc" "$tmp/run.log"; fi
  fi
else
  kill -KILL $pid 2>/dev/null; bad "run on the embedded broker gets its tasks" "$tmp/run.log"
fi
grep -q 'embedded Kafka .* at 127\.0\.0\.1:[0-9]+' "$tmp/run.log" || grep -qE 'embedded Kafka .* at 127\.0\.0\.1:[0-9]+' "$tmp/run.log" \
  && ok "embedded broker logs its bootstrap address" || bad "embedded broker logs its bootstrap address" "$tmp/run.log"

# The demo end to end: the four triggers fire, and every action the engine
# emitted is read back exactly once by a read_committed consumer.
"$nudge" demo -c "$src/config/demo.yaml" --duration 6s --rate 600 --customers 300 >"$tmp/demo.log" 2>&1; rc=$?
emitted=$(sed -nE 's/^  actions emitted +([0-9]+):.*/\1/p' "$tmp/demo.log")
committed=$(sed -nE 's/^  actions committed +([0-9]+).*/\1/p' "$tmp/demo.log")
if [ $rc = 0 ] && [ -n "$emitted" ] && [ "$emitted" -gt 0 ] && [ "$emitted" = "$committed" ] \
   && grep -q 'every action emitted was committed exactly once' "$tmp/demo.log"; then
  ok "demo: $emitted actions emitted, $committed committed"
else bad "demo (exit $rc, emitted '$emitted', committed '$committed')" "$tmp/demo.log"; fi
for t in cart_abandonment browse_abandonment post_purchase_upsell channel_switch; do
  n=$(sed -nE "s/^  actions emitted .* $t ([0-9]+).*/\1/p" "$tmp/demo.log")
  if [ -n "$n" ] && [ "$n" -gt 0 ]; then ok "demo: $t fired $n times"; else bad "demo: $t never fired" "$tmp/demo.log"; fi
done

# Replay: deterministic, byte-identical output for the same input.
"$nudge" replay -c "$src/config/triggers.yaml" --input "$src/tests/data/replay-events.jsonl" \
  --catalog "$src/tests/data/replay-catalog.jsonl" --end-time 2023-11-20T00:00:00Z --output "$tmp/r1.jsonl" 2>"$tmp/r1.err"; rc1=$?
"$nudge" replay -c "$src/config/triggers.yaml" --input "$src/tests/data/replay-events.jsonl" \
  --catalog "$src/tests/data/replay-catalog.jsonl" --end-time 2023-11-20T00:00:00Z --output "$tmp/r2.jsonl" 2>"$tmp/r2.err"; rc2=$?
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ -s "$tmp/r1.jsonl" ] && cmp -s "$tmp/r1.jsonl" "$tmp/r2.jsonl"; then
  ok "replay twice gives byte-identical output ($(wc -l <"$tmp/r1.jsonl") actions)"
else bad "replay determinism (exit $rc1/$rc2)" "$tmp/r1.err"; fi
expect "help shows --input repeats" 0 'replay -c FILE --input EVENTS \[--input EVENTS\.\.\.\]' -- "$nudge" --help

# Replay of several inputs: nudge-gen's three container files (one per
# topic) merge by timestamp into the actions of its JSON lines. With
# --ooo-share 0 the JSON lines are in timestamp order, which the merge
# rebuilds (late events could merge elsewhere: docs/load-generator.md).
gen=${NUDGE_GEN:-$(dirname "$nudge")/tools/nudge-gen/nudge-gen}
if [ -x "$gen" ]; then
  g="--seed 5 --events 20000 --ooo-share 0"
  "$gen" $g -o "$tmp/g.jsonl" --catalog-out "$tmp/g-cat.jsonl" -q >"$tmp/g.err" 2>&1; rc1=$?
  "$gen" $g -o "$tmp/g.avro" >"$tmp/g-avro.err" 2>&1; rc2=$?
  if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ ! -e "$tmp/g.avro" ] \
     && grep -q "wrote $tmp/g.clickstream.avro (" "$tmp/g-avro.err" && grep -q "wrote $tmp/g.cart.avro (" "$tmp/g-avro.err" \
     && grep -q "wrote $tmp/g.purchase.avro (" "$tmp/g-avro.err"; then
    ok "nudge-gen -o FILE.avro writes and names three container files"
  else bad "nudge-gen -o FILE.avro (exit $rc1/$rc2)" "$tmp/g-avro.err"; fi
  replay_gen() { # OUT INPUT...: replay of the generated events, with an end time that fires every timer
    local out=$1; shift
    "$nudge" replay -c "$src/config/triggers.yaml" --catalog "$tmp/g-cat.jsonl" \
      --end-time 2026-01-10T00:00:00Z --output "$tmp/$out" "$@" 2>"$tmp/$out.err"
  }
  replay_gen gj.jsonl --input "$tmp/g.jsonl"; rc1=$?
  replay_gen ga.jsonl --input "$tmp/g.clickstream.avro" --input "$tmp/g.cart.avro" --input "$tmp/g.purchase.avro"; rc2=$?
  fired=0
  for t in cart_abandonment browse_abandonment post_purchase_upsell channel_switch; do
    grep -q "\"trigger\":\"$t\"" "$tmp/gj.jsonl" && fired=$((fired + 1))
  done
  if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ $fired = 4 ] && cmp -s "$tmp/gj.jsonl" "$tmp/ga.jsonl"; then
    ok "replay of three container files = replay of the JSON lines ($(wc -l <"$tmp/ga.jsonl") actions, 4 trigger types)"
  else bad "replay of three container files (exit $rc1/$rc2, $fired trigger types fired, cmp: $(cmp "$tmp/gj.jsonl" "$tmp/ga.jsonl" 2>&1))" "$tmp/ga.jsonl.err"; fi
  # Other --input order and a JSON lines input among containers: the same.
  grep -E '"type":"(page_viewed|product_viewed|products_searched|app_opened|message_clicked)"' "$tmp/g.jsonl" >"$tmp/g-click.jsonl"
  replay_gen gm.jsonl --input "$tmp/g.purchase.avro" --input "$tmp/g-click.jsonl" --input "$tmp/g.cart.avro"; rc=$?
  if [ $rc = 0 ] && cmp -s "$tmp/gj.jsonl" "$tmp/gm.jsonl"; then ok "replay of JSON lines and containers mixed, in any --input order"
  else bad "replay of mixed inputs (exit $rc)" "$tmp/gm.jsonl.err"; fi
  # --partitions N: one task per partition number, each merging its topic
  # lanes by timestamp. With late events (the default --ooo-share) the
  # mixed JSON lines and the three containers of the same seed hold each
  # topic's events in the same order, so the tasks see the same lanes and
  # give the same actions, whichever files and --input order.
  g2="--seed 6 --events 20000"
  "$gen" $g2 -o "$tmp/l.jsonl" --catalog-out "$tmp/l-cat.jsonl" -q >"$tmp/l.err" 2>&1 \
    && "$gen" $g2 -o "$tmp/l.avro" -q >>"$tmp/l.err" 2>&1 || bad "nudge-gen with late events" "$tmp/l.err"
  grep -E '"type":"(page_viewed|product_viewed|products_searched|app_opened|message_clicked)"' "$tmp/l.jsonl" >"$tmp/l-click.jsonl"
  replay_parts() { # OUT N INPUT...
    local out=$1 n=$2; shift 2
    "$nudge" replay -c "$src/config/triggers.yaml" --catalog "$tmp/l-cat.jsonl" --partitions "$n" \
      --end-time 2026-01-10T00:00:00Z --output "$tmp/$out" "$@" 2>"$tmp/$out.err"
  }
  replay_parts p3j.jsonl 3 --input "$tmp/l.jsonl"; rc1=$?
  replay_parts p3a.jsonl 3 --input "$tmp/l.purchase.avro" --input "$tmp/l.cart.avro" --input "$tmp/l.clickstream.avro"; rc2=$?
  replay_parts p3m.jsonl 3 --input "$tmp/l.cart.avro" --input "$tmp/l-click.jsonl" --input "$tmp/l.purchase.avro"; rc3=$?
  if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ $rc3 = 0 ] && [ -s "$tmp/p3j.jsonl" ] \
     && cmp -s "$tmp/p3j.jsonl" "$tmp/p3a.jsonl" && cmp -s "$tmp/p3j.jsonl" "$tmp/p3m.jsonl" \
     && grep -q '^replay: 20000 events, 0 bad lines, [0-9]* actions, 0 timers still pending, [0-9]* customers in state (sums over 3 tasks)$' "$tmp/p3j.jsonl.err"; then
    ok "replay --partitions 3: a mixed file = containers = mixed inputs, any --input order ($(wc -l <"$tmp/p3j.jsonl") actions)"
  else bad "replay --partitions 3 (exit $rc1/$rc2/$rc3, cmp: $(cmp "$tmp/p3j.jsonl" "$tmp/p3a.jsonl" 2>&1) $(cmp "$tmp/p3j.jsonl" "$tmp/p3m.jsonl" 2>&1))" "$tmp/p3j.jsonl.err"; fi
  # The order in which the tasks apply the events (passthrough forwards
  # each as it comes), with timestamps cut to the second so that events of
  # different topics tie: the same from one file per topic, given purchase
  # first, as from the mixed file; and not the file order.
  printf 'input:\n  format: json\ntriggers:\n  - name: pt\n    type: passthrough\n' >"$tmp/pt.yaml"
  sed -E 's/("timestamp":[0-9]+)[0-9]{3},/\1000,/' "$tmp/l.jsonl" >"$tmp/s.jsonl"
  grep -E '"type":"(page_viewed|product_viewed|products_searched|app_opened|message_clicked)"' "$tmp/s.jsonl" >"$tmp/s-click.jsonl"
  grep -E '"type":"(product_added|product_removed|cart_viewed|checkout_started)"' "$tmp/s.jsonl" >"$tmp/s-cart.jsonl"
  grep -E '"type":"order_' "$tmp/s.jsonl" >"$tmp/s-purchase.jsonl"
  pt_parts() { # OUT INPUT...
    local out=$1; shift
    "$nudge" replay -c "$tmp/pt.yaml" --partitions 3 --output "$tmp/$out" "$@" 2>"$tmp/$out.err"
  }
  pt_parts ptm.jsonl --input "$tmp/s.jsonl"; rc1=$?
  pt_parts pts.jsonl --input "$tmp/s-purchase.jsonl" --input "$tmp/s-cart.jsonl" --input "$tmp/s-click.jsonl"; rc2=$?
  if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ "$(wc -l <"$tmp/ptm.jsonl")" = 20000 ] && cmp -s "$tmp/ptm.jsonl" "$tmp/pts.jsonl" \
     && ! cmp -s "$tmp/ptm.jsonl" "$tmp/s.jsonl" && cmp -s <(sort "$tmp/ptm.jsonl") <(sort "$tmp/s.jsonl"); then
    ok "replay --partitions 3 applies the events of a mixed file and of one file per topic in the same order"
  else bad "replay --partitions 3 event order (exit $rc1/$rc2, cmp: $(cmp "$tmp/ptm.jsonl" "$tmp/pts.jsonl" 2>&1))" "$tmp/pts.jsonl.err"; fi
  # One task: these 20 s of event time fire nothing before the end time,
  # so the watermarks cannot differ in effect and the actions are the same,
  # but in the order of one task instead of task by task. (Watermarks that
  # do differ: tests/unit/test_replay.c.)
  replay_parts p1j.jsonl 1 --input "$tmp/l.jsonl"; rc=$?
  if [ $rc = 0 ] && ! cmp -s "$tmp/p1j.jsonl" "$tmp/p3j.jsonl" && grep -q '(1 task)$' "$tmp/p1j.jsonl.err" \
     && cmp -s <(sort "$tmp/p1j.jsonl") <(sort "$tmp/p3j.jsonl"); then
    ok "replay --partitions 1 and 3: the same $(wc -l <"$tmp/p1j.jsonl") actions, task by task with 3"
  else bad "replay --partitions 1 (exit $rc)" "$tmp/p1j.jsonl.err"; fi
  expect "replay --partitions refuses stdin" 2 'stdin.*--partitions' \
    -- "$nudge" replay -c "$src/config/triggers.yaml" --input - --partitions 2 --output /dev/null <"$tmp/l.jsonl"
  expect "replay --partitions refuses a pipe" 2 'is a pipe: --partitions reads every input' \
    -- "$nudge" replay -c "$src/config/triggers.yaml" --input <(cat "$tmp/l-click.jsonl") --partitions 2 --output /dev/null
  expect "replay: an unreadable input among several is named" 2 "no-such\.avro: No such file" \
    -- "$nudge" replay -c "$src/config/triggers.yaml" --input "$tmp/g.cart.avro" --input "$tmp/no-such.avro"
  head -c 30000 "$tmp/g.clickstream.avro" >"$tmp/cut.avro"
  expect "replay: a damaged container among several stops with exit 1, naming it" 1 "cut\.avro: block [0-9]+ at byte [0-9]+" \
    -- "$nudge" replay -c "$src/config/triggers.yaml" --input "$tmp/g.cart.avro" --input "$tmp/cut.avro" --output /dev/null
else
  bad "nudge-gen is not at $gen (build it, or set NUDGE_GEN)"
fi

expect "replay needs --input" 2 'input FILE are required' -- "$nudge" replay -c "$src/config/triggers.yaml"
for n in 0 1025 -3 abc 2x ''; do
  expect "replay rejects --partitions '$n'" 2 "--partitions: expected the event topics' partition count, 1 to 1024, got '$n'" \
    -- "$nudge" replay -c "$src/config/triggers.yaml" --input /dev/null --partitions "$n"
done
expect "help shows --partitions and its tie rule" 0 'clickstream, then cart, then purchase; then input' -- "$nudge" --help
expect "replay rejects a bad end time" 2 "end-time: expected" -- "$nudge" replay -c "$src/config/triggers.yaml" --input /dev/null --end-time yesterday

echo "cli: $pass passed, $fail failed"
[ $fail = 0 ]
