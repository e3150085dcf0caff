//! Operator accounts for crctl's integration tests: every privileged command runs as a
//! named operator whose password is in a mode-600 file named by
//! CALLREC_OPERATOR_PASSWORD_FILE; and sealed sets in the journal.
#![allow(dead_code, clippy::unwrap_used)]

pub mod keyed;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use cr_journal::{Direction, FileEntry, Journal, NewCall, NewRecording, Role};

/// The password every test operator has (each has its own file).
pub const PASSWORD: &str = "test operator password";

/// The test operators: name and role. `root` is the installation's first admin.
pub const OPERATORS: [(&str, Role); 5] = [
    ("root", Role::Admin),
    ("aud", Role::Auditor),
    ("sup1", Role::Supervisor),
    ("sup2", Role::Supervisor),
    ("admin2", Role::Admin),
];

/// Creates [`OPERATORS`] in `journal` (through the journal, as `crctl operator add` would).
pub fn add_operators(journal: &Journal) {
    let at = chrono::Utc::now();
    for (name, role) in OPERATORS {
        let by = (name != "root").then_some("root");
        journal.add_operator(name, role, PASSWORD, by, at).unwrap();
    }
}

/// Writes `password` to `dir/NAME.pw` with mode 600 and returns the path.
pub fn password_file(dir: &Path, name: &str, password: &str) -> PathBuf {
    let path = dir.join(format!("{name}.pw"));
    std::fs::write(&path, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Sets CALLREC_OPERATOR_PASSWORD_FILE for `cmd` to a file holding [`PASSWORD`].
pub fn as_operator(cmd: &mut std::process::Command, dir: &Path) {
    cmd.env("CALLREC_OPERATOR_PASSWORD_FILE", password_file(dir, "operator", PASSWORD));
}

/// A bare installation: a data directory, a SQLite journal, one folder target, no keys.
pub struct Install {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub config: PathBuf,
}

impl Install {
    /// The installation with `extra` appended to its configuration.
    pub fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let config = dir.path().join("callrec.toml");
        std::fs::write(
            &config,
            format!(
                "[installation]\nmodule_id = \"pbx-test\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\n\n[keystore]\npassword_env = \"CRCTL_TEST_PW\"\n\n[journal]\nurl = \"sqlite:journal.sqlite\"\n\n[[targets]]\nname = \"nas\"\nkind = \"folder\"\npath = \"{}\"\n{extra}",
                data.display(),
                dir.path().join("nas").display()
            ),
        )
        .unwrap();
        Self { dir, data, config }
    }

    /// Runs crctl with the acting operator's password read from `password_file`.
    pub fn crctl_with(&self, password_file: Option<&Path>, args: &[&str]) -> (i32, String, String) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_crctl"));
        cmd.arg("--config").arg(&self.config).args(args).env_remove("RUST_LOG").env("CRCTL_TEST_PW", "keystore pw");
        cmd.env_remove("CALLREC_OPERATOR_PASSWORD_FILE");
        if let Some(f) = password_file {
            cmd.env("CALLREC_OPERATOR_PASSWORD_FILE", f);
        }
        let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs crctl as any of [`OPERATORS`] (they all have [`PASSWORD`]).
    pub fn crctl(&self, args: &[&str]) -> (i32, String, String) {
        let f = password_file(self.dir.path(), "operator", PASSWORD);
        self.crctl_with(Some(&f), args)
    }

    /// Runs crctl as operator `who` of [`OPERATORS`] (`--operator who` appended).
    pub fn crctl_as(&self, who: &str, args: &[&str]) -> (i32, String, String) {
        let mut all = args.to_vec();
        all.extend(["--operator", who]);
        self.crctl(&all)
    }

    /// The journal (created if need be).
    pub fn journal(&self) -> Journal {
        Journal::open_sqlite(&self.data.join("journal.sqlite"), &cr_journal::OpenOptions::new()).unwrap()
    }
}

/// Records the incoming call of set `set_id`, `caller -> callee`, from `start` to `end`, recorded by
/// configuration `desk`.
pub fn record_call(j: &Journal, set_id: &str, caller: &str, callee: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> cr_journal::CallId {
    let call = j
        .record_call(&NewCall {
            pbx_call_id: format!("pbx-{set_id}"),
            direction: Direction::Incoming,
            caller: caller.into(),
            callee: callee.into(),
            diversions: vec![],
            started_at: start,
            record: true,
            configuration: Some("desk".into()),
            reason: "incoming call to group trading (300)".into(),
        })
        .unwrap();
    j.end_call(call, end).unwrap();
    call
}

/// Records a call `caller -> callee` that started at `start` and lasted `secs`, and seals
/// set `set_id` for it, to be delivered to `targets`.
pub fn seal(
    j: &Journal,
    set_id: &str,
    caller: &str,
    callee: &str,
    start: DateTime<Utc>,
    secs: i64,
    targets: &[&str],
) {
    let end = start + Duration::seconds(secs);
    let call = record_call(j, set_id, caller, callee, start, end);
    let res = j.reserve_link(set_id, end).unwrap();
    let seq = res.link().seq;
    res.commit(
        &format!("{seq:064x}"),
        &NewRecording {
            set_id: set_id.into(),
            call,
            configuration: "desk".into(),
            started_at: start,
            ended_at: end,
            channels: "stereo".into(),
            files: vec![FileEntry {
                name: format!("{set_id}.wav"),
                size: 44,
                sha256: "0".repeat(64),
            }],
            cert_fingerprint: "f".repeat(64),
            flags: vec![],
            location: format!("spool/{set_id}"),
            targets: targets.iter().map(|s| (*s).to_owned()).collect(),
            expires_at: None,
        },
    )
    .unwrap();
}
