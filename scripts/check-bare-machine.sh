#!/usr/bin/env bash
# Checks the README's two commands on a bare Debian 12 machine, as a new user would run
# them: debootstraps a minimal bookworm root file system into DIR, gives it only what the
# README assumes (the Rust toolchain this machine uses, copied in; a C toolchain and python3
# from Debian; CA certificates so cargo can reach its registry), clones this repository
# into it and runs, as root inside `chroot`:
#   scripts/demo.sh            always
#   scripts/test.sh            with --tests (it installs the test servers itself as root)
#   the Debian package         with --package: scripts/build-deb.sh on this machine, then
#                              `dpkg -i` inside (`apt-get -f install` for its Depends), config
#                              check, cr-recorder and cr-uploader started as the service user
#                              with the unit's one capability, /v1/health, SIGTERM, and
#                              `systemd-analyze verify --root` of both units
# Needs root; installs debootstrap when it is missing. The Debian mirror is the one this
# machine's apt sources name. DIR defaults to a new directory under /var/tmp; --keep leaves
# it (the cargo build inside takes most of the time, so a kept DIR makes a second run fast).
# Usage: sudo scripts/check-bare-machine.sh [--tests] [--package] [--keep] [DIR]
# Exit status: 0 every command passed, 1 one failed, 2 the check could not be set up.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
tests=0; package=0; keep=0; root=""
for a in "$@"; do
  case "$a" in
    --tests) tests=1 ;;
    --package) package=1 ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "check-bare-machine: unknown option $a (see --help)" >&2; exit 2 ;;
    *) root="$a" ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "check-bare-machine: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null; }

# The mirror this machine's apt uses (deb822 or one-line form).
mirror=$(grep -h -m1 '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(grep -h -m1 '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
[ -n "$mirror" ] || { echo "check-bare-machine: no Debian mirror found in /etc/apt/sources.list*" >&2; exit 2; }

[ -n "$root" ] || root=$(mktemp -d /var/tmp/callrec-bare.XXXXXX)
mkdir -p "$root"
mounted=()
cleanup() {
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  if [ "$keep" = 1 ]; then echo "check-bare-machine: kept $root"; else rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT

if [ ! -x "$root/usr/bin/apt-get" ]; then
  echo "== debootstrap bookworm (minbase) into $root"
  debootstrap --variant=minbase bookworm "$root" "$mirror" > "$root.debootstrap.log" 2>&1 \
    || { echo "check-bare-machine: debootstrap failed, see $root.debootstrap.log" >&2; exit 2; }
fi
for m in proc sys dev dev/pts; do
  mkdir -p "$root/$m"
  case "$m" in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount -t sysfs sys "$root/sys" ;;
    *) mount --bind "/$m" "$root/$m" ;;
  esac
  mounted+=("$root/$m")
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/opt/rust/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  CARGO_HOME=/root/.cargo CARGO_TARGET_DIR=/root/target LANG=C.UTF-8 TERM=dumb "$@"; }

echo "== what the README assumes: Rust (copied in), a C toolchain, python3"
sysroot=$(rustc --print sysroot)
if [ ! -x "$root/opt/rust/bin/cargo" ]; then
  mkdir -p "$root/opt/rust"
  cp -a "$sysroot/." "$root/opt/rust/"
fi
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  gcc libc6-dev python3 ca-certificates > /dev/null 2>&1
# The site's own CA certificates (a proxy's, say), as any machine on this network has them.
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  in_root update-ca-certificates > /dev/null 2>&1
fi
in_root cargo --version

echo "== a clean clone of $(git -C "$repo" rev-parse --short HEAD)"
rm -rf "$root/root/callrec"
git clone -q "$repo" "$root/root/callrec"

status=0
echo "== scripts/demo.sh on the bare machine"
if in_root bash -c 'cd /root/callrec && scripts/demo.sh'; then echo "== demo: PASSED"; else echo "== demo: FAILED"; status=1; fi
if [ "$tests" = 1 ]; then
  echo "== scripts/test.sh on the bare machine (installs the test servers as root)"
  if in_root bash -c 'cd /root/callrec && scripts/test.sh'; then echo "== tests: PASSED"; else echo "== tests: FAILED"; status=1; fi
fi
if [ "$package" = 1 ]; then
  echo "== the Debian package: dpkg -i on the bare machine, binaries started as the service user"
  deb=$(bash scripts/build-deb.sh "$root/tmp" | tail -n1)
  pkgcheck='
    set -e
    export DEBIAN_FRONTEND=noninteractive
    dpkg -i /tmp/'"$(basename "$deb")"' > /dev/null 2>&1 || apt-get -f install -y -qq > /dev/null 2>&1
    dpkg -s callrec | grep -q "Status: install ok installed"
    # man for the Documentation= pages of the units, systemd for systemd-analyze verify --root
    apt-get install -y -qq --no-install-recommends man-db systemd > /dev/null 2>&1
    id callrec
    stat -c "%A %U:%G %n" /etc/callrec/callrec.toml /etc/callrec/secrets.env /var/lib/callrec /var/lib/callrec/keystore.p12
    set -a; . /etc/callrec/secrets.env; set +a
    as_service() { setpriv --reuid callrec --regid callrec --init-groups --inh-caps +net_bind_service --ambient-caps +net_bind_service "$@"; }
    as_service crctl --config /etc/callrec/callrec.toml config check
    # setpriv itself in the background (not the shell function): $! is then the recorder.
    setpriv --reuid callrec --regid callrec --init-groups --inh-caps +net_bind_service --ambient-caps +net_bind_service \
      cr-recorder --config /etc/callrec/callrec.toml > /tmp/recorder.log 2>&1 & rec=$!
    for i in $(seq 50); do grep -q "SIPREC recording server listening" /tmp/recorder.log && break; sleep 0.2; done
    exec 3<>/dev/tcp/127.0.0.1/8640; printf "GET /v1/health HTTP/1.0\r\n\r\n" >&3; head -n1 <&3 | tee /tmp/health; exec 3>&-
    grep -q " 200 " /tmp/health
    runuser -u callrec -- cr-uploader --config /etc/callrec/callrec.toml --once 2> /dev/null
    kill -TERM $rec; wait $rec
    man -w cr-recorder cr-uploader crctl-keys-init > /dev/null
  '
  if in_root bash -c "$pkgcheck" && systemd-analyze verify --man=no --root="$root" cr-recorder.service cr-uploader.service; then
    echo "== package: PASSED"
  else
    echo "== package: FAILED"; status=1
  fi
fi
exit "$status"
