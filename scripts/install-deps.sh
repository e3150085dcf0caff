#!/usr/bin/env bash
# Installs what the tests need: the Debian packages listed in .ci/packages.txt (needs root;
# skips what is there). With --check it installs nothing: it lists what is missing and
# exits 1 if anything is (scripts/test.sh uses that).
set -euo pipefail
cd "$(dirname "$0")/.."
check=0; [ "${1:-}" = "--check" ] && check=1
mapfile -t pkgs < <(grep -v '^\s*#' .ci/packages.txt | sed 's/\s.*//' | grep -v '^$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
if [ "$check" = 1 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}"
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: installing packages needs root: sudo scripts/install-deps.sh (missing: ${missing[*]})" >&2
  exit 2
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
