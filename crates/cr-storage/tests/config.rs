//! Target settings from callrec.toml: bad templates and settings are refused with the file,
//! line and key named.
#![allow(clippy::unwrap_used)]

use cr_config::Config;
use cr_storage::{targets_from_config, zone_from_config};

const HEAD: &str = r#"[installation]
module_id = "pbx-berlin-01"
data_dir = "/var/lib/callrec"
timezone = "Europe/Berlin"
"#;

fn errors(targets: &str) -> Vec<String> {
    let text = format!("{HEAD}\n{targets}");
    let cfg = Config::parse(&text, "callrec.toml").unwrap();
    targets_from_config(&cfg).err().unwrap_or_default().iter().map(|e| e.to_string()).collect()
}

fn one_error(targets: &str, line: usize, key: &str, words: &[&str]) {
    let e = errors(targets);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].starts_with(&format!("callrec.toml:{line}: key `{key}`")), "{}", e[0]);
    for w in words {
        assert!(e[0].contains(w), "{w:?} missing in {}", e[0]);
    }
}

#[test]
fn good_targets_of_every_kind_are_accepted() {
    let key = tempfile::NamedTempFile::new().unwrap();
    let text = format!(
        r#"{HEAD}
[[targets]]
name = "archive"
kind = "folder"
path = "/srv/archive"
directory = "$Y/$M/$D"

[[targets]]
name = "nas"
kind = "smb"
server = "nas01"
share = "recordings"
domain = "CORP"
username = "callrec"
password_file = "{pw}"
directory = "Aufzeichnung/Record-$Y_$M_$D"

[[targets]]
name = "offsite"
kind = "sftp"
server = "sftp.example.net"
username = "callrec"
private_key_file = "{pw}"
host_key = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
directory = "."

[[targets]]
name = "m365"
kind = "onedrive"
cloud = "germany"
tenant_id = "t"
client_id = "c"
client_secret_file = "{pw}"
drive_user = "recorder@corp.example"
directory = "Recordings/$Y/$M/$D"
"#,
        pw = key.path().display()
    );
    let cfg = Config::parse(&text, "callrec.toml").unwrap();
    let specs = targets_from_config(&cfg).unwrap();
    assert_eq!(specs.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), ["folder", "smb", "sftp", "onedrive"]);
    let od = specs[3].build();
    assert!(od.describe().contains("germany") && od.describe().contains("graph.microsoft.de"), "{}", od.describe());
    assert!(zone_from_config(&cfg).is_ok());
}

#[test]
fn bad_templates_are_refused_at_their_line() {
    let t = |dir: &str, kind: &str| format!("[[targets]]\nname = \"x\"\nkind = \"{kind}\"\npath = \"/srv\"\ndirectory = \"{dir}\"\n");
    one_error(&t("../up", "folder"), 10, "targets[0].directory", &["'..'"]);
    one_error(&t("/abs/$Y", "folder"), 10, "targets[0].directory", &["absolute"]);
    one_error(&t("a//b", "folder"), 10, "targets[0].directory", &["empty"]);
    one_error(&t("Rec:$Y", "folder"), 10, "targets[0].directory", &["SMB and OneDrive"]);
    one_error(&t("$Q", "folder"), 10, "targets[0].directory", &["$Q"]);
}

#[test]
fn sftp_settings_are_checked_key_by_key() {
    let base = |extra: &str| {
        format!("[[targets]]\nname = \"offsite\"\nkind = \"sftp\"\nserver = \"sftp.example.net\"\nusername = \"u\"\npassword_env = \"CR_STORAGE_TEST_SURELY_UNSET\"\n{extra}")
    };
    // line 6 = [[targets]], 7 name, 8 kind, 9 server, 10 username, 11 password_env, 12.. extra
    let e = errors(&base("host_key = \"SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s\"\ndirectory = \"Aufzeichnung-\u{e4}\"\n"));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e.iter().any(|m| m.contains(":11: key `targets[0].password_env`") && m.contains("CR_STORAGE_TEST_SURELY_UNSET")), "{e:#?}");
    assert!(e.iter().any(|m| m.contains(":13: key `targets[0].directory`") && m.contains("ASCII")), "{e:#?}");
    let e = errors(&base("host_key = \"MD5:12:34\"\n"));
    assert!(e.iter().any(|m| m.contains(":12: key `targets[0].host_key`") && m.contains("ssh-keygen")), "{e:#?}");
    let e = errors(&base(""));
    assert!(e.iter().any(|m| m.contains("needs `host_key`")), "{e:#?}");
}

#[test]
fn smb_server_share_and_user_forms_are_checked() {
    let pw = tempfile::NamedTempFile::new().unwrap();
    let t = format!(
        "[[targets]]\nname = \"nas\"\nkind = \"smb\"\nserver = \"smb://nas01\"\nshare = \"rec/sub\"\nusername = \"CORP\\\\callrec\"\npassword_file = \"{}\"\nhost_key = \"SHA256:x\"\n",
        pw.path().display()
    );
    let e = errors(&t);
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].contains(":13: key `targets[0].host_key`") && e[0].contains("does not apply"), "{e:#?}");
    assert!(e[1].contains(":9: key `targets[0].server`") && e[1].contains("host name or IP"), "{e:#?}");
    assert!(e.iter().any(|m| m.contains("key `targets[0].share`") && m.contains("sub-directory")), "{e:#?}");
    assert!(e.iter().any(|m| m.contains("key `targets[0].username`") && m.contains("domain")), "{e:#?}");
}

#[test]
fn onedrive_needs_one_sign_in_form_and_a_known_cloud() {
    one_error(
        "[[targets]]\nname = \"m\"\nkind = \"onedrive\"\ncloud = \"china\"\ntenant_id = \"t\"\nclient_id = \"c\"\nredirect_uri = \"https://login.microsoftonline.com/common/oauth2/nativeclient\"\n",
        9,
        "targets[0].cloud",
        &["\"global\" or \"germany\""],
    );
    one_error(
        "[[targets]]\nname = \"m\"\nkind = \"onedrive\"\ntenant_id = \"t\"\nclient_id = \"c\"\n",
        6,
        "targets[0].drive_user",
        &["redirect_uri"],
    );
    one_error(
        "[[targets]]\nname = \"m\"\nkind = \"onedrive\"\ntenant_id = \"t\"\nclient_id = \"c\"\nredirect_uri = \"https://x\"\ngraph_endpoint = \"http://evil.example\"\n",
        12,
        "targets[0].graph_endpoint",
        &["only for tests"],
    );
}

#[test]
fn unknown_kind_and_unknown_target_reference() {
    one_error("[[targets]]\nname = \"x\"\nkind = \"ftp\"\n", 8, "targets[0].kind", &["\"folder\", \"smb\", \"sftp\" or \"onedrive\""]);
    // The unknown target reference is the policy's check, made once by the composition:
    // moved to cr-setup's tests/compose.rs.
}

// Moved from cr-config (duplicate_target_name_names_the_second): target names are the
// targets' schema, cr-storage's.
#[test]
fn duplicate_target_name_names_the_second() {
    let t = "[[targets]]\nname = \"archive\"\nkind = \"folder\"\npath = \"/srv/archive\"\n\n[[targets]]\nname = \"archive\"\nkind = \"folder\"\npath = \"/srv/other\"\n";
    one_error(t, 12, "targets[1].name", &["duplicate name \"archive\"", "targets[0]"]);
}

// Guards against: a key of another kind, or a key of no kind, passing unnoticed.
#[test]
fn keys_are_checked_against_the_kind_schema() {
    one_error("[[targets]]\nname = \"x\"\nkind = \"folder\"\npath = \"/srv\"\nhots = \"h\"\n", 10, "targets[0].hots", &["unknown key", "path, group"]);
    one_error("[[targets]]\nname = \"x\"\nkind = \"folder\"\npath = \"/srv\"\nport = \"22\"\n", 10, "targets[0].port", &["does not apply"]);
    let e = errors("[[targets]]\nname = \"x\"\nkind = \"sftp\"\nport = \"22\"\n");
    assert!(e[0].starts_with("callrec.toml:9: key `port`") && e[0].contains("u16"), "{e:#?}");
}

#[test]
fn unknown_time_zone_is_named() {
    let cfg = Config::parse(&HEAD.replace("Europe/Berlin", "Europe/Atlantis"), "callrec.toml").unwrap();
    let e = zone_from_config(&cfg).unwrap_err().to_string();
    assert!(e.starts_with("callrec.toml:4: key `installation.timezone`") && e.contains("Europe/Atlantis"), "{e}");
}

#[test]
fn one_target_can_be_read_while_another_lacks_its_secret() {
    let text = format!(
        "{HEAD}\n[[targets]]\nname = \"nas\"\nkind = \"smb\"\nserver = \"nas01\"\nshare = \"rec\"\nusername = \"u\"\npassword_env = \"CR_STORAGE_TEST_SURELY_UNSET\"\n\n[[targets]]\nname = \"m365\"\nkind = \"onedrive\"\ncloud = \"germany\"\ntenant_id = \"t\"\nclient_id = \"c\"\nredirect_uri = \"https://login.microsoftonline.de/common/oauth2/nativeclient\"\n"
    );
    let cfg = Config::parse(&text, "callrec.toml").unwrap();
    assert!(targets_from_config(&cfg).is_err());
    let spec = cr_storage::target_from_config(&cfg, "m365").unwrap();
    let link = cr_storage::authorize_url(spec.onedrive().unwrap()).unwrap();
    assert!(link.starts_with("https://login.microsoftonline.de/t/oauth2/v2.0/authorize?client_id=c&"), "{link}");
    let e = cr_storage::target_from_config(&cfg, "nope").unwrap_err();
    assert!(e[0].to_string().contains("nas, m365"), "{}", e[0]);
}
