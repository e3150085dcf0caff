//! cr-verify across deletions (issue 13): 100 sets sealed into the chain and delivered to a
//! folder, 10 of them deleted by the real deletion pass, its receipts delivered beside
//! them. The expected sequence numbers are the ones the test chose to expire or remove; the
//! receipts' hashes are checked against sha256sum and openssl, not against our code.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use common::*;

/// The sets whose retention ended: the start of the chain and a run in the middle.
const EXPIRED: [u64; 10] = [1, 2, 3, 4, 5, 41, 42, 43, 44, 45];

struct Archive {
    inst: Install,
    /// Receipt id by the sequence number of the set it names.
    receipts: BTreeMap<u64, String>,
    /// The folder as it was before the pass.
    backup: PathBuf,
    /// The audit checkpoint the pass sealed.
    checkpoint: String,
}

fn archive() -> Archive {
    let inst = Install::new();
    let past = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let future = Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap();
    for n in 1..=100 {
        inst.seal(n, if EXPIRED.contains(&n) { past } else { future });
    }
    inst.deliver();
    let backup = inst.dir.path().join("backup");
    copy_tree(&inst.nas, &backup);
    let (lines, checkpoint) = inst.retention_pass(Utc::now());
    // The pass seals the audit trail's head too (events came since the start).
    let checkpoint = checkpoint.unwrap();
    assert_eq!(lines.len(), EXPIRED.len(), "{lines:#?}");
    let mut receipts = BTreeMap::new();
    for line in &lines {
        let mut w = line.split(' ');
        let (Some("DELETED"), Some(id), Some("receipt"), Some(rid), None) =
            (w.next(), w.next(), w.next(), w.next(), w.next())
        else {
            panic!("not a deletion: {line}");
        };
        let n = (1..=100).find(|&n| id_of(n) == id).unwrap();
        receipts.insert(n, rid.to_owned());
    }
    assert_eq!(receipts.keys().copied().collect::<Vec<_>>(), EXPIRED);
    inst.deliver();
    Archive { inst, receipts, backup, checkpoint }
}

impl Archive {
    fn verify(&self) -> (i32, String, String) {
        cr_verify(&["--no-progress".as_ref(), "--cert".as_ref(), self.inst.cert.as_os_str(), self.inst.nas.as_os_str()])
    }
    /// The directory in `nas` holding set (or receipt) `id`.
    fn dir_of(&self, id: &str) -> PathBuf {
        self.inst.find(&format!("{id}.sha256")).unwrap().parent().unwrap().to_owned()
    }
    fn files_of(id: &str) -> [String; 4] {
        ["json", "wav", "sha256", "sha256.SHA256withRSA.sig"].map(|e| format!("{id}.{e}"))
    }
    /// Puts set number `n` back from the backup.
    fn restore(&self, n: u64) {
        let id = id_of(n);
        let from = find_dir(&self.backup, &format!("{id}.sha256"));
        let to = self.inst.nas.join(from.strip_prefix(&self.backup).unwrap());
        for f in Self::files_of(&id) {
            std::fs::copy(from.join(&f), to.join(&f)).unwrap();
        }
    }
    fn receipt_json(&self, n: u64) -> (PathBuf, serde_json::Value) {
        let rid = &self.receipts[&n];
        let path = self.dir_of(rid).join(format!("{rid}.json"));
        let v = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        (path, v)
    }
}

fn find_dir(root: &Path, name: &str) -> PathBuf {
    let out = Command::new("find").arg(root).args(["-name", name]).output().unwrap();
    let path = String::from_utf8(out.stdout).unwrap();
    Path::new(path.trim()).parent().unwrap().to_owned()
}

fn deleted_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("DELETED ")).collect()
}

fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l == line)
}

fn chain_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("CHAIN ")).collect()
}

#[test]
fn ten_sets_deleted_of_100_verify_with_one_deleted_line_each() {
    let a = archive();
    for n in EXPIRED {
        for f in Archive::files_of(&id_of(n)) {
            assert_eq!(a.inst.find(&f), None, "{f} is still in the folder");
        }
    }
    let (code, out, err) = a.verify();
    assert_eq!(code, 0, "{out}{err}");
    let want: Vec<String> =
        EXPIRED.iter().map(|&n| format!("DELETED {} seq {n} by receipt {}", id_of(n), a.receipts[&n])).collect();
    assert_eq!(deleted_lines(&out), want, "{out}");
    assert!(chain_lines(&out).is_empty(), "{out}");
    for n in EXPIRED {
        assert!(has_line(&out, &format!("OK {} (deletion receipt for {})", a.receipts[&n], id_of(n))), "{out}");
    }
    assert!(has_line(&out, &format!("OK {}", id_of(6))), "{out}");
    assert!(has_line(&out, &format!("OK {} (audit checkpoint)", a.checkpoint)), "{out}");
    // 90 recordings, 10 receipts and the checkpoint.
    assert!(
        out.contains("verified 101 set(s): 101 OK, 0 FAILED")
            && out.contains("; 10 deleted set(s) accounted for by receipts"),
        "{out}"
    );

    let (code, out, _) = cr_verify(&[
        "--json".as_ref(),
        "--no-progress".as_ref(),
        "--cert".as_ref(),
        a.inst.cert.as_os_str(),
        a.inst.nas.as_os_str(),
    ]);
    assert_eq!(code, 0, "{out}");
    let objs: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let deleted: Vec<(String, u64)> =
        objs.iter().filter_map(|o| Some((o["deleted"].as_str()?.to_owned(), o["seq"].as_u64()?))).collect();
    assert_eq!(deleted, EXPIRED.iter().map(|&n| (id_of(n), n)).collect::<Vec<_>>());
    assert_eq!(objs.iter().filter(|o| o["kind"] == "deletion-receipt").count(), 10, "{out}");
    assert_eq!(objs.iter().filter(|o| o["kind"] == "set").count(), 90, "{out}");
    assert_eq!(objs.iter().filter(|o| o["kind"] == "audit-checkpoint").count(), 1, "{out}");
}

fn remove(a: &Archive, n: u64) {
    let dir = a.dir_of(&id_of(n));
    for f in Archive::files_of(&id_of(n)) {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
}

#[test]
fn one_more_set_removed_by_hand_is_named_by_its_number() {
    let a = archive();
    // In the middle of present sets, and right after a run of deleted ones.
    for n in [70, 46] {
        remove(&a, n);
        let (code, out, _) = a.verify();
        assert_eq!(code, 1, "{out}");
        assert_eq!(
            chain_lines(&out),
            [format!("CHAIN sequence {n} missing (between {} and {})", id_of(n - 1), id_of(n + 1))],
            "{out}"
        );
        assert_eq!(deleted_lines(&out).len(), 10, "{out}");
        assert!(out.contains("100 OK, 0 FAILED") && out.contains("; 1 chain problem(s)"), "{out}");
        a.restore(n);
        assert_eq!(a.verify().0, 0);
    }
}

#[test]
fn from_genesis_the_oldest_set_found_must_adjoin_the_receipts() {
    let a = archive();
    let with = |flag: bool| {
        let mut args: Vec<&std::ffi::OsStr> =
            vec!["--no-progress".as_ref(), "--cert".as_ref(), a.inst.cert.as_os_str()];
        if flag {
            args.push("--from-genesis".as_ref());
        }
        args.push(a.inst.nas.as_os_str());
        cr_verify(&args)
    };
    assert_eq!(with(true).0, 0, "{}", with(true).1);
    // Set 6, right after the deleted sets 1-5, removed: without the flag the folder starts
    // at 7 as far as anyone can tell, and the receipts for 1-5 are named but not linked.
    remove(&a, 6);
    let (code, out, _) = with(false);
    assert_eq!(code, 0, "{out}");
    assert!(
        has_line(
            &out,
            &format!(
                "DELETED {} seq 1 by receipt {} (before the sets found: its links are not checked)",
                id_of(1),
                a.receipts[&1]
            )
        ),
        "{out}"
    );
    let (code, out, _) = with(true);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        chain_lines(&out),
        [format!("CHAIN sequence 6 missing (between {} and {})", id_of(5), id_of(6 + 1))],
        "{out}"
    );
    // Without the receipts for 1-5 too, the whole start is missing.
    for n in 1..=5 {
        let rid = &a.receipts[&n];
        let dir = a.dir_of(rid);
        for e in ["json", "sha256", "sha256.SHA256withRSA.sig"] {
            std::fs::remove_file(dir.join(format!("{rid}.{e}"))).unwrap();
        }
    }
    let (code, out, _) = with(true);
    assert_eq!(code, 1, "{out}");
    assert!(
        chain_lines(&out).contains(&format!("CHAIN sequence 1 to 6 missing (before {})", id_of(7)).as_str()),
        "{out}"
    );
}

#[test]
fn a_receipt_with_one_flipped_byte_accounts_for_nothing() {
    let a = archive();
    let rid = a.receipts[&43].clone();
    let dir = a.dir_of(&rid);
    for f in [format!("{rid}.json"), format!("{rid}.sha256"), format!("{rid}.sha256.SHA256withRSA.sig")] {
        let path = dir.join(&f);
        let good = std::fs::read(&path).unwrap();
        let mut bad = good.clone();
        let i = bad.len() / 2;
        bad[i] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let (code, out, _) = a.verify();
        assert_eq!(code, 1, "{f}: {out}");
        assert!(out.lines().any(|l| l.starts_with(&format!("FAILED {rid}: "))), "{f}: {out}");
        let gap = format!("CHAIN sequence 43 missing (between {} and {})", id_of(42), id_of(44));
        assert!(chain_lines(&out).contains(&gap.as_str()), "{f}: {out}");
        assert_eq!(deleted_lines(&out).len(), 9, "{f}: {out}");
        assert!(!out.contains(&format!("DELETED {} ", id_of(43))), "{f}: {out}");
        std::fs::write(&path, &good).unwrap();
    }
    assert_eq!(a.verify().0, 0);
}

// Guards against: a receipt sealed with the key that names made-up hashes, papering over a
// set that was replaced or removed.
#[test]
fn a_resealed_receipt_whose_hashes_do_not_fit_breaks_the_chain() {
    let a = archive();
    let rid = a.receipts[&45].clone();
    let (path, original) = a.receipt_json(45);
    for (field, broken) in [
        ("checksum_sha256", format!("CHAIN broken link: {} (sequence 46)", id_of(46))),
        (
            "prev_sha256",
            format!("CHAIN broken link: {} (sequence 45) does not name the checksum file of {}", id_of(45), id_of(44)),
        ),
    ] {
        let mut forged = original.clone();
        forged["deleted"][field] = serde_json::Value::String("ee".repeat(32));
        std::fs::write(&path, serde_json::to_vec_pretty(&forged).unwrap()).unwrap();
        cr_sign::seal(&rid, std::slice::from_ref(&path), &a.inst.identity).unwrap();
        let (code, out, _) = a.verify();
        assert_eq!(code, 1, "{field}: {out}");
        // It verifies as a set; the chain is what catches it.
        assert!(has_line(&out, &format!("OK {rid} (deletion receipt for {})", id_of(45))), "{field}: {out}");
        assert!(chain_lines(&out).iter().any(|l| l.starts_with(&broken)), "{field}: {out}");
    }
}

#[test]
fn a_deleted_set_restored_from_backup_is_checked_as_any_set() {
    let a = archive();
    a.restore(42);
    let (code, out, _) = a.verify();
    assert_eq!(code, 0, "{out}");
    assert!(
        has_line(
            &out,
            &format!(
                "PRESENT {} seq 42: receipt {} records its deletion, but it is here (restored?); checked as any set",
                id_of(42),
                a.receipts[&42]
            )
        ),
        "{out}"
    );
    assert!(has_line(&out, &format!("OK {}", id_of(42))), "{out}");
    assert_eq!(deleted_lines(&out).len(), 9, "{out}");
    // Checked as any set: altered, it fails.
    let wav = a.dir_of(&id_of(42)).join(format!("{}.wav", id_of(42)));
    std::fs::write(&wav, "not the call").unwrap();
    let (code, out, _) = a.verify();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("FAILED {}: {}.wav: content does not match", id_of(42), id_of(42))), "{out}");
}

/// sha256sum of `path`, by the tool.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

#[test]
fn a_receipt_passes_openssl_and_sha256sum_and_names_the_deleted_sets_hashes() {
    if !(have("openssl") && have("sha256sum") && have("base64") && have("find")) {
        return;
    }
    let a = archive();
    let rid = a.receipts[&41].clone();
    let dir = a.dir_of(&rid);
    let out = Command::new("sha256sum").arg("-c").arg(format!("{rid}.sha256")).current_dir(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.trim() == format!("{rid}.json: OK"), "{text}");
    let work = a.inst.dir.path();
    let sh = |script: String| {
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    sh(format!("openssl x509 -in '{}' -pubkey -noout > '{}/pub.pem'", a.inst.cert.display(), work.display()));
    sh(format!("base64 -d < '{}/{rid}.sha256.SHA256withRSA.sig' > '{}/sig.bin'", dir.display(), work.display()));
    let verified = sh(format!(
        "openssl dgst -sha256 -verify '{w}/pub.pem' -signature '{w}/sig.bin' '{d}/{rid}.sha256'",
        w = work.display(),
        d = dir.display()
    ));
    assert!(verified.contains("Verified OK"), "{verified}");
    // What it says, against the deleted set's files as they were (sha256sum of the backup).
    let (_, v) = a.receipt_json(41);
    assert_eq!(v["kind"], "deletion-receipt");
    assert_eq!(v["deleted"]["id"], id_of(41));
    assert_eq!(v["deleted"]["seq"], 41);
    let own = find_dir(&a.backup, &format!("{}.sha256", id_of(41))).join(format!("{}.sha256", id_of(41)));
    let before = find_dir(&a.backup, &format!("{}.sha256", id_of(40))).join(format!("{}.sha256", id_of(40)));
    assert_eq!(v["deleted"]["checksum_sha256"], sha256sum(&own));
    assert_eq!(v["deleted"]["prev_sha256"], sha256sum(&before));
    assert_eq!(v["rule"]["kind"], "retention-expired");
    assert_eq!(v["confirmations"][0]["target"], "nas");
}

#[test]
fn an_audit_checkpoint_is_a_chain_member_and_a_receipt_that_is_none_fails() {
    let inst = Install::new();
    let future = Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap();
    for n in 1..=3 {
        inst.seal(n, future);
    }
    let cid = inst.seal_checkpoint(start_of(3) + chrono::Duration::minutes(5));
    inst.seal(5, future);
    inst.deliver();
    let args = |inst: &Install| {
        cr_verify(&["--no-progress".as_ref(), "--cert".as_ref(), inst.cert.as_os_str(), inst.nas.as_os_str()])
    };
    let (code, out, _) = args(&inst);
    assert_eq!(code, 0, "{out}");
    assert!(has_line(&out, &format!("OK {cid} (audit checkpoint)")), "{out}");
    assert!(out.contains("verified 5 set(s): 5 OK, 0 FAILED") && chain_lines(&out).is_empty(), "{out}");

    // Sealed with the key, saying it is a receipt without being one: it fails, naming the
    // file, and accounts for nothing (its own number becomes a gap).
    let dir = inst.find(&format!("{cid}.json")).unwrap().parent().unwrap().to_owned();
    let json = dir.join(format!("{cid}.json"));
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    v["kind"] = "deletion-receipt".into();
    std::fs::write(&json, serde_json::to_vec(&v).unwrap()).unwrap();
    cr_sign::seal(&cid, std::slice::from_ref(&json), &inst.identity).unwrap();
    let (code, out, _) = args(&inst);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with(&format!(
            "FAILED {cid}: {cid}.json: says kind deletion-receipt but is not a deletion receipt (missing field"
        ))),
        "{out}"
    );
    assert_eq!(
        chain_lines(&out),
        [format!("CHAIN sequence 4 missing (between {} and {})", id_of(3), id_of(5))],
        "{out}"
    );

    // Removed, the checkpoint is a gap like any set.
    for e in ["json", "sha256", "sha256.SHA256withRSA.sig"] {
        std::fs::remove_file(dir.join(format!("{cid}.{e}"))).unwrap();
    }
    let (code, out, _) = args(&inst);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        chain_lines(&out),
        [format!("CHAIN sequence 4 missing (between {} and {})", id_of(3), id_of(5))],
        "{out}"
    );
}
