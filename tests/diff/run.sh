#!/usr/bin/env bash
# run.sh — differential test: `nudge replay` against the reference model
# (tests/diff/model.py) on seeded adversarial traces (tests/diff/gen.py).
# Usage: tests/diff/run.sh [--seeds A-B] [--time-limit S] [--nudge PATH]
#                          [--minimize] [--keep DIR] [--trace DIR]...
#   --seeds A-B      seeds to run (default 1-200)
#   --time-limit S   stop starting new seeds after S seconds (default: none)
#   --nudge PATH     the nudge binary (default build/nudge)
#   --minimize       ddmin the first 3 failing traces (tests/diff/minimize.py)
#                    into DIR/<label>-min (DIR: --keep's, else
#                    build/diff-failures) and print them
#   --keep DIR       keep the traces of failing seeds under DIR/seed-N
#   --trace DIR      run one trace directory (e.g. tests/diff/cases/*) instead
#                    of seeds; may be repeated
#   --only TYPES     compare only these trigger types' actions (comma list)
# Environment: MODEL_KNOWN=name,... emulates a documented deviation of the
# engine in the model (tests/diff/README.md, "Known deviations").
# Ends with `diff: N passed, M failed`; exit 1 on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
seeds=1-200 limit=0 nudge=$here/build/nudge minimize=0 keep= traces=()
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --time-limit) limit=$2; shift 2 ;;
    --nudge) nudge=$2; shift 2 ;;
    --minimize) minimize=1; shift ;;
    --keep) keep=$2; shift 2 ;;
    --trace) traces+=("$2"); shift 2 ;;
    --only) export DIFF_ONLY=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
venv=$here/.cache/diff-venv
if ! "$venv/bin/python" -c "import xxhash" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check xxhash
fi
py=$venv/bin/python
[ -x "$nudge" ] || { echo "run.sh: no nudge binary at $nudge" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 start=$SECONDS minimized=0

check() {  # check DIR LABEL REPRO
  local d=$1 label=$2 repro=$3
  local end; end=$(cat "$d/end_time")
  local cat=(); [ -f "$d/catalog.jsonl" ] && cat=(--catalog "$d/catalog.jsonl")
  "$nudge" replay -c "$d/config.yaml" --input "$d/events.jsonl" "${cat[@]}" \
    --end-time "$end" --output "$tmp/engine.jsonl" 2>"$tmp/engine.err" || {
    echo "$label: nudge replay failed:"; cat "$tmp/engine.err"; return 1; }
  "$py" "$here/tests/diff/model.py" -c "$d/config.yaml" \
    --input "$d/events.jsonl" "${cat[@]}" --end-time "$end" \
    --output "$tmp/model.jsonl"
  if "$py" "$here/tests/diff/compare.py" "$tmp/engine.jsonl" \
       "$tmp/model.jsonl" >"$tmp/diff.txt"; then
    return 0
  fi
  echo "FAIL $label: $(tail -1 "$tmp/diff.txt")"
  echo "  reproduce: $repro"
  if [ -n "$keep" ]; then
    mkdir -p "$keep/$label"; cp "$d"/* "$keep/$label/"
    cp "$tmp/diff.txt" "$keep/$label/diff.txt"
  fi
  if [ "$minimize" = 1 ] && [ "$minimized" -lt 3 ]; then
    minimized=$((minimized + 1))
    local out=${keep:-$here/build/diff-failures}/$label-min
    mkdir -p "$(dirname "$out")"
    "$py" "$here/tests/diff/minimize.py" --nudge "$nudge" "$d" "$out" |
      sed 's/^/  /'
  fi
  return 1
}

if [ ${#traces[@]} -gt 0 ]; then
  for d in "${traces[@]}"; do
    if check "$d" "$(basename "$d")" "tests/diff/run.sh --trace $d"; then
      pass=$((pass + 1)); else fail=$((fail + 1)); fi
  done
else
  a=${seeds%-*} b=${seeds#*-}
  for ((s = a; s <= b; s++)); do
    if [ "$limit" != 0 ] && [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "run.sh: time limit ${limit}s reached before seed $s"; break
    fi
    d=$tmp/seed-$s
    "$py" "$here/tests/diff/gen.py" --seed "$s" --out "$d"
    if check "$d" "seed-$s" "tests/diff/run.sh --seeds $s-$s --keep DIR"; then
      pass=$((pass + 1)); else fail=$((fail + 1)); fi
    rm -rf "$d"
  done
fi
echo "diff: $pass passed, $fail failed"
[ "$fail" = 0 ]
