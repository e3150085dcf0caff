//! Man pages and shell completions generated from the clap definitions
//! (`CALLREC_GENERATE_DOCS=DIR crctl`), judged by `man` and the shells themselves.

use std::path::Path;
use std::process::Command;

fn generate(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_crctl")).env("CALLREC_GENERATE_DOCS", dir).output().expect("run crctl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CALLREC_TEST_STRICT").is_none(), "{tool} is missing (CALLREC_TEST_STRICT is set)");
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

#[test]
fn man_pages_render_with_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    for page in ["crctl", "crctl-keys-init", "crctl-config-check", "crctl-seal", "crctl-search"] {
        let file = dir.path().join("man").join(format!("{page}.1"));
        assert!(file.is_file(), "{} missing", file.display());
    }
    if !have("man") {
        return;
    }
    let out = Command::new("man").arg("-l").arg(dir.path().join("man/crctl-seal.1")).env("MANPAGER", "cat").env("COLUMNS", "100").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // The page carries the flag that `crctl seal --help` documents.
    assert!(text.contains("--id"), "{text}");
    assert!(text.contains("CRCTL-SEAL"), "{text}");
}

#[test]
fn completions_are_valid_scripts() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let bash = dir.path().join("completions/crctl.bash");
    let out = Command::new("bash").arg("-c").arg(format!("source {} && complete -p crctl", bash.display())).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("crctl"));
    assert!(dir.path().join("completions/_crctl").is_file());
    assert!(dir.path().join("completions/crctl.fish").is_file());
}

#[test]
fn an_unwritable_directory_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crctl")).env("CALLREC_GENERATE_DOCS", file.join("sub")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not write the documentation"));
}
