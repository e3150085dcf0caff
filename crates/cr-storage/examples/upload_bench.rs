//! Uploads every set below a directory to one SFTP or SMB target and prints bytes and
//! seconds (used by bench/upload.sh; build with --release).
//!
//! ```text
//! upload_bench sftp HOST PORT USER KEYFILE HOSTKEY SETS_DIR REMOTE_DIR
//! upload_bench smb  HOST PORT USER PASSWORD SHARE  SETS_DIR REMOTE_DIR
//! ```

use std::time::Instant;

use cr_storage::{RecordingSet, SftpAuth, SftpSettings, SftpStore, SmbSettings, SmbStore, StoreTarget, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 9 {
        eprintln!("usage: upload_bench sftp|smb HOST PORT USER KEYFILE|PASSWORD HOSTKEY|SHARE SETS_DIR REMOTE_DIR");
        std::process::exit(2);
    }
    let port: u16 = a[3].parse()?;
    let mut target: Box<dyn Target> = match a[1].as_str() {
        "sftp" => {
            let mut s = SftpSettings::new("bench", &a[2], &a[4], SftpAuth::Key { file: a[5].clone().into(), passphrase: None }, &a[6]);
            s.port = port;
            Box::new(StoreTarget::new(SftpStore::new(s)))
        }
        "smb" => {
            let mut s = SmbSettings::new("bench", &a[2], &a[6], &a[4], &a[5]);
            s.port = port;
            Box::new(StoreTarget::new(SmbStore::new(s)))
        }
        other => return Err(format!("unknown kind {other}").into()),
    };
    let mut sets: Vec<_> = std::fs::read_dir(&a[7])?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    sets.sort();
    let remote: Vec<String> = a[8].split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let t = Instant::now();
    let mut bytes = 0u64;
    for dir in sets {
        let id = dir.file_name().and_then(|n| n.to_str()).ok_or("bad set dir")?.to_owned();
        let set = RecordingSet::open(&dir, &id)?;
        let d = target.deliver(&set, &remote, &mut |_| {})?;
        bytes += d.bytes_written;
    }
    println!("{bytes} {:.3}", t.elapsed().as_secs_f64());
    Ok(())
}
