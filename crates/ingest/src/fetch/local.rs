//! Local-file sources: only regular files below the import directory, never under `/proc`,
//! `/sys` or `/dev`.
//!
//! A path is judged twice: as written (with `..` resolved lexically, before the file system
//! is asked anything, so a path outside the directory tells nothing about what exists there),
//! then after symlinks are resolved. The file is opened without following a final symlink and
//! without blocking (a FIFO would otherwise hang the open), and what was opened is checked
//! again: a regular file, still below the import directory.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use tvarr_core::local_file::{self, in_forbidden_tree};

use crate::error::IngestError;

/// Opens `path` if the policy allows it; returns the open file and its size.
pub(crate) fn open_local(
    path: &Path,
    import_dir: Option<&Path>,
) -> Result<(File, u64), IngestError> {
    let shown = path.display().to_string();
    let refuse = |reason: String| IngestError::LocalFileRefused {
        path: shown.clone(),
        reason,
    };
    let Some(import_dir) = import_dir else {
        return Err(refuse(
            "local files are disabled: no import directory is set".to_owned(),
        ));
    };
    let cwd = std::env::current_dir()?;
    let root = import_dir.canonicalize().map_err(|e| {
        refuse(format!(
            "the import directory `{}` cannot be opened: {e}",
            import_dir.display()
        ))
    })?;
    if in_forbidden_tree(&root) {
        return Err(refuse(format!(
            "the import directory `{}` is under /proc, /sys or /dev, which are never read",
            root.display()
        )));
    }
    let outside = || refuse(local_file::outside_reason(import_dir));
    // As written, before the file system is asked anything about the path.
    if let Some(reason) = local_file::refusal(path, import_dir, Some(&root), &cwd) {
        return Err(refuse(reason));
    }
    let unreadable = |e: io::Error| IngestError::Fetch {
        url: shown.clone(),
        reason: e.to_string(),
    };
    let real = cwd.join(path).canonicalize().map_err(unreadable)?;
    if in_forbidden_tree(&real) {
        return Err(refuse(
            "files under /proc, /sys and /dev are never read".to_owned(),
        ));
    }
    if !real.starts_with(&root) {
        return Err(outside());
    }
    let not_regular = || refuse("it is not a regular file".to_owned());
    if !std::fs::metadata(&real).map_err(unreadable)?.is_file() {
        return Err(not_regular());
    }
    let file = open_no_follow(&real).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(not_regular());
    }
    // A directory on the way may have been swapped for a symlink since the check: ask the
    // kernel what was really opened.
    if let Some(opened) = opened_path(&file)
        && (!opened.starts_with(&root) || in_forbidden_tree(&opened))
    {
        return Err(outside());
    }
    Ok((file, metadata.len()))
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(target_os = "linux")]
fn opened_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(not(target_os = "linux"))]
fn opened_path(_file: &File) -> Option<PathBuf> {
    None
}
