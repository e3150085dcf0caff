//! The deletion pass inside `cr-uploader --once` against real servers: a folder, SFTP (real
//! sshd), SMB (real smbd) and OneDrive (the Graph stand-in). Sets sealed into the chain with
//! the installation's key and delivered; then an expired set is gone as each server itself
//! lists it, its receipt lies at every target and verifies with openssl against the
//! certificate, a held and an unexpired set stay; a stopped SFTP server keeps a deletion
//! pending with no receipt until it is back.
#![allow(clippy::unwrap_used)]

#[path = "../../../crates/cr-storage/tests/common/mod.rs"]
mod common;
#[path = "../../../crates/cr-storage/tests/graph_fake/mod.rs"]
mod graph_fake;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{Server, UserGuard, fingerprint, free_port, have, root, user};
use cr_journal::{DeletionState, Direction, FileEntry, Journal, NewCall, NewRecording, OpenOptions};

const SFTP_PW: &str = "pw-Secret1";
const SMB_PW: &str = "smb-Secret1";
const TARGETS: [&str; 4] = ["archive", "offsite", "nas", "m365"];

struct Servers {
    sshd: Server,
    sftp_user: String,
    smbd: Server,
    smb_user: String,
    graph: graph_fake::Fake,
    _users: (UserGuard, UserGuard),
}

fn servers(tmp: &Path) -> Option<Servers> {
    if !(have("sshd") && have("sftp") && have("smbd") && have("smbclient") && have("openssl") && have("base64") && root()) {
        return None;
    }
    let (p1, p2) = (free_port(), free_port());
    let (u1, u2) = (user("crdl", p1), user("crdm", p2));
    let sshd = Server::start("sshd.sh", &tmp.join("sshd"), p1, &[&u1, SFTP_PW]);
    let smbd = Server::start("smbd.sh", &tmp.join("smbd"), p2, &[&u2, SMB_PW]);
    Some(Servers {
        sshd,
        smbd,
        graph: graph_fake::Fake::start(10_000),
        _users: (UserGuard(u1.clone()), UserGuard(u2.clone())),
        sftp_user: u1,
        smb_user: u2,
    })
}

struct Install {
    dir: PathBuf,
    data: PathBuf,
    config: PathBuf,
    identity: cr_sign::Identity,
    /// The targets sets are sealed for.
    targets: Vec<String>,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 7, 9, 5, 1).unwrap()
}

impl Install {
    /// An installation in `dir` with the folder target `archive` (`dir/folder`, directory
    /// `rec`) and the targets of `more_toml`; sets are sealed for `targets`.
    fn new(dir: &Path, targets: &[&str], more_toml: &str) -> Self {
        let data = dir.join("data");
        std::fs::create_dir_all(dir.join("folder")).unwrap();
        let (keystore, identity) = support::keystore(dir, &data, "pbx-del");
        let config = dir.join("callrec.toml");
        std::fs::write(
            &config,
            format!(
                "[installation]\nmodule_id = \"pbx-del\"\ndata_dir = \"{data}\"\ntimezone = \"UTC\"\n\n{keystore}\
                 [[targets]]\nname = \"archive\"\nkind = \"folder\"\npath = \"{folder}\"\ndirectory = \"rec\"\n\n{more_toml}",
                data = data.display(),
                folder = dir.join("folder").display(),
            ),
        )
        .unwrap();
        let pem = dir.join("cert.pem");
        std::fs::write(&pem, identity.certificate().pem()).unwrap();
        Install { dir: dir.to_owned(), data, config, identity, targets: targets.iter().map(|t| (*t).to_owned()).collect() }
    }

    /// Every kind of target: the folder, SFTP at `s.sshd`, SMB at `s.smbd`, OneDrive at the
    /// Graph stand-in; `smtp`: outage mails go there (`[notify]`).
    fn with_servers(dir: &Path, s: &Servers, smtp: Option<&support::Smtpd>) -> Self {
        let more = format!(
            r#"[[targets]]
name = "offsite"
kind = "sftp"
server = "127.0.0.1"
port = {sftp_port}
username = "{sftp_user}"
private_key_file = "{key}"
host_key = "{host_key}"
directory = "rec"
timeout = "5s"

[[targets]]
name = "nas"
kind = "smb"
server = "127.0.0.1"
port = {smb_port}
share = "rec"
username = "{smb_user}"
password_env = "CR_DEL_TEST_SMB"
directory = "rec"
timeout = "5s"

[[targets]]
name = "m365"
kind = "onedrive"
cloud = "global"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret_env = "CR_DEL_TEST_GRAPH"
drive_user = "{drive_user}"
directory = "rec"
login_endpoint = "{url}"
graph_endpoint = "{url}"
{notify}"#,
                sftp_port = s.sshd.port,
                sftp_user = s.sftp_user,
                key = s.sshd.dir.join("client_key").display(),
                host_key = fingerprint(&s.sshd.dir.join("hostkey.pub")),
                smb_port = s.smbd.port,
                smb_user = s.smb_user,
                tenant = graph_fake::TENANT,
                client = graph_fake::CLIENT,
                drive_user = graph_fake::USER,
                url = s.graph.url,
                notify = smtp.map_or(String::new(), |m| format!(
                    "\n[notify]\nemail_to = [\"ops@example.com\"]\nemail_from = \"callrec@example.com\"\nsmtp_server = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_tls = \"none\"\nreminder_interval = \"1h\"\nmin_free_percent = 0\n",
                    m.port
                )),
        );
        Install::new(dir, &TARGETS, &more)
    }

    fn journal(&self) -> Journal {
        Journal::open_sqlite(&self.data.join("journal.sqlite"), &OpenOptions::new()).unwrap()
    }

    /// Seals set `id` through the recorder's sealing path ([`cr_sign::seal_into_chain`]:
    /// chain link reserved, metadata naming it, sealed with the installation's key,
    /// committed) and spools it for every target. Returns the SHA-256 of its checksum file,
    /// as `sha256sum` computes it.
    fn seal(&self, j: &Journal, id: &str, start: DateTime<Utc>) -> String {
        let end = start + Duration::seconds(30);
        let call = j
            .record_call(&NewCall {
                pbx_call_id: format!("pbx-{id}"),
                direction: Direction::Incoming,
                caller: "+49 30 999888".into(),
                callee: "300".into(),
                diversions: vec![],
                started_at: start,
                record: true,
                configuration: Some("desk".into()),
                reason: "test".into(),
            })
            .unwrap();
        j.end_call(call, end).unwrap();
        let spool = cr_storage::Spool::open(self.data.join("spool")).unwrap();
        let dir = spool.staging_dir(id).unwrap();
        let audio = dir.join(format!("{id}.wav"));
        std::fs::write(&audio, common::bytes(id.len() as u64, 40_000)).unwrap();
        let mut hashed = cr_sign::HashedFiles::new(id).unwrap();
        hashed.add(&[audio]).unwrap();
        let targets = self.targets.clone();
        let metadata = |link: &cr_journal::ChainLink| serde_json::to_vec_pretty(&serde_json::json!({"id": id, "chain": link})).unwrap();
        let commit = |res: cr_journal::ChainReservation<'_>, sealed: &cr_sign::SealedSet| {
            let files = sealed.files.iter().map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() });
            res.commit(&sealed.checksum_sha256, &NewRecording {
                set_id: id.into(),
                call,
                configuration: "desk".into(),
                started_at: start,
                ended_at: end,
                channels: "mono".into(),
                files: files.collect(),
                cert_fingerprint: self.identity.certificate().fingerprint_sha256(),
                flags: vec![],
                location: spool.set_dir(id).display().to_string(),
                targets: targets.clone(),
                expires_at: Some(Utc::now() + Duration::days(3650)),
            })
        };
        let meta = dir.join(format!("{id}.json"));
        cr_sign::seal_into_chain(j, &self.identity, hashed, id, end, &meta, metadata, commit).unwrap();
        let sum = sha256sum(&dir.join(format!("{id}.sha256")));
        spool.enqueue(&dir, id, &targets, start, Utc::now()).unwrap();
        sum
    }

    /// Retention ended for `id`, set in the journal by hand (milliseconds since 1970).
    fn expire(&self, id: &str) {
        let sql = format!("UPDATE recordings SET expires_at = (strftime('%s','now') - 86400) * 1000 WHERE set_id = '{id}';");
        let out = Command::new("sqlite3").arg(self.data.join("journal.sqlite")).arg(sql).output().unwrap();
        assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn uploader_once(&self) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_cr-uploader"))
            .arg("--config")
            .arg(&self.config)
            .arg("--once")
            .env("RUST_LOG", "info")
            .env("CR_DEL_TEST_SMB", SMB_PW)
            .env("CR_DEL_TEST_GRAPH", graph_fake::SECRET)
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn sha256sum(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

/// What each target holds in its directory `rec`, as the target's own tools list it.
struct Listing {
    archive: BTreeSet<String>,
    offsite: BTreeSet<String>,
    nas: BTreeSet<String>,
    m365: BTreeSet<String>,
}

impl Listing {
    fn take(inst: &Install, s: &Servers) -> Listing {
        let archive = std::fs::read_dir(inst.dir.join("folder/rec")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        // `sftp` in batch mode with the host key pinned in a known_hosts file.
        let known = inst.dir.join("known_hosts");
        let host_key = std::fs::read_to_string(s.sshd.dir.join("hostkey.pub")).unwrap();
        let mut words = host_key.split_whitespace();
        let line = format!("[127.0.0.1]:{} {} {}\n", s.sshd.port, words.next().unwrap(), words.next().unwrap());
        std::fs::write(&known, line).unwrap();
        let out = Command::new("sftp")
            .args(["-b", "-", "-P", &s.sshd.port.to_string(), "-i"])
            .arg(s.sshd.dir.join("client_key"))
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known.display()))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
            .arg(format!("{}@127.0.0.1", s.sftp_user))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b"ls -1 rec\n")?;
                c.wait_with_output()
            })
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "sftp: {text}{}", String::from_utf8_lossy(&out.stderr));
        let offsite = text
            .lines()
            .filter(|l| !l.starts_with("sftp>"))
            .map(|l| l.trim().trim_start_matches("rec/").to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        let out = Command::new("smbclient")
            .arg("//127.0.0.1/rec")
            .args(["-p", &s.smbd.port.to_string(), "-U", &format!("{}%{SMB_PW}", s.smb_user)])
            .args(["-c", "cd rec; ls"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "smbclient: {text}{}", String::from_utf8_lossy(&out.stderr));
        // "  name   A   1234  Sat Mar  7 09:05:01 2026": name, attributes, size, date.
        let nas = text
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let is_entry = w.len() >= 7 && w[1].chars().all(|c| "ADHNRSA".contains(c)) && w[2].parse::<u64>().is_ok();
                is_entry.then(|| w[0].to_owned())
            })
            .filter(|n| n != "." && n != "..")
            .collect();
        let m365 = s.graph.state().files.keys().filter_map(|k| k.strip_prefix("rec/")).map(str::to_owned).collect();
        Listing { archive, offsite, nas, m365 }
    }

    fn each(&self) -> [(&'static str, &BTreeSet<String>); 4] {
        [("archive", &self.archive), ("offsite", &self.offsite), ("nas", &self.nas), ("m365", &self.m365)]
    }

    /// Set `id`'s four files (audio, metadata, checksums, signature) at every target named.
    fn assert_whole(&self, id: &str, at: &[&str]) {
        for (name, files) in self.each().into_iter().filter(|(n, _)| at.contains(n)) {
            for f in [format!("{id}.wav"), format!("{id}.json"), format!("{id}.sha256"), format!("{id}.sha256.SHA256withRSA.sig")] {
                assert!(files.contains(&f), "{f} missing at {name}: {files:?}");
            }
        }
    }

    /// No file of set `id` at the targets named.
    fn assert_gone(&self, id: &str, at: &[&str]) {
        for (name, files) in self.each().into_iter().filter(|(n, _)| at.contains(n)) {
            let left: Vec<_> = files.iter().filter(|f| f.starts_with(&format!("{id}."))).collect();
            assert!(left.is_empty(), "{name} still holds {left:?}");
        }
    }
}

/// The receipt `rid` as it lies in the folder target: its signature (base64, S18) verifies with openssl
/// against the certificate, its checksums with sha256sum, and its metadata names the deleted
/// set, its sequence number and the SHA-256 of its checksum file.
fn check_receipt(inst: &Install, rid: &str, deleted: &str, seq: u64, checksum_sha256: &str) {
    let dir = inst.dir.join("folder/rec");
    let run = |cmd: &str| {
        let out = Command::new("bash").arg("-c").arg(cmd).current_dir(&dir).output().unwrap();
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let cert = inst.dir.join("cert.pem");
    let (ok, out) = run(&format!(
        "base64 -d {rid}.sha256.SHA256withRSA.sig > {d}/sig.bin && openssl x509 -in {c} -pubkey -noout > {d}/pub.pem && \
         openssl dgst -sha256 -verify {d}/pub.pem -signature {d}/sig.bin {rid}.sha256",
        c = cert.display(),
        d = inst.dir.display()
    ));
    assert!(ok && out.contains("Verified OK"), "{out}");
    let (ok, out) = run(&format!("sha256sum -c {rid}.sha256"));
    assert!(ok, "{out}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(format!("{rid}.json"))).unwrap()).unwrap();
    assert_eq!(meta["kind"], "deletion-receipt", "{meta}");
    assert_eq!(meta["deleted"]["id"], deleted, "{meta}");
    assert_eq!(meta["deleted"]["seq"].as_u64(), Some(seq), "{meta}");
    assert_eq!(meta["deleted"]["checksum_sha256"], checksum_sha256, "computed with sha256sum before the deletion: {meta}");
    // Each target confirmed, having deleted the set's four files.
    let confirmations = meta["confirmations"].as_array().unwrap();
    for target in &inst.targets {
        let c = confirmations.iter().find(|c| c["target"] == target.as_str()).unwrap_or_else(|| panic!("no confirmation of {target}: {meta}"));
        assert_eq!(c["removed"].as_u64(), Some(4), "{target}: {c}");
    }
}

fn receipt_of(j: &Journal, id: &str) -> Option<String> {
    j.recording(id).unwrap().unwrap().deletion_receipt
}

#[test]
fn uploader_deletes_expired_sets_everywhere_keeps_held_ones_and_waits_for_a_stopped_target() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut s) = servers(tmp.path()) else { return };
    if !have("sqlite3") {
        return;
    }
    let smtp = support::smtpd();
    let inst = Install::with_servers(&tmp.path().join("inst"), &s, smtp.as_ref());
    let j = inst.journal();
    let sum_a = inst.seal(&j, "set-a", t0());
    inst.seal(&j, "set-b", t0() + Duration::minutes(10));
    let sum_c = inst.seal(&j, "set-c", t0() + Duration::minutes(20));
    let seq = |id: &str| j.recording(id).unwrap().unwrap().chain.seq;
    let (seq_a, seq_c) = (seq("set-a"), seq("set-c"));

    let (code, err) = inst.uploader_once();
    assert_eq!(code, 0, "{err}");
    let l = Listing::take(&inst, &s);
    for id in ["set-a", "set-b", "set-c"] {
        l.assert_whole(id, &TARGETS);
    }
    assert!(!inst.data.join("spool/set-a").exists(), "delivered everywhere: out of the spool");

    // set-a and set-b expire; set-b is under a legal hold.
    inst.expire("set-a");
    inst.expire("set-b");
    j.place_hold(&cr_journal::NewHold {
        case: "CASE-7".into(),
        reason: "litigation".into(),
        scope: cr_journal::HoldScope::Sets { set_ids: vec!["set-b".into()] },
        placed_by: "sup1".into(),
        placed_at: Utc::now(),
    })
    .unwrap();
    let (code, err) = inst.uploader_once();
    assert_eq!(code, 0, "{err}");
    let rid = receipt_of(&j, "set-a").expect("set-a's receipt is sealed");
    assert!(err.contains(&format!("retention: DELETED set-a receipt {rid}")), "{err}");
    assert!(err.contains("retention: HELD set-b case CASE-7"), "{err}");
    let l = Listing::take(&inst, &s);
    l.assert_gone("set-a", &TARGETS);
    l.assert_whole("set-b", &TARGETS);
    l.assert_whole("set-c", &TARGETS);
    // The same `--once` delivered the receipt to every target of the deleted set.
    for (name, files) in l.each() {
        for f in [format!("{rid}.json"), format!("{rid}.sha256"), format!("{rid}.sha256.SHA256withRSA.sig")] {
            assert!(files.contains(&f), "receipt file {f} missing at {name}: {files:?}");
        }
    }
    check_receipt(&inst, &rid, "set-a", seq_a, &sum_a);
    assert!(receipt_of(&j, "set-b").is_none());
    let metrics = std::fs::read_to_string(inst.data.join("spool/uploader.prom")).unwrap();
    assert!(metrics.contains("\ncallrec_deletions_pending 0\n"), "{metrics}");

    // SFTP down: set-c's deletion waits for it, the others delete, no receipt yet.
    s.sshd.stop();
    inst.expire("set-c");
    let (code, err) = inst.uploader_once();
    assert_eq!(code, 1, "a deletion is pending: {err}");
    assert!(err.contains("retention: PENDING set-c offsite: "), "{err}");
    assert!(receipt_of(&j, "set-c").is_none(), "no receipt while offsite has not confirmed");
    let d = j.deletions("set-c").unwrap();
    let state = |t: &str| d.iter().find(|d| d.target == t).map(|d| (d.state, d.attempts, d.last_error.is_some()));
    assert_eq!(state("offsite"), Some((DeletionState::Pending, 1, true)), "{d:?}");
    for t in ["archive", "nas", "m365"] {
        assert_eq!(state(t).map(|s| s.0), Some(DeletionState::Confirmed), "{t}: {d:?}");
    }
    let metrics = std::fs::read_to_string(inst.data.join("spool/uploader.prom")).unwrap();
    assert!(metrics.contains("\ncallrec_deletions_pending 1\n"), "{metrics}");
    if let Some(smtp) = &smtp {
        // One outage mail for the target, as for uploads; none before (every deletion worked).
        let mail = smtp.wait_for(|m| m.contains("deletion at offsite failing"));
        assert!(mail.contains("pbx-del") && mail.contains("Sets whose deletion waits for this target: 1"), "{mail}");
        let deletion_mails = smtp.mails().into_iter().filter(|m| m.contains("Subject: [callrec pbx-del] deletion")).count();
        assert_eq!(deletion_mails, 1, "{:?}", smtp.mails());
    }
    s.sshd.restart();
    let l = Listing::take(&inst, &s);
    l.assert_gone("set-c", &["archive", "nas", "m365"]);
    l.assert_whole("set-c", &["offsite"]);
    l.assert_whole("set-b", &TARGETS);

    // SFTP back: deleted there too, receipt sealed and delivered.
    let (code, err) = inst.uploader_once();
    assert_eq!(code, 0, "{err}");
    let rid_c = receipt_of(&j, "set-c").expect("set-c's receipt is sealed once offsite confirmed");
    assert!(err.contains(&format!("retention: DELETED set-c receipt {rid_c}")), "{err}");
    let l = Listing::take(&inst, &s);
    l.assert_gone("set-c", &TARGETS);
    l.assert_whole("set-b", &TARGETS);
    check_receipt(&inst, &rid_c, "set-c", seq_c, &sum_c);
    for (name, files) in l.each() {
        assert!(files.contains(&format!("{rid_c}.sha256.SHA256withRSA.sig")), "receipt missing at {name}: {files:?}");
    }
    let offsite = j.deletions("set-c").unwrap().into_iter().find(|d| d.target == "offsite").unwrap();
    assert_eq!((offsite.state, offsite.attempts), (DeletionState::Confirmed, 2));
    let metrics = std::fs::read_to_string(inst.data.join("spool/uploader.prom")).unwrap();
    assert!(metrics.contains("\ncallrec_deletions_pending 0\n"), "{metrics}");
}

/// Kills the daemon when the test ends, also when it fails.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Without `--once` the first deletion pass runs right after the first delivery pass (not an
/// interval later: the default interval is an hour), and the receipt it sealed is delivered.
#[test]
fn the_daemon_runs_its_first_deletion_pass_at_start_and_delivers_the_receipt() {
    if !(have("sqlite3") && have("openssl") && have("base64")) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let inst = Install::new(tmp.path(), &["archive"], "");
    let j = inst.journal();
    let sum = inst.seal(&j, "set-d", t0());
    let seq = j.recording("set-d").unwrap().unwrap().chain.seq;
    let (code, err) = inst.uploader_once();
    assert_eq!(code, 0, "{err}");
    assert!(inst.dir.join("folder/rec/set-d.wav").exists(), "{err}");
    inst.expire("set-d");
    let _daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_cr-uploader"))
            .arg("--config")
            .arg(&inst.config)
            .args(["--poll", "1s"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let rid = loop {
        // Delivered: at the target, and out of the spool (every target confirmed it).
        if let Some(rid) = receipt_of(&j, "set-d")
            && inst.dir.join(format!("folder/rec/{rid}.sha256.SHA256withRSA.sig")).exists()
            && !inst.data.join("spool").join(&rid).exists()
        {
            break rid;
        }
        assert!(std::time::Instant::now() < deadline, "no receipt delivered by the running uploader");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(!inst.dir.join("folder/rec/set-d.wav").exists());
    check_receipt(&inst, &rid, "set-d", seq, &sum);
}
