#!/usr/bin/env bash
# Benchmark of `crctl reconcile` (issue 15): ROWS call records of the PBX (a CSV file with
# a column map) against a journal of ROWS sealed sets (default 1,000,000 each; the journal
# filled by cr-console's example fill_journal, which writes the CDR file of the same calls:
# half matched by call id, half by parties and time, every 500th SHORT). Prints rows per
# second of the whole run (reading the file, the journal, the policy, the report) and, as a
# reference measured in the same run over the same file, the time of a plain CSV pass in
# Python (`csv.reader`, counting rows) and of `wc -l`, with the ratios. Usage:
#   bench/reconcile.sh [ROWS (1000000)] [ROUNDS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}; rounds=${2:-3}
cargo build --release -q -p cr-console --example fill_journal
cargo build --release -q -p crctl --bin crctl
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BENCH_PW=bench-keystore-pw

sox -D -n -r 8000 -c 1 -b 16 "$work/one.wav" synth 1 sine 300
echo "filling a journal with $rows sets and writing their call records ..."
s=$(date +%s.%N)
"$bin/examples/fill_journal" "$work/data" "$((rows + 1))" "$work/one.wav" bench "bench operator password" "$work/cdr.csv" > /dev/null
printf 'filled in %.1f s; journal %s, CDR file %s (%s lines)\n' "$(echo "$(date +%s.%N) - $s" | bc -l)" \
  "$(du -h "$work/data/journal.sqlite" | cut -f1)" "$(du -h "$work/cdr.csv" | cut -f1)" "$(wc -l < "$work/cdr.csv")"

# Every callee of the synthetic calls (3NN) is a group that the configuration records.
{
  cat <<TOML
[installation]
module_id = "bench"
data_dir = "$work/data"
timezone = "UTC"
[keystore]
password_env = "BENCH_PW"
[journal]
url = "sqlite:journal.sqlite"
[[targets]]
name = "archive"
kind = "folder"
path = "$work/archive"
TOML
  for n in $(seq 300 399); do printf '[[groups]]\nid = "g%s"\nnumber = "%s"\nmembers = []\n' "$n" "$n"; done
  printf '[[recordings]]\nname = "trading"\ngroups = [%s]\ntargets = ["archive"]\n' "$(seq -s, -f '"g%g"' 300 399)"
} > "$work/callrec.toml"

# Seconds (wall clock) of "$@", best of ROUNDS.
best() {
  local b="" t s
  for _ in $(seq "$rounds"); do
    s=$(date +%s.%N); "$@" > "$work/out" || [ $? -eq 1 ]; t=$(echo "$(date +%s.%N) - $s" | bc -l)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}

rec=$(best "$bin/crctl" --config "$work/callrec.toml" reconcile --cdr "$work/cdr.csv" --format csv \
  --columns call_id=id,caller=caller,callee=callee,start=answer,duration=billsec)
tail -n 1 "$work/out"
py=$(best /usr/bin/python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))))' "$work/cdr.csv")
wc=$(best wc -l "$work/cdr.csv")
printf 'crctl reconcile: %d rows in %.2f s = %.0f rows/s\n' "$rows" "$rec" "$(echo "$rows / $rec" | bc -l)"
printf 'reference, same file: python3 csv.reader %.2f s (%.0f rows/s), wc -l %.3f s\n' "$py" "$(echo "$rows / $py" | bc -l)" "$wc"
printf 'ratio: reconcile takes %.2f x a plain python csv pass, %.0f x wc -l\n' "$(echo "$rec / $py" | bc -l)" "$(echo "$rec / $wc" | bc -l)"
