#!/usr/bin/env bash
# Runs an SMTP server (aiosmtpd) on 127.0.0.1:PORT storing every message in WORKDIR/maildir
# (one file per message under new/). Usage: smtpd.sh WORKDIR PORT [TLSCERT TLSKEY [smtps]]
# With a certificate and key it offers STARTTLS (and requires it); with "smtps" it speaks
# implicit TLS instead.
set -euo pipefail
dir=$1 port=$2
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || { echo "aiosmtpd missing (apt-get install python3-aiosmtpd)" >&2; exit 127; }
mkdir -p "$dir/maildir/cur" "$dir/maildir/new" "$dir/maildir/tmp"
if [ $# -ge 5 ] && [ "$5" = smtps ]; then
  exec /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$dir/maildir" --smtpscert "$3" --smtpskey "$4"
fi
if [ $# -ge 4 ]; then
  exec /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$dir/maildir" --tlscert "$3" --tlskey "$4"
fi
exec /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$dir/maildir"
