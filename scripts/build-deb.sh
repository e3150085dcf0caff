#!/usr/bin/env bash
# Builds the Debian package callrec_VERSION_ARCH.deb: the binaries (with SMB), systemd units
# for cr-recorder and cr-uploader, man pages and shell completions generated from the clap
# definitions, the reference and topic documents, and an example /etc/callrec/callrec.toml.
# The service user, the state directory, the secrets file and the key pair are made by the
# package's postinst (packaging/debian/postinst).
# Usage: scripts/build-deb.sh [--debug] [OUT_DIR]   (default OUT_DIR: target/debian)
#   --debug  packs the debug build (what the tests use) instead of a release build
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release; out=""
for a in "$@"; do
  case "$a" in
    --debug) profile=debug ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-deb: unknown option $a (see --help)" >&2; exit 2 ;;
    *) out="$a" ;;
  esac
done
for t in dpkg-deb dpkg-shlibdeps; do
  command -v "$t" > /dev/null || { echo "build-deb: $t is missing (apt-get install dpkg-dev)" >&2; exit 2; }
done
bins=(cr-recorder cr-uploader cr-verify crctl)
flags=(--locked); [ "$profile" = release ] && flags+=(--release)
pkgs=(); for b in "${bins[@]}"; do pkgs+=(-p "$b"); done
echo "== cargo build ${flags[*]} ${pkgs[*]}"
cargo build -q "${flags[@]}" "${pkgs[@]}"
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
[ -n "$out" ] || out="$target/debian"
version=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="crctl"))')
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/callrec" \
  "$root/usr/share/doc/callrec" "$root/usr/share/man/man1" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d"
for b in "${bins[@]}"; do
  install -m 0755 "$target/$profile/$b" "$root/usr/bin/$b"
  # Debug information stays in the build tree (as dh_strip does); the package gets lean binaries.
  strip --strip-debug "$root/usr/bin/$b"
  CALLREC_GENERATE_DOCS="$stage/docs" "$target/$profile/$b"
done
for f in "$stage"/docs/man/*.1; do gzip -9n < "$f" > "$root/usr/share/man/man1/$(basename "$f").gz"; done
for b in "${bins[@]}"; do
  install -m 0644 "$stage/docs/completions/$b.bash" "$root/usr/share/bash-completion/completions/$b"
  install -m 0644 "$stage/docs/completions/_$b" "$root/usr/share/zsh/vendor-completions/_$b"
  install -m 0644 "$stage/docs/completions/$b.fish" "$root/usr/share/fish/vendor_completions.d/$b.fish"
done
install -m 0644 packaging/systemd/cr-recorder.service packaging/systemd/cr-uploader.service "$root/lib/systemd/system/"
install -m 0640 packaging/callrec.toml "$root/etc/callrec/callrec.toml"
install -m 0644 README.md docs/*.md "$root/usr/share/doc/callrec/"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo "/etc/callrec/callrec.toml" > "$root/DEBIAN/conffiles"

# Shared-library dependencies, as Debian's own tools compute them.
mkdir -p "$stage/debian"
printf 'Source: callrec\n\nPackage: callrec\nArchitecture: any\n' > "$stage/debian/control"
depends=$(cd "$stage" && dpkg-shlibdeps -O $(for b in "${bins[@]}"; do printf -- '-e%s ' "root/usr/bin/$b"; done) 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: callrec
Version: $version
Architecture: $arch
Maintainer: callrec developers <callrec@example.invalid>
Installed-Size: $size
Depends: $depends, passwd, util-linux
Recommends: systemd
Section: net
Priority: optional
Homepage: https://example.invalid/callrec
Description: call recorder that seals every recording
 callrec decides which calls are recorded, captures both parties over SIPREC,
 seals every recording so that stock shasum and openssl prove it untouched,
 and delivers it to SMB shares, SFTP servers, OneDrive and folders.
 .
 Binaries: cr-recorder, cr-uploader, cr-verify, crctl; systemd units for the
 recorder and the uploader; man pages and shell completions.
CONTROL
chown -R 0:0 "$root" 2> /dev/null || true
mkdir -p "$out"
deb="$out/callrec_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" > /dev/null
echo "$deb"
