#!/usr/bin/env bash
# Runs every test of the workspace, as CI does. Tests that need a real server (Samba,
# OpenSSH, SMTP, sipp) start it themselves on a free loopback port; with
# CALLREC_TEST_STRICT=1 (set here) a missing server binary fails such a test instead of
# skipping it. Run as root, it first installs what the tests need (scripts/install-deps.sh);
# otherwise it says which command to run and exits 2 when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/install-deps.sh --check; then
  if [ "$(id -u)" = 0 ]; then
    bash scripts/install-deps.sh
  else
    echo "test.sh: the tests need the packages above; install them first: sudo scripts/install-deps.sh" >&2
    exit 2
  fi
fi
export CALLREC_TEST_STRICT="${CALLREC_TEST_STRICT:-1}"
cargo test --workspace --all-targets --locked --no-fail-fast "$@"
cargo test --workspace --doc --locked
