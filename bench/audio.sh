#!/usr/bin/env bash
# Benchmarks of cr-audio (release build), each against the reference tool measured in
# the same run:
#   1. finalize of a 1-hour stereo call from two legs vs `sox -M` on the same legs
#   2. peak memory (VmHWM) of finalizing a 10-hour call vs a 1-minute call (and sox -M)
#   3. resident bytes per open leg writer (1000 legs open at once)
# Usage: bash bench/audio.sh        (needs sox; ~2.5 GB of free space in $BENCH_TMP or /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p cr-audio --examples
EX="$CARGO_TARGET_DIR/release/examples"
WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/cr-audio-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

echo "== 1. finalize 1 h stereo (2 x 8 kHz mono legs) vs sox -M"
"$EX/simulate_call" "$WORK/h1" 3600 none >/dev/null
A="$WORK/h1/caller.leg.wav"; B="$WORK/h1/callee.leg.wav"
cat "$A" "$B" >/dev/null   # both start from the page cache
# /usr/bin/time: wall, user+sys CPU. Best of 5 each. Ours once with fsync of the output
# (the default: durable before signing) and once without (the same work as sox -M).
measure() { /usr/bin/time -f '%e %U %S' "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%s %.3f\n", $1, $2 + $3}'; }
best() { sort -n -k"$1" | head -1 | cut -d' ' -f"$1"; }
: >"$WORK/ours"; : >"$WORK/ours_sync"; : >"$WORK/sox"
# Outputs are deleted (and the deletion written back) before each run, so that neither
# tool pays for removing the previous run's 115 MB file.
fresh() { rm -f "$WORK/h1/ours.wav" "$WORK/h1/sox.wav"; sync; }
for i in 1 2 3 4 5; do
  fresh; NOSYNC=1 measure "$EX/finalize" "$A" "$B" stereo "$WORK/h1" ours >>"$WORK/ours"
  fresh; measure "$EX/finalize" "$A" "$B" stereo "$WORK/h1" ours >>"$WORK/ours_sync"
  fresh; measure sox -M "$A" "$B" "$WORK/h1/sox.wav" >>"$WORK/sox"
done
"$EX/finalize" "$A" "$B" stereo "$WORK/h1" ours >/dev/null
soxi -D "$WORK/h1/ours.wav" "$WORK/h1/sox.wav" | paste -sd' ' | sed 's/^/durations in s (ours aligns the callee 0.25 s later, sox -M does not): /'
ow=$(best 1 <"$WORK/ours"); oc=$(best 2 <"$WORK/ours"); sw=$(best 1 <"$WORK/sox"); sc=$(best 2 <"$WORK/sox")
yw=$(best 1 <"$WORK/ours_sync")
printf 'wall: cr-audio %.3f s (with fsync %.3f s), sox -M %.3f s -> speed-up %.1fx (with fsync %.1fx; goal >= 5x)\n' \
  "$ow" "$yw" "$sw" "$(echo "$sw / $ow" | bc -l)" "$(echo "$sw / $yw" | bc -l)"
printf 'cpu (user+sys): cr-audio %.3f s, sox -M %.3f s -> %.1fx less CPU\n' "$oc" "$sc" "$(echo "$sc / $oc" | bc -l)"
echo "load average while measuring: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$WORK"/h1/*.wav

echo "== 2. peak memory of finalize: 1 min vs 10 h call"
"$EX/simulate_call" "$WORK/m1" 60 none >/dev/null
hwm1=$("$EX/finalize" "$WORK/m1/caller.leg.wav" "$WORK/m1/callee.leg.wav" stereo "$WORK/m1" out | sed -n 's/.*vmhwm_kib=//p')
"$EX/simulate_call" "$WORK/h10" 36000 none >/dev/null
line=$("$EX/finalize" "$WORK/h10/caller.leg.wav" "$WORK/h10/callee.leg.wav" stereo "$WORK/h10" out | tail -1)
hwm10=$(echo "$line" | sed -n 's/.*vmhwm_kib=//p')
echo "10 h: $line; output $(soxi -d "$WORK/h10/out.wav")"
sox_hwm=$( { /usr/bin/time -f '%M' sox -M "$WORK/h10/caller.leg.wav" "$WORK/h10/callee.leg.wav" "$WORK/h10/sox.wav"; } 2>&1 | tail -1)
printf 'peak RSS finalize 1 min: %s KiB   10 h: %s KiB   ratio 10h/1min: %.2f   (sox -M 10 h: %s KiB)\n' \
  "$hwm1" "$hwm10" "$(echo "$hwm10 / $hwm1" | bc -l)" "$sox_hwm"
rm -rf "$WORK/h10" "$WORK/m1"

echo "== 3. memory per open leg writer"
"$EX/leg_memory" "$WORK/legs" 1000
