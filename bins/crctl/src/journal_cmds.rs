//! `crctl group`, `crctl status`, `crctl search`: commands on the journal (cr-journal).
//!
//! Exit status: 0 done (also when a search finds nothing); 2 could not run — unknown
//! group or user, a user who is not a member of the group, a bad time, no journal yet;
//! 3 refused (search: wrong operator password or role).
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use clap::{Args, Subcommand};
use cr_journal::{AuditKind, Journal, OpenOptions, Role, SearchHit, SearchQuery};

/// Membership sub-commands.
#[derive(Subcommand)]
pub enum GroupCommand {
    /// Log USER out of GROUP: calls through the group no longer record them.
    Logout {
        /// Group id.
        group: String,
        /// User id.
        user: String,
        /// Who makes the change, for the audit log (default: the login name).
        #[arg(long)]
        by: Option<String>,
    },
    /// Log USER back in to GROUP.
    Login {
        /// Group id.
        group: String,
        /// User id.
        user: String,
        /// Who makes the change, for the audit log (default: the login name).
        #[arg(long)]
        by: Option<String>,
    },
}

/// `crctl search` arguments.
#[derive(Args)]
pub struct SearchArgs {
    /// A party number (caller or callee), in any form the PBX sends: "+49 30 555201",
    /// "030555201" and "004930555201" find each other (digits are compared; numbers of
    /// 7 or more digits also match as a suffix, shorter ones only exactly).
    #[arg(long)]
    pub number: Option<String>,
    /// Also find calls where the number's digits (3 or more) occur anywhere in the caller's
    /// or callee's number: "0555" finds "+49 30 555201". The web console's search does this.
    #[arg(long)]
    pub any_part: bool,
    /// How the number matches, and the time range.
    #[command(flatten)]
    pub range: MatchArgs,
    /// Only recordings of this recording configuration (its name).
    #[arg(long)]
    pub configuration: Option<String>,
    /// Only calls of this user or group of the configuration (`[[users]]` id: their
    /// numbers; `[[groups]]` id: the group's number and its members' numbers), matched
    /// exactly on digits.
    #[arg(long, value_name = "ID")]
    pub party_of: Option<String>,
    /// Only recordings with this flag: recovered, pending (not yet delivered everywhere),
    /// held (covered by a standing legal hold), untimestamped (its RFC 3161 time-stamp
    /// token has not arrived yet) or quality (past a `[quality]` threshold at sealing: loss,
    /// a gap, silence, one side silent).
    #[arg(long, value_parser = ["recovered", "pending", "held", "untimestamped", "quality"])]
    pub flag: Option<String>,
    /// Print one JSON object per recording instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Searching reads personal data: an operator with role auditor or above.
    #[command(flatten)]
    pub who: crate::auth::OperatorArgs,
}

/// Number matching and time range, shared by `crctl search` and `crctl export`.
#[derive(Args)]
pub struct MatchArgs {
    /// Compare the number's digits exactly, without suffix matching.
    #[arg(long)]
    pub exact: bool,
    /// Recordings that started at or after this time: RFC 3339 ("2026-11-26T09:00:00+01:00")
    /// or a date ("2026-11-26", midnight in the installation's time zone).
    #[arg(long)]
    pub from: Option<String>,
    /// Recordings that started before this time: RFC 3339, or a date, which includes that
    /// whole day.
    #[arg(long)]
    pub to: Option<String>,
}

pub(crate) fn open(cfg: &cr_config::Config, create: bool) -> anyhow::Result<Journal> {
    let journal = Journal::open_url(
        &cfg.journal.url,
        &cfg.installation.data_dir,
        &OpenOptions::new().create(create),
    )?;
    Ok(journal)
}

pub(crate) fn login_name() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Runs a group sub-command: checks group, user and membership against the configuration,
/// stores the new state in the journal (where the recorder picks it up) with an audit event.
pub fn group(cfg: &cr_config::Config, cmd: GroupCommand) -> anyhow::Result<ExitCode> {
    let (group, user, by, active) = match cmd {
        GroupCommand::Logout { group, user, by } => (group, user, by, false),
        GroupCommand::Login { group, user, by } => (group, user, by, true),
    };
    let pc = cr_policy::PolicyConfig::from_config(cfg).map_err(|errs| {
        let list: Vec<String> = errs.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", list.join("\n"))
    })?;
    let Some(g) = pc.groups.iter().find(|g| g.id == group) else {
        let known: Vec<&str> = pc.groups.iter().map(|g| g.id.as_str()).collect();
        bail!(
            "there is no group {group:?} in {} (groups: {})",
            cfg.path.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    if !pc.users.iter().any(|u| u.id == user) {
        bail!("there is no user {user:?} in {}", cfg.path.display());
    }
    if !g.members.contains(&user) {
        bail!(
            "user {user:?} is not a member of group {group:?} (members: {})",
            if g.members.is_empty() {
                "none".to_owned()
            } else {
                g.members.join(", ")
            }
        );
    }
    let actor = format!("crctl:{}", by.unwrap_or_else(login_name));
    let journal = open(cfg, true)?;
    let previous = journal
        .set_membership(&group, &user, active, &actor, Utc::now())
        .context("cannot store the membership change")?;
    // Before any change at run time, the configuration's `inactive` list holds the state.
    let was = previous.unwrap_or_else(|| !g.inactive.contains(&user));
    let word = |a: bool| if a { "logged in" } else { "logged out" };
    println!(
        "{user} is now {} {} group {group} (was {})",
        word(active),
        if active { "to" } else { "of" },
        word(was)
    );
    Ok(ExitCode::SUCCESS)
}

fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `crctl status`: active calls, spool backlog per target, last errors, pending deletions,
/// chain head.
pub fn status(cfg: &cr_config::Config) -> anyhow::Result<ExitCode> {
    let journal = open(cfg, false)?;
    let now = Utc::now();
    let st = journal.status(now, 10)?;
    let tz = DisplayZone::of(cfg)?;

    println!("active calls: {}", st.active_calls.len());
    for c in &st.active_calls {
        println!(
            "  {}  {} -> {}  {}  {}  since {} ({})",
            c.pbx_call_id,
            c.caller,
            c.callee,
            c.direction,
            c.configuration.as_deref().unwrap_or("-"),
            tz.show(c.started_at),
            age(c.age_secs)
        );
    }
    println!("backlog per target:");
    let targets = cfg.names_of("targets");
    let mut names: Vec<&str> = targets.iter().map(String::as_str).collect();
    for b in &st.backlog {
        if !names.contains(&b.target.as_str()) {
            names.push(b.target.as_str());
        }
    }
    for name in names {
        match st.backlog.iter().find(|b| b.target == name) {
            Some(b) if b.pending + b.failed > 0 => println!(
                "  {name}: {} pending, {} failed, oldest {} ({} ago){}",
                b.pending,
                b.failed,
                b.oldest_queued_at
                    .map_or_else(|| "-".to_owned(), |t| tz.show(t)),
                age(b.oldest_age_secs.unwrap_or(0)),
                if targets.iter().any(|t| *t == name) {
                    ""
                } else {
                    "  [not in the configuration]"
                }
            ),
            _ => println!("  {name}: 0 pending, 0 failed"),
        }
    }
    println!("last errors: {}", st.last_errors.len());
    for e in &st.last_errors {
        println!(
            "  {}  {} -> {}  {} after {} attempt{}: {}",
            e.at.map_or_else(|| "-".to_owned(), |t| tz.show(t)),
            e.set_id,
            e.target,
            e.state,
            e.attempts,
            if e.attempts == 1 { "" } else { "s" },
            e.error
        );
    }
    println!("deletions pending: {}", st.pending_deletions.len());
    for d in &st.pending_deletions {
        let place = if d.target == cr_journal::Deletion::LOCAL { "local" } else { d.target.as_str() };
        println!(
            "  {} {place}: {} attempt{}, last {}: {}",
            d.set_id,
            d.attempts,
            if d.attempts == 1 { "" } else { "s" },
            d.last_attempt_at.map_or_else(|| "-".to_owned(), |t| tz.show(t)),
            d.last_error.as_deref().unwrap_or("-")
        );
    }
    match &st.chain_head {
        Some(h) => println!(
            "recordings: {}, chain head #{} {} ({})",
            st.recordings, h.seq, h.set_id, h.sha256
        ),
        None => println!("recordings: {}, chain empty", st.recordings),
    }
    Ok(ExitCode::SUCCESS)
}

/// The zone in which times are read and shown: `installation.timezone`, else the system's.
pub(crate) enum DisplayZone {
    Named(chrono_tz::Tz),
    Local,
}

impl DisplayZone {
    /// `installation.timezone`, else the system's zone.
    pub(crate) fn of(cfg: &cr_config::Config) -> anyhow::Result<Self> {
        match cfg.installation.timezone.as_deref() {
            None => Ok(DisplayZone::Local),
            Some(name) => name
                .parse::<chrono_tz::Tz>()
                .map(DisplayZone::Named)
                .map_err(|_| {
                    anyhow::anyhow!("installation.timezone {name:?} is not an IANA time zone name")
                }),
        }
    }

    /// The named zone (`installation.timezone`), if one is configured.
    pub(crate) fn named(&self) -> Option<chrono_tz::Tz> {
        match self {
            DisplayZone::Named(z) => Some(*z),
            DisplayZone::Local => None,
        }
    }

    pub(crate) fn show(&self, t: DateTime<Utc>) -> String {
        match self {
            DisplayZone::Named(z) => t
                .with_timezone(z)
                .format("%Y-%m-%d %H:%M:%S%:z")
                .to_string(),
            DisplayZone::Local => t
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S%:z")
                .to_string(),
        }
    }

    fn midnight(&self, d: NaiveDate) -> Option<DateTime<Utc>> {
        let naive = d.and_time(NaiveTime::MIN);
        match self {
            DisplayZone::Named(z) => z
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
            DisplayZone::Local => chrono::Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// Parses `--from` / `--to`; a date is its midnight, or the next day's for `--to`.
    pub(crate) fn parse(&self, flag: &str, s: &str, end: bool) -> anyhow::Result<DateTime<Utc>> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(t.with_timezone(&Utc));
        }
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            anyhow::anyhow!(
                "{flag} {s:?} is not a time: write e.g. 2026-11-26 or 2026-11-26T09:00:00+01:00"
            )
        })?;
        let d = if end { d.succ_opt().unwrap_or(d) } else { d };
        self.midnight(d).ok_or_else(|| {
            anyhow::anyhow!("{flag} {s:?}: midnight does not exist in this time zone")
        })
    }
}

pub(crate) fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

fn deliveries(h: &SearchHit) -> String {
    if h.deliveries.is_empty() {
        return "(no targets)".to_owned();
    }
    h.deliveries
        .iter()
        .map(|d| match &d.remote_path {
            Some(p) => format!("{}:{}:{p}", d.target, d.state),
            None => format!("{}:{}", d.target, d.state),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `--from` and `--to` as times.
pub(crate) type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The display zone and `--from` / `--to` as times (see [`MatchArgs`]); `--to` must be
/// later than `--from`.
pub(crate) fn time_range(cfg: &cr_config::Config, range: &MatchArgs) -> anyhow::Result<(DisplayZone, Bounds)> {
    let tz = DisplayZone::of(cfg)?;
    let bounds = time_bounds(&tz, range.from.as_deref(), range.to.as_deref())?;
    Ok((tz, bounds))
}

/// `--from` and `--to` read in `tz`; `--to` must be later than `--from`.
pub(crate) fn time_bounds(tz: &DisplayZone, from: Option<&str>, to: Option<&str>) -> anyhow::Result<Bounds> {
    let from = from.map(|s| tz.parse("--from", s, false)).transpose()?;
    let to = to.map(|s| tz.parse("--to", s, true)).transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && t <= f
    {
        bail!("--to must be later than --from");
    }
    Ok((from, to))
}

/// `crctl search`: recordings by party number and time range.
pub fn search(cfg: &cr_config::Config, args: SearchArgs) -> anyhow::Result<ExitCode> {
    let (tz, (from, to)) = time_range(cfg, &args.range)?;
    let journal = open(cfg, false)?;
    let operator = crate::auth::require(&journal, &args.who, Role::Auditor, "searching recordings")?;
    let hits = journal.search(&SearchQuery {
        number: args.number.clone(),
        exact: args.range.exact,
        any_part: args.any_part,
        from,
        to,
        configuration: args.configuration.clone(),
        parties: match &args.party_of {
            None => Vec::new(),
            Some(id) => party_numbers(cfg, id)?,
        },
        flag: args.flag.as_deref().and_then(cr_journal::SearchFlag::parse),
        ..Default::default()
    })?;
    journal.audit(
        &AuditKind::Searched,
        Utc::now(),
        Some(&operator.name),
        None,
        &serde_json::json!({"number": args.number, "exact": args.range.exact, "from": from, "to": to, "found": hits.len()}),
    )?;
    if args.json {
        for h in &hits {
            println!("{}", serde_json::to_string(h)?);
        }
    } else {
        if !hits.is_empty() {
            println!("SET\tSTART\tDURATION\tCONFIGURATION\tCALLER -> CALLEE\tSEQ\tDELIVERY");
        }
        for h in &hits {
            println!(
                "{}\t{}\t{}\t{}\t{} -> {}\t#{}\t{}{}",
                h.set_id,
                tz.show(h.started_at),
                duration(h.duration_ms),
                h.configuration,
                h.caller,
                h.callee,
                h.chain_seq,
                deliveries(h),
                if h.flags.is_empty() {
                    String::new()
                } else {
                    format!("\t[{}]", h.flags.join(","))
                }
            );
        }
    }
    if hits.is_empty() {
        eprintln!("no recordings match");
    }
    Ok(ExitCode::SUCCESS)
}

/// The numbers of user or group `id` of the configuration, for `--party-of`.
fn party_numbers(cfg: &cr_config::Config, id: &str) -> anyhow::Result<Vec<String>> {
    let pc = cr_policy::PolicyConfig::from_config(cfg)
        .map_err(|errs| anyhow::anyhow!("{}", errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
    pc.numbers_of(id).ok_or_else(|| anyhow::anyhow!("--party-of {id:?}: no [[users]] or [[groups]] entry has that id"))
}
