#!/usr/bin/env bash
# Per-packet cost of two recorder builds under the same load (issue 12's "no more CPU per
# packet than before"):
#   bench/recorder-cpu.sh BEFORE AFTER
# BEFORE and AFTER are directories holding a release cr-recorder and crctl, e.g. the
# target/release of a worktree of the older commit:
#   git worktree add ../before COMMIT && (cd ../before && cargo build --release -p cr-recorder -p crctl)
# Both are driven by this checkout's cr-loadgen through bench/recorder-load.sh, with the
# same configuration. Two figures, and the ratio after/before of each:
#  1. instructions per received RTP packet under valgrind --tool=callgrind, counted over the
#     steady-state window (CG_CALLS calls, CG_DURATION), and per packet written over the
#     whole run: user-space instructions, so the figures do not depend on what else the
#     machine is doing (the kernel's share of receiving a datagram is not in them);
#  2. CPU-seconds per 1,000 packets written of bench/recorder-load.sh LOAD_CALLS LOAD_DURATION
#     (the recorder's CPU over the whole run and over the steady state), and the packets lost.
# Runs alternate before/after ROUNDS times, so that drift of the machine's load hits both.
# Environment: CG_CALLS (40), CG_DURATION (20s), LOAD_CALLS (2000), LOAD_DURATION (40s),
# ROUNDS (2); SKIP_CALLGRIND=1 or SKIP_LOAD=1 leave a part out; OUT=DIR keeps the runs' logs
# and callgrind files there (callgrind_annotate DIR/callgrind-after-1.out.2 shows where the
# window's instructions go).
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?usage: bench/recorder-cpu.sh BEFORE_DIR AFTER_DIR}; after=${2:?usage: bench/recorder-cpu.sh BEFORE_DIR AFTER_DIR}
for d in "$before" "$after"; do
  for b in cr-recorder crctl; do
    [ -x "$d/$b" ] || { echo "bench/recorder-cpu.sh: $d/$b is not an executable" >&2; exit 2; }
  done
done
before=$(cd "$before" && pwd); after=$(cd "$after" && pwd)
rounds=${ROUNDS:-2}
if [ -n "${OUT:-}" ]; then out=$OUT; mkdir -p "$out"; else
  out=$(mktemp -d /tmp/callrec-cpu.XXXXXX); trap 'rm -rf "$out"' EXIT; fi
results="$out/results"; : > "$results"
# run LABEL KIND [ENV...] -- ARGS: one bench/recorder-load.sh run, its result line kept.
run() {
  local label=$1 kind=$2 dir; shift 2
  [ "$label" = before ] && dir=$before || dir=$after
  echo "== $kind $label ($dir): bench/recorder-load.sh $*" >&2
  local log="$out/$kind-$label-$(wc -l < "$results").log"
  env BIN="$dir" "${extra[@]}" bench/recorder-load.sh "$@" > "$log" 2>&1 || { cat "$log" >&2; echo "bench/recorder-cpu.sh: the $label run failed" >&2; exit 2; }
  grep -v '^result ' "$log" | sed 's/^/   /' >&2
  echo "$kind $label $(grep '^result ' "$log" | cut -d' ' -f2-)" >> "$results"
}
if [ -z "${SKIP_CALLGRIND:-}" ]; then
  command -v valgrind > /dev/null || { echo "bench/recorder-cpu.sh: valgrind is not installed (SKIP_CALLGRIND=1 to leave it out)" >&2; exit 2; }
  for r in $(seq "$rounds"); do
    for label in before after; do
      extra=(CALLGRIND="$out/callgrind-$label-$r.out")
      run "$label" callgrind "${CG_CALLS:-40}" "${CG_DURATION:-20s}"
    done
  done
fi
if [ -z "${SKIP_LOAD:-}" ]; then
  extra=()
  for r in $(seq "$rounds"); do
    for label in before after; do run "$label" load "${LOAD_CALLS:-2000}" "${LOAD_DURATION:-40s}"; done
  done
fi
python3 - "$results" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    kind, label, *kv = line.split()
    f = dict(x.split("=", 1) for x in kv)
    rows.append((kind, label, f))
def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")
def show(kind, title, fig):
    per = {l: [fig(f) for k, ll, f in rows if k == kind and ll == l] for l in ("before", "after")}
    if not per["before"]:
        return
    b, a = mean(per["before"]), mean(per["after"])
    num = lambda x: f"{x:.0f}" if x >= 100 else f"{x:.4f}"
    runs = lambda l: ", ".join(num(x) for x in per[l])
    print(f"{title}: before {num(b)} ({runs('before')}), after {num(a)} ({runs('after')}); after/before {a / b:.3f}")
for kind, label, f in rows:
    print(f"{kind:9} {label:6} calls {f['calls']} x {f['duration']} ({f['failed']} not set up): sent {f['sent']}, written {f['written']}, lost {f['lost']}; "
          f"recorder CPU {int(f['cpu_jiffies']) / 100:.2f} s; steady state {f['steady_packets']} packets in {int(f['steady_jiffies']) / 100:.2f} s"
          + (f", {int(f['instructions']) / int(f['steady_packets']):.0f} instructions/packet" if kind == "callgrind" else ""))
show("callgrind", "instructions per received packet (callgrind, steady state)",
     lambda f: int(f["instructions"]) / int(f["steady_packets"]))
show("callgrind", "instructions per packet written (callgrind, whole run: start-up, set-up, sealing)",
     lambda f: int(f["run_instructions"]) / int(f["written"]))
show("load", "recorder CPU-s per 1,000 packets written (whole run)",
     lambda f: int(f["cpu_jiffies"]) / 100 / int(f["written"]) * 1000)
show("load", "recorder CPU-s per 1,000 packets received (steady state)",
     lambda f: int(f["steady_jiffies"]) / 100 / int(f["steady_packets"]) * 1000)
lost = {l: sum(int(f["lost"]) for k, ll, f in rows if ll == l) for l in ("before", "after")}
failed = {l: sum(int(f["failed"]) for k, ll, f in rows if ll == l) for l in ("before", "after")}
print(f"packets lost over all runs: before {lost['before']}, after {lost['after']}; "
      f"calls not set up: before {failed['before']}, after {failed['after']}")
PY
