#!/usr/bin/env bash
# The whole pipeline on the embedded default, in a temporary directory:
#   SQLite journal, a generated keystore, a local folder target, the built-in SIPREC call
#   source (cr-loadgen: real SIP and RTP over loopback).
# It starts cr-recorder, puts calls through, stops the recorder (SIGTERM), lets cr-uploader
# deliver, runs cr-verify on the target folder and prints what happened and where the files
# are. Usage: scripts/demo.sh [--keep]   (--keep leaves the directory for a look around)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0; [ "${1:-}" = "--keep" ] && keep=1

# SMB targets link libsmbclient (C). The demo delivers to a folder, so on a machine without
# libsmbclient's headers it builds the binaries without their `smb` feature; the tests,
# release builds and packages always have it. PostgreSQL journals (pure Rust) stay in.
features=()
if ! pkg-config --exists smbclient 2>/dev/null; then
  features=(--no-default-features --features cr-recorder/postgres,cr-uploader/postgres,crctl/postgres)
  echo "== libsmbclient is not installed: building without SMB targets (the demo does not need them)"
fi
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug
# CALLREC_DEMO_PREBUILT=1 (.ci/run, right after scripts/test.sh built every binary of this
# tree): use those binaries as they are. `cargo build -p …` would build them again with
# other features than the test build's (dev-dependencies enable some), minutes of CI time.
if [ "${CALLREC_DEMO_PREBUILT:-}" = 1 ]; then
  for b in cr-recorder cr-uploader cr-verify crctl cr-loadgen; do
    [ -x "$bin/$b" ] || { echo "demo: CALLREC_DEMO_PREBUILT=1 but $bin/$b is not built" >&2; exit 2; }
  done
  echo "== using the binaries the test build made ($bin)"
else
  echo "== building (cargo build: the debug profile that the tests use too)"
  cargo build -q -p cr-recorder -p cr-uploader -p cr-verify -p crctl -p cr-loadgen "${features[@]}"
fi

work=$(mktemp -d /tmp/callrec-demo.XXXXXX)
rec_pid=""
cleanup() {
  [ -n "$rec_pid" ] && kill "$rec_pid" 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "(kept $work)"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sip_port=$(free_port); api_port=$(free_port)
rtp_low=$(( 20000 + (RANDOM % 5000) * 2 ))  # below the kernel's ephemeral range (32768-60999)

cat > "$work/callrec.toml" <<TOML
[installation]
module_id = "demo-pbx"
data_dir = "$work/data"

[keystore]
password_env = "CALLREC_DEMO_PASSWORD"

[[users]]
id = "alice"
numbers = ["21"]

[[users]]
id = "bob"
numbers = ["22"]

[[groups]]
id = "trading"
number = "20"
members = ["alice", "bob"]

[[recordings]]
name = "trading-desk"
groups = ["trading"]
channels = "stereo"
targets = ["archive"]

[[recordings]]
name = "compliance"
users = ["alice"]
channels = "separate"
targets = ["archive"]

[[targets]]
name = "archive"
kind = "folder"
path = "$work/archive"
directory = "\$Y/\$M/\$D"

[pbx.siprec]
listen = ["udp:127.0.0.1:$sip_port"]
rtp_ports = "$rtp_low-$((rtp_low + 200))"

[pbx.api]
listen = "127.0.0.1:$api_port"
TOML
mkdir -p "$work/archive"
export CALLREC_DEMO_PASSWORD="demo-password-$RANDOM"

echo "== crctl config check / keys init"
"$bin/crctl" --config "$work/callrec.toml" config check
"$bin/crctl" --config "$work/callrec.toml" keys init > /dev/null 2> "$work/keys.log"
echo "certificate: $work/data/cert.pem"

echo "== starting cr-recorder (SIPREC on udp:127.0.0.1:$sip_port, API on 127.0.0.1:$api_port)"
"$bin/cr-recorder" --config "$work/callrec.toml" 2> "$work/recorder.log" &
rec_pid=$!
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null; then break; fi
  kill -0 "$rec_pid" 2>/dev/null || { echo "cr-recorder died:"; cat "$work/recorder.log"; exit 1; }
  sleep 0.1
done

echo "== 4 SIPREC calls from the built-in call source (caller +4930555N -> callee 2N, 3 s of tones)"
echo "   callee 20 = group trading (stereo), 21 = alice (recorded user, separate files),"
echo "   22 = bob (only a group member: not recorded), 23 = nobody (not recorded)"
"$bin/cr-loadgen" --target "udp:127.0.0.1:$sip_port" --calls 4 --duration 3s | sed 's/^/   /' \
  || true  # calls to 22 and 23 are refused (403) by design: cr-loadgen then exits 1
sleep 1

echo "== stopping cr-recorder (SIGTERM)"
kill -TERM "$rec_pid"; wait "$rec_pid" || true; rec_pid=""

echo "== cr-uploader --once (delivers the spool to the folder target)"
"$bin/cr-uploader" --config "$work/callrec.toml" --once 2> "$work/uploader.log" || { cat "$work/uploader.log"; exit 1; }

echo "== what the recorder decided (from its log)"
grep -E " (recording|not recorded|sealed and spooled)" "$work/recorder.log" \
  | sed -E 's/^[^ ]+ +[A-Z]+ [a-z_:]+: //' | sed 's/^/   /'

echo "== delivered files"
(cd "$work/archive" && find . -type f | sort | sed 's/^/   /')

echo "== crctl operator add demo --role admin (the installation's first operator)"
( umask 077; printf '%s\n' "demo-operator-$RANDOM-$RANDOM" > "$work/operator.pw" )
"$bin/crctl" --config "$work/callrec.toml" operator add demo --role admin --password-file "$work/operator.pw" | sed 's/^/   /'
export CALLREC_OPERATOR_PASSWORD_FILE="$work/operator.pw"

echo "== crctl search --operator demo (journal)"
"$bin/crctl" --config "$work/callrec.toml" search --operator demo | sed 's/^/   /'

echo "== crctl audit verify (the audit trail's hash chain, and the journal against the audit"
echo "   checkpoint the uploader's deletion pass sealed into the chain and delivered)"
"$bin/crctl" --config "$work/callrec.toml" audit verify --checkpoints "$work/archive" --operator demo | sed 's/^/   /'

echo "== cr-verify on the target folder (needs only the certificate)"
"$bin/cr-verify" --cert "$work/data/cert.pem" "$work/archive"
