#!/usr/bin/env bash
# Runs Samba's smbd in the foreground on 127.0.0.1:PORT for tests and benchmarks.
# Usage: smbd.sh WORKDIR PORT USER PASSWORD
# One share "rec" at WORKDIR/share, writable by USER (a Unix user created if missing).
# Everything else (state, locks, passdb) stays in WORKDIR. Needs root.
set -euo pipefail
dir=$1 port=$2 user=$3 pass=$4
command -v smbd >/dev/null || { echo "smbd not installed (apt-get install samba)" >&2; exit 127; }
mkdir -p "$dir" && chmod 755 "$dir"
mkdir -p "$dir"/{share,state,lock,private,cache,pid,ncalrpc,log}
flock /tmp/callrec-useradd.lock sh -c "id '$user' >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin '$user'"
chown "$user" "$dir/share"
cat > "$dir/smb.conf" <<EOF
[global]
  smb ports = $port
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  server min protocol = SMB2_10
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  state directory = $dir/state
  lock directory = $dir/lock
  private dir = $dir/private
  cache directory = $dir/cache
  pid directory = $dir/pid
  ncalrpc dir = $dir/ncalrpc
  passdb backend = tdbsam:$dir/passdb.tdb
  log file = $dir/log/log.%m
  map to guest = never
[rec]
  path = $dir/share
  read only = no
  valid users = $user
EOF
printf '%s\n%s\n' "$pass" "$pass" | smbpasswd -c "$dir/smb.conf" -s -a "$user" >/dev/null
exec smbd -F -s "$dir/smb.conf" --debug-stdout
