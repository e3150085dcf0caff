//! The chain under contention, for every backend: the same checks on SQLite (threads on one
//! file) and on PostgreSQL (threads on one server, as recorder nodes would be).

use std::sync::Barrier;

use cr_journal::{ChainEntry, GENESIS_SHA256, Journal};

use super::{call, recording, sha, t};

/// Checks the committed chain: 1..=n, each prev equal to the hash before.
pub fn check_chain(j: &Journal, n: u64) -> Vec<ChainEntry> {
    let chain = j.chain(1, u32::MAX).unwrap();
    let seqs: Vec<u64> = chain.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "numbers must be 1..={n} without gap or duplicate"
    );
    let mut prev = GENESIS_SHA256.to_owned();
    for e in &chain {
        assert_eq!(
            e.prev_sha256,
            prev,
            "link {} does not point at link {}",
            e.seq,
            e.seq - 1
        );
        prev = e.sha256.clone();
    }
    chain
}

/// Eight threads seal `per_thread` sets each at once, abandoning every fifth reservation
/// (its number must be reused). Thread `th` uses the journal `own(th)` opens, or `shared`
/// when that is `None`. The numbers handed out are 1..=8·per_thread without gap or
/// duplicate, each links to what the previous holder committed, and the committed chain
/// says the same.
pub fn eight_threads_seal_without_gap_or_duplicate(
    shared: &Journal,
    own: &(dyn Fn(u64) -> Option<Journal> + Sync),
    per_thread: u64,
) {
    let c = shared
        .record_call(&call("+4930999888", "300", t(0), true))
        .unwrap();
    let barrier = Barrier::new(8);
    let mut all: Vec<(u64, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u64)
            .map(|th| {
                let barrier = &barrier;
                s.spawn(move || {
                    let own = own(th);
                    let j = own.as_ref().unwrap_or(shared);
                    barrier.wait();
                    let mut got = Vec::new();
                    for i in 0..per_thread {
                        let set = format!("t{th}-{i}");
                        if i % 5 == 4 {
                            drop(j.reserve_link(&format!("{set}-abandoned"), t(1)).unwrap());
                        }
                        let res = j.reserve_link(&set, t(1)).unwrap();
                        let link = res.link().clone();
                        let h = sha(th * 1_000_000 + i + 1);
                        res.commit(&h, &recording(&set, c, t(0), t(1), &[]))
                            .unwrap();
                        got.push((link.seq, link.prev_sha256, h));
                    }
                    got
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a sealing thread failed"))
            .collect()
    });
    all.sort();
    let n = 8 * per_thread;
    assert_eq!(
        all.iter().map(|x| x.0).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    // What each thread was handed links to what the previous holder committed.
    assert_eq!(all[0].1, GENESIS_SHA256);
    for w in all.windows(2) {
        assert_eq!(
            w[1].1, w[0].2,
            "seq {} was handed a prev hash that seq {} did not commit",
            w[1].0, w[0].0
        );
    }
    let chain = check_chain(shared, n);
    for (e, (seq, _, h)) in chain.iter().zip(&all) {
        assert_eq!((e.seq, &e.sha256), (*seq, h));
    }
}
