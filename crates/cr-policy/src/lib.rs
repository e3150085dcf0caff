//! # cr-policy
//!
//! Who is recorded: the directory (users, groups, active memberships), ordered recording configurations, and call facts -> `Decision`. No I/O; usable without a config file.
//!
//! This crate is being filled in; see the project issues. It builds and is part of the
//! workspace so that the other crates can depend on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
