#!/usr/bin/env bash
# Smoke run of every fuzz target: builds each fuzz crate (crates/*/fuzz, cargo-fuzz with
# AddressSanitizer, on the stable toolchain through RUSTC_BOOTSTRAP=1) and runs each target
# for SECONDS (default 60), two at a time, from its seeds (fuzz/seeds/TARGET, committed) and
# its corpus (fuzz/corpus/TARGET, kept out of git, grows from run to run).
#
#   scripts/fuzz-smoke.sh [SECONDS]
#
# Exit 0: no target crashed. 1: a target crashed, leaked, timed out or ran out of memory
# (the input is in crates/CRATE/fuzz/artifacts/TARGET/; reproduce with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET ARTIFACT` from crates/CRATE). 2: could not run
# (no cargo-fuzz and none could be installed, or a fuzz crate does not build).
#
# Environment: FUZZ_SANITIZER (default `address`; `none` where ASan cannot link),
# FUZZ_PARALLEL (default 2: targets run at once; the CI machine has 2 cores),
# FUZZ_TARGET_DIR (default target/fuzz: one build directory for every fuzz crate, so the
# crates they share are built once).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
  '' | *[!0-9]*) echo "fuzz-smoke: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;;
esac
sanitizer="${FUZZ_SANITIZER:-address}"
parallel="${FUZZ_PARALLEL:-2}"
fuzz_target_dir="${FUZZ_TARGET_DIR:-$PWD/target/fuzz}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: cargo-fuzz is missing; installing it (cargo install cargo-fuzz --locked)"
  if ! cargo install cargo-fuzz --locked || ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz could not be installed; cannot run" >&2
    exit 2
  fi
fi

logs="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX")"
targets=()
for dir in crates/*/fuzz; do
  crate="${dir%/fuzz}"
  echo "fuzz-smoke: building $dir (sanitizer $sanitizer)"
  if ! (cd "$crate" && cargo fuzz build --sanitizer "$sanitizer" --target-dir "$fuzz_target_dir"); then
    echo "fuzz-smoke: $dir does not build; cannot run" >&2
    exit 2
  fi
  while read -r t; do
    [ -n "$t" ] && targets+=("$crate $t")
  done < <(cd "$crate" && cargo fuzz list)
done

# Runs one target; its log goes to $logs/TARGET.log, its exit status to $logs/TARGET.rc.
run_one() {
  local crate="$1" t="$2" seeds=()
  # Targets that write files (wav_reader: leg recovery fsyncs) run at CPU speed on tmpfs.
  [ -w /dev/shm ] && export TMPDIR=/dev/shm
  mkdir -p "$crate/fuzz/corpus/$t"
  [ -d "$crate/fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
  # bash's `time` reports the CPU time of the waited-for children: cargo and the fuzzer.
  local TIMEFORMAT='fuzz-smoke-cpu: %U %S'
  { time (cd "$crate" && cargo fuzz run --sanitizer "$sanitizer" --target-dir "$fuzz_target_dir" "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$logs/$t.log" 2>&1); } 2>"$logs/$t.cpu"
  echo $? >"$logs/$t.rc"
}

echo "fuzz-smoke: running ${#targets[@]} targets for $seconds s each, $parallel at a time"
running=0
for entry in "${targets[@]}"; do
  read -r crate t <<<"$entry"
  if [ "$running" -ge "$parallel" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$crate" "$t" &
  running=$((running + 1))
done
wait

crashed=0
for entry in "${targets[@]}"; do
  read -r crate t <<<"$entry"
  rc="$(cat "$logs/$t.rc" 2>/dev/null || echo missing)"
  runs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t.log" | tail -1 | grep -o '[0-9]*$')"
  corpus="$(find "$crate/fuzz/corpus/$t" -type f | wc -l)"
  cpu="$(awk '/^fuzz-smoke-cpu:/ {printf "%.1f", $2 + $3}' "$logs/$t.cpu" 2>/dev/null)"
  if [ "$rc" = 0 ]; then
    echo "fuzz-smoke: $t ok: ${runs:-?} executions in ${cpu:-?} CPU-seconds, corpus $corpus inputs"
  else
    crashed=$((crashed + 1))
    echo "fuzz-smoke: $t FAILED (exit $rc); the end of its log ($logs/$t.log):" >&2
    tail -n 40 "$logs/$t.log" >&2
  fi
done
if [ "$crashed" -gt 0 ]; then
  echo "fuzz-smoke: $crashed of ${#targets[@]} targets failed" >&2
  exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran $seconds s without a crash"
