//! Fills an installation for the console benchmark (`bench/console.sh`): a keystore, a
//! SQLite journal with `--sets` recordings spread over a year (random party numbers, five
//! configurations, every tenth set still pending delivery), and as the last set of the
//! chain a real set sealed from `--wav` (the benchmark gives a 1-hour stereo WAV) in the
//! spool, so that its page has something to verify.
//!
//! The synthetic rows are written straight into the journal's tables in one transaction
//! (sealing a million sets one by one would take hours); only the last set goes through
//! the sealing path the recorder uses. Prints one line per fact the benchmark needs:
//! `number NUMBER` (party numbers that exist), `set ID`, `day YYYY-MM-DD`.
//!
//! With CDR_FILE (the reconciliation benchmark, `bench/reconcile.sh`), it also writes the
//! PBX's call records of the synthetic calls as a CSV file with the header
//! `id,caller,callee,answer,billsec` (answer in RFC 3339 UTC): every call's id for odd
//! calls, none for even ones (matched by parties), and every 500th call connected 60 s
//! longer than its set (SHORT).
//!
//!   fill_journal DATA_DIR SETS WAV OPERATOR PASSWORD [CDR_FILE]   (keystore password in BENCH_PW)
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, TimeZone, Utc};
use cr_journal::{Direction, FileEntry, Journal, NewCall, NewRecording, OpenOptions, Role, normalize_number, number_parts};

const CONFIGURATIONS: [&str; 5] = ["trading", "sales", "treasury", "support", "board"];

/// xorshift64*: a fixed sequence, so two runs fill the same journal.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + (self.next() % 10) as u8)).collect()
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (fixed, cdr) = match args.len() {
        5 => (&args[..], None),
        6 => (&args[..5], Some(PathBuf::from(&args[5]))),
        _ => bail!("usage: fill_journal DATA_DIR SETS WAV OPERATOR PASSWORD [CDR_FILE] (keystore password in BENCH_PW)"),
    };
    let [data, sets, wav, operator, password] = fixed else {
        bail!("usage: fill_journal DATA_DIR SETS WAV OPERATOR PASSWORD [CDR_FILE]");
    };
    let data = PathBuf::from(data);
    let sets: u64 = sets.parse().context("SETS is not a number")?;
    let keystore_pw = std::env::var("BENCH_PW").context("BENCH_PW is not set")?;
    std::fs::create_dir_all(&data)?;
    let now = Utc::now();
    let identity = cr_sign::Identity::generate("bench", now)?;
    identity.save_keystore(&data.join("keystore.p12"), &keystore_pw, cr_sign::Cipher::Aes256)?;
    std::fs::write(data.join("cert.pem"), identity.certificate().pem())?;
    let db = data.join("journal.sqlite");
    let journal = Journal::open_sqlite(&db, &OpenOptions::new())?;
    journal.add_operator(operator, Role::Admin, password, None, now)?;
    drop(journal);

    let t = Instant::now();
    let year = Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).single().context("start")?;
    let step_ms = 365 * 86_400_000 / sets.max(1);
    let fingerprint = identity.certificate().fingerprint_sha256();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut shown = Vec::new();
    let mut cdr = cdr
        .map(|p| -> anyhow::Result<_> {
            let mut w = std::io::BufWriter::new(std::fs::File::create(&p).with_context(|| format!("{}", p.display()))?);
            writeln!(w, "id,caller,callee,answer,billsec")?;
            Ok(w)
        })
        .transpose()?;
    let last_sha = fill(&db, sets.saturating_sub(1), year, step_ms, &fingerprint, &mut rng, &mut shown, cdr.as_mut())?;
    if let Some(mut w) = cdr {
        w.flush()?;
    }
    eprintln!("fill_journal: {} synthetic sets in {:.1} s (chain head {last_sha:.12}…)", sets.saturating_sub(1), t.elapsed().as_secs_f64());
    for n in &shown {
        println!("number {n}");
    }
    println!("day {}", (year + Duration::days(180)).format("%Y-%m-%d"));

    let journal = Journal::open_sqlite(&db, &OpenOptions::new())?;
    let start = year + Duration::days(364);
    let id = format!("{}-bench", start.format("%Y%m%dT%H%M%S000Z"));
    seal_wav(&journal, &identity, &data.join("spool"), &id, start, Path::new(wav), &fingerprint)?;
    println!("set {id}");
    Ok(())
}

/// Writes `n` synthetic calls and sets into the journal at `db` in one transaction; returns
/// the chain head's hash. Every 50,000th caller number goes to `shown`; each call's record
/// goes to `cdr` (see the file's documentation).
#[allow(clippy::too_many_arguments)]
fn fill(
    db: &Path,
    n: u64,
    year: DateTime<Utc>,
    step_ms: u64,
    fingerprint: &str,
    rng: &mut Rng,
    shown: &mut Vec<String>,
    mut cdr: Option<&mut impl Write>,
) -> anyhow::Result<String> {
    let mut c = rusqlite::Connection::open(db)?;
    c.pragma_update(None, "synchronous", "OFF")?;
    let tx = c.transaction()?;
    let mut prev = "0".repeat(64);
    {
        let mut call = tx.prepare(
            "INSERT INTO calls (pbx_call_id, direction, caller, callee, caller_digits, callee_digits, started_at, ended_at, record, configuration, reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, 'benchmark')",
        )?;
        let mut part = tx.prepare("INSERT OR IGNORE INTO call_number_parts (part, call_id) VALUES (?1, ?2)")?;
        let mut chain = tx.prepare("INSERT INTO chain (seq, set_id, prev_sha256, sha256, committed_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let mut rec = tx.prepare(
            "INSERT INTO recordings (set_id, call_id, configuration, started_at, ended_at, channels, cert_fingerprint, flags, chain_seq, location, sealed_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'stereo', ?6, ?7, ?8, NULL, ?5, ?9)",
        )?;
        let mut file = tx.prepare("INSERT INTO recording_files (set_id, name, size, sha256) VALUES (?1, ?2, ?3, ?4)")?;
        let mut upload = tx.prepare(
            "INSERT INTO uploads (set_id, target, state, attempts, remote_path, queued_at, done_at, remote_dir) VALUES (?1, 'archive', ?2, 1, ?3, ?4, ?5, ?3)",
        )?;
        for i in 0..n {
            let start_ms = year.timestamp_millis() + i64::try_from(i * step_ms)? + i64::try_from(rng.next() % step_ms.max(1))?;
            let secs = 20 + i64::try_from(rng.next() % 600)?;
            let end_ms = start_ms + secs * 1000;
            let caller = format!("+4930{}", rng.digits(7));
            let callee = format!("3{}", rng.digits(2));
            if i % 50_000 == 0 {
                shown.push(caller.clone());
            }
            let configuration = CONFIGURATIONS[usize::try_from(rng.next() % 5)?];
            let direction = if i % 3 == 0 { Direction::Outgoing } else { Direction::Incoming };
            call.execute(rusqlite::params![
                format!("pbx-{i}"),
                direction.as_str(),
                caller,
                callee,
                normalize_number(&caller),
                normalize_number(&callee),
                start_ms,
                end_ms,
                configuration
            ])?;
            let call_id = tx.last_insert_rowid();
            // What the journal writes with every call for the search by any part of a number.
            let (caller_digits, callee_digits) = (normalize_number(&caller), normalize_number(&callee));
            for p in number_parts(&caller_digits).chain(number_parts(&callee_digits)) {
                part.execute(rusqlite::params![p, call_id])?;
            }
            if let Some(w) = cdr.as_mut() {
                let id = if i % 2 == 1 { format!("pbx-{i}") } else { String::new() };
                let billsec = if i % 500 == 0 { secs + 60 } else { secs };
                let answer = DateTime::from_timestamp_millis(start_ms).context("time")?.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                writeln!(w, "{id},{caller},{callee},{answer},{billsec}")?;
            }
            let set_id = format!("{}-{:08x}", DateTime::from_timestamp_millis(start_ms).context("time")?.format("%Y%m%dT%H%M%S%3fZ"), i);
            let sha = format!("{:016x}{:016x}{:016x}{:016x}", rng.next(), rng.next(), rng.next(), rng.next());
            let seq = i64::try_from(i + 1)?;
            chain.execute(rusqlite::params![seq, set_id, prev, sha, end_ms])?;
            let flags = if i % 97 == 0 { r#"["recovered"]"# } else { "[]" };
            rec.execute(rusqlite::params![set_id, call_id, configuration, start_ms, end_ms, fingerprint, flags, seq, end_ms + 10 * 365 * 86_400_000])?;
            for ext in ["wav", "json"] {
                file.execute(rusqlite::params![set_id, format!("{set_id}.{ext}"), secs * 32_000, sha])?;
            }
            let pending = i % 10 == 0;
            upload.execute(rusqlite::params![
                set_id,
                if pending { "pending" } else { "done" },
                (!pending).then(|| format!("/archive/{configuration}")),
                end_ms,
                (!pending).then_some(end_ms + 5_000)
            ])?;
            prev = sha;
        }
    }
    tx.commit()?;
    Ok(prev)
}

/// Seals `wav` as set `id` into the spool and the chain, through the path the recorder uses.
fn seal_wav(j: &Journal, identity: &cr_sign::Identity, spool: &Path, id: &str, start: DateTime<Utc>, wav: &Path, fingerprint: &str) -> anyhow::Result<()> {
    let info = cr_audio::read_info(wav)?;
    let end = start + Duration::from_std(info.duration())?;
    let call = j.record_call(&NewCall {
        pbx_call_id: "bench-hour".into(),
        direction: Direction::Incoming,
        caller: "+4930555000111".into(),
        callee: "300".into(),
        diversions: vec![],
        started_at: start,
        record: true,
        configuration: Some("trading".into()),
        reason: "incoming call to group trading (300)".into(),
    })?;
    j.end_call(call, end)?;
    let dir = spool.join(id);
    std::fs::create_dir_all(&dir)?;
    let copy = dir.join(format!("{id}.wav"));
    std::fs::copy(wav, &copy)?;
    let mut hashed = cr_sign::HashedFiles::new(id)?;
    hashed.add(std::slice::from_ref(&copy))?;
    let meta = dir.join(format!("{id}.json"));
    let channels = if info.channels == 2 { "stereo" } else { "mono" };
    cr_sign::seal_into_chain(
        j,
        identity,
        hashed,
        id,
        end,
        &meta,
        |link| serde_json::to_vec(&serde_json::json!({"id": id, "chain": {"seq": link.seq, "prev_sha256": link.prev_sha256}})).unwrap_or_default(),
        |res, sealed| {
            res.commit(
                &sealed.checksum_sha256,
                &NewRecording {
                    set_id: id.into(),
                    call,
                    configuration: "trading".into(),
                    started_at: start,
                    ended_at: end,
                    channels: channels.into(),
                    files: sealed.files.iter().map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() }).collect(),
                    cert_fingerprint: fingerprint.to_owned(),
                    flags: vec![],
                    location: dir.display().to_string(),
                    targets: vec![],
                    expires_at: None,
                },
            )
        },
    )?;
    Ok(())
}
