//! A tour of the journal: record calls (one recorded, one not), seal two sets into the
//! chain, deliver one, then print `status` and a `search` as JSON.
//!
//! ```sh
//! cargo run -p cr-journal --example journal_tour            # a temporary journal
//! cargo run -p cr-journal --example journal_tour -- j.sqlite # keep it; inspect with sqlite3
//! ```
use chrono::{Duration, TimeZone, Utc};
use cr_journal::{Direction, FileEntry, Journal, NewCall, NewRecording, OpenOptions, SearchQuery};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keep = std::env::args().nth(1);
    let tmp = tempfile::tempdir()?;
    let path = keep.map_or_else(
        || tmp.path().join("journal.sqlite"),
        std::path::PathBuf::from,
    );
    let journal = Journal::open_sqlite(&path, &OpenOptions::new())?;
    println!(
        "journal: {} (schema version {})",
        journal.name(),
        journal.schema_version()?
    );

    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 26, 9, 0, 0)
        .single()
        .ok_or("bad date")?;
    let declined = journal.record_call(&NewCall {
        pbx_call_id: "c-1".into(),
        direction: Direction::Incoming,
        caller: "+49 30 999888".into(),
        callee: "555".into(),
        diversions: vec![],
        started_at: t0,
        record: false,
        configuration: None,
        reason: "no configuration records 555".into(),
    })?;
    println!("call {declined}: not recorded (kept with its reason)");

    for (n, caller) in [(1i64, "+49 30 999888"), (2, "030 999888")] {
        let start = t0 + Duration::minutes(10 * n);
        let end = start + Duration::seconds(42 * n);
        let call = journal.record_call(&NewCall {
            pbx_call_id: format!("c-{}", n + 1),
            direction: Direction::Incoming,
            caller: caller.into(),
            callee: "300".into(),
            diversions: vec!["301".into()],
            started_at: start,
            record: true,
            configuration: Some("trading-desk".into()),
            reason: "incoming call to group trading (300)".into(),
        })?;
        journal.end_call(call, end)?;
        let set_id = format!("{}-{n:04}", start.format("%Y%m%dT%H%M%SZ"));
        let entry = journal.seal_with(&set_id, end, |link| {
            // Here the recorder writes link.seq and link.prev_sha256 into <id>.json,
            // writes <id>.sha256 and signs it; this stands in for the hash of <id>.sha256.
            let checksum_sha256 = format!("{:064x}", 0xc0ffee_u64 + link.seq);
            Ok::<_, cr_journal::JournalError>((
                checksum_sha256,
                NewRecording {
                    set_id: set_id.clone(),
                    call,
                    configuration: "trading-desk".into(),
                    started_at: start,
                    ended_at: end,
                    channels: "stereo".into(),
                    files: vec![FileEntry {
                        name: format!("{set_id}.wav"),
                        size: 8044,
                        sha256: "0".repeat(64),
                    }],
                    cert_fingerprint: "f".repeat(64),
                    flags: vec![],
                    location: format!("spool/{set_id}"),
                    targets: vec!["nas".into()],
                    expires_at: None,
                },
            ))
        })?;
        println!(
            "sealed {} as #{} (prev {}…)",
            entry.set_id,
            entry.seq,
            &entry.prev_sha256[..12]
        );
        if n == 1 {
            journal.upload_done(
                &set_id,
                "nas",
                &format!("Aufzeichnung/{set_id}"),
                &[set_id.clone()],
                end + Duration::seconds(3),
            )?;
        }
    }
    journal.set_membership("trading", "bob", false, "example", t0 + Duration::hours(1))?;

    let status = journal.status(t0 + Duration::hours(2), 5)?;
    println!("status: {}", serde_json::to_string_pretty(&status)?);
    let hits = journal.search(&SearchQuery {
        number: Some("+4930999888".into()),
        ..Default::default()
    })?;
    for h in &hits {
        println!("found: {}", serde_json::to_string(h)?);
    }
    Ok(())
}
