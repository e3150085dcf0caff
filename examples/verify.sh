#!/bin/sh
# The auditor's verification of callrec recording sets, with stock tools only:
# shasum (or sha256sum), base64 and openssl.
#
#   examples/verify.sh cert.pem PATH...
#
# PATH is a set's checksum file (<id>.sha256) or a folder searched for them. For each set:
#   1. the SHA-256 of every listed file matches   (shasum -a 256 -c <id>.sha256)
#   2. the signature of the checksum file verifies with the certificate's public key
#      (openssl dgst -sha256 -verify pub.pem -signature <decoded sig> <id>.sha256)
# Prints "OK <id>" or "FAILED <id>: <reason>"; exits 0 when every set verified, 1 when one
# failed or none was found, 2 on bad arguments.
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 cert.pem PATH..." >&2
  exit 2
fi
cert=$1; shift
[ -r "$cert" ] || { echo "$0: cannot read certificate $cert" >&2; exit 2; }
if command -v shasum >/dev/null 2>&1; then sum="shasum -a 256 -c"; else sum="sha256sum -c"; fi
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
openssl x509 -in "$cert" -pubkey -noout > "$tmp/pub.pem" 2>/dev/null \
  || { echo "$0: $cert is not a certificate" >&2; exit 2; }
ok=0; failed=0
find "$@" -name '*.sha256' -type f | sort > "$tmp/sets"
while IFS= read -r sums; do
  dir=$(dirname "$sums"); file=$(basename "$sums"); id=${file%.sha256}
  sig="$dir/$file.SHA256withRSA.sig"
  reason=""
  if ! (cd "$dir" && $sum "$file") > "$tmp/sum.out" 2>&1; then
    reason="checksums: $(grep -v ': OK$' "$tmp/sum.out" | head -n 3 | tr '\n' ' ')"
  elif [ ! -f "$sig" ]; then
    reason="signature file $file.SHA256withRSA.sig missing"
  elif ! base64 -d < "$sig" > "$tmp/sig.bin" 2>/dev/null; then
    reason="signature file is not base64"
  elif ! openssl dgst -sha256 -verify "$tmp/pub.pem" -signature "$tmp/sig.bin" "$sums" >/dev/null 2>&1; then
    reason="signature does not verify with $cert"
  fi
  if [ -z "$reason" ]; then
    echo "OK $id"; ok=$((ok + 1))
  else
    echo "FAILED $id: $reason"; failed=$((failed + 1))
  fi
done < "$tmp/sets"
echo "verified $((ok + failed)) set(s): $ok OK, $failed FAILED"
[ $((ok + failed)) -gt 0 ] && [ $failed -eq 0 ]
