//! `crctl retention extend`: lengthens (never shortens) the retention of sets named by id
//! or by party. The rule lives in cr-journal (`Journal::extend_retention`, all or
//! nothing); this module checks the operator, reads `--until`, finds a party's sets as
//! `crctl search --number` does and prints one line per set.
//!
//! Exit status: 0 done; 2 could not run (bad arguments, `--until` not in the future or
//! before a set's current expiry, an unknown set, a party with no set, an empty reason, no
//! journal); 3 refused (wrong password, not a supervisor).
use std::process::ExitCode;

use anyhow::bail;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use cr_journal::{Extension, Role, SearchQuery};

use crate::auth;
use crate::journal_cmds::{self, DisplayZone, MatchArgs};

/// `crctl retention` sub-commands.
#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Lengthen the retention of sets (by id) or of a party's calls to `--until`; never
    /// shortens it, and a set that never expires stays so. All or nothing: one set that
    /// cannot be extended changes none. Prints one line per set:
    /// `EXTENDED <id> <before> -> <after>`, `UNCHANGED <id> <t>` or `NEVER-EXPIRES <id>`.
    Extend(ExtendArgs),
    /// Run the deletion pass now, as cr-uploader does every `[retention] interval`: every
    /// expired set and every approved deletion request not under a legal hold is deleted
    /// from every target it was delivered to and from the spool, each deletion confirmed by
    /// looking again, then a deletion receipt is sealed into the chain. One line per set:
    /// `DELETED <id> receipt <rid>`, `HELD <id> case <case>`, `PENDING <id> <target>:
    /// <error>` (`--dry-run`: `WOULD DELETE <id> from <places> (<rule>)`), and
    /// `CHECKPOINT <id>` when the audit trail's head was sealed. Exit 0: nothing left
    /// pending; 1: some deletion is pending (retried at the next pass).
    Run(RunArgs),
}

/// `crctl retention run` arguments.
#[derive(Args)]
pub struct RunArgs {
    /// Only say what would be deleted where; delete, seal and record nothing (needs the
    /// role auditor; a real pass needs supervisor).
    #[arg(long)]
    pub dry_run: bool,
    /// The operator who runs it (named in the audit trail as `crctl:NAME`).
    #[command(flatten)]
    pub who: auth::OperatorArgs,
}

/// `crctl retention extend` arguments.
#[derive(Args)]
pub struct ExtendArgs {
    /// Extend these sets (repeat, or several after one --set).
    #[arg(long = "set", value_name = "ID", num_args = 1.., required_unless_present = "party", conflicts_with = "party")]
    pub sets: Vec<String>,
    /// Extend every set of calls with this party as caller or callee, matched as
    /// `crctl search --number` matches (sets sealed later are not affected).
    #[arg(long, value_name = "NUMBER")]
    pub party: Option<String>,
    /// With --party: how the number matches, and the range of the calls' start.
    #[command(flatten)]
    pub range: MatchArgs,
    /// The new end of retention: a date (2033-12-31: kept through that whole day in UTC,
    /// i.e. until 2034-01-01T00:00:00Z) or an RFC 3339 time. Must be in the future and not
    /// before any of the sets' current expiry.
    #[arg(long, value_name = "DATE")]
    pub until: String,
    /// Why (e.g. the authority's request), for the audit trail.
    #[arg(long)]
    pub reason: String,
    /// The supervisor who extends.
    #[command(flatten)]
    pub who: auth::OperatorArgs,
}

/// Runs a `crctl retention` sub-command.
pub fn run(cfg: &cr_config::Config, cmd: RetentionCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RetentionCommand::Extend(args) => run_extend(cfg, args),
        RetentionCommand::Run(args) => run_pass(cfg, args),
    }
}

/// `crctl retention run`: one deletion pass ([`cr_retention::run_configured`]).
pub fn run_pass(cfg: &cr_config::Config, args: RunArgs) -> anyhow::Result<ExitCode> {
    let (role, action) = if args.dry_run { (Role::Auditor, "retention run --dry-run") } else { (Role::Supervisor, "retention run") };
    let op = {
        let journal = journal_cmds::open(cfg, false)?;
        auth::require(&journal, &args.who, role, action)?
    };
    let report = cr_retention::run_configured(cfg, &format!("crctl:{}", op.name), Utc::now(), args.dry_run)?;
    for o in &report.outcomes {
        println!("{o}");
    }
    if let Some(id) = &report.checkpoint {
        println!("CHECKPOINT {id}");
    }
    let count = |f: fn(&cr_retention::Outcome) -> bool| report.outcomes.iter().filter(|o| f(o)).count();
    eprintln!(
        "retention pass{}: {} deleted, {} held, {} pending{}",
        if args.dry_run { " (dry run)" } else { "" },
        count(|o| matches!(o, cr_retention::Outcome::Deleted { .. })),
        count(|o| matches!(o, cr_retention::Outcome::Held { .. })),
        count(|o| matches!(o, cr_retention::Outcome::Pending { .. })),
        if args.dry_run { format!(", {} would be deleted", count(|o| matches!(o, cr_retention::Outcome::WouldDelete { .. }))) } else { String::new() },
    );
    Ok(if report.has_pending() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `--until`: an RFC 3339 time, or a date, meaning the end of that day in UTC (00:00:00 UTC
/// of the next day).
fn parse_until(s: &str) -> anyhow::Result<DateTime<Utc>> {
    DisplayZone::Named(chrono_tz::Tz::UTC).parse("--until", s, true)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `crctl retention extend`: lengthens the retention of the sets named by id or by party.
pub fn run_extend(cfg: &cr_config::Config, args: ExtendArgs) -> anyhow::Result<ExitCode> {
    let until = parse_until(&args.until)?;
    let (_, (from, to)) = journal_cmds::time_range(cfg, &args.range)?;
    if args.party.is_none() && (args.range.exact || from.is_some() || to.is_some()) {
        bail!("--exact, --from and --to go with --party, not with --set");
    }
    let journal = journal_cmds::open(cfg, false)?;
    let op = auth::require(&journal, &args.who, Role::Supervisor, "retention extend")?;
    let set_ids = match &args.party {
        None => args.sets,
        Some(number) => {
            let hits = journal.search(&SearchQuery {
                number: Some(number.clone()),
                exact: args.range.exact,
                from,
                to,
                limit: None,
                ..Default::default()
            })?;
            // A deleted set has nothing left to keep.
            let ids: Vec<String> = hits.into_iter().filter(|h| h.deleted_at.is_none()).map(|h| h.set_id).collect();
            if ids.is_empty() {
                let range = if from.is_some() || to.is_some() { " in that time range" } else { "" };
                bail!("no recording of party {number} matches{range}: nothing was changed");
            }
            ids
        }
    };
    let done = journal.extend_retention(&set_ids, until, Utc::now(), &op.name, &args.reason)?;
    for e in &done {
        match e {
            Extension::Extended { set_id, before, after } => {
                println!("EXTENDED {set_id} {} -> {}", rfc3339(*before), rfc3339(*after));
            }
            Extension::Unchanged { set_id, expires_at } => println!("UNCHANGED {set_id} {}", rfc3339(*expires_at)),
            Extension::NeverExpires { set_id } => println!("NEVER-EXPIRES {set_id}"),
            other => println!("? {}", other.set_id()),
        }
    }
    Ok(ExitCode::SUCCESS)
}
