//! Operator accounts: a name, a role, an argon2id password hash. `crctl` and the web
//! console authenticate against them; every privileged action names its operator in the
//! audit trail.

use std::str::FromStr;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Journal;
use crate::audit::insert_audit;
use crate::db::{Row, TxKind, params};
use crate::error::JournalError;
use crate::model::AuditKind;
use crate::store::Session;

/// What an operator may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Search, export, read the audit trail.
    Auditor,
    /// + legal hold, deletion requests and approvals, retention extension.
    Supervisor,
    /// + operator accounts.
    Admin,
}

impl Role {
    /// The stored form: `auditor`, `supervisor`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auditor" => Ok(Role::Auditor),
            "supervisor" => Ok(Role::Supervisor),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role {s:?} (auditor, supervisor or admin)")),
        }
    }
}

/// An operator account (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Operator {
    /// The login name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// By whom (the first admin names themselves).
    pub created_by: String,
    /// When it was disabled, if it was.
    pub disabled_at: Option<DateTime<Utc>>,
    /// By whom.
    pub disabled_by: Option<String>,
}

/// Shortest password accepted for a new operator.
pub const MIN_PASSWORD_CHARS: usize = 12;

const COLUMNS: &str = "name, role, created_at, created_by, disabled_at, disabled_by";

fn operator_row(r: &Row) -> Result<Operator, crate::db::Bad> {
    let role = r.text(1)?;
    Ok(Operator {
        name: r.text(0)?,
        role: role.parse().map_err(|_| crate::db::Bad { what: "operator role", value: role })?,
        created_at: r.time(2)?,
        created_by: r.text(3)?,
        disabled_at: r.opt_time(4)?,
        disabled_by: r.opt_text(5)?,
    })
}

fn check_name(name: &str) -> Result<(), JournalError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_@".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(JournalError::Invalid {
            what: "operator name",
            value: name.chars().take(64).collect(),
            reason: "1 to 64 characters: letters, digits and . - _ @, starting with a letter or digit".to_owned(),
        })
    }
}

pub(crate) fn hash_password(password: &str) -> Result<String, JournalError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(JournalError::Invalid {
            what: "password",
            value: "(not shown)".to_owned(),
            reason: format!("at least {MIN_PASSWORD_CHARS} characters"),
        });
    }
    PasswordHasher::<PasswordHash>::hash_password(&Argon2::default(), password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| JournalError::Invalid {
            what: "password",
            value: "(not shown)".to_owned(),
            reason: format!("cannot be hashed: {e}"),
        })
}

/// A hash of a password nobody has, verified for unknown names so that a wrong name
/// takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        PasswordHasher::<PasswordHash>::hash_password(&Argon2::default(), b"callrec decoy: no operator has this password")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordVerifier::<str>::verify_password(&Argon2::default(), password.as_bytes(), phc).is_ok()
}

fn enabled_operator(s: &mut Session<'_>, op: &'static str, name: &str) -> Result<Option<(Operator, String)>, JournalError> {
    s.query_opt(
        op,
        &format!("SELECT {COLUMNS}, password_hash FROM operators WHERE name = ?1 AND disabled_at IS NULL"),
        params![name],
        |r| Ok((operator_row(r)?, r.text(6)?)),
    )
}

impl Journal {
    /// Creates an operator. `by` is the admin creating it (authenticated by the caller with
    /// [`authenticate`](Self::authenticate)); `None` only for an installation's first
    /// operator, who must be an admin. Audit event `operator_added`.
    pub fn add_operator(
        &self,
        name: &str,
        role: Role,
        password: &str,
        by: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Operator, JournalError> {
        check_name(name)?;
        let hash = hash_password(password)?;
        let op = "add an operator";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, "callrec operators")?;
        let count = s.query_one(op, "SELECT count(*) FROM operators", params![], |r| r.i64(0))?;
        let creator = match by {
            None if count > 0 => {
                return Err(JournalError::Refused {
                    reason: "operators exist already: an admin must add new ones (--operator NAME)".to_owned(),
                });
            }
            None if role != Role::Admin => {
                return Err(JournalError::Refused {
                    reason: "the first operator of an installation must be an admin (--role admin)".to_owned(),
                });
            }
            None => name.to_owned(),
            Some(by) => {
                let admin = enabled_operator(&mut s, op, by)?.map(|(o, _)| o);
                if !admin.is_some_and(|a| a.role.allows(Role::Admin)) {
                    return Err(JournalError::Refused { reason: format!("operator {by:?} is not an enabled admin") });
                }
                by.to_owned()
            }
        };
        let exists = s.query_opt(op, "SELECT name FROM operators WHERE name = ?1", params![name], |r| r.text(0))?;
        if exists.is_some() {
            return Err(JournalError::Invalid {
                what: "operator name",
                value: name.to_owned(),
                reason: "an operator of that name exists (names are never reused, also after disabling)".to_owned(),
            });
        }
        s.execute(
            op,
            "INSERT INTO operators (name, role, password_hash, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, role.as_str(), hash.as_str(), at, creator.as_str()],
        )?;
        insert_audit(
            &mut s,
            op,
            &AuditKind::OperatorAdded,
            at,
            Some(&creator),
            None,
            &serde_json::json!({"operator": name, "role": role.as_str(), "first": by.is_none()}),
        )?;
        s.commit(op)?;
        Ok(Operator {
            name: name.to_owned(),
            role,
            created_at: DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at),
            created_by: creator,
            disabled_at: None,
            disabled_by: None,
        })
    }

    /// Every operator, enabled or not, by name.
    pub fn operators(&self) -> Result<Vec<Operator>, JournalError> {
        self.store.conn()?.query(
            "list operators",
            &format!("SELECT {COLUMNS} FROM operators ORDER BY name"),
            params![],
            operator_row,
        )
    }

    /// Disables an operator (they can no longer authenticate; the account and its history
    /// stay). Refuses to disable the last enabled admin. Audit event `operator_disabled`.
    pub fn disable_operator(&self, name: &str, by: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        let op = "disable an operator";
        let mut s = self.store.begin(TxKind::Write, op)?;
        s.lock_key(op, "callrec operators")?;
        let Some((target, _)) = enabled_operator(&mut s, op, name)? else {
            return Err(self.store.missing(format!("enabled operator {name:?}")));
        };
        if target.role == Role::Admin {
            let admins = s.query_one(
                op,
                "SELECT count(*) FROM operators WHERE role = 'admin' AND disabled_at IS NULL",
                params![],
                |r| r.i64(0),
            )?;
            if admins <= 1 {
                return Err(JournalError::Refused {
                    reason: format!("{name:?} is the last enabled admin; add another admin first"),
                });
            }
        }
        s.execute(
            op,
            "UPDATE operators SET disabled_at = ?2, disabled_by = ?3 WHERE name = ?1",
            params![name, at, by],
        )?;
        insert_audit(
            &mut s,
            op,
            &AuditKind::OperatorDisabled,
            at,
            Some(by),
            None,
            &serde_json::json!({"operator": name, "role": target.role.as_str()}),
        )?;
        s.commit(op)
    }

    /// Checks an operator's password. A wrong name, a disabled account and a wrong
    /// password get the same refusal (and take the same time); each is written to the
    /// audit trail as `login_failed` with the name that was tried.
    pub fn authenticate(&self, name: &str, password: &str, at: DateTime<Utc>) -> Result<Operator, JournalError> {
        let op = "authenticate an operator";
        let found = enabled_operator(&mut self.store.conn()?, op, name)?;
        let ok = match &found {
            Some((_, phc)) => password_matches(password, phc),
            None => {
                password_matches(password, decoy_hash());
                false
            }
        };
        match found {
            Some((operator, _)) if ok => Ok(operator),
            _ => {
                let shown: String = name.chars().take(64).collect();
                self.audit(
                    &AuditKind::LoginFailed,
                    at,
                    Some(&shown),
                    None,
                    &serde_json::json!({"operator": shown}),
                )?;
                Err(JournalError::Refused {
                    reason: format!("wrong operator name or password for {shown:?}"),
                })
            }
        }
    }

    /// Writes `access_denied`: `operator` (authenticated) tried something their role
    /// does not allow.
    pub fn audit_denied(&self, operator: &Operator, needed: Role, what: &str, at: DateTime<Utc>) -> Result<(), JournalError> {
        self.audit(
            &AuditKind::AccessDenied,
            at,
            Some(&operator.name),
            None,
            &serde_json::json!({"role": operator.role.as_str(), "needed": needed.as_str(), "action": what}),
        )
        .map(drop)
    }
}
