#!/usr/bin/env bash
# Runs every test of the workspace, as CI does. Tests that need a real server (Samba,
# OpenSSH, SMTP, sipp) start it themselves on a free loopback port; with
# CALLREC_TEST_STRICT=1 (set here) a missing server binary fails such a test instead of
# skipping it. Install the servers first with scripts/install-deps.sh (root).
set -euo pipefail
cd "$(dirname "$0")/.."
export CALLREC_TEST_STRICT="${CALLREC_TEST_STRICT:-1}"
cargo test --workspace --all-targets --locked --no-fail-fast "$@"
cargo test --workspace --doc --locked
