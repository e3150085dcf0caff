//! The OneDrive target against a strict local stand-in for the identity platform and Graph
//! (tests/graph_fake); the product code only sees configurable endpoint URLs.
#![allow(clippy::unwrap_used)]

mod common;
mod graph_fake;

use common::*;
use cr_storage::*;
use graph_fake::*;

fn settings(fake: &Fake, secret: &str) -> OneDriveSettings {
    let mut s = OneDriveSettings::new(
        "m365",
        TENANT,
        CLIENT,
        OneDriveAuth::ClientCredentials { secret: secret.into(), drive_user: USER.into() },
    );
    s.login_endpoint = Some(fake.url.clone());
    s.graph_endpoint = Some(fake.url.clone());
    s.chunk_size = 3 * 320 * 1024;
    s.timeout = std::time::Duration::from_secs(10);
    s
}

/// Writes what the fake drive holds below `prefix` into `dir`.
fn export(fake: &Fake, prefix: &str, dir: &std::path::Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let mut names = Vec::new();
    for (p, d) in &fake.state().files {
        if let Some(n) = p.strip_prefix(prefix) {
            std::fs::write(dir.join(n), d).unwrap();
            names.push(n.to_owned());
        }
    }
    names.sort();
    names
}

#[test]
fn onedrive_small_and_chunked_files_arrive_with_token_expiring_mid_upload() {
    let fake = Fake::start(4);
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    let mut t = OneDriveTarget::new(settings(&fake, SECRET));
    let info = t.check().unwrap();
    assert!(info.contains("b!fake-drive"), "{info}");
    let d = t.describe();
    assert!(d.contains("global") && d.contains(TENANT) && d.contains(USER), "{d}");
    up.add_target(Box::new(t), DirTemplate::parse("Recordings/$Y/$M/$D", PathRules::OneDrive).unwrap());
    let names = enqueue(&up, "od1", &[("-caller.wav", 700_000), ("-callee.wav", 6 << 20)], 21, &["m365"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    {
        let st = fake.state();
        assert!(st.protocol_errors.is_empty(), "{:?}", st.protocol_errors);
        assert!(st.refused_expired >= 1, "the token expired during the set");
        assert!(st.token_requests >= 2, "and was renewed");
        assert!(st.chunks >= 7, "6 MiB in 960 KiB chunks: {}", st.chunks);
        assert_eq!(st.chunk_bytes, 6 << 20, "every byte sent once");
    }
    let out = work.path().join("drive");
    let mut expect = names.clone();
    expect.sort();
    assert_eq!(export(&fake, "Recordings/2026/03/07/", &out), expect);
    shasum_check(&out, "od1");
    assert!(up.spool().pending().unwrap().is_empty());
}

#[test]
fn onedrive_interrupted_chunk_resumes_from_next_expected_ranges() {
    let fake = Fake::start(100);
    fake.state().fail_chunk = Some(3);
    fake.state().with_sha256 = true;
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(Box::new(OneDriveTarget::new(settings(&fake, SECRET))), DirTemplate::parse("r", PathRules::OneDrive).unwrap());
    enqueue(&up, "od2", &[(".wav", 5 << 20)], 22, &["m365"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    let st = fake.state();
    assert!(st.protocol_errors.is_empty(), "{:?}", st.protocol_errors);
    assert_eq!(st.chunk_bytes, 5 << 20, "resumed where the drive stood, nothing sent twice");
    assert_eq!(st.sessions_made, 1);
    drop(st);
    let out = work.path().join("drive");
    export(&fake, "r/", &out);
    shasum_check(&out, "od2");
}

#[test]
fn onedrive_never_overwrites_a_different_file_but_accepts_its_own_earlier_copy() {
    let fake = Fake::start(100);
    // A drive that reports no hashes: the target compares by reading the file back.
    fake.state().no_hashes = true;
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(Box::new(OneDriveTarget::new(settings(&fake, SECRET))), DirTemplate::parse("c", PathRules::OneDrive).unwrap());
    enqueue(&up, "od3", &[(".wav", 10_000)], 23, &["m365"]);
    let wav = std::fs::read(up.spool().set_dir("od3").join("od3.wav")).unwrap();
    fake.state().files.insert("c/od3.wav".into(), vec![0u8; 10_000]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 0);
    assert!(r.failed[0].2.contains("not overwritten"), "{r:?}");
    assert_eq!(fake.state().files["c/od3.wav"], vec![0u8; 10_000], "the other file is untouched");
    assert!(up.spool().set_dir("od3").exists());
    // Our own copy from an interrupted attempt is recognised and kept.
    fake.state().files.insert("c/od3.wav".into(), wav);
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    assert!(fake.state().downloads >= 2, "compared by reading back");
    let out = work.path().join("drive");
    export(&fake, "c/", &out);
    shasum_check(&out, "od3");
}

#[test]
fn onedrive_wrong_secret_is_refused_with_the_servers_reason() {
    let fake = Fake::start(100);
    let mut t = OneDriveTarget::new(settings(&fake, "wrong"));
    let e = t.check().unwrap_err();
    assert!(matches!(e, TargetError::Auth { .. }), "{e}");
    assert!(e.to_string().contains("AADSTS7000215"), "{e}");
}

#[test]
fn onedrive_delegated_sign_in_stores_and_rotates_the_refresh_token() {
    let fake = Fake::start(100);
    let work = tempfile::tempdir().unwrap();
    let store = TokenStore::new(work.path().join("onedrive"), "m365");
    let mut s = settings(&fake, SECRET);
    s.auth = OneDriveAuth::Delegated { secret: None, redirect_uri: "https://login.microsoftonline.com/common/oauth2/nativeclient".into(), store: store.clone() };
    let link = authorize_url(&s).unwrap();
    assert!(link.starts_with(&format!("{}/{TENANT}/oauth2/v2.0/authorize?", fake.url)), "{link}");
    assert!(redeem_code(&s, "wrong-code").is_err());
    redeem_code(&s, "the-code").unwrap();
    let rt1 = store.load().unwrap();
    assert_eq!(rt1, fake.state().refresh_token);
    let mut t = OneDriveTarget::new(s);
    assert!(t.check().unwrap().contains("b!fake-drive"));
    let rt2 = store.load().unwrap();
    assert_ne!(rt1, rt2, "the rotated refresh token was stored");
    assert_eq!(rt2, fake.state().refresh_token);
}

#[test]
fn onedrive_damaged_upload_is_detected_removed_and_sent_again() {
    let fake = Fake::start(100);
    fake.state().corrupt_next = true;
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(Box::new(OneDriveTarget::new(settings(&fake, SECRET))), DirTemplate::parse("v", PathRules::OneDrive).unwrap());
    enqueue(&up, "od4", &[(".wav", 5 << 20)], 24, &["m365"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 0, "{r:?}");
    assert!(r.failed[0].2.contains("QuickXorHash") && r.failed[0].2.contains("removed"), "{r:?}");
    assert!(!fake.state().files.contains_key("v/od4.json"), "the damaged first file was removed");
    let r = up.pass(&|| later(1), &|_| {});
    assert_eq!(r.delivered, 1, "{r:?}");
    let out = work.path().join("drive");
    export(&fake, "v/", &out);
    shasum_check(&out, "od4");
}

/// Deleting one of two delivered sets removes exactly its files for good (not into the
/// recycle bin, where Graph's plain DELETE puts them); the other set stays intact; again →
/// already absent; a folder of a file's name is not deleted; a drive that answers 204 but
/// keeps the file is caught by the look-again; hostile names are refused before any request;
/// the stand-in stopped → an error, nothing claimed.
#[test]
fn onedrive_remove_set_deletes_exactly_that_set_for_good() {
    let fake = Fake::start(100);
    fake.state().with_sha256 = true;
    let work = tempfile::tempdir().unwrap();
    let mut up = uploader(work.path());
    up.add_target(Box::new(OneDriveTarget::new(settings(&fake, SECRET))), DirTemplate::parse("Rec/$Y", PathRules::OneDrive).unwrap());
    let a = enqueue(&up, "del-a", &[("-caller.wav", 50_000), ("-callee.wav", 5 << 20)], 35, &["m365"]);
    let b = enqueue(&up, "del-b", &[(".wav", 40_000)], 36, &["m365"]);
    let r = up.pass(&t0, &|_| {});
    assert_eq!(r.delivered, 2, "{r:?}");
    let listed = |fake: &Fake| {
        let mut v: Vec<String> = fake.state().files.keys().filter_map(|k| k.strip_prefix("Rec/2026/").map(str::to_owned)).collect();
        v.sort();
        v
    };
    let all: Vec<String> = a.iter().chain(&b).cloned().collect();
    assert_eq!(listed(&fake), sorted(&all));

    let mut t = OneDriveTarget::new(settings(&fake, SECRET));
    let dir = vec!["Rec".to_owned(), "2026".to_owned()];
    fetch_back(&mut t, &dir, &b, &work.path().join("read-back"), "del-b");
    let done = t.remove_set(&dir, &a).unwrap();
    assert_eq!((done.removed, done.already_absent), (a.len(), 0), "{done:?}");
    assert_eq!(listed(&fake), sorted(&b), "exactly del-a's files are gone");
    assert!(fake.state().recycled.is_empty(), "deleted for good, not moved to the recycle bin: {:?}", fake.state().recycled.keys());
    assert!(fake.state().protocol_errors.is_empty(), "{:?}", fake.state().protocol_errors);
    let out = work.path().join("drive");
    export(&fake, "Rec/2026/", &out);
    shasum_check(&out, "del-b");

    let again = t.remove_set(&dir, &a).unwrap();
    assert_eq!((again.removed, again.already_absent), (0, a.len()), "{again:?}");

    // A folder where a file was: not deleted (it would take its content along).
    fake.state().files.insert("Rec/2026/x.wav/inner.wav".into(), vec![1; 10]);
    let e = t.remove_set(&dir, &["x.wav".to_owned()]).unwrap_err();
    assert!(e.to_string().contains("m365") && e.to_string().contains("x.wav"), "{e}");
    assert!(!e.to_string().contains(SECRET), "{e}");
    assert!(fake.state().files.contains_key("Rec/2026/x.wav/inner.wav"));

    // A drive that says 204 but keeps the file: the look-again catches it.
    fake.state().keep_deleted = true;
    let e = t.remove_set(&dir, &b).unwrap_err();
    assert!(matches!(e, TargetError::Verify { .. }), "{e}");
    assert!(e.to_string().contains("del-b"), "{e}");
    fake.state().keep_deleted = false;

    // Hostile names: refused before any request is sent.
    let before = fake.state().requests;
    for (d, n) in [(dir.clone(), "../x"), (dir.clone(), "a/b"), (vec!["..".to_owned()], "del-b.wav"), (dir.clone(), "x:y")] {
        let e = t.remove_set(&d, &[n.to_owned()]).unwrap_err();
        assert!(matches!(e, TargetError::BadName { .. }), "{d:?} {n}: {e}");
    }
    assert_eq!(fake.state().requests, before, "no request for a refused name");

    // The stand-in stopped: an error, nothing claimed, del-b still there.
    let state = fake.state.clone();
    drop(fake);
    let e = t.remove_set(&dir, &b).unwrap_err();
    assert!(matches!(e, TargetError::Connect { .. }), "{e}");
    assert!(e.to_string().contains("m365"), "{e}");
    assert!(b.iter().all(|n| state.lock().unwrap().files.contains_key(&format!("Rec/2026/{n}"))));
}
