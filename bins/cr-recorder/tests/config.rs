//! The recorder validates its configuration as `crctl config check` does, through
//! cr-setup, and refuses to start with the same message.

mod support;

use support::*;

// Guards against: a `decline` other than "reject"/"accept" silently taken as 403.
#[test]
fn a_bad_decline_stops_the_start_with_the_message_config_check_gives() {
    let inst = Install::new(
        &format!("{}\n[pbx.siprec]\nlisten = [\"udp:127.0.0.1:{}\"]\ndecline = \"drop\"\n", desk_config(&["70"]), free_udp_port()),
        false,
    );
    let cfg = cr_config::Config::load(&inst.config).unwrap();
    let expected: Vec<String> = cr_setup::Checked::from_config(&cfg)
        .problems
        .iter()
        .filter(|p| p.key == "pbx.siprec.decline")
        .map(ToString::to_string)
        .collect();
    assert_eq!(expected.len(), 1, "{expected:?}");
    let out = inst.run_to_exit();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&expected[0]), "{stderr}");
    assert!(!inst.path("data/legs").exists(), "refused before anything started: {stderr}");
}
