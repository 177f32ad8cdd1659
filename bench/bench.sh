#!/usr/bin/env bash
# bench.sh — THE benchmark of nudge: one command, one machine, one run.
#
#   bench/bench.sh            build (RelWithDebInfo), measure, print the table
#
# Measures side by side (docs/benchmarks.md explains each line):
#   1. the engine alone: replay of nudge-gen events from memory (no Kafka)
#   2. memory per tracked customer at 100k, 1M and 5M customers
#   3. restore of 1M customers from the changelog
#   4. the ceiling: raw librdkafka consume->produce of the same records,
#      exactly-once and at-least-once
#   5. nudge end to end on the same records, exactly-once and at-least-once:
#      events/s and CPU s per million events
#   6. latency at half the measured maximum load: append -> visible
#      (read_committed) for the immediate trigger, due -> visible for the
#      cart_abandonment timers
#
# Uses the broker of $ND_TEST_BOOTSTRAP, else the test broker of
# scripts/kafka.sh: a running one is reused (and left running), otherwise
# one is started and stopped at the end. Every step has a time bound; the
# whole run takes about 6-8 minutes on a 2-core machine. Results go to
# bench/results/<time>.md and .json (not in git); exit 0 unless the build
# or the broker fails.
#
# Knobs (environment): ND_BENCH_BUILD (build dir, default build-bench),
# ND_BENCH_EVENTS (records for the Kafka runs, 300000), ND_BENCH_ENGINE_EVENTS
# (1000000), ND_BENCH_MEMORY ("100000 1000000 5000000"), ND_BENCH_RESTORE
# (1000000), ND_BENCH_LATENCY_S (20), ND_BENCH_PARTITIONS (3), ND_BENCH_STEPS
# (which steps run: "engine memory restore throughput latency"; without
# the throughput step the latency runs use ND_BENCH_HALF_RATE, 70000, as
# half the maximum), ND_BENCH_GUARANTEES ("eos alos"), ND_BENCH_DUMP_DIR
# (keep each latency run's per-event times there: bench_kafka read).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=${ND_BENCH_BUILD:-$root/build-bench}
events=${ND_BENCH_EVENTS:-300000}
engine_events=${ND_BENCH_ENGINE_EVENTS:-1000000}
memory_ns=${ND_BENCH_MEMORY:-100000 1000000 5000000}
restore_n=${ND_BENCH_RESTORE:-1000000}
lat_s=${ND_BENCH_LATENCY_S:-20}
parts=${ND_BENCH_PARTITIONS:-3}
steps=" ${ND_BENCH_STEPS:-engine memory restore throughput latency} "
guarantees=${ND_BENCH_GUARANTEES:-eos alos}
half_rate=${ND_BENCH_HALF_RATE:-70000}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$here/results"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nd-bench.XXXXXX")
out_json="$results/$stamp.json"
pids=()
started_broker=0

# step NAME: true when NAME is one of the steps to run.
step() { [[ $steps == *" $1 "* ]]; }

say() { echo "bench: $*" >&2; }
: >"$tmp/results.jsonl"

cleanup() {
        for p in "${pids[@]}"; do
                kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
        done
        if [ "$started_broker" = 1 ]; then
                "$root/scripts/kafka.sh" stop >/dev/null 2>&1 || true
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# result KEY JSON: one measurement, kept for the table.
result() { printf '{"key":"%s","r":%s}\n' "$1" "${2:-null}" >>"$tmp/results.jsonl"; }

# bounded CMD...: runs CMD with a time limit (seconds first).
bounded() { local t=$1; shift; timeout --kill-after=10 "$t" "$@"; }

# ------------------------------------------------------------------ build
say "building ($build, RelWithDebInfo)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
        exit 1
cmake --build "$build" -j2 --target nudge nudge-gen bench_kafka bench_engine \
        bench_memory bench_restore >"$tmp/build.log" 2>&1 || {
        tail -30 "$tmp/build.log"; exit 1; }
nudge=$build/nudge
gen=$build/tools/nudge-gen/nudge-gen
bk=$build/bench/bench_kafka
mkdir -p "$results"

# ------------------------------------------------------------------ machine
machine=$(printf '%s, %s cores, %s GB RAM, %s' \
        "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$(nproc)" \
        "$(awk '/MemTotal/ {printf "%.0f", $2/1048576}' /proc/meminfo)" \
        "$(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-linux}")")
say "machine: $machine"

# ------------------------------------------------------------------ configs
# cfg FILE APP GUARANTEE PREFIX ACTIONS [extra yaml lines]
cfg() {
        local f=$1 app=$2 g=$3 p=$4 act=$5
        shift 5
        cat >"$f" <<EOF
application: {id: $app}
log: {level: info}
kafka:
  bootstrap.servers: ${ND_TEST_BOOTSTRAP:-}
topics:
  clickstream: $p-click
  cart: $p-cart
  purchase: $p-purchase
  catalog: $P-catalog
  actions: $act
  dead_letter: $P-dlq
input: {format: avro}
schema: {dir: $root/schemas}
processing: {guarantee: $g, commit_interval: 100ms}
time: {max_out_of_orderness: 500ms, idle_advance_after: 1s}
http: {listen: ""}
$(for l in "$@"; do echo "$l"; done)
triggers:
  - {name: mirror, type: passthrough}
  - {name: cart_reminder, type: cart_abandonment, delays: [3s, 1h], min_inactivity: 0}
  - {name: browse, type: browse_abandonment}
  - {name: upsell, type: post_purchase_upsell}
EOF
        if grep -q '&nd_proc_channel_switch' "$root/processors/registry.c"; then
                echo "  - {name: switch, type: channel_switch}" >>"$f"
        fi
}

P=nb${stamp:2:11}$$
P=${P//T/}

# ------------------------------------------------------------------ 1. engine alone
cfg "$tmp/engine.yaml" "$P-engine" exactly_once "$P-x" "$P-x-act"
if step engine; then
say "engine alone: $engine_events events from nudge-gen, replayed from memory"
bounded 60 "$gen" --seed 1 --events "$engine_events" --customers 200000 \
        -o "$tmp/events.jsonl" --catalog-out "$tmp/catalog.jsonl" -q
result engine "$(bounded 240 "$build/bench/bench_engine" "$tmp/engine.yaml" \
        "$tmp/events.jsonl" "$tmp/catalog.jsonl" 3)"
rm -f "$tmp/events.jsonl"
fi

# ------------------------------------------------------------------ 2. memory
if step memory; then
for n in $memory_ns; do
        say "memory: $n customers who browsed"
        result "memory_browse_$n" "$(bounded 240 "$build/bench/bench_memory" \
                "$tmp/engine.yaml" browse "$n")"
done
say "memory: 100000 customers with an open cart"
result memory_cart "$(bounded 120 "$build/bench/bench_memory" \
        "$tmp/engine.yaml" cart 100000)"
fi

# ------------------------------------------------------------------ broker
if [ -z "${ND_TEST_BOOTSTRAP:-}" ]; then
        if "$root/scripts/kafka.sh" status >/dev/null 2>&1; then
                say "reusing the running test broker"
        else
                say "starting the test broker (scripts/kafka.sh)"
                "$root/scripts/kafka.sh" start >&2 || exit 1
                started_broker=1
        fi
        set -a
        . "$root/.cache/kafka/run/broker.env"
        set +a
fi
B=$ND_TEST_BOOTSTRAP
say "broker $B, topic prefix $P"

# ------------------------------------------------------------------ 3. restore
if step restore; then
say "restore: $restore_n customers from the changelog"
cfg "$tmp/restore.yaml" "$P-restore" exactly_once "$P-x" "$P-x-act"
result restore "$(bounded 300 "$build/bench/bench_restore" \
        "$tmp/restore.yaml" "$B" "$restore_n")"
fi

# ------------------------------------------------------------------ 4+5. throughput
if step throughput; then
say "loading $events events (Avro) into $P-{click,cart,purchase}"
"$bk" create "$B" "$parts" "$P-click" "$P-cart" "$P-purchase" || exit 1
"$bk" create "$B" "$parts" "$P-ceil-eos" "$P-ceil-alos" "$P-act-eos" \
        "$P-act-alos" "$P-dlq" >/dev/null || exit 1
cfg "$tmp/load.yaml" "$P-load" exactly_once "$P" "$P-x-act"
t0=$(date +%s.%N)
bounded 120 "$gen" -c "$tmp/load.yaml" --partitions "$parts" --rate 0 \
        --events "$events" --customers 100000 --ooo-share 0.02 -q || exit 1
result generator "$(awk -v n="$events" -v t0="$t0" -v t1="$(date +%s.%N)" \
        'BEGIN {printf "{\"events_per_s\":%.0f}", n / (t1 - t0)}')"

for g in $guarantees; do
        say "ceiling ($g): librdkafka consume->produce"
        # Not under `timeout`: the reader reads this pid's CPU time.
        "$bk" passthrough "$B" "$g" "$P-ceil-$g" "$events" \
                "$P-click" "$P-cart" "$P-purchase" 2>/dev/null &
        pid=$!
        pids+=("$pid")
        result "ceiling_$g" "$(bounded 180 "$bk" read "$B" "$P-ceil-$g" \
                "$events" 170 "$pid")"
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
done

for g in $guarantees; do
        guarantee=exactly_once
        [ $g = alos ] && guarantee=at_least_once
        say "nudge end to end ($guarantee)"
        cfg "$tmp/$g.yaml" "$P-$g" "$guarantee" "$P" "$P-act-$g"
        "$nudge" run -c "$tmp/$g.yaml" >"$tmp/nudge-$g.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        result "nudge_$g" "$(bounded 180 "$bk" read "$B" "$P-act-$g" \
                "$events" 170 "$pid")"
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
done
fi

# ------------------------------------------------------------------ 6. latency
json_get() { python3 -c 'import json,sys; print(json.loads(sys.argv[1] or "null")["r"]["events_per_s"])' "$1" 2>/dev/null; }
# lat_run GUARANTEE_KEY LOAD_KEY RATE: one latency run on fresh topics.
lat_run() {
        local g=$1 load=$2 rate=$3 guarantee=exactly_once extra=() pid rpid
        if [ "$g" = alos ]; then
                guarantee=at_least_once
                # Latency over batching: no linger on the engine's producer.
                extra=("kafka.producer.linger.ms: 0")
        fi
        say "latency ($guarantee, $load) at $rate events/s for $lat_s s, then idle"
        local L=$P-l$g$load
        "$bk" create "$B" "$parts" "$L-click" "$L-cart" "$L-purchase" || exit 1
        "$bk" create "$B" "$parts" "$L-act" >/dev/null || exit 1
        cfg "$tmp/l$g.yaml" "$L" "$guarantee" "$L" "$L-act" "${extra[@]}"
        "$nudge" run -c "$tmp/l$g.yaml" >"$tmp/nudge-l$g$load.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        for _ in $(seq 150); do
                grep -q "worker 0: [0-9]* tasks" "$tmp/nudge-l$g$load.log" && break
                sleep 0.2
        done
        ND_BENCH_DUMP=${ND_BENCH_DUMP_DIR:+$ND_BENCH_DUMP_DIR/lat-$g-$load.txt} \
        bounded $((lat_s + 30)) "$bk" read "$B" "$L-act" 0 $((lat_s + 8)) \
                "$pid" "$L-click" "$L-cart" "$L-purchase" >"$tmp/lat.json" \
                2>"$tmp/lat.err" &
        rpid=$!
        for _ in $(seq 150); do
                grep -q assigned "$tmp/lat.err" && break
                sleep 0.2
        done
        cfg "$tmp/lgen.yaml" "$L-gen" "$guarantee" "$L" "$L-act"
        bounded $((lat_s + 20)) "$gen" -c "$tmp/lgen.yaml" --no-catalog \
                --rate "$rate" --duration "${lat_s}s" --customers 20000 \
                --ooo-share 0 --seed 2 -q
        wait "$rpid"
        result "latency_${g}_$load" "$(cat "$tmp/lat.json")"
        printf '{"key":"rate_%s_%s","r":{"rate":%s}}\n' "$g" "$load" "$rate" \
                >>"$tmp/results.jsonl"
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
}
for g in $guarantees; do
        step latency || break
        max=$(grep "\"key\":\"nudge_$g\"" "$tmp/results.jsonl" 2>/dev/null | tail -1)
        max=$(json_get "$max")
        rate=$(awk -v m="${max:-0}" -v h="$half_rate" \
                'BEGIN {r = m > 0 ? int(m / 2) : h; if (r < 1000) r = 1000; print r}')
        lat_run "$g" half "$rate"
        lat_run "$g" light 2000
done

# ------------------------------------------------------------------ table
cp "$tmp/results.jsonl" "$out_json"
python3 - "$out_json" "$machine" "$events" "$parts" <<'PY' | tee "$results/$stamp.md"
import json, sys
path, machine, events, parts = sys.argv[1:5]
R = {}
for line in open(path):
    d = json.loads(line)
    R[d["key"]] = d["r"]
def g(k, *f, d=None):
    v = R.get(k)
    for x in f:
        if not isinstance(v, dict):
            return d
        v = v.get(x)
    return d if v is None else v
def num(v, fmt="{:,.0f}"):
    return "n/a" if v is None else fmt.format(v)
def ok(c):
    return "n/a" if c is None else ("yes" if c else "**no**")
rows = []
e = R.get("engine") or {}
eps = e.get("engine_per_s")
rows.append(("engine alone, 1 core: Avro decode + triggers (events/s)",
             num(eps), ">= 2,000,000", ok(eps and eps >= 2e6)))
rows.append(("engine alone, 1 core: triggers without decode (events/s)",
             num(e.get("engine_without_decode_per_s")), "", ""))
for gname, gl, tgt in (("eos", "exactly-once", 110), ("alos", "at-least-once", 5)):
    c = g("ceiling_" + gname, "events_per_s")
    n = g("nudge_" + gname, "events_per_s")
    rows.append((f"ceiling {gl}: librdkafka consume->produce (events/s, CPU s/M)",
                 f"{num(c)} ({num(g('ceiling_'+gname,'cpu_s_per_m'),'{:.2f}')} s)", "", ""))
    ratio = n / c if n and c else None
    rows.append((f"nudge {gl} end to end (events/s, CPU s/M, % of ceiling)",
                 f"{num(n)} ({num(g('nudge_'+gname,'cpu_s_per_m'),'{:.2f}')} s, "
                 f"{num(ratio*100 if ratio else None,'{:.0f}')} %)",
                 ">= 60 % of ceiling", ok(ratio and ratio >= 0.6)))
for gname, gl, tgt in (("eos", "exactly-once", 110), ("alos", "at-least-once", 5)):
    for load, lname in (("half", "half the max load"), ("light", "light load")):
        im = g(f"latency_{gname}_{load}", "immediate") or {}
        sd = g(f"latency_{gname}_{load}", "immediate_steady") or {}
        en = g(f"latency_{gname}_{load}", "immediate_engine") or {}
        rd = g(f"latency_{gname}_{load}", "immediate_reader") or {}
        rate = g(f"rate_{gname}_{load}", "rate")
        p99 = im.get("p99_ms")
        rows.append((f"latency {gl}, {lname} ({num(rate)} ev/s), append -> visible, immediate (p50/p99/max ms, n; p50/p99 of the hops in -> out append, out append -> visible)",
                     f"{num(im.get('p50_ms'),'{:.1f}')} / {num(p99,'{:.1f}')} / "
                     f"{num(im.get('max_ms'),'{:.1f}')} (n={num(im.get('n'))}; "
                     f"{num(en.get('p50_ms'),'{:.0f}')}/{num(en.get('p99_ms'),'{:.0f}')}, "
                     f"{num(rd.get('p50_ms'),'{:.0f}')}/{num(rd.get('p99_ms'),'{:.0f}')}; "
                     f"after the first 5 s: {num(sd.get('p50_ms'),'{:.1f}')} / {num(sd.get('p99_ms'),'{:.1f}')})",
                     f"p99 <= {tgt} ms" if load == "half" else "",
                     ok(p99 is not None and p99 <= tgt) if load == "half" else ""))
for gname, gl in (("eos", "exactly-once"), ("alos", "at-least-once")):
    for load, part, what, tgt in (("half", "timer", "all timers, half the max load", ""),
                                  ("half", "timer_idle", "timers due after the input went idle, half the max load before", "<= 1000 ms"),
                                  ("light", "timer_idle", "timers due after the input went idle, light load before", "<= 1000 ms")):
        tm = g(f"latency_{gname}_{load}", part) or {}
        p99 = tm.get("p99_ms")
        rows.append((f"latency {gl}, due -> visible, cart_abandonment, {what} (p50/p99/max ms, n)",
                     f"{num(tm.get('p50_ms'),'{:.0f}')} / {num(p99,'{:.0f}')} / "
                     f"{num(tm.get('max_ms'),'{:.0f}')} (n={num(tm.get('n'))})",
                     tgt, ok(p99 is not None and p99 <= 1000) if tgt else ""))
for k in sorted((k for k in R if k.startswith("memory_browse_")), key=lambda k: int(k.split("_")[-1])):
    m = R[k] or {}
    s = m.get("state_per_customer")
    rows.append((f"memory, {num(m.get('customers'))} customers who browsed: state / allocated / RSS (B per customer)",
                 f"{num(s,'{:.0f}')} / {num(m.get('allocated_per_customer'),'{:.0f}')} / "
                 f"{num(m.get('rss_per_customer'),'{:.0f}')}",
                 "state <= 128 B", ok(s is not None and s <= 128)))
m = R.get("memory_cart") or {}
rows.append((f"memory, {num(m.get('customers'))} customers with an open cart: state / allocated / RSS (B per customer)",
             f"{num(m.get('state_per_customer'),'{:.0f}')} / {num(m.get('allocated_per_customer'),'{:.0f}')} / "
             f"{num(m.get('rss_per_customer'),'{:.0f}')}", "", ""))
r = R.get("restore") or {}
rps = r.get("records_per_s")
rows.append((f"restore {num(r.get('customers'))} customers ({num(r.get('records'))} changelog records): s, records/s (of which applying)",
             f"{num(r.get('restore_s'),'{:.2f}')} s, {num(rps)}/s ({num(r.get('apply_s'),'{:.2f}')} s)", ">= 1,000,000 records/s",
             ok(rps and rps >= 1e6)))
print(f"machine: {machine}")
print(f"command: bench/bench.sh (ND_BENCH_EVENTS={events}, {parts} partitions per topic)")
print(f"generator into Kafka (Avro, as fast as possible): {num(g('generator','events_per_s'))} events/s")
print()
print("| measurement | result | target | met |")
print("|---|---|---|---|")
for r_ in rows:
    print("| " + " | ".join(r_) + " |")
PY
say "results: $results/$stamp.md, $out_json"
exit 0
