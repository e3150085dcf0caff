//! `crctl hold place|release|list`, `crctl delete`, `crctl approve`: legal holds and the
//! four-eyes requests (a set's deletion, a hold's release) that a second supervisor
//! approves. The rules live in cr-journal (`Journal::place_hold`, `approve`, ...); this
//! module checks the operator, parses the arguments and prints one line per outcome.
//!
//! Exit status: 0 done; 2 could not run (bad arguments, unknown set, case or request, a
//! case that already has a standing hold, a request already made or approved, no journal);
//! 3 refused (wrong password, not a supervisor, approving one's own request, a held set).
use std::process::ExitCode;

use anyhow::bail;
use chrono::Utc;
use clap::{Args, Subcommand};
use cr_journal::{Hold, HoldScope, JournalError, NewHold, RequestKind, Role};

use crate::auth;
use crate::journal_cmds::{self, DisplayZone, MatchArgs};

/// `crctl hold` sub-commands.
#[derive(Subcommand)]
pub enum HoldCommand {
    /// Place a legal hold on sets (by id) or on a party's calls: held sets are never
    /// deleted, by retention or by request. A party hold also covers sets sealed later,
    /// while it stands. Prints `HOLD <case> placed: <n> sets now`.
    Place(PlaceArgs),
    /// Ask for a hold's release: it stands until a different supervisor runs
    /// `crctl approve REQUEST`. Prints `REQUEST <id> release <case> pending approval`.
    Release(ReleaseArgs),
    /// The standing holds (with `--all` the released ones too), one line each.
    List(ListArgs),
}

/// `crctl hold place` arguments.
#[derive(Args)]
pub struct PlaceArgs {
    /// The case name (printable, at most 100 characters); one standing hold per case.
    #[arg(long)]
    pub case: String,
    /// Why (the legal matter), for the audit log.
    #[arg(long)]
    pub reason: String,
    /// Hold these sets (repeat, or several after one --set).
    #[arg(long = "set", value_name = "ID", num_args = 1.., required_unless_present = "party", conflicts_with = "party")]
    pub sets: Vec<String>,
    /// Hold every set of calls with this party as caller, callee or a diversion, matched
    /// as `crctl search --number` matches; also sets sealed later.
    #[arg(long, value_name = "NUMBER")]
    pub party: Option<String>,
    /// With --party: how the number matches, and the range of the calls' start.
    #[command(flatten)]
    pub range: MatchArgs,
    /// The supervisor who places it.
    #[command(flatten)]
    pub who: auth::OperatorArgs,
}

/// `crctl hold release` arguments.
#[derive(Args)]
pub struct ReleaseArgs {
    /// The case whose standing hold to release.
    #[arg(long)]
    pub case: String,
    /// Why, for the audit log.
    #[arg(long)]
    pub reason: Option<String>,
    /// The supervisor who asks.
    #[command(flatten)]
    pub who: auth::OperatorArgs,
}

/// `crctl hold list` and `crctl requests` arguments.
#[derive(Args)]
pub struct ListArgs {
    /// Also what is over: released holds, requests carried out.
    #[arg(long)]
    pub all: bool,
    /// Print one JSON object each instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The supervisor who asks.
    #[command(flatten)]
    pub who: auth::OperatorArgs,
}

/// `crctl delete` arguments.
#[derive(Args)]
pub struct DeleteArgs {
    /// The set recorded in error.
    #[arg(long = "set", value_name = "ID")]
    pub set: String,
    /// Why, for the audit log and the deletion receipt.
    #[arg(long)]
    pub reason: String,
    /// The supervisor who asks.
    #[command(flatten)]
    pub who: auth::OperatorArgs,
}

/// `crctl approve` arguments.
#[derive(Args)]
pub struct ApproveArgs {
    /// The request's number, as `crctl delete` or `crctl hold release` printed it.
    pub request: i64,
    /// The approving supervisor: not the one who made the request.
    #[command(flatten)]
    pub who: auth::OperatorArgs,
}

/// A journal refusal as crctl's error: the four-eyes rule and a legal hold become
/// [`auth::Refused`] (exit 3), everything else stays an error (exit 2).
fn refusal(e: JournalError) -> anyhow::Error {
    match e {
        JournalError::Rule(r) if r.is_rule() => auth::Refused::new(r.to_string()).into(),
        other => other.into(),
    }
}

/// Runs a `crctl hold` sub-command.
pub fn hold(cfg: &cr_config::Config, cmd: HoldCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        HoldCommand::Place(args) => place(cfg, args),
        HoldCommand::Release(args) => release(cfg, args),
        HoldCommand::List(args) => list(cfg, args),
    }
}

fn place(cfg: &cr_config::Config, args: PlaceArgs) -> anyhow::Result<ExitCode> {
    let (_, (from, to)) = journal_cmds::time_range(cfg, &args.range)?;
    let scope = match args.party {
        Some(number) => HoldScope::party(number, args.range.exact, from, to),
        None => {
            if args.range.exact || from.is_some() || to.is_some() {
                bail!("--exact, --from and --to go with --party, not with --set");
            }
            HoldScope::sets(args.sets)
        }
    };
    let journal = journal_cmds::open(cfg, false)?;
    let op = auth::require(&journal, &args.who, Role::Supervisor, "hold place")?;
    let hold = journal
        .place_hold(&NewHold {
            case: args.case,
            reason: args.reason,
            scope,
            placed_by: op.name,
            placed_at: Utc::now(),
        })
        .map_err(refusal)?;
    println!("HOLD {} placed: {} sets now", hold.case, hold.covered);
    Ok(ExitCode::SUCCESS)
}

fn release(cfg: &cr_config::Config, args: ReleaseArgs) -> anyhow::Result<ExitCode> {
    let journal = journal_cmds::open(cfg, false)?;
    let op = auth::require(&journal, &args.who, Role::Supervisor, "hold release")?;
    let req = journal
        .request_release(&args.case, args.reason.as_deref(), &op.name, Utc::now())
        .map_err(refusal)?;
    println!("REQUEST {} release {} pending approval", req.id, args.case);
    Ok(ExitCode::SUCCESS)
}

fn scope_text(h: &Hold, tz: &DisplayZone) -> String {
    match &h.scope {
        HoldScope::Sets { set_ids } => format!("sets {}", set_ids.join(",")),
        HoldScope::Party { number, exact, from, to } => format!(
            "party {number}{} from {} to {}",
            if *exact { " (exact)" } else { "" },
            from.map_or_else(|| "any".to_owned(), |t| tz.show(t)),
            to.map_or_else(|| "any".to_owned(), |t| tz.show(t)),
        ),
        _ => "?".to_owned(),
    }
}

fn list(cfg: &cr_config::Config, args: ListArgs) -> anyhow::Result<ExitCode> {
    let tz = DisplayZone::of(cfg)?;
    let journal = journal_cmds::open(cfg, false)?;
    auth::require(&journal, &args.who, Role::Supervisor, "hold list")?;
    let holds = journal.holds(!args.all)?;
    if args.json {
        for h in &holds {
            println!("{}", serde_json::to_string(h)?);
        }
    } else {
        if !holds.is_empty() {
            println!("CASE\tSETS\tSCOPE\tPLACED\tBY\tSTATE");
        }
        for h in &holds {
            let state = match (&h.released_by, &h.release_requested_by, h.release_request) {
                (Some(by), _, _) => format!(
                    "released {} (approved by {by})",
                    h.released_at.map_or_else(String::new, |t| tz.show(t))
                ),
                (None, Some(by), Some(req)) => format!("release pending: request {req} by {by}"),
                _ => "standing".to_owned(),
            };
            println!(
                "{}\t{}\t{}\t{}\t{}\t{state}",
                h.case,
                h.covered,
                scope_text(h, &tz),
                tz.show(h.placed_at),
                h.placed_by
            );
        }
    }
    if holds.is_empty() {
        eprintln!("no holds");
    }
    Ok(ExitCode::SUCCESS)
}

/// `crctl requests`: the four-eyes requests that wait for a second supervisor or for the
/// deletion pass (`--all`: every one).
pub fn requests(cfg: &cr_config::Config, args: ListArgs) -> anyhow::Result<ExitCode> {
    let tz = DisplayZone::of(cfg)?;
    let journal = journal_cmds::open(cfg, false)?;
    auth::require(&journal, &args.who, Role::Supervisor, "requests")?;
    let requests = journal.requests(args.all)?;
    if args.json {
        for r in &requests {
            println!("{}", serde_json::to_string(r)?);
        }
    } else if !requests.is_empty() {
        println!("REQUEST\tWHAT\tBY\tAT\tREASON\tSTATE");
        for r in &requests {
            let what = match r.kind {
                RequestKind::Delete => format!("delete set {}", r.set_id.as_deref().unwrap_or("?")),
                RequestKind::Release => format!("release hold {}", r.case.as_deref().unwrap_or("?")),
            };
            let state = match (&r.approved_by, r.approved_at, r.done_at) {
                (None, _, _) => "pending approval".to_owned(),
                (Some(by), _, Some(done)) => match &r.receipt_set_id {
                    Some(receipt) => format!("done {} (approved by {by}; receipt {receipt})", tz.show(done)),
                    None => format!("done {} (approved by {by})", tz.show(done)),
                },
                (Some(by), at, None) => {
                    format!("approved by {by} {}; waits for the deletion pass", at.map_or_else(String::new, |t| tz.show(t)))
                }
            };
            println!(
                "{}\t{what}\t{}\t{}\t{}\t{state}",
                r.id,
                r.requested_by,
                tz.show(r.requested_at),
                r.reason.as_deref().unwrap_or("-")
            );
        }
    }
    if requests.is_empty() {
        eprintln!("no requests");
    }
    Ok(ExitCode::SUCCESS)
}

/// `crctl delete`: asks for the deletion of a set recorded in error.
pub fn delete(cfg: &cr_config::Config, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let journal = journal_cmds::open(cfg, false)?;
    let op = auth::require(&journal, &args.who, Role::Supervisor, "delete")?;
    let req = journal
        .request_deletion(&args.set, &args.reason, &op.name, Utc::now())
        .map_err(refusal)?;
    println!("REQUEST {} delete set {} pending approval", req.id, args.set);
    Ok(ExitCode::SUCCESS)
}

/// `crctl approve`: a second supervisor approves a request.
pub fn approve(cfg: &cr_config::Config, args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let journal = journal_cmds::open(cfg, false)?;
    let op = auth::require(&journal, &args.who, Role::Supervisor, "approve")?;
    let req = journal
        .approve(args.request, &op.name, Utc::now())
        .map_err(refusal)?;
    match req.kind {
        RequestKind::Delete => println!(
            "APPROVED {} delete set {}: the deletion pass deletes it",
            req.id,
            req.set_id.as_deref().unwrap_or("?")
        ),
        RequestKind::Release => println!(
            "APPROVED {} release {}: the hold is released",
            req.id,
            req.case.as_deref().unwrap_or("?")
        ),
    }
    Ok(ExitCode::SUCCESS)
}
