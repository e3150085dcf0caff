#!/usr/bin/env bash
# Benchmark of the web console (issue 14) over a journal of SETS sets (default 1,000,000):
#   - a search by party number (numbers that exist, and their last 7 digits),
#   - a search by a middle part of a number (5 digits from inside numbers that exist),
#   - a search by time range (one day, about SETS/365 sets, the first page shown),
#   - a recording's page, which verifies a 1-hour stereo set when it is opened,
# each as the console answers it over HTTPS on loopback (curl, one kept-alive connection;
# every search also writes its audit event). Prints the median and 95th percentile of each,
# and for the page the ratio to `sha256sum` over the same set's files in the same run (the
# floors: verification must read and hash every byte) and to `openssl dgst -sha256`. Usage:
#   bench/console.sh [SETS (1000000)] [ROUNDS (40)]
set -euo pipefail
cd "$(dirname "$0")/.."
sets=${1:-1000000}; rounds=${2:-40}
cargo build --release -q -p cr-console --bin cr-console --example fill_journal
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
work=$(mktemp -d); pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export BENCH_PW=bench-keystore-pw
password="bench operator password"

echo "making a 1-hour stereo WAV (sox) ..."
sox -D -n -r 8000 -c 2 -b 16 "$work/hour.wav" synth 3600 sine 300 sine 500 vol 0.5
echo "filling a journal with $sets sets ..."
s=$(date +%s.%N)
"$bin/examples/fill_journal" "$work/data" "$sets" "$work/hour.wav" bench "$password" > "$work/facts"
printf 'filled in %.1f s; journal %s\n' "$(echo "$(date +%s.%N) - $s" | bc -l)" "$(du -h "$work/data/journal.sqlite" | cut -f1)"
set_id=$(awk '$1 == "set" {print $2}' "$work/facts")
day=$(awk '$1 == "day" {print $2}' "$work/facts")

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2> /dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/callrec.toml" <<TOML
[installation]
module_id = "bench"
data_dir = "$work/data"
[keystore]
password_env = "BENCH_PW"
[journal]
url = "sqlite:journal.sqlite"
[console]
listen = "127.0.0.1:$port"
certificate = "$work/tls.crt"
key = "$work/tls.key"
TOML
"$bin/cr-console" --config "$work/callrec.toml" 2> "$work/console.log" & pid=$!
url="https://127.0.0.1:$port"
c=(curl -sS --cacert "$work/tls.crt" -b "$work/jar" -c "$work/jar")
for _ in $(seq 100); do "${c[@]}" -o /dev/null "$url/signin" 2> /dev/null && break; sleep 0.2; done
token=$("${c[@]}" "$url/signin" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
"${c[@]}" -o /dev/null -d "name=bench" --data-urlencode "password=$password" -d "csrf=$token" "$url/signin"
"${c[@]}" "$url/search" | grep -q '<h1>Search</h1>' || { echo "sign-in failed: $(tail -n 3 "$work/console.log")" >&2; exit 1; }

# Times (ms) of ROUNDS requests to the URLs that "$@" prints, one connection.
timed() {
  local urls=() u
  while read -r u; do urls+=(-o /dev/null "$u"); done < <("$@")
  "${c[@]}" -w '%{http_code} %{time_total}\n' "${urls[@]}" | awk '$1 != 200 {print "HTTP " $1 > "/dev/stderr"; exit 1} {print $2 * 1000}'
}
numbers() { awk '$1 == "number" {print $2}' "$work/facts" | python3 -c "
import sys, itertools
ns = [l.strip() for l in sys.stdin if l.strip()]
for i, n in zip(range($rounds), itertools.cycle(ns)):
    q = n if i % 2 == 0 else n[-7:]
    print('$url/search?number=' + q.replace('+', '%2B'))"; }
# A middle part of the numbers that exist: 5 digits from inside "+4930" + 7 random digits
# (the search by any part of a number, schema 8's call_number_parts).
parts() { awk '$1 == "number" {print $2}' "$work/facts" | python3 -c "
import sys, itertools
ns = [l.strip() for l in sys.stdin if l.strip()]
for i, n in zip(range($rounds), itertools.cycle(ns)):
    print('$url/search?number=' + n[5:10])"; }
days() { python3 -c "
import datetime
d0 = datetime.date.fromisoformat('$day')
for i in range($rounds):
    d = d0 + datetime.timedelta(days=(i * 7) % 150)
    print('$url/search?from=%s&to=%s' % (d, d))"; }
page() { for _ in $(seq 10); do echo "$url/recordings/$set_id"; done; }
stats() { python3 -c "
import sys
v = sorted(float(l) for l in sys.stdin if l.strip())
p = lambda q: v[min(len(v) - 1, int(round(q * (len(v) - 1))))]
print('%-38s n=%-3d median %8.1f ms   p95 %8.1f ms' % ('$1', len(v), p(0.5), p(0.95)))
open('$work/p95-$2', 'w').write(str(p(0.95)))"; }

"${c[@]}" -o /dev/null "$url/recordings/$set_id"   # warm the page cache for the page and sha256sum alike
"${c[@]}" "$url/recordings/$set_id" | grep -q 'id="badge" class="ok"' || { echo "the 1-hour set does not verify" >&2; exit 1; }
echo "cores: $(nproc); sets: $sets; one day: $day"
timed numbers | stats "search by party number" number
timed parts | stats "search by a middle part (5 digits)" part
timed days | stats "search by time range (one day)" range
timed page | stats "recording page, 1-hour stereo, verified" page
# The floors: the stock tools hashing the same files (page cache warm), best of 5.
floor() { python3 -c "
import subprocess, time, glob, sys
fs = sorted(glob.glob('$work/data/spool/$set_id/*'))
best = 1e9
for _ in range(5):
    t = time.perf_counter(); subprocess.run(sys.argv[1:] + fs, check=True, capture_output=True); best = min(best, time.perf_counter() - t)
print(best * 1000)" "$@"; }
for tool in "sha256sum" "openssl dgst -sha256"; do
  f=$(floor $tool)
  printf '%-38s best of 5 %6.1f ms   ratio page p95 / it: %5.2fx\n' "$tool over the set's files" "$f" "$(echo "$(cat "$work/p95-page") / $f" | bc -l)"
done
printf 'goals: searches under 100 ms (p95 %s / %s / %s ms), page under 500 ms (p95 %s ms)\n' \
  "$(cut -d. -f1 "$work/p95-number")" "$(cut -d. -f1 "$work/p95-part")" "$(cut -d. -f1 "$work/p95-range")" "$(cut -d. -f1 "$work/p95-page")"
