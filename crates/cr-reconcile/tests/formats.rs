//! Each PBX's file as its documentation describes it, read into calls; bad rows named by
//! line and field without their content; arbitrary bytes never panic.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use cr_reconcile::{CdrError, Format, read_cdr};

fn berlin() -> Option<Tz> {
    Some("Europe/Berlin".parse().unwrap())
}

#[test]
fn asterisk_master_csv() {
    // cdr_csv: every string quoted, duration and billsec bare; uniqueid and userfield last;
    // the second call was never answered (answer empty, billsec 0).
    let text = concat!(
        "\"\",\"201\",\"004930999001\",\"from-internal\",\"\"\"Alice\"\" <201>\",\"PJSIP/201-00000001\",\"PJSIP/trunk-00000002\",\"Dial\",\"PJSIP/004930999001@trunk,60\",\"2026-11-26 10:00:00\",\"2026-11-26 10:00:05\",\"2026-11-26 10:01:40\",100,95,\"ANSWERED\",\"DOCUMENTATION\",\"1795683600.1\",\"\"\n",
        "\"acct\",\"+4930999002\",\"300\",\"from-pstn\",\"\",\"PJSIP/trunk-00000003\",\"\",\"Queue\",\"trading\",\"2026-11-26 10:10:00\",\"\",\"2026-11-26 10:10:20\",20,0,\"NO ANSWER\",\"DOCUMENTATION\",\"1795684200.3\",\"\"\n",
    );
    let rows = read_cdr(&Format::Asterisk, berlin(), text.as_bytes()).unwrap();
    assert!(rows.bad.is_empty(), "{:?}", rows.bad);
    let c = &rows.calls[0];
    assert_eq!((c.line, c.call_id.as_deref(), c.caller.as_str(), c.callee.as_str()), (1, Some("1795683600.1"), "201", "004930999001"));
    assert_eq!((c.started_at, c.connected_secs), (Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 5).unwrap(), 95), "answer time, Berlin = UTC+1");
    let c = &rows.calls[1];
    assert_eq!((c.started_at, c.connected_secs), (Utc.with_ymd_and_hms(2026, 11, 26, 9, 10, 0).unwrap(), 0), "never answered: offered time");
}

#[test]
fn freeswitch_default_template() {
    let text = "\"Alice\",\"201\",\"004930999001\",\"default\",\"2026-11-26 10:00:00\",\"2026-11-26 10:00:05\",\"2026-11-26 10:01:40\",\"100\",\"95\",\"NORMAL_CLEARING\",\"a1b2c3d4-0000-4000-8000-000000000001\",\"a1b2c3d4-0000-4000-8000-000000000002\",\"\",\"PCMA\",\"PCMA\"\n";
    let rows = read_cdr(&Format::FreeSwitch, berlin(), text.as_bytes()).unwrap();
    let c = &rows.calls[0];
    assert_eq!(c.call_id.as_deref(), Some("a1b2c3d4-0000-4000-8000-000000000001"));
    assert_eq!((c.caller.as_str(), c.callee.as_str(), c.connected_secs), ("201", "004930999001", 95));
    assert_eq!(c.started_at, Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 5).unwrap());
}

#[test]
fn cucm_header_types_and_epoch_times() {
    let text = concat!(
        "\"cdrRecordType\",\"globalCallID_callManagerId\",\"globalCallID_callId\",\"dateTimeOrigination\",\"callingPartyNumber\",\"originalCalledPartyNumber\",\"finalCalledPartyNumber\",\"dateTimeConnect\",\"dateTimeDisconnect\",\"duration\"\n",
        "INTEGER,INTEGER,INTEGER,INTEGER,VARCHAR(50),VARCHAR(50),VARCHAR(50),INTEGER,INTEGER,INTEGER\n",
        "1,1,1001,1795683600,\"+4930999002\",\"301\",\"300\",1795683605,1795683700,95\n",
        "2,1,1001,1795683600,\"\",\"\",\"\",0,0,0\n",
        "1,1,1002,1795684200,\"201\",\"300\",\"300\",0,1795684210,0\n",
    );
    let rows = read_cdr(&Format::Cucm, None, text.as_bytes()).unwrap();
    assert!(rows.bad.is_empty(), "{:?}", rows.bad);
    assert_eq!((rows.calls.len(), rows.skipped), (2, 1), "the CMR row (type 2) is skipped");
    let c = &rows.calls[0];
    assert_eq!((c.line, c.call_id.as_deref(), c.diversions.as_slice()), (3, Some("1001"), &["301".to_owned()][..]));
    assert_eq!((c.started_at.timestamp(), c.connected_secs), (1_795_683_605, 95));
    assert_eq!(rows.calls[1].started_at.timestamp(), 1_795_684_200, "never connected: origination");
    assert!(rows.calls[1].diversions.is_empty());
}

#[test]
fn csv_with_a_column_map_and_end_times() {
    let f = Format::parse("csv", Some("caller=A,callee=B,start=Begin,end=Fin")).unwrap();
    let text = "A,B,Begin,Fin\n201,300,2026-11-26T10:00:00+01:00,2026-11-26T10:01:00+01:00\n";
    let rows = read_cdr(&f, None, text.as_bytes()).unwrap();
    assert_eq!((rows.calls[0].connected_secs, rows.calls[0].call_id.as_deref()), (60, None));
    // A named column the header lacks is refused up front.
    let f = Format::parse("csv", Some("caller=A,callee=B,start=Begin,duration=Secs")).unwrap();
    assert!(matches!(read_cdr(&f, None, text.as_bytes()), Err(CdrError::Header(_))));
    for bad in ["caller=A", "caller=A,callee=B,start=C", "nonsense", "caller=A,callee=B,start=C,end=D,colour=E"] {
        assert!(Format::parse("csv", Some(bad)).is_err(), "{bad}");
    }
    assert!(Format::parse("csv", None).is_err());
    assert!(Format::parse("asterisk", Some("caller=A")).is_err());
}

#[test]
fn bad_rows_name_line_and_field_never_the_content() {
    let text = concat!(
        "\"\",\"201\",\"300\",\"c\",\"\",\"ch\",\"\",\"Dial\",\"\",\"2026-11-26 10:00:00\",\"2026-11-26 10:00:05\",\"2026-11-26 10:01:40\",100,95,\"ANSWERED\",\"DOCUMENTATION\",\"u1\",\"\"\n",
        "\"\",\"201\",\"300\",\"c\",\"\",\"ch\",\"\",\"Dial\",\"\",\"secret-4930555777\",\"\",\"\",100,95,\"ANSWERED\",\"DOCUMENTATION\",\"u2\",\"\"\n",
        "\"\",\"201\",\"300\",\"c\",\"\",\"ch\",\"\",\"Dial\",\"\",\"2026-11-26 10:00:00\",\"\",\"\",100,\"-4930555777\",\"ANSWERED\",\"DOCUMENTATION\",\"u3\",\"\"\n",
        "\"only\",\"three\",\"fields\"\n",
    );
    let rows = read_cdr(&Format::Asterisk, berlin(), text.as_bytes()).unwrap();
    assert_eq!(rows.calls.len(), 1);
    let got: Vec<(u64, &str)> = rows.bad.iter().map(|b| (b.line, b.field.as_str())).collect();
    assert_eq!(got, [(2, "start"), (3, "billsec"), (4, "row")]);
    for b in &rows.bad {
        assert!(!b.to_string().contains("4930555777"), "{b}");
    }
    // Without a zone a local time is a bad row, not a guess.
    let rows = read_cdr(&Format::Asterisk, None, text.as_bytes()).unwrap();
    assert_eq!(rows.calls.len(), 0);
    assert!(rows.bad[0].problem.contains("--tz"), "{}", rows.bad[0]);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let csv = Format::parse("csv", Some("caller=a,callee=b,start=c,duration=d")).unwrap();
    for round in 0..3000 {
        let len = (round % 200) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly the characters CSV and times are made of.
                const ALPHABET: &[u8] = b"\",\n0123456789-: T+a\r\xff\x00";
                ALPHABET[(x % ALPHABET.len() as u64) as usize]
            })
            .collect();
        for f in [&Format::Asterisk, &Format::FreeSwitch, &Format::Cucm, &csv] {
            let _ = read_cdr(f, berlin(), &bytes[..]);
        }
    }
}
