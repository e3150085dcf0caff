#!/usr/bin/env bash
# cr-loadgen against the full cr-recorder (issue 7's benchmark): N concurrent SIPREC calls,
# two G.711 streams of 50 packets/s each over loopback. Reports packets sent vs written into
# legs, sets sealed, the shortest recording, and the recorder's CPU and peak memory.
#   bench/recorder-load.sh N [DURATION (20s)]
# Also prints the steady-state CPU of both processes over the middle half of the calls,
# which stays meaningful when other work shares the machine.
#   BIN=DIR          run cr-recorder and crctl from DIR (e.g. another commit's release build)
#                    instead of this checkout's; cr-loadgen is always this checkout's.
#   CALLGRIND=FILE   run the recorder under valgrind --tool=callgrind; callgrind_control
#                    --dump at both ends of the steady-state window splits the count into
#                    FILE.1 (start-up, call set-up), FILE.2 (the window) and FILE (the rest:
#                    the last packets, sealing, shutdown); prints the instructions per
#                    received packet in the window and per packet written over the run.
# The last line, "result ...", holds the figures bench/recorder-cpu.sh compares.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: bench/recorder-load.sh N [DURATION]}; dur=${2:-20s}
cargo build --release -q -p cr-recorder -p cr-loadgen -p crctl
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
rec_bin=${BIN:-$bin}
work=$(mktemp -d /tmp/callrec-load.XXXXXX); pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sip=$(port); api=$(port)
# cr-loadgen calls callee "2<i>" for call i: the desk user owns all those numbers.
numbers=$(seq 0 $((n - 1)) | sed 's/.*/"2&"/' | paste -sd, -)
cat > "$work/callrec.toml" <<TOML
[installation]
module_id = "load"
data_dir = "$work/data"
[keystore]
password_env = "LOAD_PW"
[[users]]
id = "desk"
numbers = [$numbers]
[[recordings]]
name = "all"
users = ["desk"]
channels = "stereo"
targets = ["archive"]
[[targets]]
name = "archive"
kind = "folder"
path = "$work/archive"
[pbx.siprec]
listen = ["udp:127.0.0.1:$sip"]
rtp_ports = "10000-30000"
# every call comes from the one load generator address: let all of them wait for a decision
max_pending_invites_per_source = $((n + 100))
[pbx.api]
listen = "127.0.0.1:$api"
TOML
export LOAD_PW=load
"$rec_bin/crctl" -c "$work/callrec.toml" keys init > /dev/null 2>&1
wrap=()
[ -n "${CALLGRIND:-}" ] && wrap=(valgrind --tool=callgrind --callgrind-out-file="$CALLGRIND" --log-file="$work/valgrind.log")
"${wrap[@]}" "$rec_bin/cr-recorder" -c "$work/callrec.toml" --log warn 2> "$work/rec.log" & pid=$!
for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$api) 2>/dev/null && break; sleep 0.1; done
# Datagrams the kernel dropped for a full socket buffer (system-wide).
udp_errors() { awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp; }
udp_out() { awk '/^Udp: [0-9]/ {print $5}' /proc/net/snmp; }
udp_noports() { awk '/^Udp: [0-9]/ {print $3}' /proc/net/snmp; }
np0=$(udp_noports)
udp0=$(udp_errors)
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
"$bin/cr-loadgen" --target "udp:127.0.0.1:$sip" --calls "$n" --duration "$dur" --quiet ${LOADGEN_ARGS:-} > "$work/load.txt" & lg=$!
# Steady state: the CPU both processes use over the middle half of the calls.
secs=${dur%s}
metrics() { (exec 3<>/dev/tcp/127.0.0.1/$api; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3); }
metric() { metrics | awk -v k="$1" '$1 == k {print $2}'; }
jiffies() { awk '{print $14+$15}' /proc/$1/stat 2>/dev/null || echo 0; }
sleep "$(echo "$secs / 4 + 2" | bc -l)"
r0=$(jiffies $pid); l0=$(jiffies $lg); t0=$(date +%s.%N); p0=$(metric callrec_rtp_received_total); o0=$(udp_out)
[ -n "${CALLGRIND:-}" ] && callgrind_control --dump $pid > /dev/null 2>&1
sleep "$(echo "$secs / 2" | bc -l)"
[ -n "${CALLGRIND:-}" ] && callgrind_control --dump $pid > /dev/null 2>&1
r1=$(jiffies $pid); l1=$(jiffies $lg); t1=$(date +%s.%N); p1=$(metric callrec_rtp_received_total); o1=$(udp_out)
wait $lg || true
grep "^TOTAL" "$work/load.txt"
# Wait until every call is sealed.
failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' "$work/load.txt")
for _ in $(seq 600); do
  m=$(metrics)
  rec=$(echo "$m" | awk '/^callrec_recorded_total/ {print $2}')
  [ "${rec:-0}" -ge "$((n - ${failed:-0}))" ] && break
  sleep 0.5
done
cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
pkts=$(echo "$m" | awk '/^callrec_rtp_packets_total/ {print $2}')
recv=$(echo "$m" | awk '/^callrec_rtp_received_total/ {print $2}')
unrouted=$(echo "$m" | awk '/^callrec_rtp_unrouted_total/ {print $2}')
udp_drops=$(( $(udp_errors) - udp0 )); noports=$(( $(udp_noports) - np0 ))
kill $pid; wait $pid 2>/dev/null || true; pid=""
instr=0
instr_run=0
if [ -n "${CALLGRIND:-}" ]; then
  ir() { awk '/^summary:/ {print $2}' "$1"; }
  instr=$(ir "$CALLGRIND.2"); instr_run=$(( $(ir "$CALLGRIND.1") + instr + $(ir "$CALLGRIND") ))
fi
sent=$(sed -n 's/.*packets_sent=\([0-9]*\).*/\1/p' "$work/load.txt")
sets=$(find "$work/data/spool" -name '*.sha256' | wc -l)
[ "${failed:-0}" -gt 0 ] && echo "WARNING: $failed calls were not set up (see $work/load.txt with KEEP=1)"
printf 'calls %s x %s: packets sent %s, written %s (lost %s); sets sealed %s\n' "$n" "$dur" "$sent" "$pkts" "$((sent - pkts))" "$sets"
printf 'of the lost: %s dropped by the kernel (socket buffer full), %s received after their call was sealed, %s never read (%s sent to closed ports)\n' \
  "$udp_drops" "$unrouted" "$((sent - recv - udp_drops))" "$noports"
printf 'recorder CPU %.1f s (%.2f ms per call-second), peak memory %d MB (%.0f KB per call)\n' \
  "$(echo "($cpu1 - $cpu0) / 100" | bc -l)" "$(echo "($cpu1 - $cpu0) * 10 / ($n * $secs)" | bc -l)" \
  "$((hwm / 1024))" "$(echo "$hwm / $n" | bc -l)"
steady=$(echo "$t1 - $t0" | bc -l)
printf 'steady state (%.1f s): %.0f UDP datagrams/s sent (system-wide), %.0f RTP packets/s received, of %d due (all calls at 50 packets/s per stream); recorder %.2f cores, cr-loadgen %.2f cores; recorder %.1f us CPU per packet\n' \
  "$steady" "$(echo "($o1 - $o0) / $steady" | bc -l)" "$(echo "($p1 - $p0) / $steady" | bc -l)" "$((n * 100))" "$(echo "($r1 - $r0) / 100 / $steady" | bc -l)" "$(echo "($l1 - $l0) / 100 / $steady" | bc -l)" \
  "$(echo "($r1 - $r0) * 10000 / ($p1 - $p0 + 1)" | bc -l)"
[ -n "${CALLGRIND:-}" ] && printf 'callgrind: %s instructions in the steady-state window for %s packets received: %.0f instructions per packet; %s over the run for %s packets written: %.0f per packet\n' \
  "$instr" "$((p1 - p0))" "$(echo "$instr / ($p1 - $p0)" | bc -l)" "$instr_run" "$pkts" "$(echo "$instr_run / $pkts" | bc -l)"
printf 'result calls=%s failed=%s duration=%s sent=%s written=%s lost=%s cpu_jiffies=%s steady_jiffies=%s steady_packets=%s instructions=%s run_instructions=%s\n' \
  "$n" "${failed:-0}" "$dur" "$sent" "$pkts" "$((sent - pkts))" "$((cpu1 - cpu0))" "$((r1 - r0))" "$((p1 - p0))" "$instr" "$instr_run"
