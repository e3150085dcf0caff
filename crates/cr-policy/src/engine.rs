//! The indexed policy: directory, configurations, membership state and active recordings.
//!
//! One file on purpose (~840 lines with its unit tests): indexing and deciding share private
//! index types that splitting would have to make crate-visible.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{BuildError, BuildErrorKind, BuildErrors, MembershipError};
use crate::facts::{CallFacts, Decision, Direction, MembershipState, Reason};
use crate::number::NumberPlan;
use crate::spec::{Channels, GroupSpec, RecordingSpec, UserSpec};

mod explain;

/// Collects the directory and the configurations, then indexes them into a [`Policy`].
#[derive(Debug, Clone, Default)]
pub struct PolicyBuilder {
    plan: NumberPlan,
    users: Vec<UserSpec>,
    groups: Vec<GroupSpec>,
    recordings: Vec<RecordingSpec>,
}

impl PolicyBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The installation's number plan. Default: [`NumberPlan::new`] (no country or area
    /// code: numbers match exactly as normalised).
    pub fn number_plan(mut self, plan: NumberPlan) -> Self {
        self.plan = plan;
        self
    }

    /// Adds a user (`users[N]` in error keys, counted from 0 in the order added).
    pub fn user(mut self, u: UserSpec) -> Self {
        self.users.push(u);
        self
    }

    /// Adds a group (`groups[N]`).
    pub fn group(mut self, g: GroupSpec) -> Self {
        self.groups.push(g);
        self
    }

    /// Adds a recording configuration (`recordings[N]`); they are evaluated in the order
    /// added.
    pub fn recording(mut self, r: RecordingSpec) -> Self {
        self.recordings.push(r);
        self
    }

    /// Checks every reference and indexes everything; returns all problems found.
    pub fn build(self) -> Result<Policy, BuildErrors> {
        build(self).map_err(BuildErrors)
    }
}

type Ix = u32;

/// A fast non-cryptographic hasher (the Fx hash of rustc) for the indexes. Their keys come
/// from the configuration, so look-ups of hostile keys cannot degrade them; the claims map,
/// keyed by call ids from the network, keeps the standard SipHash.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

#[derive(Debug, Clone, Copy)]
struct Via {
    config: Ix,
    group: Ix,
    slot: Ix,
}

#[derive(Debug)]
struct User {
    id: Arc<str>,
    /// Configurations that name this user, ascending.
    explicit: Vec<Ix>,
    /// (configuration, group) pairs where a configuration records a group this user is a
    /// member of, ascending by configuration.
    via_groups: Vec<Via>,
    /// The subset of `via_groups` whose configuration has the S7 option.
    via_direct: Vec<Via>,
}

#[derive(Debug)]
struct Group {
    id: Arc<str>,
    /// Configurations that record this group, ascending.
    configs: Vec<Ix>,
}

#[derive(Debug)]
struct Config {
    name: Arc<str>,
    channels: Channels,
    announcement_incoming: Option<Arc<str>>,
    announcement_outgoing: Option<Arc<str>>,
    targets: Arc<[Arc<str>]>,
    retention: Option<crate::spec::Period>,
    on_failure: crate::spec::OnFailure,
}

#[derive(Debug, Clone, Copy)]
enum Owner {
    User(Ix),
    Group(Ix),
}

/// The recording policy: who is recorded, by which configuration, and why.
///
/// Built once by [`PolicyBuilder`] (or `Policy::from_config` with the `config` feature),
/// then shared between threads (`Arc<Policy>`): decisions, membership changes and claims all
/// take `&self`. A decision is a few hash look-ups.
pub struct Policy {
    plan: NumberPlan,
    users: Vec<User>,
    groups: Vec<Group>,
    configs: Vec<Config>,
    by_number: FxMap<Arc<str>, Owner>,
    user_ix: FxMap<Arc<str>, Ix>,
    group_ix: FxMap<Arc<str>, Ix>,
    /// (group, user) -> slot in `active`.
    slot_ix: FxMap<(Ix, Ix), Ix>,
    slots: Vec<(Ix, Ix)>,
    active: Box<[AtomicBool]>,
    /// Claimed call id -> the configuration recording it (by name, so that claims survive
    /// a reload into a new policy: [`Policy::adopt_state`]).
    claims: Mutex<HashMap<String, Arc<str>>>,
}

impl std::fmt::Debug for Policy {
    /// Counts only: the directory holds phone numbers, which are personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("users", &self.users.len())
            .field("groups", &self.groups.len())
            .field("numbers", &self.by_number.len())
            .field("configurations", &self.configs.iter().map(|c| &*c.name).collect::<Vec<_>>())
            .field("memberships", &self.slots.len())
            .field("active_recordings", &self.active_recordings())
            .finish()
    }
}

fn ix(i: usize) -> Ix {
    Ix::try_from(i).unwrap_or(Ix::MAX)
}

fn build(b: PolicyBuilder) -> Result<Policy, Vec<BuildError>> {
    let mut errs = Vec::new();
    let plan = b.plan;
    let mut users = Vec::with_capacity(b.users.len());
    let mut user_ix: FxMap<Arc<str>, Ix> = FxMap::default();
    let mut by_number: FxMap<Arc<str>, Owner> = FxMap::default();
    let mut number_key: HashMap<Arc<str>, (String, String)> = HashMap::new();

    let mut add_number = |raw: &str, key: String, owner: Owner, owner_name: String, errs: &mut Vec<BuildError>| {
        match plan.normalize(raw) {
            Err(e) => errs.push(BuildError::new(key, BuildErrorKind::BadNumber(e))),
            Ok(n) => {
                let n: Arc<str> = Arc::from(n);
                match by_number.entry(n.clone()) {
                    Entry::Occupied(_) => {
                        let (first, owner) = number_key.get(&n).cloned().unwrap_or_default();
                        errs.push(BuildError::new(
                            key,
                            BuildErrorKind::NumberOwnedTwice { number: n.to_string(), owner, first },
                        ));
                    }
                    Entry::Vacant(v) => {
                        v.insert(owner);
                        number_key.insert(n, (key, owner_name));
                    }
                }
            }
        }
    };

    // Users.
    for (i, u) in b.users.iter().enumerate() {
        let key = format!("users[{i}].id");
        if u.id.trim().is_empty() {
            errs.push(BuildError::new(key, BuildErrorKind::Empty));
            continue;
        }
        let id: Arc<str> = Arc::from(u.id.as_str());
        if let Some(&first) = user_ix.get(&id) {
            errs.push(BuildError::new(
                key,
                BuildErrorKind::DuplicateId { id: u.id.clone(), first: format!("users[{first}]") },
            ));
            continue;
        }
        let me = ix(users.len());
        // Errors are keyed by position in the input, so keep the input index for messages.
        user_ix.insert(id.clone(), me);
        for (j, n) in u.numbers.iter().enumerate() {
            let k = format!("users[{i}].numbers[{j}]");
            add_number(n, k, Owner::User(me), format!("user {}", u.id), &mut errs);
        }
        users.push(User { id, explicit: Vec::new(), via_groups: Vec::new(), via_direct: Vec::new() });
    }

    // Groups and memberships.
    let mut groups = Vec::with_capacity(b.groups.len());
    let mut group_ix: FxMap<Arc<str>, Ix> = FxMap::default();
    let mut members_of: Vec<Vec<(Ix, Ix)>> = Vec::new();
    let mut slot_ix = FxMap::default();
    let mut slots = Vec::new();
    let mut initially_active = Vec::new();
    for (i, g) in b.groups.iter().enumerate() {
        let key = format!("groups[{i}].id");
        if g.id.trim().is_empty() {
            errs.push(BuildError::new(key, BuildErrorKind::Empty));
            continue;
        }
        let id: Arc<str> = Arc::from(g.id.as_str());
        if let Some(&first) = group_ix.get(&id) {
            errs.push(BuildError::new(
                key,
                BuildErrorKind::DuplicateId { id: g.id.clone(), first: format!("groups[{first}]") },
            ));
            continue;
        }
        let me = ix(groups.len());
        group_ix.insert(id.clone(), me);
        if let Some(n) = &g.number {
            add_number(n, format!("groups[{i}].number"), Owner::Group(me), format!("group {}", g.id), &mut errs);
        }
        let mut members = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (j, m) in g.members.iter().enumerate() {
            let k = format!("groups[{i}].members[{j}]");
            if let Some(first) = seen.insert(m.as_str(), j) {
                errs.push(BuildError::new(
                    k,
                    BuildErrorKind::ListedTwice { name: m.clone(), first: format!("groups[{i}].members[{first}]") },
                ));
                continue;
            }
            let Some(&u) = user_ix.get(m.as_str()) else {
                errs.push(BuildError::new(k, BuildErrorKind::UnknownUser { user: m.clone() }));
                continue;
            };
            let slot = ix(slots.len());
            slots.push((me, u));
            slot_ix.insert((me, u), slot);
            initially_active.push(!g.inactive.contains(m));
            members.push((u, slot));
        }
        for (j, m) in g.inactive.iter().enumerate() {
            if !g.members.contains(m) {
                errs.push(BuildError::new(
                    format!("groups[{i}].inactive[{j}]"),
                    BuildErrorKind::InactiveNotMember { user: m.clone(), group: g.id.clone() },
                ));
            }
        }
        members_of.push(members);
        groups.push(Group { id, configs: Vec::new() });
    }

    // Configurations, in order.
    let mut configs = Vec::with_capacity(b.recordings.len());
    let mut config_names: HashMap<&str, usize> = HashMap::new();
    for (i, r) in b.recordings.iter().enumerate() {
        let key = format!("recordings[{i}].name");
        if r.name.trim().is_empty() {
            errs.push(BuildError::new(key, BuildErrorKind::Empty));
            continue;
        }
        if let Some(first) = config_names.insert(r.name.as_str(), i) {
            errs.push(BuildError::new(
                key,
                BuildErrorKind::DuplicateId { id: r.name.clone(), first: format!("recordings[{first}]") },
            ));
            continue;
        }
        let me = ix(configs.len());
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (j, gname) in r.groups.iter().enumerate() {
            let k = format!("recordings[{i}].groups[{j}]");
            if let Some(first) = seen.insert(gname.as_str(), j) {
                errs.push(BuildError::new(
                    k,
                    BuildErrorKind::ListedTwice { name: gname.clone(), first: format!("recordings[{i}].groups[{first}]") },
                ));
                continue;
            }
            let Some(&g) = group_ix.get(gname.as_str()) else {
                errs.push(BuildError::new(k, BuildErrorKind::UnknownGroup { group: gname.clone() }));
                continue;
            };
            groups[g as usize].configs.push(me);
            for &(u, slot) in &members_of[g as usize] {
                let via = Via { config: me, group: g, slot };
                let user = &mut users[u as usize];
                user.via_groups.push(via);
                if r.record_direct_calls_to_active_members {
                    user.via_direct.push(via);
                }
            }
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (j, uname) in r.users.iter().enumerate() {
            let k = format!("recordings[{i}].users[{j}]");
            if let Some(first) = seen.insert(uname.as_str(), j) {
                errs.push(BuildError::new(
                    k,
                    BuildErrorKind::ListedTwice { name: uname.clone(), first: format!("recordings[{i}].users[{first}]") },
                ));
                continue;
            }
            let Some(&u) = user_ix.get(uname.as_str()) else {
                errs.push(BuildError::new(k, BuildErrorKind::UnknownUser { user: uname.clone() }));
                continue;
            };
            users[u as usize].explicit.push(me);
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (j, t) in r.targets.iter().enumerate() {
            if let Some(first) = seen.insert(t.as_str(), j) {
                errs.push(BuildError::new(
                    format!("recordings[{i}].targets[{j}]"),
                    BuildErrorKind::ListedTwice { name: t.clone(), first: format!("recordings[{i}].targets[{first}]") },
                ));
            }
        }
        configs.push(Config {
            name: Arc::from(r.name.as_str()),
            channels: r.channels,
            announcement_incoming: r.announcement_incoming.as_deref().map(Arc::from),
            announcement_outgoing: r.announcement_outgoing.as_deref().map(Arc::from),
            targets: r.targets.iter().map(|t| Arc::from(t.as_str())).collect(),
            retention: r.retention,
            on_failure: r.on_failure,
        });
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Policy {
        plan,
        users,
        groups,
        configs,
        by_number,
        user_ix,
        group_ix,
        slot_ix,
        slots,
        active: initially_active.into_iter().map(AtomicBool::new).collect(),
        claims: Mutex::new(HashMap::new()),
    })
}

/// What a number in the call facts resolved to.
enum Resolved {
    Missing,
    Invalid(String),
    Unknown(String),
    User(Ix, Arc<str>),
    Group(Ix, Arc<str>),
}

/// A configuration that applies to one side of a call; its reason is written only for the
/// side that wins.
struct Hit<'a> {
    config: Ix,
    /// The user or group whose number matched.
    who: Owner,
    num: &'a Arc<str>,
    /// The group through which an active member applies.
    via: Option<Ix>,
}

/// Which announcement a side plays.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Incoming,
    Outgoing,
}

impl Policy {
    /// A builder.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::new()
    }

    /// The installation's number plan.
    pub fn number_plan(&self) -> &NumberPlan {
        &self.plan
    }

    /// The configuration names, in evaluation order.
    pub fn configurations(&self) -> impl Iterator<Item = &str> {
        self.configs.iter().map(|c| &*c.name)
    }

    fn resolve(&self, raw: &str) -> Resolved {
        if raw.bytes().all(|b| b.is_ascii_whitespace()) {
            return Resolved::Missing;
        }
        let Ok(n) = self.plan.normalize_cow(raw) else {
            return Resolved::Invalid(raw.to_owned());
        };
        let mut buf = [0u8; 64];
        let found = self.by_number.get_key_value(&*n).or_else(|| {
            let intl = self.plan.local_to_international_in(&n, &mut buf)?;
            self.by_number.get_key_value(intl)
        });
        match found {
            Some((k, Owner::User(u))) => Resolved::User(*u, k.clone()),
            Some((k, Owner::Group(g))) => Resolved::Group(*g, k.clone()),
            None => Resolved::Unknown(n.into_owned()),
        }
    }

    fn is_slot_active(&self, slot: Ix) -> bool {
        self.active.get(slot as usize).is_some_and(|a| a.load(Ordering::Acquire))
    }

    /// The first configuration recording calls *to* this party (S3, S4, S7).
    fn incoming_hit<'a>(&self, r: &'a Resolved) -> Option<Hit<'a>> {
        match r {
            Resolved::Group(g, num) => {
                let &config = self.groups[*g as usize].configs.first()?;
                Some(Hit { config, who: Owner::Group(*g), num, via: None })
            }
            Resolved::User(u, num) => {
                let user = &self.users[*u as usize];
                let explicit = user.explicit.first().copied();
                let direct = user.via_direct.iter().find(|v| self.is_slot_active(v.slot));
                let who = Owner::User(*u);
                match (explicit, direct) {
                    (Some(c), d) if d.is_none_or(|d| c <= d.config) => Some(Hit { config: c, who, num, via: None }),
                    (_, Some(d)) => Some(Hit { config: d.config, who, num, via: Some(d.group) }),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The first configuration recording calls *from* this party (S5, S6).
    fn outgoing_hit<'a>(&self, r: &'a Resolved) -> Option<Hit<'a>> {
        let Resolved::User(u, num) = r else {
            return None;
        };
        let user = &self.users[*u as usize];
        let explicit = user.explicit.first().copied();
        let via = user.via_groups.iter().find(|v| self.is_slot_active(v.slot));
        let who = Owner::User(*u);
        match (explicit, via) {
            (Some(c), v) if v.is_none_or(|v| c <= v.config) => Some(Hit { config: c, who, num, via: None }),
            (_, Some(v)) => Some(Hit { config: v.config, who, num, via: Some(v.group) }),
            _ => None,
        }
    }

    /// `<prefix>group trading (300)` / `<prefix>user bob (202), an active member of group trading`.
    fn hit_reason(&self, prefix: &'static str, hit: &Hit<'_>) -> Reason {
        let r = Reason::new().s(prefix);
        let r = match hit.who {
            Owner::Group(g) => r.s("group ").name(&self.groups[g as usize].id),
            Owner::User(u) => r.s("user ").name(&self.users[u as usize].id),
        };
        let r = r.s(" (").num(hit.num).s(")");
        match hit.via {
            Some(g) => r.s(", an active member of group ").name(&self.groups[g as usize].id),
            None => r,
        }
    }

    /// Why nothing records calls to/from this party.
    fn why_not(&self, base: Reason, r: &Resolved, side: Side) -> Reason {
        let what = if side == Side::Incoming { "callee" } else { "caller" };
        match r {
            Resolved::Missing => base.s("the ").s(what).s("'s number is missing"),
            Resolved::Invalid(raw) => base.s("the ").s(what).s(" ").num_owned(raw).s(" is not a phone number"),
            Resolved::Unknown(n) => {
                let r = base.s("no configuration records ").num_owned(n);
                if side == Side::Incoming {
                    r.s(": no user or group has this number")
                } else {
                    r.s(": no user has this number")
                }
            }
            Resolved::Group(g, num) => {
                let grp = &self.groups[*g as usize];
                if side == Side::Outgoing {
                    base
                        .s("the caller ")
                        .num(num)
                        .s(" is the number of group ")
                        .name(&grp.id)
                        .s(", not of a user")
                } else {
                    base.s("no configuration records group ").name(&grp.id).s(" (").num(num).s(")")
                }
            }
            Resolved::User(u, num) => {
                let user = &self.users[*u as usize];
                let mut r = base.s("no configuration records user ").name(&user.id).s(" (").num(num).s(")");
                let mut logged_out: Vec<Ix> = Vec::new();
                let vias = if side == Side::Incoming { &user.via_direct } else { &user.via_groups };
                for v in vias {
                    if !self.is_slot_active(v.slot) && !logged_out.contains(&v.group) {
                        logged_out.push(v.group);
                    }
                }
                for g in logged_out {
                    r = r.s("; user ").name(&user.id).s(" is logged out of group ").name(&self.groups[g as usize].id);
                }
                if side == Side::Incoming {
                    // Configurations recording one of the user's groups, without S7.
                    let mut noted: Vec<Ix> = Vec::new();
                    for v in &user.via_groups {
                        if !user.via_direct.iter().any(|d| d.config == v.config) && !noted.contains(&v.config) {
                            noted.push(v.config);
                            r = r
                                .s("; configuration ")
                                .name(&self.configs[v.config as usize].name)
                                .s(" records group ")
                                .name(&self.groups[v.group as usize].id)
                                .s(" but not direct calls to its members");
                        }
                    }
                }
                r
            }
        }
    }

    fn diverted(&self, facts: &CallFacts, mut r: Reason) -> Reason {
        if facts.diversions.is_empty() {
            return r;
        }
        r = r.s(", diverted from ");
        for (i, d) in facts.diversions.iter().enumerate() {
            if i > 0 {
                r = r.s(", ");
            }
            let n = self.plan.normalize(d).unwrap_or_else(|_| d.clone());
            r = r.num_owned(&n);
        }
        r
    }

    fn recorded(&self, config: Ix, reason: Reason, side: Side) -> (Decision, Option<Ix>) {
        let c = &self.configs[config as usize];
        let announcement = match side {
            Side::Incoming => c.announcement_incoming.clone(),
            Side::Outgoing => c.announcement_outgoing.clone(),
        };
        let d = Decision {
            record: true,
            configuration: Some(c.name.clone()),
            channels: Some(c.channels),
            announcement,
            targets: c.targets.clone(),
            retention: c.retention,
            on_failure: Some(c.on_failure),
            reason,
        };
        (d, Some(config))
    }

    /// Decides whether a call is recorded, by which configuration, and why (pure: claims
    /// nothing; see [`decide_and_claim`](Self::decide_and_claim)).
    ///
    /// - incoming: the callee (after diversions) is a recorded group's number, the number
    ///   of a recorded user, or (S7) of an active member of a group recorded with
    ///   `record_direct_calls_to_active_members`;
    /// - outgoing: the caller is a recorded user or an active member of a recorded group;
    /// - internal: the caller's side as outgoing and the callee's as incoming; the call is
    ///   recorded once, by the earlier configuration (the callee's side on a tie).
    ///
    /// The first configuration in order that applies wins. The announcement is the
    /// configuration's one for incoming calls when the callee's side applied, for outgoing
    /// calls when the caller's side did.
    pub fn decide(&self, facts: &CallFacts) -> Decision {
        self.decide_ix(facts).0
    }

    fn decide_ix(&self, facts: &CallFacts) -> (Decision, Option<Ix>) {
        let not = |d: Decision| (d, None);
        match facts.direction {
            Direction::Incoming => {
                let callee = self.resolve(&facts.callee);
                match self.incoming_hit(&callee) {
                    Some(hit) => {
                        let reason = self.diverted(facts, self.hit_reason("incoming call to ", &hit));
                        self.recorded(hit.config, reason, Side::Incoming)
                    }
                    None => {
                        let why = self.why_not(Reason::new().s("incoming call: "), &callee, Side::Incoming);
                        not(Decision::not_recorded(self.diverted(facts, why)))
                    }
                }
            }
            Direction::Outgoing => {
                let caller = self.resolve(&facts.caller);
                match self.outgoing_hit(&caller) {
                    Some(hit) => {
                        let reason = self.hit_reason("outgoing call from ", &hit);
                        self.recorded(hit.config, reason, Side::Outgoing)
                    }
                    None => not(Decision::not_recorded(self.why_not(
                        Reason::new().s("outgoing call: "),
                        &caller,
                        Side::Outgoing,
                    ))),
                }
            }
            Direction::Internal => {
                let caller = self.resolve(&facts.caller);
                let callee = self.resolve(&facts.callee);
                let out = self.outgoing_hit(&caller);
                let inc = self.incoming_hit(&callee);
                let pick_out = match (&out, &inc) {
                    (Some(o), Some(i)) => o.config < i.config,
                    (Some(_), None) => true,
                    _ => false,
                };
                if pick_out && let Some(hit) = out {
                    let reason = self.hit_reason("internal call from ", &hit);
                    return self.recorded(hit.config, reason, Side::Outgoing);
                }
                if let Some(hit) = inc {
                    let reason = self.diverted(facts, self.hit_reason("internal call to ", &hit));
                    return self.recorded(hit.config, reason, Side::Incoming);
                }
                let r = self.why_not(Reason::new().s("internal call: caller side: "), &caller, Side::Outgoing).s("; callee side: ");
                let r = self.why_not(r, &callee, Side::Incoming);
                not(Decision::not_recorded(self.diverted(facts, r)))
            }
        }
    }

    /// Decides like [`decide`](Self::decide) and, when the call is recorded, claims `call_id`
    /// for that configuration: while claimed, the same call id is never recorded again (by
    /// any configuration) — the second report of one call (both legs of an internal call, a
    /// re-sent INVITE) gets `record: false`. [`release`](Self::release) it at call end.
    pub fn decide_and_claim(&self, call_id: &str, facts: &CallFacts) -> Decision {
        if let Some(held) = self.claim_holder(call_id) {
            return self.already(call_id, &held);
        }
        let (d, cfg) = self.decide_ix(facts);
        let Some(cfg) = cfg else {
            return d;
        };
        let name = self.configs[cfg as usize].name.clone();
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        match claims.entry(call_id.to_owned()) {
            Entry::Occupied(e) => {
                let held = e.get().clone();
                drop(claims);
                self.already(call_id, &held)
            }
            Entry::Vacant(v) => {
                v.insert(name);
                d
            }
        }
    }

    fn claim_holder(&self, call_id: &str) -> Option<Arc<str>> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner).get(call_id).cloned()
    }

    fn already(&self, call_id: &str, held: &Arc<str>) -> Decision {
        Decision::not_recorded(
            Reason::new().s("call ").name_owned(call_id).s(" is already being recorded by configuration ").name(held),
        )
    }

    /// Ends the claim on `call_id` (call end); returns the configuration that held it.
    pub fn release(&self, call_id: &str) -> Option<Arc<str>> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner).remove(call_id)
    }

    /// The configuration currently recording `call_id`, if any.
    pub fn recording_of(&self, call_id: &str) -> Option<Arc<str>> {
        self.claim_holder(call_id)
    }

    /// Takes over the run-time state of `old` (the policy this one replaces when the
    /// configuration is reloaded): membership states and claimed call ids. Memberships that
    /// no longer exist are skipped and returned.
    pub fn adopt_state(&self, old: &Policy) -> Vec<MembershipError> {
        let skipped = self.import_memberships(&old.memberships());
        let old_claims = old.claims.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, cfg) in old_claims {
            claims.entry(id).or_insert(cfg);
        }
        skipped
    }

    /// How many call ids are claimed.
    pub fn active_recordings(&self) -> usize {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn slot(&self, group: &str, user: &str) -> Result<Ix, MembershipError> {
        let &g = self
            .group_ix
            .get(group)
            .ok_or_else(|| MembershipError::UnknownGroup { group: group.to_owned() })?;
        let &u = self.user_ix.get(user).ok_or_else(|| MembershipError::UnknownUser { user: user.to_owned() })?;
        self.slot_ix
            .get(&(g, u))
            .copied()
            .ok_or_else(|| MembershipError::NotAMember { user: user.to_owned(), group: group.to_owned() })
    }

    /// Logs `user` in to (`true`) or out of (`false`) `group` (S6); takes effect for every
    /// decision that starts afterwards. Returns whether the state changed.
    pub fn set_active(&self, group: &str, user: &str, active: bool) -> Result<bool, MembershipError> {
        let slot = self.slot(group, user)?;
        let before = self.active[slot as usize].swap(active, Ordering::AcqRel);
        Ok(before != active)
    }

    /// Whether `user` is logged in to `group`.
    pub fn is_active(&self, group: &str, user: &str) -> Result<bool, MembershipError> {
        Ok(self.is_slot_active(self.slot(group, user)?))
    }

    /// Every membership and its state, groups and members in configuration order.
    pub fn memberships(&self) -> Vec<MembershipState> {
        self.slots
            .iter()
            .enumerate()
            .map(|(s, &(g, u))| MembershipState {
                group: self.groups[g as usize].id.to_string(),
                user: self.users[u as usize].id.to_string(),
                active: self.is_slot_active(ix(s)),
            })
            .collect()
    }

    /// Applies saved membership states (e.g. from the journal after a restart). Entries
    /// that no longer fit the directory (a group or user removed from the configuration)
    /// are skipped and returned as errors; all others are applied.
    pub fn import_memberships<'a, I>(&self, states: I) -> Vec<MembershipError>
    where
        I: IntoIterator<Item = &'a MembershipState>,
    {
        let mut skipped = Vec::new();
        for s in states {
            if let Err(e) = self.set_active(&s.group, &s.user, s.active) {
                skipped.push(e);
            }
        }
        skipped
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn policy_is_send_and_sync() {
        assert_send_sync::<Policy>();
    }

    #[test]
    fn debug_output_holds_no_numbers() {
        let p = Policy::builder().user(UserSpec::new("a").number("+4930555201")).build().unwrap();
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("555201"), "{dbg}");
        assert!(dbg.contains("numbers: 1"), "{dbg}");
    }

    #[test]
    fn errors_name_their_keys() {
        let e = Policy::builder()
            .user(UserSpec::new("a").number("201"))
            .user(UserSpec::new("b").number("2-01"))
            .user(UserSpec::new("a"))
            .group(GroupSpec::new("g").members(["a", "zed"]).inactive(["b"]))
            .recording(RecordingSpec::new("r").groups(["g", "nope"]).users(["x"]).targets(["t", "t"]))
            .build()
            .unwrap_err();
        let keys: Vec<&str> = e.0.iter().map(|e| e.key()).collect();
        assert_eq!(
            keys,
            [
                "users[1].numbers[0]",
                "users[2].id",
                "groups[0].members[1]",
                "groups[0].inactive[0]",
                "recordings[0].groups[1]",
                "recordings[0].users[0]",
                "recordings[0].targets[1]"
            ]
        );
        assert!(e.0[0].to_string().contains("user a"), "{}", e.0[0]);
    }
}
