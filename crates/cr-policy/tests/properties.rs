//! Property tests: the indexed engine agrees with a naive scan written from the spec; a
//! call is never assigned to two configurations; log-out then log-in restores every
//! decision; normalising is idempotent.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod oracle;

use std::collections::{HashMap, HashSet};

use cr_policy::{CallFacts, Direction, GroupSpec, NumberPlan, Policy, RecordingSpec, UserSpec};
use oracle::{Oracle, Side};
use proptest::prelude::*;

const MAX_USERS: usize = 8;
const MAX_GROUPS: usize = 4;
const MAX_RECS: usize = 4;

#[derive(Debug, Clone)]
struct Scenario {
    n_users: usize,
    n_groups: usize,
    n_recs: usize,
    user_numbers: Vec<u8>,
    group_has_number: Vec<bool>,
    member: Vec<bool>,
    inactive: Vec<bool>,
    rec_group: Vec<bool>,
    rec_user: Vec<bool>,
    direct: Vec<bool>,
    announce: Vec<bool>,
    toggles: Vec<(usize, usize, bool)>,
    calls: Vec<(u8, usize, usize, u8, u8)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        (1..=MAX_USERS, 0..=MAX_GROUPS, 0..=MAX_RECS),
        prop::collection::vec(0u8..4, MAX_USERS),
        prop::collection::vec(any::<bool>(), MAX_GROUPS),
        prop::collection::vec(any::<bool>(), MAX_GROUPS * MAX_USERS),
        prop::collection::vec(any::<bool>(), MAX_GROUPS * MAX_USERS),
        prop::collection::vec(any::<bool>(), MAX_RECS * MAX_GROUPS),
        prop::collection::vec(any::<bool>(), MAX_RECS * MAX_USERS),
        prop::collection::vec(any::<bool>(), MAX_RECS),
        prop::collection::vec(any::<bool>(), MAX_RECS * 2),
        prop::collection::vec((0..MAX_GROUPS, 0..MAX_USERS, any::<bool>()), 0..6),
        prop::collection::vec((0u8..3, 0usize..64, 0usize..64, 0u8..5, 0u8..3), 1..24),
    )
        .prop_map(
            |(
                (n_users, n_groups, n_recs),
                user_numbers,
                group_has_number,
                member,
                inactive,
                rec_group,
                rec_user,
                direct,
                announce,
                toggles,
                calls,
            )| Scenario {
                n_users,
                n_groups,
                n_recs,
                user_numbers,
                group_has_number,
                member,
                inactive,
                rec_group,
                rec_user,
                direct,
                announce,
                toggles,
                calls,
            },
        )
}

fn short(u: usize) -> String {
    format!("20{}", u + 1)
}
fn long(u: usize) -> String {
    format!("+4930555{}00", u + 1)
}
fn group_number(g: usize) -> String {
    format!("3{g}0")
}

/// A number in one of the forms a PBX may send.
fn form(n: &str, f: u8) -> String {
    match f {
        0 => n.to_owned(),
        1 => format!("sip:{n}@pbx;user=phone"),
        2 => format!("\"Name\" <tel:{n}>"),
        3 => {
            let (a, b) = n.split_at(n.len().min(2));
            format!("{a} {b}")
        }
        _ => match n.strip_prefix("+49") {
            Some(rest) => format!("0{rest}"),
            None => format!("{n}-"),
        },
    }
}

struct Built {
    oracle: Oracle,
    policy: Policy,
    pool: Vec<String>,
    /// The test's own model of who is logged in, kept apart from the engine's state.
    active: HashSet<(String, String)>,
}

fn build(s: &Scenario) -> Built {
    let plan = NumberPlan::new().with_country_code("49").unwrap().with_area_code("30").unwrap();
    let mut users = Vec::new();
    let mut pool = vec!["999".to_owned(), "20".to_owned(), "2011".to_owned(), String::new(), "555100".to_owned()];
    for u in 0..s.n_users {
        let mut spec = UserSpec::new(format!("u{u}"));
        if s.user_numbers[u] & 1 != 0 {
            spec = spec.number(short(u));
        }
        if s.user_numbers[u] & 2 != 0 {
            spec = spec.number(long(u));
        }
        pool.push(short(u));
        pool.push(long(u));
        users.push(spec);
    }
    let mut groups = Vec::new();
    for g in 0..s.n_groups {
        let mut spec = GroupSpec::new(format!("g{g}"));
        if s.group_has_number[g] {
            spec = spec.number(group_number(g));
        }
        pool.push(group_number(g));
        for u in 0..s.n_users {
            if s.member[g * MAX_USERS + u] {
                spec = spec.members([format!("u{u}")]);
                if s.inactive[g * MAX_USERS + u] {
                    spec = spec.inactive([format!("u{u}")]);
                }
            }
        }
        groups.push(spec);
    }
    let mut recordings = Vec::new();
    for r in 0..s.n_recs {
        let mut spec = RecordingSpec::new(format!("r{r}")).record_direct_calls_to_active_members(s.direct[r]);
        for g in 0..s.n_groups {
            if s.rec_group[r * MAX_GROUPS + g] {
                spec = spec.groups([format!("g{g}")]);
            }
        }
        for u in 0..s.n_users {
            if s.rec_user[r * MAX_USERS + u] {
                spec = spec.users([format!("u{u}")]);
            }
        }
        if s.announce[2 * r] {
            spec = spec.announcement_incoming(format!("in-{r}.wav"));
        }
        if s.announce[2 * r + 1] {
            spec = spec.announcement_outgoing(format!("out-{r}.wav"));
        }
        recordings.push(spec);
    }
    let mut b = Policy::builder().number_plan(plan.clone());
    for u in &users {
        b = b.user(u.clone());
    }
    for g in &groups {
        b = b.group(g.clone());
    }
    for r in &recordings {
        b = b.recording(r.clone());
    }
    let policy = b.build().expect("generated directories are valid");
    let mut active = HashSet::new();
    for g in &groups {
        for m in &g.members {
            if !g.inactive.contains(m) {
                active.insert((g.id.clone(), m.clone()));
            }
        }
    }
    for &(g, u, on) in &s.toggles {
        let (g, u) = (format!("g{g}"), format!("u{u}"));
        let member = g_index(&g) < s.n_groups && s.member[g_index(&g) * MAX_USERS + u_index(&u)] && u_index(&u) < s.n_users;
        let r = policy.set_active(&g, &u, on);
        assert_eq!(r.is_ok(), member, "set_active({g}, {u}) = {r:?}");
        if member {
            if on {
                active.insert((g, u));
            } else {
                active.remove(&(g, u));
            }
        }
    }
    Built { oracle: Oracle { plan, users, groups, recordings }, policy, pool, active }
}

fn g_index(g: &str) -> usize {
    g[1..].parse().unwrap()
}

fn u_index(u: &str) -> usize {
    u[1..].parse().unwrap()
}

fn calls(s: &Scenario, pool: &[String]) -> Vec<CallFacts> {
    s.calls
        .iter()
        .map(|&(dir, a, b, fa, fb)| {
            let direction = [Direction::Incoming, Direction::Outgoing, Direction::Internal][dir as usize];
            CallFacts::new(direction, form(&pool[a % pool.len()], fb % 3), form(&pool[b % pool.len()], fa))
        })
        .collect()
}

fn oracle_says(b: &Built, f: &CallFacts) -> Option<(String, Option<String>)> {
    let active = |g: &str, u: &str| b.active.contains(&(g.to_owned(), u.to_owned()));
    let (i, side) = b.oracle.decide(f, &active)?;
    let r = &b.oracle.recordings[i];
    let ann = match side {
        Side::Incoming => r.announcement_incoming.clone(),
        Side::Outgoing => r.announcement_outgoing.clone(),
    };
    Some((r.name.clone(), ann))
}

fn engine_says(p: &Policy, f: &CallFacts) -> Option<(String, Option<String>)> {
    let d = p.decide(f);
    assert_eq!(d.record, d.configuration.is_some());
    d.configuration.map(|c| (c.to_string(), d.announcement.map(|a| a.to_string())))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// The first configuration in order that applies wins, exactly as a naive scan says.
    #[test]
    fn engine_agrees_with_a_naive_scan(s in scenario()) {
        let b = build(&s);
        for f in calls(&s, &b.pool) {
            prop_assert_eq!(engine_says(&b.policy, &f), oracle_says(&b, &f), "{:?}", f);
        }
    }

    /// While a call id is claimed, no configuration records it again; after release it can
    /// be claimed anew.
    #[test]
    fn a_call_is_never_assigned_to_two_configurations(
        s in scenario(),
        ops in prop::collection::vec((0usize..3, 0usize..24, any::<bool>()), 1..40),
    ) {
        let b = build(&s);
        let cs = calls(&s, &b.pool);
        let mut model: HashMap<String, String> = HashMap::new();
        for (id, call, release) in ops {
            let id = format!("call-{id}");
            if release {
                let released = b.policy.release(&id).map(|c| c.to_string());
                prop_assert_eq!(released, model.remove(&id));
                continue;
            }
            let f = &cs[call % cs.len()];
            let d = b.policy.decide_and_claim(&id, f);
            match model.get(&id) {
                Some(holder) => {
                    prop_assert!(!d.record, "claimed call {} recorded again by {:?}", id, d.configuration);
                    let held = b.policy.recording_of(&id);
                    prop_assert_eq!(held.as_deref(), Some(holder.as_str()));
                }
                None => {
                    prop_assert_eq!(d.record, b.policy.decide(f).record);
                    if let Some(c) = &d.configuration {
                        model.insert(id.clone(), c.to_string());
                    }
                }
            }
            prop_assert_eq!(b.policy.active_recordings(), model.len());
        }
    }

    /// Logging a member out and in again restores every decision (S6).
    #[test]
    fn log_out_then_log_in_restores_every_decision(s in scenario()) {
        let b = build(&s);
        let cs = calls(&s, &b.pool);
        let before: Vec<_> = cs.iter().map(|f| b.policy.decide(f)).collect();
        let states = b.policy.memberships();
        for m in states.iter().filter(|m| m.active) {
            b.policy.set_active(&m.group, &m.user, false).unwrap();
            b.policy.set_active(&m.group, &m.user, true).unwrap();
            let now: Vec<_> = cs.iter().map(|f| b.policy.decide(f)).collect();
            prop_assert_eq!(&now, &before);
        }
        for m in states.iter().filter(|m| m.active) {
            b.policy.set_active(&m.group, &m.user, false).unwrap();
        }
        for m in states.iter().filter(|m| m.active) {
            b.policy.set_active(&m.group, &m.user, true).unwrap();
        }
        let now: Vec<_> = cs.iter().map(|f| b.policy.decide(f)).collect();
        prop_assert_eq!(&now, &before);
        prop_assert_eq!(b.policy.memberships(), states);
    }

    /// normalize(normalize(x)) == normalize(x), for any text and for URI-like text.
    #[test]
    fn normalising_is_idempotent(
        raw in prop_oneof![
            "\\PC{0,24}",
            "[ \"a-zA-Z<>]{0,6}(sip|SIP|sips|tel):[-+0-9 ().]{0,14}[@;?]?[a-z0-9=;.:]{0,10}>?",
            "[-+0 ()./]{0,4}[0-9]{0,12}",
        ],
        with_plan in any::<bool>(),
    ) {
        let plan = if with_plan {
            NumberPlan::new().with_country_code("49").unwrap().with_area_code("30").unwrap()
        } else {
            NumberPlan::new()
        };
        if let Ok(once) = plan.normalize(&raw) {
            let twice = plan.normalize(&once);
            prop_assert_eq!(twice, Ok(once.clone()));
            prop_assert!(!once.is_empty());
        }
    }
}
