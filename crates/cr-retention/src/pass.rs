//! The executor: asks the journal which sets are due, plans each ([`crate::plan`]), deletes
//! at the targets and in the spool, records every attempt, and seals the receipt once
//! every place confirmed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cr_journal::{DeletionConfirmed, Journal, RecordingInfo};
use cr_sign::Identity;
use cr_storage::{DirTemplate, Spool, Target, Zone};
use cr_types::chain_set::{Confirmation, DeletedSet, DeletionRule};

use crate::error::PassError;
use crate::plan::{Candidate, LOCAL, Step, place_name, plan, rule_text};
use crate::seal::{ReceiptInput, Sealer};

/// A pass seals an audit checkpoint at least this often, also when nothing happened.
pub const CHECKPOINT_AT_LEAST_EVERY: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// What the pass did (or, in a dry run, would do) with one set. `Display` gives the output
/// line (docs/reference.md, `crctl retention run`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Deleted everywhere and confirmed; the receipt is sealed.
    Deleted {
        /// The deleted set.
        set_id: String,
        /// Its receipt.
        receipt: String,
    },
    /// A standing hold covers it; nothing was done.
    Held {
        /// The set.
        set_id: String,
        /// The hold's case.
        case: String,
    },
    /// Not confirmed at `target` (`local`: the spool); tried again at the next pass.
    Pending {
        /// The set.
        set_id: String,
        /// The place.
        target: String,
        /// Why.
        error: String,
    },
    /// Dry run: it would be deleted at these places.
    WouldDelete {
        /// The set.
        set_id: String,
        /// Every place it would be deleted at.
        places: Vec<String>,
        /// Why.
        rule: String,
    },
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Deleted { set_id, receipt } => write!(f, "DELETED {set_id} receipt {receipt}"),
            Outcome::Held { set_id, case } => write!(f, "HELD {set_id} case {case}"),
            Outcome::Pending { set_id, target, error } => write!(f, "PENDING {set_id} {target}: {error}"),
            Outcome::WouldDelete { set_id, places, rule } => {
                write!(f, "WOULD DELETE {set_id} from {} ({rule})", places.join(", "))
            }
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PassReport {
    /// One entry per set due, in the order handled; a set pending at several targets has
    /// one entry per target.
    pub outcomes: Vec<Outcome>,
    /// Each target that failed in this pass, with its last error (for outage notices).
    pub failing_targets: BTreeMap<String, String>,
    /// Targets that deleted every set asked of them in this pass.
    pub working_targets: Vec<String>,
    /// The audit checkpoint sealed at the end of the pass, if one was due.
    pub checkpoint: Option<String>,
}

impl PassReport {
    /// True when some deletion is still pending (exit status 1 of `crctl retention run`).
    pub fn has_pending(&self) -> bool {
        self.outcomes.iter().any(|o| matches!(o, Outcome::Pending { .. }))
    }
}

/// A target the pass deletes from, with the template its sets were delivered under.
struct PassTarget {
    target: Box<dyn Target>,
    template: DirTemplate,
}

/// The deletion pass over one installation.
pub struct Pass<'a> {
    sealer: Sealer<'a>,
    zone: Zone,
    targets: Vec<PassTarget>,
    actor: String,
}

impl std::fmt::Debug for Pass<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pass").field("targets", &self.targets.len()).field("actor", &self.actor).finish()
    }
}

impl<'a> Pass<'a> {
    /// A pass over `journal` and `spool`, sealing with `identity`; templates are rendered in
    /// `zone`; `actor` is who carries it out (audit events), e.g. `crctl:alice` or
    /// `cr-uploader`.
    pub fn new(
        journal: &'a Journal,
        identity: &'a Identity,
        spool: &'a Spool,
        zone: Zone,
        module_id: &'a str,
        actor: impl Into<String>,
    ) -> Self {
        Self { sealer: Sealer { journal, identity, spool, module_id }, zone, targets: Vec::new(), actor: actor.into() }
    }

    /// Adds a target with the directory template its sets were delivered under (as the
    /// uploader builds them from the configuration).
    pub fn add_target(&mut self, target: Box<dyn Target>, template: DirTemplate) {
        self.targets.push(PassTarget { target, template });
    }

    /// One pass at time `now`: every set whose retention ended and every deletion request
    /// a second supervisor approved ([`Journal::approved_deletions`]), unless a standing
    /// hold covers it ([`Journal::hold_of`]). With `dry_run` nothing is touched or recorded.
    pub fn run(&mut self, now: DateTime<Utc>, dry_run: bool) -> Result<PassReport, PassError> {
        let journal = self.sealer.journal;
        let mut due: Vec<(RecordingInfo, DeletionRule, Option<i64>)> = Vec::new();
        for id in journal.expired_sets(now)? {
            if let Some(info) = journal.recording(&id)? {
                let expires_at = info.expires_at.unwrap_or(now);
                due.push((info, DeletionRule::RetentionExpired { expires_at }, None));
            }
        }
        let mut report = PassReport::default();
        for a in journal.approved_deletions()? {
            let Some(info) = journal.recording(&a.set_id)? else {
                report.outcomes.push(Outcome::Pending {
                    set_id: a.set_id.clone(),
                    target: "request".into(),
                    error: format!("request {} names a set the journal does not have", a.request),
                });
                continue;
            };
            if let Some(receipt) = &info.deletion_receipt {
                // Deleted already (e.g. its retention ended meanwhile): the request is done.
                if !dry_run {
                    journal.deletion_request_done(a.request, receipt, now)?;
                }
                continue;
            }
            let rule = DeletionRule::Request {
                request: a.request,
                reason: a.reason.clone(),
                requested_by: a.requested_by.clone(),
                approved_by: a.approved_by.clone(),
                approved_at: a.approved_at,
            };
            due.retain(|(d, _, _)| d.set_id != a.set_id);
            due.push((info, rule, Some(a.request)));
        }
        let configured: Vec<String> = self.targets.iter().map(|t| t.target.name().to_owned()).collect();
        for (info, rule, request) in due {
            let hold = journal.hold_of(&info.set_id)?;
            let deletions = journal.deletions(&info.set_id)?;
            let candidate = Candidate::new(&info, &deletions, rule.clone(), hold);
            match plan(&candidate, &configured) {
                Step::Held { case } => report.outcomes.push(Outcome::Held { set_id: info.set_id.clone(), case }),
                Step::Wait { target, why } => {
                    if !dry_run {
                        journal.deletion_failed(&info.set_id, &target, &why, now)?;
                    }
                    report.outcomes.push(Outcome::Pending { set_id: info.set_id.clone(), target, error: why });
                }
                Step::Delete { places, .. } if dry_run => report.outcomes.push(Outcome::WouldDelete {
                    set_id: info.set_id.clone(),
                    places: places.iter().map(|p| place_name(p).to_owned()).collect(),
                    rule: rule_text(&rule),
                }),
                Step::Delete { todo, places } => {
                    let mut failed = false;
                    for place in &todo {
                        match self.delete_at(&info, place, &report.failing_targets) {
                            Ok(done) => journal.deletion_confirmed(&info.set_id, place, &done, now)?,
                            Err((error, target_down)) => {
                                journal.deletion_failed(&info.set_id, place, &error, now)?;
                                if target_down {
                                    report.failing_targets.insert(place.clone(), error.clone());
                                }
                                report.outcomes.push(Outcome::Pending {
                                    set_id: info.set_id.clone(),
                                    target: place_name(place).to_owned(),
                                    error,
                                });
                                failed = true;
                            }
                        }
                    }
                    if failed {
                        continue;
                    }
                    let receipt = self.seal_receipt(&info, &rule, &places, now)?;
                    if let Some(request) = request {
                        journal.deletion_request_done(request, &receipt, now)?;
                    }
                    tracing::info!(set = %info.set_id, %receipt, rule = %rule_text(&rule), "deleted everywhere; receipt sealed");
                    report.outcomes.push(Outcome::Deleted { set_id: info.set_id.clone(), receipt });
                }
            }
        }
        for t in &configured {
            if !report.failing_targets.contains_key(t) {
                report.working_targets.push(t.clone());
            }
        }
        for t in &mut self.targets {
            t.target.disconnect();
        }
        if !dry_run {
            report.checkpoint = self.checkpoint(now)?;
        }
        Ok(report)
    }

    /// Deletes the set at one place and looks again. The error says whether the target
    /// itself is down (then the rest of the pass does not try it again).
    fn delete_at(
        &mut self,
        info: &RecordingInfo,
        place: &str,
        down: &BTreeMap<String, String>,
    ) -> Result<DeletionConfirmed, (String, bool)> {
        let spool = self.sealer.spool;
        if place == LOCAL {
            let removed = spool.remove_set(&info.set_id).map_err(|e| (e.to_string(), false))?;
            return Ok(DeletionConfirmed {
                location: spool.set_dir(&info.set_id).display().to_string(),
                removed: removed as u64,
                already_absent: 0,
            });
        }
        if let Some(e) = down.get(place) {
            return Err((e.clone(), true));
        }
        let zone = self.zone;
        let Some(t) = self.targets.iter_mut().find(|t| t.target.name() == place) else {
            return Err(("the target is not in the configuration".into(), false));
        };
        // Where it was delivered, as recorded then; only for a delivery recorded before the
        // journal kept that (schema 4) the template as configured now.
        let recorded = info.uploads.iter().find(|u| u.target == place).and_then(|u| u.remote_dir.clone());
        let dir = recorded.unwrap_or_else(|| t.template.render(zone.local(info.started_at)));
        let mut names: Vec<String> = info.files.iter().map(|f| f.name.clone()).collect();
        names.push(cr_sign::checksum_file_name(&info.set_id));
        names.push(cr_sign::signature_file_name(&info.set_id));
        match t.target.remove_set(&dir, &names) {
            Ok(r) => Ok(DeletionConfirmed { location: r.location, removed: r.removed as u64, already_absent: r.already_absent as u64 }),
            Err(e) => {
                let down = !e.is_set_specific();
                t.target.disconnect();
                Err((e.to_string(), down))
            }
        }
    }

    /// Seals the audit trail's head into the chain when events came after the last
    /// checkpoint, or when the last one is [`CHECKPOINT_AT_LEAST_EVERY`] old (or there is
    /// none): a journal rewritten later no longer fits the signed head.
    fn checkpoint(&self, now: DateTime<Utc>) -> Result<Option<String>, PassError> {
        let journal = self.sealer.journal;
        let since = journal.audit_since_checkpoint()?;
        let stale = since.last_at.is_none_or(|t| now - t >= CHECKPOINT_AT_LEAST_EVERY);
        if since.events == 0 && !stale {
            return Ok(None);
        }
        let Some(head) = journal.audit_head()? else { return Ok(None) };
        let targets: Vec<String> = self.targets.iter().map(|t| t.target.name().to_owned()).collect();
        let id = self.sealer.checkpoint(&head, &targets, now)?;
        tracing::info!(set = %id, audit_event = head.id, "audit trail's head sealed into the chain");
        Ok(Some(id))
    }

    fn seal_receipt(
        &self,
        info: &RecordingInfo,
        rule: &DeletionRule,
        places: &[String],
        now: DateTime<Utc>,
    ) -> Result<String, PassError> {
        let journal = self.sealer.journal;
        let deletions = journal.deletions(&info.set_id)?;
        let confirmations = places
            .iter()
            .filter_map(|p| deletions.iter().find(|d| &d.target == p))
            .map(|d| Confirmation {
                target: place_name(&d.target).to_owned(),
                location: d.location.clone().unwrap_or_default(),
                removed: d.removed.unwrap_or(0),
                already_absent: d.already_absent.unwrap_or(0),
                confirmed_at: d.confirmed_at.unwrap_or(now),
            })
            .collect();
        // The receipt goes where the set went; a set that went nowhere: every target.
        let mut targets: Vec<String> = info.uploads.iter().map(|u| u.target.clone()).collect();
        if targets.is_empty() {
            targets = self.targets.iter().map(|t| t.target.name().to_owned()).collect();
        }
        let input = ReceiptInput {
            deleted: DeletedSet {
                id: info.set_id.clone(),
                seq: info.chain.seq,
                prev_sha256: info.chain.prev_sha256.clone(),
                checksum_sha256: info.chain.sha256.clone(),
                started_at: info.started_at,
            },
            configuration: &info.configuration,
            rule: rule.clone(),
            rule_text: rule_text(rule),
            confirmations,
            targets,
            actor: &self.actor,
        };
        self.sealer.receipt(input, now)
    }
}
