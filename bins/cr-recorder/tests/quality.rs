//! Quality at sealing, end to end: SIPREC calls from cr-pbx's load generator with packets
//! left unsent on purpose (5 % loss, a 3 s gap), a callee that sends only silence, and a
//! clean call; leg WAVs through the ingest API with a run of zeros and a silent side (made
//! by sox). Each set's signed metadata and journal rows must carry the right figures and
//! reasons, judged against what the generator reports it sent and against Python's own
//! count of the sealed audio, never against numbers of the code under test.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use cr_pbx::driver::{CallResult, Impairment, LoadSpec};
use serde_json::Value;
use support::*;

/// Python's count of one channel of a 16-bit WAV: samples, zeros, the longest run of zeros
/// with audio on both sides, and how many such runs last 150 samples or more.
const JUDGE: &str = r#"
import array, json, sys, wave
w = wave.open(sys.argv[1])
assert w.getsampwidth() == 2
a = array.array('h', w.readframes(w.getnframes()))
if sys.byteorder == 'big':
    a.byteswap()
s = a[int(sys.argv[2])::w.getnchannels()]
runs, run, heard = [], 0, False
for v in s:
    if v == 0:
        run += 1
    else:
        if heard and run:
            runs.append(run)
        heard, run = True, 0
zeros = sum(1 for v in s if v == 0)
print(json.dumps({"samples": len(s), "zeros": zeros, "longest": max(runs, default=0), "runs150": sum(1 for r in runs if r >= 150)}))
"#;

fn judge(wav: &Path, channel: u32) -> Value {
    let out = run(Command::new("python3").arg("-c").arg(JUDGE).arg(wav).arg(channel.to_string()));
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// One SIPREC call of `secs` seconds from caller `prefix`0 to 70, in the background.
fn call(inst: &Install, prefix: &str, secs: u64, impairment: Impairment, silent_callee: bool) -> std::thread::JoinHandle<CallResult> {
    let target = format!("127.0.0.1:{}", inst.sip_port).parse().unwrap();
    let mut spec = LoadSpec::new(target, 1, Duration::from_secs(secs));
    spec.callee_prefix = "7".into();
    spec.caller_prefix = prefix.into();
    spec.caller_impairment = impairment;
    if silent_callee {
        spec.callee_source = cr_pbx::PcmSource::Samples(Arc::new(vec![0; 160]));
    }
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(cr_pbx::driver::run_calls(spec)).unwrap().remove(0)
    })
}

/// The metadata of every sealed set in the spool, by caller, each set verified.
fn sealed_sets(inst: &Install) -> BTreeMap<String, (Value, std::path::PathBuf)> {
    let cert = inst.cert();
    let mut by_caller = BTreeMap::new();
    for sums in sets_below(&inst.path("data/spool")) {
        let report = cr_sign::verify_set(&sums, &cert);
        assert!(report.is_ok(), "{:?}", report.problems);
        let meta: Value = serde_json::from_slice(&std::fs::read(sums.with_file_name(format!("{}.json", report.id))).unwrap()).unwrap();
        let wav = sums.with_file_name(format!("{}.wav", report.id));
        by_caller.insert(meta["caller"].as_str().unwrap().to_owned(), (meta, wav));
    }
    by_caller
}

fn leg<'a>(meta: &'a Value, side: &str) -> &'a Value {
    meta["quality"]["legs"].as_array().unwrap().iter().find(|l| l["side"] == side).unwrap_or_else(|| panic!("no {side} leg: {meta}"))
}

fn reasons(meta: &Value) -> Vec<&str> {
    meta["quality"]["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect()
}

fn u(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The recorder's counts of the caller leg against what the generator says it sent.
fn assert_counts_match_the_generator(meta: &Value, sent: &CallResult) {
    let caller = leg(meta, "caller");
    let (sent, skipped) = (sent.packets_sent[0] as i64, sent.packets_skipped[0] as i64);
    assert!((u(&caller["packets_expected"]) - (sent + skipped)).abs() <= 1, "expected {caller} vs {sent}+{skipped}");
    assert!((u(&caller["packets_received"]) - sent).abs() <= 1, "received {caller} vs {sent}");
    assert!((u(&caller["packets_lost"]) - skipped).abs() <= 1, "lost {caller} vs {skipped}");
    let want = skipped as f64 * 100.0 / (sent + skipped) as f64;
    let got = caller["loss_percent"].as_f64().unwrap();
    assert!((got - want).abs() <= 100.0 / (sent + skipped) as f64 + 0.01, "loss {got} vs {want}");
}

#[test]
fn siprec_calls_with_loss_a_gap_and_a_silent_side_are_flagged_with_their_figures() {
    if !have("python3") {
        return;
    }
    let inst = Install::new(&desk_config(&["70"]), true);
    let rec = inst.start();
    let lossy = call(&inst, "+4930111", 10, Impairment { drop_every: 20, gap: None }, false);
    let silent = call(&inst, "+4930222", 6, Impairment::default(), true);
    let gap = call(&inst, "+4930333", 10, Impairment { drop_every: 0, gap: Some((150, 150)) }, false);
    let clean = call(&inst, "+4930444", 6, Impairment::default(), false);
    let [lossy, silent, gap, clean] = [lossy, silent, gap, clean].map(|h| h.join().unwrap());
    for r in [&lossy, &silent, &gap, &clean] {
        assert!(r.answered && r.ended_cleanly, "{r:?}");
    }
    assert_eq!((lossy.packets_skipped[0], gap.packets_skipped[0]), (25, 150), "the generator's own count");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let metrics = loop {
        let (_, m) = rec.http("GET", "/metrics", "");
        if m.contains("callrec_recorded_total 4\n") {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "sets not sealed: {m}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for (reason, n) in [("loss", 2), ("gap", 1), ("silence", 1), ("one_sided", 1)] {
        let line = format!("callrec_quality_flagged_total{{reason=\"{reason}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line}{metrics}");
    }
    assert!(metrics.contains("callrec_sets_flagged_total{flag=\"quality\"} 3\n"), "{metrics}");
    rec.stop();
    let sets = sealed_sets(&inst);
    assert_eq!(sets.len(), 4, "{:?}", sets.keys());

    // (a) every 20th packet of the caller unsent: 5 % loss, gaps of one packet.
    let (meta, wav) = &sets["+49301110"];
    assert_eq!(reasons(meta), ["loss"], "{meta}");
    assert!(meta["flags"].as_array().unwrap().contains(&"quality".into()), "{meta}");
    assert_counts_match_the_generator(meta, &lossy);
    let caller = leg(meta, "caller");
    assert!((20..=40).contains(&u(&caller["longest_gap_ms"])), "{caller}");
    let py = judge(wav, 0);
    assert!((u(&py["runs150"]) - 25).abs() <= 1, "Python finds a hole per unsent packet: {py}");
    assert_eq!(caller["source"], "rtp");

    // (b) the callee sends only digital silence: one-sided.
    let (meta, wav) = &sets["+49302220"];
    assert_eq!(reasons(meta), ["silence", "one_sided"], "{meta}");
    assert_eq!(meta["quality"]["one_sided"], true);
    let callee = leg(meta, "callee");
    assert_eq!((callee["silent_throughout"].clone(), callee["silence_percent"].as_f64()), (Value::Bool(true), Some(100.0)), "{callee}");
    assert_eq!(leg(meta, "caller")["silent_throughout"], false);
    let (py_callee, py_caller) = (judge(wav, 1), judge(wav, 0));
    assert_eq!(py_callee["zeros"], py_callee["samples"], "Python: the callee channel is all zeros: {py_callee}");
    assert!(u(&py_caller["zeros"]) < u(&py_caller["samples"]) / 2, "{py_caller}");

    // (c) 150 packets in a row unsent: a 3 s gap.
    let (meta, wav) = &sets["+49303330"];
    assert_eq!(reasons(meta), ["loss", "gap"], "{meta}");
    assert_counts_match_the_generator(meta, &gap);
    let ms = u(&leg(meta, "caller")["longest_gap_ms"]);
    assert!((2980..=3020).contains(&ms), "{ms} ms");
    let py = judge(wav, 0);
    assert!((u(&py["longest"]) - 24_000).abs() <= 160, "Python's longest hole in samples: {py}");

    // (d) a clean call: figures, no flag.
    let (meta, _) = &sets["+49304440"];
    assert!(reasons(meta).is_empty(), "{meta}");
    assert!(!meta["flags"].as_array().unwrap().contains(&"quality".into()), "{meta}");
    assert_counts_match_the_generator(meta, &clean);
    assert_eq!(u(&leg(meta, "callee")["packets_lost"]), 0);

    // The journal holds the same figures; `--flag quality` finds the three flagged sets.
    let journal = cr_journal::Journal::open_sqlite(&inst.path("data/journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap();
    for (meta, _) in sets.values() {
        let id = meta["id"].as_str().unwrap();
        let q = journal.quality_of(id).unwrap().unwrap();
        assert_eq!(serde_json::to_value(&q.legs).unwrap(), meta["quality"]["legs"], "{id}");
        assert_eq!(serde_json::to_value(&q.reasons).unwrap(), meta["quality"]["reasons"], "{id}");
    }
    let mut q = cr_journal::SearchQuery::default();
    q.flag = Some(cr_journal::SearchFlag::Quality);
    let mut found: Vec<String> = journal.search(&q).unwrap().into_iter().map(|h| h.caller).collect();
    found.sort();
    assert_eq!(found, ["+49301110", "+49302220", "+49303330"]);
    let log = std::fs::read_dir(inst.path("")).unwrap().filter_map(|e| e.ok()).find(|e| e.file_name().to_string_lossy().starts_with("recorder-"));
    let log = std::fs::read_to_string(log.unwrap().path()).unwrap();
    assert!(log.contains("set flagged quality") && log.contains("longest gap"), "{log}");
}

#[test]
fn ingested_legs_with_a_run_of_zeros_and_a_silent_side_are_flagged_with_their_figures() {
    if !(have("sox") && have("python3")) {
        return;
    }
    let inst = Install::new(&format!("{}\n[quality]\nmax_gap_ms = 2000\n", desk_config(&["300"])), false);
    let p = |n: &str| inst.path(&format!("pbx/{n}"));
    // Caller: 2 s of 440 Hz, 2.5 s of digital zero, 2 s of 440 Hz; callee: 6.5 s of zero.
    let fmt = ["-r", "8000", "-c", "1", "-b", "16"];
    run(Command::new("sox").arg("-D").args(["-n"]).args(fmt).arg(p("tone.wav")).args(["synth", "2", "sine", "440", "vol", "0.5"]));
    run(Command::new("sox").arg("-D").args(["-n"]).args(fmt).arg(p("zero.wav")).args(["trim", "0", "2.5"]));
    run(Command::new("sox").arg("-D").arg(p("tone.wav")).arg(p("zero.wav")).arg(p("tone.wav")).arg(p("caller.wav")));
    run(Command::new("sox").arg("-D").args(["-n"]).args(fmt).arg(p("callee.wav")).args(["trim", "0", "6.5"]));
    let rec = inst.start();
    let (status, body) = ingest_json(
        &rec,
        serde_json::json!({
            "direction": "incoming", "caller": "+4930999888", "callee": "300",
            "legs": {"caller": p("caller.wav"), "callee": p("callee.wav")},
            "started_at": recent(), "call_id": "pbx-quality-1",
        }),
    );
    assert_eq!(status, 201, "{body}");
    let (_, metrics) = rec.http("GET", "/metrics", "");
    for (reason, n) in [("loss", 0), ("gap", 1), ("silence", 1), ("one_sided", 1)] {
        let line = format!("callrec_quality_flagged_total{{reason=\"{reason}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line}{metrics}");
    }
    rec.stop();
    let sets = sealed_sets(&inst);
    let (meta, wav) = &sets["+4930999888"];
    assert_eq!(reasons(meta), ["gap", "silence", "one_sided"], "{meta}");
    let (caller, callee) = (leg(meta, "caller"), leg(meta, "callee"));
    assert_eq!((caller["source"].as_str(), callee["source"].as_str()), (Some("audio"), Some("audio")));
    // Python's count of the sealed set's caller channel, and the 2.5 s sox was told to make.
    let py = judge(wav, 0);
    assert!((u(&py["longest"]) - 20_000).abs() <= 2, "{py}");
    assert_eq!(u(&caller["longest_gap_ms"]), u(&py["longest"]) * 1000 / 8000, "{caller} vs {py}");
    assert_eq!(u(&caller["silent_samples"]), u(&py["zeros"]), "{caller} vs {py}");
    assert_eq!(u(&caller["samples"]), u(&py["samples"]));
    let want = u(&py["zeros"]) as f64 * 100.0 / u(&py["samples"]) as f64;
    assert!((caller["silence_percent"].as_f64().unwrap() - want).abs() < 0.006, "{caller} vs {want}");
    assert_eq!((u(&caller["packets_expected"]), u(&caller["packets_lost"])), ((u(&py["samples"]) + 159) / 160, 0));
    let py = judge(wav, 1);
    assert_eq!(py["zeros"], py["samples"], "{py}");
    assert_eq!((callee["silent_throughout"].as_bool(), callee["silence_percent"].as_f64()), (Some(true), Some(100.0)));
}
