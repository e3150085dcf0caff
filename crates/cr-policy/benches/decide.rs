//! Decisions per second with 10,000 users, 500 groups, 50 configurations and random calls,
//! against a naive scan (numbers normalised once, then searched linearly; configurations
//! scanned in order) measured in the same run.
//!
//! `cargo bench -p cr-policy --bench decide` prints criterion's figures and a summary line
//! with both rates and their ratio. Under `cargo test --all-targets` every benchmark runs
//! once, quickly.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::hint::black_box;
use std::time::Instant;

use cr_policy::{CallFacts, Direction, GroupSpec, NumberPlan, Policy, RecordingSpec, UserSpec};
use criterion::{Criterion, Throughput};

const USERS: usize = 10_000;
const GROUPS: usize = 500;
const CONFIGS: usize = 50;
const CALLS: usize = 4096;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Setup {
    users: Vec<UserSpec>,
    groups: Vec<GroupSpec>,
    recordings: Vec<RecordingSpec>,
    plan: NumberPlan,
}

fn setup() -> Setup {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let plan = NumberPlan::new().with_country_code("49").unwrap().with_area_code("30").unwrap();
    let users: Vec<UserSpec> = (0..USERS)
        .map(|i| UserSpec::new(format!("u{i}")).numbers([format!("{}", 10_000 + i), format!("+4930{:07}", i)]))
        .collect();
    // Each user in one group (20 per group), every third member logged out.
    let groups: Vec<GroupSpec> = (0..GROUPS)
        .map(|g| {
            let members: Vec<String> = (0..USERS / GROUPS).map(|k| format!("u{}", g * (USERS / GROUPS) + k)).collect();
            let inactive: Vec<String> = members.iter().step_by(3).cloned().collect();
            GroupSpec::new(format!("g{g}")).number(format!("9{g:04}")).members(members).inactive(inactive)
        })
        .collect();
    // 50 configurations, each recording 8 groups and 20 users; half with S7.
    let recordings = (0..CONFIGS)
        .map(|c| {
            let gs: Vec<String> = (0..8).map(|_| format!("g{}", rng.below(GROUPS))).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let us: Vec<String> = (0..20).map(|_| format!("u{}", rng.below(USERS))).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            RecordingSpec::new(format!("rec-{c}"))
                .groups(gs)
                .users(us)
                .record_direct_calls_to_active_members(c % 2 == 0)
                .announcement_incoming("announcements/in.wav")
                .targets(["nas", "offsite"])
        })
        .collect();
    Setup { users, groups, recordings, plan }
}

fn random_calls() -> Vec<CallFacts> {
    let mut rng = Rng(0xca11_5eed_0000_0042);
    (0..CALLS)
        .map(|_| {
            let user_number = |rng: &mut Rng| match rng.below(4) {
                0 => format!("{}", 10_000 + rng.below(USERS)),
                1 => format!("sip:{}@pbx;user=phone", 10_000 + rng.below(USERS)),
                2 => format!("+49 30 {:07}", rng.below(USERS)),
                _ => format!("0{}", 1_000_000 + rng.below(9_000_000)), // unknown external
            };
            let group_number = |rng: &mut Rng| format!("9{:04}", rng.below(GROUPS));
            match rng.below(3) {
                0 => {
                    let callee = if rng.below(2) == 0 { group_number(&mut rng) } else { user_number(&mut rng) };
                    CallFacts::incoming("+4917012345678", callee)
                }
                1 => CallFacts::outgoing(user_number(&mut rng), "+4917012345678"),
                _ => CallFacts::internal(user_number(&mut rng), group_number(&mut rng)),
            }
        })
        .collect()
}

fn build(s: &Setup) -> Policy {
    let mut b = Policy::builder().number_plan(s.plan.clone());
    for u in &s.users {
        b = b.user(u.clone());
    }
    for g in &s.groups {
        b = b.group(g.clone());
    }
    for r in &s.recordings {
        b = b.recording(r.clone());
    }
    b.build().expect("bench directory is valid")
}

/// The naive alternative: numbers normalised once into a list, searched linearly; the
/// configurations scanned in order with `contains`.
struct NaiveScan {
    plan: NumberPlan,
    numbers: Vec<(String, bool, usize)>, // (number, is_group, index)
    members: Vec<Vec<usize>>,
    recordings: Vec<(Vec<usize>, Vec<usize>, bool)>,
    policy_for_state: Policy,
    group_ids: Vec<String>,
    user_ids: Vec<String>,
}

impl NaiveScan {
    fn new(s: &Setup) -> Self {
        let mut numbers = Vec::new();
        for (i, u) in s.users.iter().enumerate() {
            for n in &u.numbers {
                numbers.push((s.plan.normalize(n).unwrap(), false, i));
            }
        }
        for (g, gs) in s.groups.iter().enumerate() {
            numbers.push((s.plan.normalize(gs.number.as_deref().unwrap()).unwrap(), true, g));
        }
        let uix = |id: &str| id[1..].parse::<usize>().unwrap();
        let members = s.groups.iter().map(|g| g.members.iter().map(|m| uix(m)).collect()).collect();
        let recordings = s
            .recordings
            .iter()
            .map(|r| {
                (
                    r.groups.iter().map(|g| uix(g)).collect(),
                    r.users.iter().map(|u| uix(u)).collect(),
                    r.record_direct_calls_to_active_members,
                )
            })
            .collect();
        Self {
            plan: s.plan.clone(),
            numbers,
            members,
            recordings,
            policy_for_state: build(s),
            group_ids: s.groups.iter().map(|g| g.id.clone()).collect(),
            user_ids: s.users.iter().map(|u| u.id.clone()).collect(),
        }
    }

    fn owner(&self, raw: &str) -> Option<(bool, usize)> {
        let n = self.plan.normalize(raw).ok()?;
        let find = |n: &str| self.numbers.iter().find(|(x, _, _)| x == n).map(|(_, g, i)| (*g, *i));
        find(&n).or_else(|| find(&self.plan.local_to_international(&n)?))
    }

    fn active(&self, g: usize, u: usize) -> bool {
        self.policy_for_state.is_active(&self.group_ids[g], &self.user_ids[u]).unwrap_or(false)
    }

    fn decide(&self, f: &CallFacts) -> Option<usize> {
        let callee = matches!(f.direction, Direction::Incoming | Direction::Internal).then(|| self.owner(&f.callee)).flatten();
        let caller = matches!(f.direction, Direction::Outgoing | Direction::Internal).then(|| self.owner(&f.caller)).flatten();
        for (i, (groups, users, direct)) in self.recordings.iter().enumerate() {
            let member_active = |u: usize| groups.iter().any(|&g| self.members[g].contains(&u) && self.active(g, u));
            let inc = match callee {
                Some((true, g)) => groups.contains(&g),
                Some((false, u)) => users.contains(&u) || (*direct && member_active(u)),
                None => false,
            };
            let out = match caller {
                Some((false, u)) => users.contains(&u) || member_active(u),
                _ => false,
            };
            if inc || out {
                return Some(i);
            }
        }
        None
    }
}

/// Nanoseconds this thread has spent on a CPU (Linux), so that the figure means "per
/// core" even when other processes share the machine.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// (decisions per wall-clock second, decisions per CPU second of this thread).
fn rate(mut f: impl FnMut(&CallFacts) -> bool, calls: &[CallFacts], min_secs: f64) -> (f64, Option<f64>) {
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let mut n = 0u64;
    let mut recorded = 0u64;
    while start.elapsed().as_secs_f64() < min_secs {
        for c in calls {
            recorded += u64::from(f(c));
            n += 1;
        }
    }
    black_box(recorded);
    let wall = n as f64 / start.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Some(n as f64 / ((b - a) as f64 / 1e9)),
        _ => None,
    };
    (wall, cpu)
}

fn main() {
    let s = setup();
    let policy = build(&s);
    let naive = NaiveScan::new(&s);
    let calls = random_calls();

    // The two agree on which configuration records each call.
    let mut recorded = 0;
    for c in &calls {
        let d = policy.decide(c);
        let want = naive.decide(c).map(|i| format!("rec-{i}"));
        assert_eq!(d.configuration.as_deref(), want.as_deref(), "{c:?}");
        recorded += usize::from(d.record);
    }

    let mut crit = Criterion::default().configure_from_args();
    let mut g = crit.benchmark_group("decide");
    g.throughput(Throughput::Elements(calls.len() as u64));
    g.bench_function("indexed (10k users, 500 groups, 50 configurations)", |b| {
        b.iter(|| {
            for c in &calls {
                black_box(policy.decide(black_box(c)));
            }
        })
    });
    g.sample_size(10);
    g.throughput(Throughput::Elements(64));
    g.bench_function("naive scan", |b| {
        b.iter(|| {
            for c in calls.iter().take(64) {
                black_box(naive.decide(black_box(c)));
            }
        })
    });
    g.finish();

    if std::env::args().any(|a| a == "--bench") {
        let (fast, fast_cpu) = rate(|c| policy.decide(c).record, &calls, 3.0);
        let (slow, slow_cpu) = rate(|c| naive.decide(c).is_some(), &calls[..256], 3.0);
        println!(
            "summary: {recorded}/{} random calls recorded; indexed policy {:.0} decisions/s (wall) {:.0} per CPU-second; \
             naive scan {:.0} decisions/s (wall) {:.0} per CPU-second; ratio {:.0}x",
            calls.len(),
            fast,
            fast_cpu.unwrap_or(f64::NAN),
            slow,
            slow_cpu.unwrap_or(f64::NAN),
            fast / slow
        );
    }
    crit.final_summary();
}
