#!/usr/bin/env bash
# Benchmark of cr-verify against the stock tools on the same bytes (issue 2):
#   - one `openssl dgst -sha256` pass over every file of every set (the goal: not slower),
#   - `sha256sum -c` per set,
#   - the per-set shasum + openssl loop of examples/verify.sh (goal: >= 10x faster).
# Prints each time (best of 3, page cache warm) and the ratios. Usage:
#   bench/verify.sh [SETS (100)] [MB_PER_SET (5)]
set -euo pipefail
cd "$(dirname "$0")/.."
sets=${1:-100}; mb=${2:-5}
cargo build --release -q -p cr-verify -p crctl
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/callrec.toml" <<TOML
[installation]
module_id = "bench"
data_dir = "$work/data"
[keystore]
password_env = "BENCH_PW"
TOML
export BENCH_PW=bench
"$bin/crctl" -c "$work/callrec.toml" keys init > /dev/null 2>&1
echo "sealing $sets sets of ${mb} MB ..."
head -c $((mb * 1024 * 1024)) /dev/urandom > "$work/audio.bin"
for i in $(seq -w 1 "$sets"); do
  d="$work/sets/$i"; mkdir -p "$d"
  cp "$work/audio.bin" "$d/set-$i.wav"; printf '%s' "$i" >> "$d/set-$i.wav"
  printf '{"id":"set-%s"}\n' "$i" > "$d/set-$i.json"
  "$bin/crctl" -c "$work/callrec.toml" seal --id "set-$i" "$d/set-$i.json" "$d/set-$i.wav" > /dev/null
done
cat "$work"/sets/*/* > /dev/null   # warm the page cache for every contender alike
cert="$work/data/cert.pem"
best() { # best wall time of 3 runs of "$@", in seconds
  local b=""
  for _ in 1 2 3; do
    local s e t
    s=$(date +%s.%N); "$@" > /dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
openssl_pass() { find "$work/sets" -type f \( -name '*.wav' -o -name '*.json' \) -print0 | xargs -0 openssl dgst -sha256; }
sha256sum_loop() { for d in "$work"/sets/*/; do (cd "$d" && sha256sum -c --quiet ./*.sha256); done; }
script_loop() { sh examples/verify.sh "$cert" "$work/sets"; }
bytes=$(du -cb "$work"/sets/*/*.wav | tail -n 1 | cut -f1)
t_ours=$(best "$bin/cr-verify" --no-progress --cert "$cert" "$work/sets")
t_openssl=$(best openssl_pass)
t_sha256sum=$(best sha256sum_loop)
t_script=$(best script_loop)
printf 'cores: %s   SHA extensions: %s   data: %.0f MB in %s sets\n' "$(nproc)" \
  "$(grep -q -m1 -w sha_ni /proc/cpuinfo && echo yes || echo no)" "$(echo "$bytes / 1000000" | bc -l)" "$sets"
printf '%-34s %8.3f s  %7.0f MB/s\n' "cr-verify (all cores)" "$t_ours" "$(echo "$bytes / $t_ours / 1000000" | bc -l)"
printf '%-34s %8.3f s  %7.0f MB/s\n' "openssl dgst -sha256, one pass" "$t_openssl" "$(echo "$bytes / $t_openssl / 1000000" | bc -l)"
printf '%-34s %8.3f s\n' "sha256sum -c per set" "$t_sha256sum"
printf '%-34s %8.3f s\n' "examples/verify.sh (shasum+openssl)" "$t_script"
printf 'ratio openssl-pass / cr-verify:      %6.2fx  (goal >= 1)\n' "$(echo "$t_openssl / $t_ours" | bc -l)"
printf 'ratio sha256sum -c / cr-verify:      %6.2fx\n' "$(echo "$t_sha256sum / $t_ours" | bc -l)"
printf 'ratio per-set script / cr-verify:    %6.2fx  (goal >= 10)\n' "$(echo "$t_script / $t_ours" | bc -l)"
