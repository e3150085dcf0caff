//! How many sets per second the journal records (call, end of call, sealing transaction),
//! compared with the stock `sqlite3` shell doing the same durable transactions on the same
//! file system with the same settings (WAL, synchronous = FULL) in the same run.
//!
//! ```sh
//! cargo run -p cr-journal --example seal_rate -- 300 [DIR]
//! ```
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use cr_journal::{Direction, FileEntry, Journal, NewCall, NewRecording, OpenOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args().nth(1).map_or(Ok(300), |s| s.parse())?;
    let tmp = match std::env::args().nth(2) {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 26, 9, 0, 0)
        .single()
        .ok_or("bad date")?;

    let journal = Journal::open_sqlite(&tmp.path().join("journal.sqlite"), &OpenOptions::new())?;
    let start = Instant::now();
    for i in 0..n {
        let at = t0 + Duration::seconds(i64::try_from(i)?);
        let call = journal.record_call(&NewCall {
            pbx_call_id: format!("call-{i}"),
            direction: Direction::Incoming,
            caller: "+4930999888".into(),
            callee: "300".into(),
            diversions: vec![],
            started_at: at,
            record: true,
            configuration: Some("desk".into()),
            reason: "incoming call to group trading (300)".into(),
        })?;
        journal.end_call(call, at)?;
        let set_id = format!("set-{i:06}");
        let res = journal.reserve_link(&set_id, at)?;
        let sha = format!("{:064x}", res.link().seq);
        res.commit(
            &sha,
            &NewRecording {
                set_id: set_id.clone(),
                call,
                configuration: "desk".into(),
                started_at: at,
                ended_at: at,
                channels: "stereo".into(),
                files: vec![FileEntry {
                    name: format!("{set_id}.wav"),
                    size: 44,
                    sha256: sha.clone(),
                }],
                cert_fingerprint: sha.clone(),
                flags: vec![],
                location: format!("spool/{set_id}"),
                targets: vec!["nas".into()],
                expires_at: None,
            },
        )?;
    }
    let ours = start.elapsed().as_secs_f64();
    let ours_rate = n as f64 / ours;
    println!(
        "cr-journal: {n} sets in {ours:.3} s = {ours_rate:.0} sets/s (3 durable transactions each)"
    );

    // The reference: the same three transactions per set through the sqlite3 shell.
    let mut script = String::from(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;\n\
         CREATE TABLE calls (id INTEGER PRIMARY KEY, pbx TEXT, caller TEXT, callee TEXT, started INTEGER, ended INTEGER);\n\
         CREATE TABLE chain (seq INTEGER PRIMARY KEY, set_id TEXT UNIQUE, prev TEXT, sha TEXT);\n\
         CREATE TABLE recordings (set_id TEXT PRIMARY KEY, call_id INTEGER, location TEXT);\n\
         CREATE TABLE files (set_id TEXT, name TEXT, size INTEGER, sha TEXT, PRIMARY KEY (set_id, name));\n\
         CREATE TABLE uploads (set_id TEXT, target TEXT, state TEXT, PRIMARY KEY (set_id, target));\n\
         CREATE TABLE audit (id INTEGER PRIMARY KEY, kind TEXT, details TEXT);\n",
    );
    for i in 0..n {
        let sha = format!("{:064x}", i + 1);
        script.push_str(&format!(
            "INSERT INTO calls (id, pbx, caller, callee, started) VALUES ({id}, 'call-{i}', '+4930999888', '300', {i});\n\
             UPDATE calls SET ended = {i} WHERE id = {id};\n\
             BEGIN IMMEDIATE;\n\
             SELECT seq, sha FROM chain ORDER BY seq DESC LIMIT 1;\n\
             INSERT INTO chain VALUES ({id}, 'set-{i:06}', 'prev', '{sha}');\n\
             INSERT INTO recordings VALUES ('set-{i:06}', {id}, 'spool/set-{i:06}');\n\
             INSERT INTO files VALUES ('set-{i:06}', 'set-{i:06}.wav', 44, '{sha}');\n\
             INSERT INTO uploads VALUES ('set-{i:06}', 'nas', 'pending');\n\
             INSERT INTO audit (kind, details) VALUES ('set_sealed', '{{}}');\n\
             COMMIT;\n",
            id = i + 1
        ));
    }
    let db = tmp.path().join("reference.sqlite");
    let start = Instant::now();
    let mut child = match Command::new("sqlite3")
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            println!("sqlite3 not available ({e}): no reference figure");
            return Ok(());
        }
    };
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(script.as_bytes())?;
    let status = child.wait()?;
    let theirs = start.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("sqlite3 failed: {status}").into());
    }
    let theirs_rate = n as f64 / theirs;
    println!("sqlite3 shell: {n} sets in {theirs:.3} s = {theirs_rate:.0} sets/s");
    println!(
        "ratio cr-journal / sqlite3 = {:.2}",
        ours_rate / theirs_rate
    );
    Ok(())
}
