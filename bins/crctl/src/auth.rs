//! Who runs a privileged command: `--operator NAME` and that operator's password, checked
//! against the journal's operator accounts (cr-journal `operators`), and `crctl operator`.
//!
//! The password comes from the file named by `CALLREC_OPERATOR_PASSWORD_FILE` (which must
//! not be readable by group or others), else from a prompt on the terminal. A wrong name
//! or password, and a role that does not allow the command, end with exit code 3 and an
//! audit event (`login_failed`, `access_denied`).
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use cr_journal::{Journal, JournalError, Operator, Role};

/// The environment variable naming the acting operator's password file.
pub const PASSWORD_FILE_ENV: &str = "CALLREC_OPERATOR_PASSWORD_FILE";

/// The acting operator of a privileged command.
#[derive(Args, Debug, Clone)]
pub struct OperatorArgs {
    /// The operator running this command (an account made with `crctl operator add`). The
    /// password is read from the file named by CALLREC_OPERATOR_PASSWORD_FILE, or asked
    /// for on the terminal.
    #[arg(long, value_name = "NAME")]
    pub operator: String,
}

/// A refusal: wrong credentials, a role that does not allow it, the four-eyes rule, a set
/// under hold. crctl exits with 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

impl Refused {
    /// A refusal with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Refused(reason.into())
    }
}

/// Whether `e` is a refusal (ours or the journal's): exit code 3.
pub fn is_refusal(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<Refused>().is_some() || matches!(c.downcast_ref::<JournalError>(), Some(JournalError::Refused { .. }))
    })
}

/// Authenticates `who` and checks that their role allows `needed`; `action` names the
/// command for the audit trail. The operator's name is what the command's audit events
/// carry as actor.
pub fn require(journal: &Journal, who: &OperatorArgs, needed: Role, action: &str) -> anyhow::Result<Operator> {
    let password = acting_password(&who.operator)?;
    let operator = journal.authenticate(&who.operator, &password, Utc::now())?;
    if !operator.role.allows(needed) {
        journal.audit_denied(&operator, needed, action, Utc::now())?;
        return Err(Refused::new(format!(
            "operator {:?} has role {}; {action} needs {needed}",
            operator.name, operator.role
        ))
        .into());
    }
    Ok(operator)
}

fn acting_password(name: &str) -> anyhow::Result<String> {
    match std::env::var_os(PASSWORD_FILE_ENV) {
        Some(path) => read_password_file(Path::new(&path), PASSWORD_FILE_ENV),
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("password of operator {name}: ")).context("cannot read the password from the terminal")
        }
        None => bail!(
            "no password for operator {name:?}: set {PASSWORD_FILE_ENV} to a file holding it (mode 600), or run on a terminal"
        ),
    }
}

/// The first line of a password file that only its owner can read.
fn read_password_file(path: &Path, named_by: &str) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).with_context(|| format!("{named_by}: cannot read {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{named_by}: {} can be read by others (mode {:o}); make it private: chmod 600 {}",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{named_by}: cannot read {}", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("{named_by}: {} is empty (the password is its first line)", path.display());
    }
    Ok(line.to_owned())
}

/// `crctl operator` sub-commands.
#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Create an operator account. The installation's first operator needs no
    /// `--operator` and must be an admin; every later one is added by an admin.
    Add {
        /// The new operator's login name (letters, digits, . - _ @).
        name: String,
        /// auditor (search, export, audit trail), supervisor (+ legal hold, deletion
        /// approval, retention extension) or admin (+ operator accounts).
        #[arg(long)]
        role: Role,
        /// A file holding the new operator's password (first line, mode 600); without it
        /// the password is asked for twice on the terminal.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The admin adding the account (not for the first operator).
        #[arg(long, value_name = "NAME")]
        operator: Option<String>,
    },
    /// List the operator accounts (name, role, created, disabled).
    List {
        /// One JSON object per operator.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        who: OperatorArgs,
    },
    /// Disable an operator account: it can no longer sign in; its history stays.
    Disable(NamedOperator),
    /// An operator's second factor for the web console (TOTP, RFC 6238).
    #[command(subcommand)]
    Totp(TotpCommand),
}

/// `crctl operator totp` sub-commands (admin).
#[derive(Subcommand)]
pub enum TotpCommand {
    /// Give an operator a new TOTP secret (replacing one they had) and print it once: the
    /// otpauth:// URI for an authenticator app and the base32 secret. From then on the
    /// console asks them for a 6-digit code after the password.
    Enroll(NamedOperator),
    /// Remove an operator's second factor: the console asks for the password only.
    Disable(NamedOperator),
}

/// The account a command is about, and who runs it.
#[derive(Args)]
pub struct NamedOperator {
    /// The operator's login name.
    name: String,
    #[command(flatten)]
    who: OperatorArgs,
}

/// Runs `crctl operator …`.
pub fn run(cfg: &cr_config::Config, cmd: OperatorCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OperatorCommand::Add { name, role, password_file, operator } => {
            let journal = crate::journal_cmds::open(cfg, true)?;
            let by = match &operator {
                Some(admin) => {
                    Some(require(&journal, &OperatorArgs { operator: admin.clone() }, Role::Admin, "adding an operator")?.name)
                }
                None => None,
            };
            let password = match &password_file {
                Some(path) => read_password_file(path, "--password-file")?,
                None => new_password(&name)?,
            };
            let added = journal.add_operator(&name, role, &password, by.as_deref(), Utc::now())?;
            println!("ADDED {} {}", added.name, added.role);
        }
        OperatorCommand::List { json, who } => {
            let journal = crate::journal_cmds::open(cfg, false)?;
            require(&journal, &who, Role::Auditor, "listing operators")?;
            let tz = crate::journal_cmds::DisplayZone::of(cfg)?;
            for o in journal.operators()? {
                if json {
                    println!("{}", serde_json::to_string(&o)?);
                } else {
                    println!(
                        "{}\t{}\tcreated {} by {}{}",
                        o.name,
                        o.role,
                        tz.show(o.created_at),
                        o.created_by,
                        match (&o.disabled_at, &o.disabled_by) {
                            (Some(t), Some(by)) => format!("\tdisabled {} by {by}", tz.show(*t)),
                            (Some(t), None) => format!("\tdisabled {}", tz.show(*t)),
                            _ => String::new(),
                        }
                    );
                }
            }
        }
        OperatorCommand::Disable(NamedOperator { name, who }) => {
            let journal = crate::journal_cmds::open(cfg, false)?;
            let admin = require(&journal, &who, Role::Admin, "disabling an operator")?;
            journal.disable_operator(&name, &admin.name, Utc::now())?;
            println!("DISABLED {name}");
        }
        OperatorCommand::Totp(TotpCommand::Enroll(NamedOperator { name, who })) => {
            let journal = crate::journal_cmds::open(cfg, false)?;
            let admin = require(&journal, &who, Role::Admin, "enrolling a second factor")?;
            let e = journal.enroll_totp(&name, &admin.name, Utc::now())?;
            println!("ENROLLED {name}");
            println!("uri\t{}", e.uri);
            println!("secret\t{}", e.secret_base32);
            eprintln!("Give these to {name} only, for an authenticator app; they are not shown again.");
        }
        OperatorCommand::Totp(TotpCommand::Disable(NamedOperator { name, who })) => {
            let journal = crate::journal_cmds::open(cfg, false)?;
            let admin = require(&journal, &who, Role::Admin, "disabling a second factor")?;
            journal.disable_totp(&name, &admin.name, Utc::now())?;
            println!("TOTP DISABLED {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn new_password(name: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("no password for the new operator {name:?}: give --password-file FILE (mode 600), or run on a terminal");
    }
    let first = rpassword::prompt_password(format!("new password of operator {name}: "))?;
    let again = rpassword::prompt_password("again: ")?;
    if first != again {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}
