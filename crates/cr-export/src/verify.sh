#!/usr/bin/env bash
# Verifies this callrec disclosure package with stock tools: bash, shasum (or sha256sum),
# base64 and openssl. Run it from anywhere: bash verify.sh (checks the directory it lies in),
# or bash verify.sh DIR (a trusted copy of this script checks the package in DIR).
# Checks: the signature of SHA256SUMS with cert.pem; every file listed in SHA256SUMS; no
# file that SHA256SUMS does not list (bash 4 or later); each set's own checksum file and
# signature. Prints one FAILED line per problem, naming the file.
# Exit status: 0 everything verified, 1 a problem was found, 2 a tool is missing.
set -u
if [ $# -gt 0 ]; then
    cd "$1" || exit 2
else
    case ${BASH_SOURCE[0]} in */*) cd "${BASH_SOURCE[0]%/*}" || exit 2 ;; esac
fi

if command -v shasum >/dev/null 2>&1; then
    SUM=(shasum -a 256)
elif command -v sha256sum >/dev/null 2>&1; then
    SUM=(sha256sum)
else
    echo "verify.sh: needs shasum or sha256sum" >&2
    exit 2
fi
for tool in base64 openssl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "verify.sh: needs $tool" >&2; exit 2; }
done

status=0
if ! pub=$(openssl x509 -in cert.pem -pubkey -noout 2>/dev/null); then
    echo "FAILED cert.pem: not a certificate"
    exit 1
fi
fingerprint=$(openssl x509 -in cert.pem -noout -fingerprint -sha256 2>/dev/null)
echo "certificate: $(openssl x509 -in cert.pem -noout -subject 2>/dev/null)"
echo "SHA-256 fingerprint: ${fingerprint#*=}"
echo "  (compare it with the fingerprint the recording installation publishes)"

# check_signature FILE SIGNATURE-FILE
check_signature() {
    if [ ! -f "$2" ]; then
        echo "FAILED $2: signature file missing"
        return 1
    fi
    if ! base64 -d <"$2" >/dev/null 2>&1; then
        echo "FAILED $2: not base64"
        return 1
    fi
    if ! openssl dgst -sha256 -verify <(printf '%s\n' "$pub") -signature <(base64 -d <"$2") "$1" >/dev/null 2>&1; then
        echo "FAILED $1: signature does not verify with cert.pem (altered, or signed by another key)"
        return 1
    fi
    echo "OK $1: signature"
}

# check_sums DIR CHECKSUM-FILE: every listed file, only problems printed
check_sums() {
    local out rc
    out=$(cd "$1" && "${SUM[@]}" -c "$2" 2>&1)
    rc=$?
    while IFS= read -r line; do
        case $line in
            *': OK' | '') ;;
            *WARNING*) ;;
            *) if [ "$1" = . ]; then echo "FAILED $line"; else echo "FAILED $1/$line"; fi ;;
        esac
    done <<<"$out"
    if [ $rc -eq 0 ]; then
        if [ "$1" = . ]; then echo "OK $2: every listed file matches"; else echo "OK $1/$2: every listed file matches"; fi
    fi
    return $rc
}

check_signature SHA256SUMS SHA256SUMS.SHA256withRSA.sig || status=1
check_sums . SHA256SUMS || status=1

if [ "${BASH_VERSINFO[0]}" -ge 4 ]; then
    declare -A listed
    while IFS= read -r line; do
        listed["${line:66}"]=1
    done <SHA256SUMS
    shopt -s globstar dotglob nullglob
    for f in **; do
        if [ -d "$f" ] && [ ! -L "$f" ]; then continue; fi
        case $f in SHA256SUMS | SHA256SUMS.SHA256withRSA.sig) continue ;; esac
        if [ -z "${listed[$f]:-}" ]; then
            echo "FAILED $f: not listed in SHA256SUMS (added to the package)"
            status=1
        fi
    done
    shopt -u globstar dotglob nullglob
else
    echo "NOTE: bash ${BASH_VERSION} is older than 4: files not listed in SHA256SUMS are not looked for"
fi

sets=0
for sums in sets/*/*.sha256; do
    [ -f "$sums" ] || continue
    sets=$((sets + 1))
    dir=${sums%/*}
    name=${sums##*/}
    check_signature "$sums" "$sums.SHA256withRSA.sig" || status=1
    check_sums "$dir" "$name" || status=1
done

if [ $status -eq 0 ]; then
    echo "verified: SHA256SUMS signature, every listed file, $sets set(s): all OK"
else
    echo "verification FAILED: see the FAILED lines above"
fi
exit $status
