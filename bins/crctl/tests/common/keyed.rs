//! An installation with a key pair (made by `crctl keys init`), a SQLite journal with the
//! test operators, the folder target `nas` and an unreachable SFTP target `offsite`; sets
//! sealed with the installation's key and recorded in the journal as the recorder does.

use std::path::PathBuf;
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cr_journal::{FileEntry, Journal, NewRecording, OpenOptions};

pub const KEYSTORE_PASSWORD: &str = "pw-1234";

pub struct Install {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub config: PathBuf,
    pub identity: cr_sign::Identity,
}

pub fn have(tool: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CALLREC_TEST_STRICT").is_none(), "{tool} is missing (CALLREC_TEST_STRICT is set)");
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap()
}

/// A 16-bit mono 8 kHz PCM WAV of `samples` samples.
pub fn wav(samples: u32) -> Vec<u8> {
    let data = samples * 2;
    let mut v = Vec::new();
    for part in [&b"RIFF"[..], &(36 + data).to_le_bytes(), b"WAVEfmt ", &16u32.to_le_bytes(), &1u16.to_le_bytes(), &1u16.to_le_bytes()] {
        v.extend_from_slice(part);
    }
    for part in [&8000u32.to_le_bytes()[..], &16000u32.to_le_bytes(), &2u16.to_le_bytes(), &16u16.to_le_bytes(), b"data", &data.to_le_bytes()] {
        v.extend_from_slice(part);
    }
    v.extend((0..samples).flat_map(|i| ((i % 100) as i16 * 200).to_le_bytes()));
    v
}

impl Install {
    /// The installation (folder target `nas`, unreachable SFTP target `offsite`) with
    /// `extra` appended to its configuration.
    pub fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let nas = dir.path().join("nas");
        std::fs::create_dir_all(&nas).unwrap();
        let config = dir.path().join("callrec.toml");
        std::fs::write(
            &config,
            format!(
                r#"[installation]
module_id = "pbx-test"
data_dir = "{}"
timezone = "Europe/Berlin"

[keystore]
password_env = "CRCTL_TEST_PW"

[journal]
url = "sqlite:journal.sqlite"

[[recordings]]
name = "desk"
targets = ["nas", "offsite"]

[[targets]]
name = "nas"
kind = "folder"
path = "{}"

[[targets]]
name = "offsite"
kind = "sftp"
server = "backup.example.invalid"
username = "rec"
password_env = "CRCTL_TEST_SFTP_PW"
host_key = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
directory = "rec"
{extra}"#,
                data.display(),
                nas.display()
            ),
        )
        .unwrap();
        let mut inst = Self { dir, data, config, identity: cr_sign::Identity::generate("placeholder", t0()).unwrap() };
        let (code, _, err) = inst.crctl(&["keys", "init"]);
        assert_eq!(code, 0, "{err}");
        inst.identity = cr_sign::Identity::open_keystore(&inst.data.join("keystore.p12"), KEYSTORE_PASSWORD).unwrap();
        super::add_operators(&inst.journal());
        inst
    }

    pub fn crctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_crctl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("CRCTL_TEST_PW", KEYSTORE_PASSWORD)
            .env("CRCTL_TEST_SFTP_PW", "not-a-real-password")
            .env("CALLREC_OPERATOR_PASSWORD_FILE", super::password_file(self.dir.path(), "operator", super::PASSWORD))
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    pub fn journal(&self) -> Journal {
        Journal::open_sqlite(&self.data.join("journal.sqlite"), &OpenOptions::new()).unwrap()
    }

    pub fn nas(&self) -> PathBuf {
        self.dir.path().join("nas")
    }

    /// Seals a call's set into the spool as the recorder does: legs hashed, the chain link
    /// reserved, metadata written with it, sealed, committed with the set's location.
    /// Seals set `id` (one WAV and its metadata) into the spool and the journal's chain for
    /// the targets `nas` and `offsite`, as the recorder does.
    pub fn seal(&self, j: &Journal, id: &str, caller: &str, callee: &str, start: DateTime<Utc>) -> PathBuf {
        self.seal_for(j, id, caller, callee, start, &["nas", "offsite"])
    }

    /// [`Install::seal`] for the given targets.
    pub fn seal_for(&self, j: &Journal, id: &str, caller: &str, callee: &str, start: DateTime<Utc>, targets: &[&str]) -> PathBuf {
        self.seal_lasting(j, id, caller, callee, start, 95, targets)
    }

    /// [`Install::seal_for`] of a call that lasted `secs` (its set's start and end say so;
    /// the journal's PBX call id is `pbx-ID`).
    pub fn seal_lasting(&self, j: &Journal, id: &str, caller: &str, callee: &str, start: DateTime<Utc>, secs: i64, targets: &[&str]) -> PathBuf {
        let end = start + Duration::seconds(secs);
        let call = super::record_call(j, id, caller, callee, start, end);
        let dir = self.data.join("spool").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let audio = dir.join(format!("{id}.wav"));
        std::fs::write(&audio, wav(8000)).unwrap();
        let res = j.reserve_link(id, end).unwrap();
        let link = res.link().clone();
        let meta = dir.join(format!("{id}.json"));
        let json = serde_json::json!({"id": id, "caller": caller, "callee": callee, "chain": {"seq": link.seq, "prev_sha256": link.prev_sha256}});
        std::fs::write(&meta, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        let sealed = cr_sign::seal(id, &[audio, meta], &self.identity).unwrap();
        res.commit(
            &sealed.checksum_sha256,
            &NewRecording {
                set_id: id.into(),
                call,
                configuration: "desk".into(),
                started_at: start,
                ended_at: end,
                channels: "mono".into(),
                files: sealed.files.iter().map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() }).collect(),
                cert_fingerprint: self.identity.certificate().fingerprint_sha256(),
                flags: vec![],
                location: dir.display().to_string(),
                targets: targets.iter().map(|t| t.to_string()).collect(),
                expires_at: None,
            },
        )
        .unwrap();
        dir
    }

    /// Moves set `id` from the spool into the folder target, as delivery and clean-up do.
    pub fn deliver_to_nas(&self, j: &Journal, id: &str) {
        let to = self.nas().join("2026/11/26");
        std::fs::create_dir_all(&to).unwrap();
        let from = self.data.join("spool").join(id);
        for e in std::fs::read_dir(&from).unwrap() {
            let e = e.unwrap();
            std::fs::rename(e.path(), to.join(e.file_name())).unwrap();
        }
        std::fs::remove_dir(&from).unwrap();
        j.upload_done(id, "nas", &to.display().to_string(), &["2026".into(), "11".into(), "26".into()], t0()).unwrap();
        j.set_deleted(id, t0(), "cr-uploader", "delivered").unwrap();
    }
}

