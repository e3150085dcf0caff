#!/usr/bin/env bash
# Runs OpenSSH sshd in the foreground on 127.0.0.1:PORT for tests and benchmarks.
# Usage: sshd.sh WORKDIR PORT USER PASSWORD
# Creates (once) WORKDIR/hostkey (ed25519), WORKDIR/client_key for USER, USER's home
# WORKDIR/home, and sets USER's password. The SFTP home is WORKDIR/home. Needs root.
# Pin the host key with: ssh-keygen -lf WORKDIR/hostkey.pub
set -euo pipefail
dir=$1 port=$2 user=$3 pass=$4
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || { echo "sshd not installed (apt-get install openssh-server)" >&2; exit 127; }
mkdir -p "$dir/home" /run/sshd
chmod 755 "$dir"
[ -f "$dir/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/hostkey"
[ -f "$dir/client_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
flock /tmp/callrec-useradd.lock sh -c "id '$user' >/dev/null 2>&1 || useradd -M -d '$dir/home' -s /bin/sh '$user'; echo '$user:$pass' | chpasswd"
chown "$user" "$dir/home"
chmod 644 "$dir/authorized_keys"
cat > "$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/hostkey
PidFile $dir/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile $dir/authorized_keys
Subsystem sftp internal-sftp
MaxStartups 100
MaxSessions 100
EOF
exec /usr/sbin/sshd -D -e -f "$dir/sshd_config"
