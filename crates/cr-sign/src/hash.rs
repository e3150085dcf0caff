//! Streaming SHA-256 of files: the workspace's one implementation, in cr-types.

pub use cr_types::{sha256_file, sha256_hex};
