//! The recorder's side of the decision log (issue 15, item 3; docs/reference.md "Decision
//! log"): an entry for every call not recorded and every call that failed to record,
//! written to the journal when it happens, and the pass that seals the entries into the
//! chain as `decision-log` sets and hands them to the spool like recordings.
//!
//! Exactly once: the pass reads the unsealed entries, writes them into the set, and commits
//! the set's chain link in the same journal transaction that marks those entries sealed
//! ([`cr_journal::ChainReservation::commit_decision_log`]). A crash before that commit
//! leaves the entries unsealed and the half-built set unsealed in the spool's incoming area
//! (removed at the next start); a crash after it leaves a sealed set there that the next
//! start hands to the spool. An entry another node sealed in the meantime refuses the
//! commit (nothing committed), and the next pass starts over.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use chrono::{DateTime, Utc};
use cr_call::CallRecord;
use cr_journal::{FileEntry, NewChainSet, SetKind};
use cr_policy::{CallFacts, Decision};
use cr_types::decision_log::{DecisionLogEntry, DecisionLogSet, EntryKind, MembershipNote, NO_RULE};

use super::{Recorder, lock, new_set_id};

/// The most entries one set holds; a pass seals more sets while entries are left.
pub(crate) const MAX_ENTRIES_PER_SET: u32 = 10_000;

/// The decision log's counters for `/metrics`.
#[derive(Default)]
pub struct LogMetrics {
    /// Entries written, declined calls.
    pub declined: AtomicU64,
    /// Entries written, failed calls.
    pub failed: AtomicU64,
    /// Decision-log sets sealed.
    pub sets: AtomicU64,
    /// Entries that could not be written, and passes that failed.
    pub errors: AtomicU64,
}

/// What a declined or failed call's entry says about the call.
pub(crate) struct CallSide<'a> {
    pub(crate) source: &'a str,
    pub(crate) pbx_call_id: Option<&'a str>,
    pub(crate) facts: &'a CallFacts,
    pub(crate) decision: &'a Decision,
    pub(crate) at: DateTime<Utc>,
}

impl Recorder {
    /// The entry of a call the policy declined: the rule ([`NO_RULE`], or the configuration
    /// that records the call under another report of it), the reason, and the memberships
    /// that decided it with their last change from `changes` (the journal's memberships).
    pub(crate) fn declined_entry(&self, c: &CallSide<'_>, changes: &[cr_journal::Membership]) -> DecisionLogEntry {
        let rule = c
            .pbx_call_id
            .and_then(|id| self.policy.recording_of(id))
            .map_or_else(|| NO_RULE.to_owned(), |cfg| cfg.to_string());
        let memberships = self
            .policy
            .memberships_deciding(&deciding_facts(c))
            .into_iter()
            .map(|m| {
                // The journal's last change, when it is the state the policy decided with.
                let change = changes.iter().find(|j| j.group == m.group && j.user == m.user && j.active == m.active);
                MembershipNote {
                    changed_at: change.map(|j| j.changed_at),
                    changed_by: change.map(|j| j.changed_by.clone()),
                    group: m.group,
                    user: m.user,
                    active: m.active,
                }
            })
            .collect();
        let mut e = self.entry(EntryKind::Declined, c, rule);
        e.memberships = memberships;
        e
    }

    fn entry(&self, kind: EntryKind, c: &CallSide<'_>, rule: String) -> DecisionLogEntry {
        DecisionLogEntry {
            format: DecisionLogEntry::FORMAT,
            entry: 0,
            kind,
            at: c.at,
            node: self.cfg.installation.module_id.clone(),
            source: c.source.to_owned(),
            pbx_call_id: c.pbx_call_id.map(str::to_owned),
            direction: c.facts.direction,
            caller: c.facts.caller.clone(),
            callee: c.facts.callee.clone(),
            diversions: c.facts.diversions.clone(),
            rule,
            reason: c.decision.reason.to_string(),
            memberships: Vec::new(),
            on_failure: None,
            cause: None,
        }
    }

    /// Whether the declined call `c` needs the journal's membership changes.
    pub(crate) fn needs_changes(&self, c: &CallSide<'_>) -> bool {
        !self.policy.memberships_deciding(&deciding_facts(c)).is_empty()
    }

    /// Writes the entry of a call decided by `POST /v1/decide` that is not recorded (at
    /// once, before the answer). A journal error is logged and counted: the answer still
    /// goes out (the PBX goes on without recording either way).
    pub fn log_api_decision(&self, call_id: Option<&str>, facts: &CallFacts, decision: &Decision, at: DateTime<Utc>) {
        if decision.record {
            return;
        }
        let side = CallSide { source: cr_call::SOURCE_API, pbx_call_id: call_id, facts, decision, at };
        let journal = lock(&self.journal);
        let changes = if self.needs_changes(&side) { journal.memberships().unwrap_or_default() } else { Vec::new() };
        let entry = self.declined_entry(&side, &changes);
        match journal.log_decisions(std::slice::from_ref(&entry)) {
            Ok(ids) => {
                self.metrics.log.declined.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(entry = ?ids.first(), rule = %entry.rule, "decision logged");
            }
            Err(e) => {
                self.metrics.log.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("cannot write the decision log (a declined call): {e}");
            }
        }
    }

    /// Writes the entry of a call that was to be recorded and was not, with `cause`.
    pub(crate) fn log_failure(&self, call: &CallRecord, cause: &str) {
        let side = CallSide {
            source: &call.source,
            pbx_call_id: Some(&call.pbx_call_id),
            facts: &call.facts,
            decision: &call.decision,
            at: Utc::now(),
        };
        let rule = call.decision.configuration.as_deref().unwrap_or(NO_RULE).to_owned();
        let mut entry = self.entry(EntryKind::Failed, &side, rule);
        entry.on_failure = Some(call.decision.on_failure.unwrap_or_default());
        entry.cause = Some(cause.to_owned());
        match lock(&self.journal).log_decisions(std::slice::from_ref(&entry)) {
            Ok(_) => {
                self.metrics.log.failed.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.metrics.log.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(set = %call.id, "cannot write the decision log (a failed call): {e}");
            }
        }
    }

    /// Seals every unsealed entry into `decision-log` sets (at most
    /// [`MAX_ENTRIES_PER_SET`] each) and spools them for `[decision_log] targets`. Nothing
    /// is sealed when there is nothing. Returns the sets' ids.
    pub fn seal_decision_log(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<String>> {
        let mut sealed = Vec::new();
        loop {
            match self.seal_one_log(now) {
                Ok(Some((id, n))) => {
                    sealed.push(id);
                    if n < MAX_ENTRIES_PER_SET as usize {
                        return Ok(sealed);
                    }
                }
                Ok(None) => return Ok(sealed),
                Err(e) => {
                    self.metrics.log.errors.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
    }

    fn seal_one_log(&self, now: DateTime<Utc>) -> anyhow::Result<Option<(String, usize)>> {
        let journal = lock(&self.journal);
        let entries = journal.unsealed_decisions(MAX_ENTRIES_PER_SET)?;
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(None);
        };
        let id = new_set_id(now);
        let staging = self.spool.staging_dir(&id)?;
        let file = staging.join(DecisionLogSet::entries_file(&id));
        let mut text = String::new();
        for e in &entries {
            text.push_str(&serde_json::to_string(e)?);
            text.push('\n');
        }
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        let mut hashed = cr_sign::HashedFiles::new(&id)?;
        hashed.add(std::slice::from_ref(&file))?;
        let count = |k: EntryKind| entries.iter().filter(|e| e.kind == k).count() as u64;
        let mut nodes: Vec<String> = entries.iter().map(|e| e.node.clone()).collect();
        nodes.sort();
        nodes.dedup();
        let cert = self.identity.certificate().fingerprint_sha256();
        let meta = |link: &cr_journal::ChainLink| {
            let set = DecisionLogSet {
                format: DecisionLogSet::FORMAT,
                kind: SetKind::DecisionLog,
                id: id.clone(),
                module_id: self.cfg.installation.module_id.clone(),
                chain: link.clone(),
                certificate_sha256: cert.clone(),
                entries_file: DecisionLogSet::entries_file(&id),
                entries: entries.len() as u64,
                first_entry: first.entry,
                last_entry: last.entry,
                declined: count(EntryKind::Declined),
                failed: count(EntryKind::Failed),
                nodes: nodes.clone(),
                sealed_at: now,
            };
            serde_json::to_vec_pretty(&set).unwrap_or_default()
        };
        let targets = &self.decision_log.targets;
        let location = if targets.is_empty() { staging.clone() } else { self.spool.set_dir(&id) };
        let ids: Vec<u64> = entries.iter().map(|e| e.entry).collect();
        let commit = |res: cr_journal::ChainReservation<'_>, sealed: &cr_sign::SealedSet| {
            let files = sealed.files.iter().map(|f| FileEntry { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() });
            let set = NewChainSet {
                set_id: id.clone(),
                kind: SetKind::DecisionLog,
                configuration: String::new(),
                started_at: now,
                files: files.collect(),
                cert_fingerprint: cert.clone(),
                location: location.display().to_string(),
                targets: targets.clone(),
                deleted: None,
            };
            res.commit_decision_log(&sealed.checksum_sha256, &set, &ids)
        };
        let meta_path = staging.join(format!("{id}.json"));
        let result = cr_sign::seal_into_chain(&journal, &self.identity, hashed, &id, now, &meta_path, meta, commit);
        drop(journal);
        let (link, _) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = self.spool.incoming(&id).map(|slot| slot.discard());
                return Err(anyhow::Error::new(e).context(format!("sealing decision log {id}")));
            }
        };
        self.metrics.log.sets.fetch_add(1, Ordering::Relaxed);
        // Sealed from here; handing it to the spool is repeated by the next start if this
        // process dies now.
        if targets.is_empty() {
            tracing::warn!(set = %id, "decision log sealed, but there is no target to deliver it to");
        } else {
            self.spool.enqueue(&staging, &id, targets, now, now)?;
        }
        tracing::info!(
            set = %id,
            seq = link.seq,
            entries = entries.len(),
            first = first.entry,
            last = last.entry,
            "decision log sealed and spooled for {}",
            targets.join(", ")
        );
        Ok(Some((id, entries.len())))
    }

    /// At start: the decision-log sets a crash left in the spool's incoming area. A sealed
    /// one (its link in the journal) is handed to the spool; an unsealed one is removed (its
    /// entries are still unsealed and go into the next set).
    pub(crate) fn recover_decision_logs(&self) {
        let dir = self.spool.root().join(".incoming");
        let Ok(list) = std::fs::read_dir(&dir) else { return };
        for d in list.flatten() {
            let id = d.file_name().to_string_lossy().into_owned();
            if !d.path().join(DecisionLogSet::entries_file(&id)).exists() {
                continue;
            }
            if let Err(e) = self.recover_log(&id) {
                tracing::error!(set = %id, "cannot recover this decision log (left in place): {e:#}");
            }
        }
    }

    fn recover_log(&self, id: &str) -> anyhow::Result<()> {
        let info = lock(&self.journal).recording(id)?;
        let slot = self.spool.incoming(id)?;
        match info {
            Some(info) if info.kind == SetKind::DecisionLog => {
                let targets: Vec<String> = info.uploads.iter().map(|u| u.target.clone()).collect();
                if !targets.is_empty() {
                    self.spool.enqueue(slot.path(), id, &targets, info.started_at, Utc::now())?;
                    tracing::info!(set = %id, "decision log was sealed before the restart; spooled");
                }
            }
            Some(_) => {}
            None => {
                slot.discard()?;
                tracing::warn!(set = %id, "unsealed decision log from before the restart removed; its entries go into the next one");
            }
        }
        Ok(())
    }

    /// The decision log's part of `/metrics`.
    pub(crate) fn decision_log_metrics(&self) -> String {
        let m = &self.metrics.log;
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
        format!(
            "# HELP callrec_decision_log_entries_total Decision-log entries written, by kind: declined (not recorded by the policy), failed (to be recorded, nothing sealed).\n\
             # TYPE callrec_decision_log_entries_total counter\n\
             callrec_decision_log_entries_total{{kind=\"declined\"}} {}\ncallrec_decision_log_entries_total{{kind=\"failed\"}} {}\n\
             # HELP callrec_decision_log_sets_total Decision-log sets sealed into the chain.\n# TYPE callrec_decision_log_sets_total counter\ncallrec_decision_log_sets_total {}\n\
             # HELP callrec_decision_log_errors_total Decision-log entries that could not be written, and sealing passes that failed.\n# TYPE callrec_decision_log_errors_total counter\ncallrec_decision_log_errors_total {}\n",
            load(&m.declined),
            load(&m.failed),
            load(&m.sets),
            load(&m.errors),
        )
    }
}

/// The facts whose memberships a declined call's entry names. SIPREC does not say which
/// way a call goes (cr-call tries incoming, then outgoing, and keeps incoming when neither
/// records): both parties' memberships can have decided it, as for an internal call.
fn deciding_facts(c: &CallSide<'_>) -> CallFacts {
    if c.source == cr_call::SOURCE_SIPREC {
        CallFacts::internal(c.facts.caller.clone(), c.facts.callee.clone())
    } else {
        c.facts.clone()
    }
}

/// Seals the decision log every `[decision_log] seal_interval` until shutdown (the last
/// pass at shutdown is the caller's, after the calls in progress ended).
pub async fn sealer(recorder: std::sync::Arc<Recorder>, mut shutdown: tokio::sync::watch::Receiver<bool>) -> anyhow::Result<()> {
    let period = recorder.decision_log.seal_interval;
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let r = recorder.clone();
                match tokio::task::spawn_blocking(move || r.seal_decision_log(Utc::now())).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!("decision log not sealed (the entries wait for the next pass): {e:#}"),
                    Err(e) => tracing::error!("decision log pass failed: {e}"),
                }
            }
            _ = shutdown.changed() => return Ok(()),
        }
    }
}
