//! Errors of reading call records.

use std::fmt;

use serde::Serialize;

/// A CDR row that could not be read. Names the line and the field, never the row's
/// content (call records hold phone numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RowError {
    /// Line of the file the row starts on (1 = the first line).
    pub line: u64,
    /// The field (column name) that is wrong, or `row` for the row as a whole.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl RowError {
    pub(crate) fn new(line: u64, field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { line, field: field.into(), problem: problem.into() }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.problem)
    }
}

impl std::error::Error for RowError {}

/// The CDR file cannot be read at all (as opposed to a bad row, which is counted and
/// reported while the others are reconciled).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CdrError {
    /// `--columns` is malformed or lacks a required column.
    #[error("column map: {0}")]
    Columns(String),
    /// A CUCM file or a CSV file without its header row, or a header without a needed column.
    #[error("header: {0}")]
    Header(String),
    /// Reading the file failed.
    #[error("reading failed at line {line}: {reason}")]
    Read {
        /// The line reached.
        line: u64,
        /// Why.
        reason: String,
    },
}
