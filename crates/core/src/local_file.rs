//! Where a local-file source may be read from, judged on the path as written.
//!
//! A source may name a local file (an absolute path or a `file://` URL) only below the import
//! directory, and never under `/proc`, `/sys` or `/dev`. This module holds the part of that
//! policy that asks the file system nothing, so the API can refuse a path when a source is
//! created, and the fetcher can refuse it again before it looks at the disk (it then checks
//! the path with symlinks resolved, and the file it opened).

use std::path::{Component, Path, PathBuf};

/// Trees never read, whatever the import directory: the kernel's views of processes (their
/// environments hold the admin password), of the system, and devices (`/dev/zero` never ends).
pub const FORBIDDEN_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Whether `path` lies in one of the [`FORBIDDEN_TREES`].
pub fn in_forbidden_tree(path: &Path) -> bool {
    FORBIDDEN_TREES.iter().any(|tree| path.starts_with(tree))
}

/// `path` with `.` dropped and `..` applied to what precedes it, as written (no symlinks).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The local path a source location names: a `file://` URL's path (percent-decoded), or a
/// location without a scheme taken as a path. `None` for anything else (`http://…`).
pub fn file_path(location: &str) -> Option<PathBuf> {
    let location = location.trim();
    match url::Url::parse(location) {
        Ok(url) if url.scheme().eq_ignore_ascii_case("file") => url.to_file_path().ok(),
        Ok(url) if url.scheme().len() > 1 => None,
        // A path (`Url::parse` fails on relative paths, and sees `C:` as a scheme).
        _ if !location.is_empty() && !location.contains("://") => Some(PathBuf::from(location)),
        _ => None,
    }
}

/// Why `path` may not be read as a source, judged as written against `import_dir` (both
/// taken relative to `cwd` when relative): `None` when it lies below the directory and
/// outside the forbidden trees. `import_dir` may also be given as its resolved form
/// (`canonical_import_dir`), for a directory reached through a symlink.
pub fn refusal(
    path: &Path,
    import_dir: &Path,
    canonical_import_dir: Option<&Path>,
    cwd: &Path,
) -> Option<String> {
    let written = normalize(&cwd.join(path));
    if in_forbidden_tree(&written) {
        return Some("files under /proc, /sys and /dev are never read".to_owned());
    }
    let root = normalize(&cwd.join(import_dir));
    let below = |root: &Path| written.starts_with(root) && written != root;
    if below(&root) || canonical_import_dir.is_some_and(below) {
        None
    } else {
        Some(outside_reason(import_dir))
    }
}

/// Why a path outside `import_dir` is refused.
pub fn outside_reason(import_dir: &Path) -> String {
    format!(
        "it is outside the import directory `{}`; local sources must be regular files \
         below it (setting import_dir)",
        import_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_applies_dot_dot_lexically() {
        assert_eq!(
            normalize(Path::new("/srv/imports/../../etc/./passwd")),
            PathBuf::from("/etc/passwd")
        );
        assert_eq!(normalize(Path::new("/../..")), PathBuf::from("/"));
        assert_eq!(
            normalize(Path::new("/srv/imports/a/./b.m3u")),
            PathBuf::from("/srv/imports/a/b.m3u")
        );
    }

    #[test]
    fn file_urls_and_paths_are_local_and_http_is_not() {
        assert_eq!(file_path("/a/b.m3u"), Some(PathBuf::from("/a/b.m3u")));
        assert_eq!(
            file_path("imports/b.m3u"),
            Some(PathBuf::from("imports/b.m3u"))
        );
        assert_eq!(
            file_path("file:///srv/my%20list.m3u"),
            Some(PathBuf::from("/srv/my list.m3u"))
        );
        assert_eq!(
            file_path("FILE:///srv/imports/%2e%2e/%2e%2e/etc/passwd"),
            Some(PathBuf::from("/etc/passwd"))
        );
        assert_eq!(file_path("http://example.com/a.m3u"), None);
        assert_eq!(file_path("ftp://example.com/a.m3u"), None);
    }

    #[test]
    fn only_paths_below_the_import_dir_and_outside_the_kernel_trees_pass() {
        let cwd = Path::new("/var/lib/tvarr");
        let dir = Path::new("./data/imports");
        let check = |p: &str| refusal(Path::new(p), dir, None, cwd);
        assert_eq!(check("/var/lib/tvarr/data/imports/a.m3u"), None);
        assert_eq!(check("data/imports/sub/a.xml"), None);
        assert!(
            check("/etc/passwd")
                .unwrap()
                .contains("outside the import directory")
        );
        assert!(check("data/imports/../../x.m3u").is_some());
        assert!(
            check("data/imports").is_some(),
            "the directory itself is no file"
        );
        assert!(check("/proc/self/environ").unwrap().contains("/proc"));
        assert_eq!(
            refusal(
                Path::new("/mnt/m3u/a.m3u"),
                dir,
                Some(Path::new("/mnt/m3u")),
                cwd
            ),
            None,
            "below the import directory's resolved form"
        );
    }
}
