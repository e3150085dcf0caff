//! `crctl onedrive authorize`: the sign-in link of a delegated OneDrive target, per cloud.

use std::process::Command;

fn crctl(cloud: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("callrec.toml");
    std::fs::write(
        &cfg,
        format!(
            "[installation]\nmodule_id = \"x\"\ndata_dir = \"{}\"\n\n[[targets]]\nname = \"m365\"\nkind = \"onedrive\"\ncloud = \"{cloud}\"\ntenant_id = \"contoso-tenant\"\nclient_id = \"app-1234\"\nredirect_uri = \"https://localhost/callrec\"\ndirectory = \"Recordings/$Y\"\n\n[[targets]]\nname = \"archive\"\nkind = \"folder\"\npath = \"/srv/archive\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crctl")).arg("--config").arg(&cfg).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn authorize_prints_the_sign_in_link_of_the_configured_cloud() {
    let (code, out, err) = crctl("global", &["onedrive", "authorize", "m365"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/authorize?"), "{out}");
    assert!(out.contains("client_id=app-1234") && out.contains("response_type=code"), "{out}");
    let (code, out, err) = crctl("germany", &["onedrive", "authorize", "m365"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("https://login.microsoftonline.de/contoso-tenant/"), "{out}");
}

#[test]
fn authorize_refuses_other_targets_and_unknown_names() {
    let (code, _, err) = crctl("global", &["onedrive", "authorize", "archive"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a OneDrive target"), "{err}");
    let (code, _, err) = crctl("global", &["onedrive", "authorize", "nas"]);
    assert_eq!(code, 2);
    assert!(err.contains("no target is named \"nas\""), "{err}");
}
