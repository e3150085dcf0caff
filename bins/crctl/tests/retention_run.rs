//! `crctl retention run` as a supervisor runs it on an installation with a key pair and a
//! folder target: expired sets and an approved deletion request are deleted from the
//! target and the spool, a held set survives, each deletion leaves a receipt sealed into
//! the chain, and the audit trail's head is sealed as a checkpoint. The receipts are judged
//! with openssl and sha256sum, the journal with the sqlite3 tool.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

mod common;

use chrono::Duration;
use common::keyed::{Install, have, t0};

fn sqlite3(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn sh(dir: &Path, cmd: &str) -> (bool, String) {
    let out = Command::new("bash").arg("-c").arg(cmd).current_dir(dir).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Files of set `id` in `dir` (any name starting with the id).
fn files_of(dir: &Path, id: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with(id))).count())
}

/// Sets the expiry of `id` to `ms` milliseconds since 1970 (NULL for none), as a set sealed
/// long ago would have it.
fn expire(inst: &Install, id: &str, ms: Option<i64>) {
    let v = ms.map_or_else(|| "NULL".to_owned(), |m| m.to_string());
    sqlite3(&inst.data.join("journal.sqlite"), &format!("UPDATE recordings SET expires_at = {v} WHERE set_id = '{id}'"));
}

fn ids_after(stdout: &str, word: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(word))
        .map(|rest| {
            let mut w = rest.split_whitespace();
            (w.next().unwrap_or_default().to_owned(), w.last().unwrap_or_default().to_owned())
        })
        .collect()
}

#[test]
fn expired_and_approved_sets_are_deleted_with_signed_receipts_and_a_held_set_survives() {
    if !(have("openssl") && have("sha256sum") && have("sqlite3") && have("base64")) {
        return;
    }
    let inst = Install::new("");
    let j = inst.journal();
    let ids = ["set-1", "set-2", "set-3", "set-4", "set-5"];
    for (i, id) in ids.iter().enumerate() {
        inst.seal_for(&j, id, "+4930999888", "300", t0() + Duration::hours(i as i64), &["nas"]);
        inst.deliver_to_nas(&j, id);
    }
    let day = inst.nas().join("2026/11/26");
    let db = inst.data.join("journal.sqlite");
    // The independent view of what the receipts must name: sha256sum of each checksum file.
    let checksum_sha = |id: &str| sh(&day, &format!("sha256sum {id}.sha256 | cut -d' ' -f1")).1.trim().to_owned();
    let (sha1, sha4) = (checksum_sha("set-1"), checksum_sha("set-4"));
    let past = (chrono::Utc::now() - Duration::days(1)).timestamp_millis();
    expire(&inst, "set-1", Some(past));
    expire(&inst, "set-2", Some(past));
    expire(&inst, "set-3", Some((chrono::Utc::now() + Duration::days(3650)).timestamp_millis()));
    expire(&inst, "set-5", None);

    let (code, _, err) = inst.crctl(&["hold", "place", "--case", "SEC-7", "--reason", "inquiry", "--set", "set-2", "--operator", "sup1"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = inst.crctl(&["delete", "--set", "set-4", "--reason", "private call", "--operator", "sup1"]);
    assert_eq!(code, 0, "{err}");
    let request = out.split_whitespace().nth(1).unwrap().to_owned();
    // The second supervisor sees what waits for them.
    let (code, out, err) = inst.crctl(&["requests", "--operator", "sup2"]);
    assert_eq!(code, 0, "{err}");
    let row = |out: &str| out.lines().find(|l| l.starts_with(&format!("{request}\t"))).map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>());
    let r = row(&out).unwrap_or_else(|| panic!("{out}"));
    assert_eq!((r[1].as_str(), r[2].as_str(), r[4].as_str(), r[5].as_str()), ("delete set set-4", "sup1", "private call", "pending approval"));
    let (code, _, err) = inst.crctl(&["approve", &request, "--operator", "sup2"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = inst.crctl(&["requests", "--operator", "sup1"]);
    assert!(row(&out).unwrap_or_default()[5].starts_with("approved by sup2 "), "{out}");

    // A dry run (an auditor may) says what would go and touches nothing.
    let (code, out, err) = inst.crctl(&["retention", "run", "--dry-run", "--operator", "aud"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("WOULD DELETE set-1 from nas, local"), "{out}");
    assert!(out.contains("WOULD DELETE set-4 from nas, local"), "{out}");
    assert!(out.contains("HELD set-2 case SEC-7"), "{out}");
    assert!(!out.contains("set-3") && !out.contains("set-5") && !out.contains("CHECKPOINT"), "{out}");
    assert_eq!(ids.iter().map(|id| files_of(&day, id)).collect::<Vec<_>>(), vec![4; 5], "a dry run deletes nothing");
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM chain"), "5");

    // The pass.
    let (code, out, err) = inst.crctl(&["retention", "run", "--operator", "sup1"]);
    assert_eq!(code, 0, "{out}{err}");
    let deleted = ids_after(&out, "DELETED ");
    assert_eq!(deleted.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), vec!["set-1", "set-4"], "{out}");
    assert!(out.contains("HELD set-2 case SEC-7"), "{out}");
    let checkpoint = ids_after(&out, "CHECKPOINT ");
    assert_eq!(checkpoint.len(), 1, "{out}");
    assert_eq!(
        ids.iter().map(|id| files_of(&day, id)).collect::<Vec<_>>(),
        vec![0, 4, 4, 0, 4],
        "the expired and the approved set are gone from the folder, the others are whole"
    );

    // Each receipt is a set of the chain, signed with the installation's key, naming what it
    // deleted as the independent tools see it.
    let cert = inst.data.join("cert.pem");
    for ((set, receipt), want_sha) in deleted.iter().zip([&sha1, &sha4]) {
        let dir = inst.data.join("spool").join(receipt);
        assert!(dir.is_dir(), "receipt {receipt} waits in the spool for the set's targets");
        let (ok, text) = sh(
            &dir,
            &format!(
                "sha256sum -c {receipt}.sha256 && base64 -d {receipt}.sha256.SHA256withRSA.sig > /tmp/{receipt}.bin && \
                 openssl x509 -in {} -pubkey -noout > /tmp/{receipt}.pem && \
                 openssl dgst -sha256 -verify /tmp/{receipt}.pem -signature /tmp/{receipt}.bin {receipt}.sha256",
                cert.display()
            ),
        );
        assert!(ok && text.contains("Verified OK"), "{text}");
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(format!("{receipt}.json"))).unwrap()).unwrap();
        assert_eq!(meta["kind"], "deletion-receipt");
        assert_eq!(meta["deleted"]["id"], set.as_str());
        let seq = sqlite3(&db, &format!("SELECT chain_seq FROM recordings WHERE set_id = '{set}'"));
        assert_eq!(meta["deleted"]["seq"].to_string(), seq);
        assert_eq!(meta["deleted"]["checksum_sha256"], want_sha.as_str(), "the receipt names the deleted checksum file's SHA-256");
        let places: Vec<&str> = meta["confirmations"].as_array().unwrap().iter().map(|c| c["target"].as_str().unwrap()).collect();
        assert!(places.contains(&"nas"), "{meta}");
        let receipt_seq: i64 = sqlite3(&db, &format!("SELECT seq FROM chain WHERE set_id = '{receipt}'")).parse().unwrap();
        assert_eq!(meta["chain"]["seq"].as_i64(), Some(receipt_seq));
        assert!(receipt_seq > 5, "a receipt takes the next sequence number");
    }
    let meta4: serde_json::Value =
        serde_json::from_slice(&std::fs::read(inst.data.join("spool").join(&deleted[1].1).join(format!("{}.json", deleted[1].1))).unwrap())
            .unwrap();
    assert_eq!((meta4["rule"]["requested_by"].as_str(), meta4["rule"]["approved_by"].as_str()), (Some("sup1"), Some("sup2")));
    assert_eq!(sqlite3(&db, &format!("SELECT done_at IS NOT NULL FROM requests WHERE id = {request}")), "1");
    let (_, out, err) = inst.crctl(&["requests", "--operator", "sup1"]);
    assert_eq!((out.as_str(), err.as_str()), ("", "no requests\n"), "a request carried out no longer waits");
    let (_, out, _) = inst.crctl(&["requests", "--all", "--operator", "sup1"]);
    let r = row(&out).unwrap_or_else(|| panic!("{out}"));
    assert!(r[5].starts_with("done ") && r[5].ends_with(&format!("(approved by sup2; receipt {})", deleted[1].1)), "{out}");
    assert_eq!(
        sqlite3(&db, "SELECT set_id || ':' || deletion_receipt FROM recordings WHERE deletion_receipt IS NOT NULL ORDER BY set_id"),
        format!("set-1:{}\nset-4:{}", deleted[0].1, deleted[1].1)
    );
    let cp = &checkpoint[0].0;
    let cp_meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(inst.data.join("spool").join(cp).join(format!("{cp}.json"))).unwrap()).unwrap();
    assert_eq!(cp_meta["kind"], "audit-checkpoint");
    let head = sqlite3(&db, &format!("SELECT sha256 FROM audit_events WHERE id = {}", cp_meta["audit_event_id"]));
    assert_eq!(cp_meta["audit_event_sha256"], head.as_str());

    // The audit trail names the operator who ran the pass.
    let (code, out, err) = inst.crctl(&["audit", "--json", "--operator", "aud"]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for set in ["set-1", "set-4"] {
        assert!(
            events.iter().any(|e| e["kind"] == "set_deleted" && e["set_id"] == set && e["actor"] == "crctl:sup1"),
            "{set}: {out}"
        );
    }

    // A second pass finds nothing new to delete and no new event to checkpoint.
    let (code, out, err) = inst.crctl(&["retention", "run", "--operator", "sup1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "HELD set-2 case SEC-7\n", "{err}");
}

#[test]
fn a_set_still_being_delivered_stays_pending_and_refusals_change_nothing() {
    if !(have("sqlite3")) {
        return;
    }
    let inst = Install::new("");
    let j = inst.journal();
    // Delivered to nas, but `offsite` (unreachable) still waits for it.
    inst.seal(&j, "set-1", "+4930999888", "300", t0());
    inst.deliver_to_nas(&j, "set-1");
    expire(&inst, "set-1", Some((chrono::Utc::now() - Duration::days(1)).timestamp_millis()));
    let db = inst.data.join("journal.sqlite");
    let day = inst.nas().join("2026/11/26");

    // An auditor may look but not delete; a wrong password is refused. Nothing changes.
    let (code, _, err) = inst.crctl(&["retention", "run", "--operator", "aud"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("supervisor"), "{err}");
    let (code, _, err) = inst.crctl(&["retention", "run", "--operator", "nobody"]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(files_of(&day, "set-1"), 4);
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM deletions"), "0");
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM chain"), "1");

    let (code, out, err) = inst.crctl(&["retention", "run", "--operator", "sup1"]);
    assert_eq!(code, 1, "a pending deletion is exit 1: {out}{err}");
    assert!(out.lines().any(|l| l.starts_with("PENDING set-1 offsite: ")), "{out}");
    assert!(!out.contains("DELETED"), "{out}");
    assert_eq!(files_of(&day, "set-1"), 4, "nothing is deleted while a target still waits for the set");
    assert_eq!(sqlite3(&db, "SELECT count(*) FROM recordings WHERE kind = 'deletion-receipt'"), "0", "no receipt");
    assert_eq!(sqlite3(&db, "SELECT target || ':' || state FROM deletions"), "offsite:pending");
}

/// Rewrites the audit trail as an attacker with write access to the journal would: the
/// details of event `id` changed and every hash from there recomputed by the documented
/// rule (SHA-256 of the compact JSON `[id, at, kind, actor, set_id, details, prev_sha256]`),
/// so that the chain is consistent again.
fn rewrite_audit_event(db: &Path, id: i64, details: &str) {
    use sha2::Digest;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&{
        let out = Command::new("sqlite3").arg("-json").arg(db).arg("SELECT id, at, kind, actor, set_id, details, prev_sha256 FROM audit_events ORDER BY id").output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    })
    .unwrap();
    let mut prev: Option<String> = None;
    let mut sql = String::from("BEGIN;");
    for r in rows {
        let this = r["id"].as_i64().unwrap();
        if this < id {
            continue;
        }
        let details = if this == id { details.to_owned() } else { r["details"].as_str().unwrap().to_owned() };
        let prev_sha = prev.clone().unwrap_or_else(|| r["prev_sha256"].as_str().unwrap().to_owned());
        let text = serde_json::to_string(&serde_json::json!([this, r["at"], r["kind"], r["actor"], r["set_id"], details, prev_sha])).unwrap();
        let sha = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        sql.push_str(&format!(
            "UPDATE audit_events SET details = '{}', prev_sha256 = '{prev_sha}', sha256 = '{sha}' WHERE id = {this};",
            details.replace('\'', "''")
        ));
        prev = Some(sha);
    }
    sql.push_str("COMMIT;");
    sqlite3(db, &sql);
}

// Guards against: a journal whose audit trail was rewritten consistently (every hash
// recomputed) passing the audit check; the signed checkpoint in the chain catches it.
#[test]
fn a_consistently_rewritten_audit_trail_is_caught_by_the_sealed_checkpoint() {
    if !(have("sqlite3")) {
        return;
    }
    let inst = Install::new("");
    let j = inst.journal();
    inst.seal_for(&j, "set-1", "+4930999888", "300", t0(), &["nas"]);
    inst.deliver_to_nas(&j, "set-1");
    let (code, out, err) = inst.crctl(&["retention", "run", "--operator", "sup1"]);
    assert_eq!(code, 0, "{out}{err}");
    let cp = ids_after(&out, "CHECKPOINT ");
    assert_eq!(cp.len(), 1, "{out}");
    let spool = inst.data.join("spool");
    let spool = spool.to_str().unwrap();
    let (code, out, err) = inst.crctl(&["audit", "verify", "--checkpoints", spool, "--operator", "aud"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.lines().any(|l| l.starts_with(&format!("CHECKPOINT {} event ", cp[0].0)) && l.ends_with(" matches")), "{out}");

    // The attacker hides who was added as an operator: event 2's details rewritten.
    let db = inst.data.join("journal.sqlite");
    rewrite_audit_event(&db, 2, r#"{"name":"someone-else"}"#);
    let (code, out, _) = inst.crctl(&["audit", "verify", "--operator", "aud"]);
    assert_eq!(code, 0, "the rewritten chain is consistent in itself: {out}");
    let (code, out, err) = inst.crctl(&["audit", "verify", "--checkpoints", spool, "--operator", "aud"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.lines().any(|l| l.starts_with(&format!("BROKEN checkpoint {}: event ", cp[0].0)) && l.contains("the sealed checkpoint says")), "{out}");

    // A directory without checkpoints proves nothing: exit 1, said so.
    let empty = inst.dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, out, _) = inst.crctl(&["audit", "verify", "--checkpoints", empty.to_str().unwrap(), "--operator", "aud"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no audit checkpoint in"), "{out}");
}
