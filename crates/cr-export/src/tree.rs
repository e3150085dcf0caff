//! Walking a package directory.

use std::path::{Path, PathBuf};

/// Every entry below `root` that is not a directory (files, and symbolic links, which are
/// not followed), sorted by their relative path.
pub(crate) fn files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort_by_key(|p| relative(root, p));
    Ok(out)
}

/// `path` relative to `root`, with `/` between the parts (as `SHA256SUMS` names it).
pub(crate) fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}
