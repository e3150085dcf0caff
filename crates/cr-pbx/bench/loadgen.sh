#!/usr/bin/env bash
# SIPREC load benchmark: cr-loadgen against the srs example (accepts every call, counts
# packets per stream, writes no audio) on loopback. For each N: N concurrent calls, two
# G.711 streams of 50 packets/s each, DURATION of media.
# Prints N, calls failed, packets sent, received, lost (sequence gaps + never arrived),
# the load generator's wall time (media duration + set-up + any lag of its pacer), CPU
# seconds of the SRS and of the load generator, and the SRS's peak RSS.
#
#   crates/cr-pbx/bench/loadgen.sh [DURATION] [N...]      e.g. 20s 500 1000 2000
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p cr-pbx --example srs
cargo build -q --release -p cr-loadgen
BIN=$CARGO_TARGET_DIR/release
DUR=${1:-20s}; shift || true
NS=${*:-500 1000 2000}
PORT=${SIP_PORT:-25060}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf '%6s %6s %10s %10s %8s %8s %8s %8s %10s %12s\n' N failed sent received lost gen_wall srs_cpu gen_cpu rss_MB cpu_ms/call/s
for N in $NS; do
  "$BIN/examples/srs" --listen "udp:127.0.0.1:$PORT" --rtp-ports 2000-31999 --exit-after "$N" > "$TMP/srs.log" 2>&1 &
  SRS=$!
  sleep 0.5
  "$BIN/cr-loadgen" --target "udp:127.0.0.1:$PORT" --calls "$N" --duration "$DUR" --quiet > "$TMP/gen.log" 2>&1 || true
  # the SRS exits once N sessions ended; if some never started, stop it after 60 s
  for _ in $(seq 1 120); do kill -0 "$SRS" 2>/dev/null || break; sleep 0.5; done
  kill "$SRS" 2>/dev/null || true
  wait "$SRS" 2>/dev/null || true
  gen=$(grep '^TOTAL' "$TMP/gen.log" | tail -1)
  srs=$(grep '^TOTAL' "$TMP/srs.log" | tail -1)
  [ -n "$srs" ] || srs="packets=$(grep -o 'packets=[0-9]*' "$TMP/srs.log" | grep -v '^$' | awk -F= '{s+=$2} END{print s+0}') cpu_s=? peak_rss_kb=0"
  val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
  sent=$(val "$gen" packets_sent); recv=$(val "$srs" packets)
  lost=$(( sent - recv ))
  scpu=$(val "$srs" cpu_s); gcpu=$(val "$gen" cpu_s); rss=$(( $(val "$srs" peak_rss_kb) / 1024 ))
  secs=${DUR%s}
  per=$(awk -v c="$scpu" -v n="$N" -v d="$secs" 'BEGIN{printf "%.3f", 1000*c/n/d}')
  printf '%6s %6s %10s %10s %8s %8s %8s %8s %10s %12s\n' "$N" "$(val "$gen" failed)" "$sent" "$recv" "$lost" "$(val "$gen" wall_s)" "$scpu" "$gcpu" "$rss" "$per"
done
