#!/usr/bin/env bash
# cr-loadgen against the full cr-recorder (issue 7's benchmark): N concurrent SIPREC calls,
# two G.711 streams of 50 packets/s each over loopback. Reports packets sent vs written into
# legs, sets sealed, the shortest recording, and the recorder's CPU and peak memory.
#   bench/recorder-load.sh N [DURATION (20s)]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: bench/recorder-load.sh N [DURATION]}; dur=${2:-20s}
cargo build --release -q -p cr-recorder -p cr-loadgen -p crctl
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
work=$(mktemp -d /tmp/callrec-load.XXXXXX); pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
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
[pbx.api]
listen = "127.0.0.1:$api"
TOML
export LOAD_PW=load
"$bin/crctl" -c "$work/callrec.toml" keys init > /dev/null 2>&1
"$bin/cr-recorder" -c "$work/callrec.toml" --log warn 2> "$work/rec.log" & pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$api) 2>/dev/null && break; sleep 0.1; done
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
"$bin/cr-loadgen" --target "udp:127.0.0.1:$sip" --calls "$n" --duration "$dur" --quiet | tee "$work/load.txt"
# Wait until every call is sealed.
for _ in $(seq 600); do
  m=$(exec 3<>/dev/tcp/127.0.0.1/$api; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3)
  rec=$(echo "$m" | awk '/^callrec_recorded_total/ {print $2}')
  [ "${rec:-0}" -ge "$n" ] && break
  sleep 0.5
done
cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
pkts=$(echo "$m" | awk '/^callrec_rtp_packets_total/ {print $2}')
kill $pid; wait $pid 2>/dev/null || true; pid=""
sent=$(sed -n 's/.*packets_sent=\([0-9]*\).*/\1/p' "$work/load.txt")
sets=$(find "$work/data/spool" -name '*.sha256' | wc -l)
secs=${dur%s}
printf 'calls %s x %s: packets sent %s, written %s (lost %s); sets sealed %s\n' "$n" "$dur" "$sent" "$pkts" "$((sent - pkts))" "$sets"
printf 'recorder CPU %.1f s (%.2f ms per call-second), peak memory %d MB (%.0f KB per call)\n' \
  "$(echo "($cpu1 - $cpu0) / 100" | bc -l)" "$(echo "($cpu1 - $cpu0) * 10 / ($n * $secs)" | bc -l)" \
  "$((hwm / 1024))" "$(echo "$hwm / $n" | bc -l)"
