#!/usr/bin/env bash
# Runs an RFC 3161 time-stamp authority on 127.0.0.1:PORT for tests: a small HTTP server
# (tsa.py, Python stdlib) that answers each POSTed query with `openssl ts -reply`.
# Usage: tsa.sh WORKDIR PORT
# Creates (once) in WORKDIR: tsa-ca.pem (a test CA), tsa.pem/tsa.key (the TSA certificate it
# signs, extendedKeyUsage critical timeStamping), rogue-ca.pem/rogue.pem/rogue.key (a second
# TSA under another CA, trusted by nobody) and ts.cnf (the openssl ts configuration).
# Verify a token with: openssl ts -verify -data F -in F.tsr -CAfile tsa-ca.pem -untrusted tsa.pem
# The path of the POST picks a behaviour (for abuse tests): / a good reply; /500 HTTP 500;
# /garbage not DER; /truncated half a good reply; /other-imprint a good reply for other
# data; /wrong-nonce a good reply to the query with another nonce; /untrusted a reply
# signed by the rogue TSA; /rejection a TSA refusal (status 2).
set -euo pipefail
dir=$1 port=$2
command -v openssl >/dev/null || { echo "openssl not installed" >&2; exit 127; }
mkdir -p "$dir"
cd "$dir"
if [ ! -f ts.cnf ]; then
  cat > tsa-ext.cnf <<'X'
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
X
  for who in tsa rogue; do
    ca=$([ $who = tsa ] && echo tsa-ca || echo rogue-ca)
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ca.key" -out "$ca.pem" -days 3650 \
      -subj "/CN=Test $who CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" -subj "/CN=Test $who" 2>/dev/null
    openssl x509 -req -in "$who.csr" -CA "$ca.pem" -CAkey "$ca.key" -set_serial 0x$(openssl rand -hex 8) \
      -days 3650 -extfile tsa-ext.cnf -out "$who.pem" 2>/dev/null
  done
  echo 01 > serial
  {
    echo "[ tsa ]"
    echo "default_tsa = tsa_good"
    for who in tsa rogue; do
      echo "[ tsa_$([ $who = tsa ] && echo good || echo rogue) ]"
      echo "dir = $dir"
      echo "serial = \$dir/serial"
      echo "crypto_device = builtin"
      echo "signer_cert = \$dir/$who.pem"
      echo "signer_key = \$dir/$who.key"
      echo "signer_digest = sha256"
      echo "default_policy = 1.3.6.1.4.1.99999.1"
      echo "digests = sha256, sha384, sha512"
      echo "accuracy = secs:1, millisecs:500, microsecs:100"
      echo "clock_precision_digits = 0"
      echo "ordering = yes"
      echo "tsa_name = yes"
      echo "ess_cert_id_chain = no"
      echo "ess_cert_id_alg = sha256"
    done
  } > ts.cnf
fi
exec /usr/bin/python3 "$(dirname "$0")/tsa.py" "$dir" "$port"
