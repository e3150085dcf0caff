//! Seals a tiny set into a spool and delivers it to a local folder target.
//!
//! `cargo run -p cr-storage --example deliver_folder` — prints where the set went.

use cr_storage::{DirTemplate, FileDeliveryLog, FolderStore, PathRules, Spool, StoreTarget, Uploader, Verify, Zone};
use sha2::Digest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = std::env::temp_dir().join(format!("cr-storage-example-{}", std::process::id()));
    let archive = tmp.join("archive");
    std::fs::create_dir_all(&archive)?;
    let spool = Spool::open(tmp.join("spool"))?;
    let id = "20260307T090501-0001";
    let dir = spool.staging_dir(id)?;
    let wav = dir.join(format!("{id}.wav"));
    std::fs::write(&wav, b"RIFF\x24\0\0\0WAVEfmt ")?;
    let hash = hex::encode(sha2::Sha256::digest(std::fs::read(&wav)?));
    std::fs::write(dir.join(format!("{id}.sha256")), format!("{hash}  {id}.wav\n"))?;
    let start = "2026-03-07T09:05:01Z".parse()?;
    spool.enqueue(&dir, id, &["archive".to_owned()], start, chrono::Utc::now())?;

    let log = FileDeliveryLog::new(spool.root());
    let mut up = Uploader::new(spool, Box::new(log), Zone::parse(Some("Europe/Berlin"))?);
    up.add_target(
        Box::new(StoreTarget::new(FolderStore::new("archive", &archive)).verify(Verify::Content)),
        DirTemplate::parse("Recordings/Record-$Y_$M_$D_$h_$m_$s", PathRules::Folder)?,
    );
    let report = up.pass(&chrono::Utc::now, &|_| {});
    println!("delivered {} set(s), {} left in the spool", report.delivered, report.pending_sets);
    println!("see {}", archive.join("Recordings/Record-2026_03_07_10_05_01").display());
    Ok(())
}
