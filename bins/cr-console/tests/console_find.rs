//! The console's search filters and paging on a real installation: sets of two
//! configurations, a recovered one, one pending delivery, one on hold, and 51 calls of one
//! number (a page holds 50), with users and groups in the configuration.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{Console, SET, Sealed, have};

const POLICY: &str = r#"
[[users]]
id = "alice"
numbers = ["+4930999888"]

[[users]]
id = "bob"
numbers = ["+4940111222"]

[[users]]
id = "nobody"

[[groups]]
id = "sales"
number = "400"
members = ["bob"]

[[recordings]]
name = "desk"
users = ["alice"]

[[recordings]]
name = "hotline"
groups = ["sales"]
"#;

/// The set ids of the hits on a search page, in order.
fn hits(body: &str) -> Vec<String> {
    body.split("<tr class=\"hit\"><td><a href=\"/recordings/").skip(1).map(|r| r.split('"').next().unwrap().to_owned()).collect()
}

#[test]
fn search_filters_by_configuration_user_group_and_flag_and_pages_by_fifty() {
    if !(have("openssl") && have("sox")) {
        return;
    }
    let c = Console::start_with(5, POLICY);
    let day = Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap();
    let bulk: Vec<String> = (0..51).map(|i| format!("20261128T{:02}{:02}00000Z-bulk{i:02}", 8 + i / 60, i % 60)).collect();
    let mut sets = vec![
        Sealed { set: "20261127T100000000Z-bob", caller: "+4940111222", start: day - Duration::days(1), configuration: "hotline", flags: &["recovered"], ..Sealed::DESK },
        Sealed { set: "20261127T110000000Z-owed", caller: "+4971100000", start: day - Duration::hours(21), configuration: "hotline", targets: &["nas"], ..Sealed::DESK },
    ];
    for (i, id) in bulk.iter().enumerate() {
        sets.push(Sealed { set: id, caller: "+49891234567", start: day + Duration::minutes(i as i64), ..Sealed::DESK });
    }
    c.add_sets(&sets);
    // A hold on the first set only.
    let j = c.journal();
    j.place_hold(&cr_journal::NewHold {
        case: "SEC-1".into(),
        reason: "inquiry".into(),
        scope: cr_journal::HoldScope::sets([SET]),
        placed_by: "root".into(),
        placed_at: Utc::now(),
    })
    .unwrap();
    drop(j);
    let session = c.session("aud");
    let find = |q: &str| {
        let r = c.get(&format!("/search?{q}"), Some(&session));
        (r.status().as_u16(), r.text().unwrap())
    };

    // The form offers the configuration's names.
    let (_, form) = find("");
    for v in ["value=\"hotline\"", "value=\"alice\"", "value=\"sales\"", "value=\"held\""] {
        assert!(form.contains(v), "{v}: {form}");
    }
    let (code, body) = find("configuration=hotline");
    assert_eq!((code, hits(&body)), (200, vec!["20261127T100000000Z-bob".to_owned(), "20261127T110000000Z-owed".to_owned()]));
    // A user: their numbers; a group: its number and its members' numbers.
    assert_eq!(hits(&find("party=alice").1), vec![SET.to_owned()]);
    assert_eq!(hits(&find("party=sales").1), vec!["20261127T100000000Z-bob".to_owned()]);
    assert_eq!(hits(&find("flag=recovered").1), vec!["20261127T100000000Z-bob".to_owned()]);
    assert_eq!(hits(&find("flag=pending").1), vec!["20261127T110000000Z-owed".to_owned()]);
    assert_eq!(hits(&find("flag=held").1), vec![SET.to_owned()]);
    // Filters combine.
    assert!(hits(&find("configuration=desk&flag=recovered").1).is_empty());

    // 51 calls of one number: 50 on the first page with a link to the next, 1 on the second.
    let (_, first) = find("number=089+1234567");
    assert_eq!(hits(&first), bulk[..50].to_vec());
    assert!(first.contains("Recordings 1–50, more follow."), "{first}");
    assert!(first.contains("id=\"next\" href=\"/search?number=089%201234567&amp;page=1\""), "{first}");
    assert!(!first.contains("id=\"previous\""));
    let (_, second) = find("number=089%201234567&page=1");
    assert_eq!(hits(&second), bulk[50..].to_vec());
    assert!(second.contains("Recordings 51–51.") && second.contains("id=\"previous\"") && !second.contains("id=\"next\""), "{second}");
    let (_, beyond) = find("number=089%201234567&page=2");
    assert!(hits(&beyond).is_empty() && beyond.contains("No more recordings match."), "{beyond}");

    // Bad filters are named, with 400, and nothing is searched.
    let searched = || c.audit_kinds().iter().filter(|(k, _)| k == "searched").count();
    let before = searched();
    let (code, body) = find("party=mallory%3Cb%3E");
    assert_eq!(code, 400);
    assert!(body.contains("no user or group has the id &quot;mallory&lt;b&gt;&quot;"), "{body}");
    let (code, body) = find("party=nobody");
    assert!(code == 400 && body.contains("has no number in the configuration"), "{body}");
    let (code, body) = find("flag=deleted");
    assert!(code == 400 && body.contains("is not a flag"), "{body}");
    let (code, _) = find("page=x&number=1");
    assert_eq!(code, 400, "a page that is not a number");
    assert_eq!(searched(), before);
}
