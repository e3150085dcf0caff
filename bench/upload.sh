#!/usr/bin/env bash
# Upload throughput of cr-storage's SFTP and SMB targets versus OpenSSH `sftp` and Samba's
# `smbclient` moving the same files to the same local servers (loopback), in one run.
#
#   bench/upload.sh [TOTAL_MB]      (default 1024; needs root, sshd, smbd, smbclient)
#
# Prints MB/s for each and the ratio ours/reference (goal >= 0.9).
set -euo pipefail
cd "$(dirname "$0")/.."
total_mb=${1:-1024}
set_mb=64
nsets=$(( (total_mb + set_mb - 1) / set_mb ))
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/targets/cr-storage}
cargo build --release -q -p cr-storage --example upload_bench
bin=$CARGO_TARGET_DIR/release/examples/upload_bench

work=$(mktemp -d /tmp/callrec-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do pkill -KILL -P "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for u in "${suser:-}" "${muser:-}"; do [ -n "$u" ] && { userdel -f "$u" 2>/dev/null || true; }; done
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not listening" >&2; exit 2; }

sport=$(free_port); mport=$(free_port)
suser=crbs$sport; muser=crbm$mport; pass=bench-Secret1
bash scripts/servers/sshd.sh "$work/sshd" "$sport" "$suser" "$pass" > "$work/sshd.log" 2>&1 & pids+=($!)
bash scripts/servers/smbd.sh "$work/smbd" "$mport" "$muser" "$pass" > "$work/smbd.log" 2>&1 & pids+=($!)
wait_port "$sport"; wait_port "$mport"
hostkey=$(ssh-keygen -lf "$work/sshd/hostkey.pub" | awk '{print $2}')

echo "making $nsets sets of ${set_mb} MB ..."
mkdir -p "$work/sets"
for i in $(seq -w 1 "$nsets"); do
  id="20260307T0905$i-bench"
  d="$work/sets/$id"; mkdir -p "$d"
  head -c $((set_mb * 1024 * 1024)) /dev/urandom > "$d/$id.wav"
  echo "{\"id\":\"$id\"}" > "$d/$id.json"
  (cd "$d" && sha256sum "$id.json" "$id.wav" > "$id.sha256" && echo c2ln > "$id.sha256.SHA256withRSA.sig")
done
bytes=$(du -sb "$work/sets" | awk '{print $1}')
cat "$work"/sets/*/* > /dev/null   # page cache warm for everyone

now() { date +%s.%N; }
mbps() { python3 -c "print(f'{$1/1e6/$2:.1f}')"; }

# --- SFTP: OpenSSH sftp client
batch=$work/sftp.batch; echo "mkdir ref" > "$batch"
for d in "$work"/sets/*/; do for f in "$d"*; do echo "put $f ref/" >> "$batch"; done; done
t0=$(now)
sftp -q -b "$batch" -o BatchMode=yes -i "$work/sshd/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -P "$sport" "$suser@127.0.0.1" > /dev/null
t_ref_sftp=$(python3 -c "print($(now)-$t0)")
rm -rf "$work/sshd/home/ref"
# --- SFTP: ours
read -r ob t_our_sftp < <("$bin" sftp 127.0.0.1 "$sport" "$suser" "$work/sshd/client_key" "$hostkey" "$work/sets" ours)
(cd "$work/sshd/home/ours" && sha256sum -c --quiet ./*.sha256)
rm -rf "$work/sshd/home/ours"

# --- SMB: smbclient
cmds="mkdir ref; cd ref; prompt OFF"
for d in "$work"/sets/*/; do cmds="$cmds; lcd $d; mput *"; done
t0=$(now)
smbclient //127.0.0.1/rec -p "$mport" -U "$muser%$pass" -c "$cmds" > /dev/null
t_ref_smb=$(python3 -c "print($(now)-$t0)")
rm -rf "$work/smbd/share/ref"
# --- SMB: ours
read -r ob2 t_our_smb < <("$bin" smb 127.0.0.1 "$mport" "$muser" "$pass" rec "$work/sets" ours)
(cd "$work/smbd/share/ours" && sha256sum -c --quiet ./*.sha256)

printf '%-28s %10s %8s\n' "upload of $((bytes/1000000)) MB" "MB/s" "ratio"
printf '%-28s %10s\n' "OpenSSH sftp" "$(mbps "$bytes" "$t_ref_sftp")"
printf '%-28s %10s %8s\n' "cr-storage sftp (russh)" "$(mbps "$ob" "$t_our_sftp")" "$(python3 -c "print(f'{($ob/$t_our_sftp)/($bytes/$t_ref_sftp):.2f}')")"
printf '%-28s %10s\n' "smbclient" "$(mbps "$bytes" "$t_ref_smb")"
printf '%-28s %10s %8s\n' "cr-storage smb (pavao)" "$(mbps "$ob2" "$t_our_smb")" "$(python3 -c "print(f'{($ob2/$t_our_smb)/($bytes/$t_ref_smb):.2f}')")"
