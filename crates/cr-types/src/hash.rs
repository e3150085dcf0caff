//! Streaming SHA-256 of files and readers.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The `prev_sha256` of the first set of an installation's chain: 64 zeros.
pub const GENESIS_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const CHUNK: usize = 1 << 20;

/// SHA-256 and length of what a reader yields, read in 1 MiB chunks (any size, never the
/// whole input in memory). Interrupted reads are retried.
pub fn sha256_reader(mut reader: impl Read) -> std::io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hasher.finalize().into(), len))
}

/// SHA-256 and length of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<([u8; 32], u64)> {
    sha256_reader(std::fs::File::open(path)?)
}

/// SHA-256 of bytes as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_digest_is_the_known_one_across_chunks() {
        // "abc" (FIPS 180-2 example) and 2.5 chunks of one byte, hashed two ways.
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("big");
        let data = vec![7u8; CHUNK * 5 / 2];
        std::fs::write(&p, &data).expect("write");
        let (digest, len) = sha256_file(&p).expect("hash");
        assert_eq!(len, data.len() as u64);
        assert_eq!(hex::encode(digest), sha256_hex(&data));
        assert!(sha256_file(&dir.path().join("missing")).is_err());
    }
}
