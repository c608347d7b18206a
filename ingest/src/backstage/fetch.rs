//! Reading the files a catalog file points at (`Location` targets, `$text` placeholders). A trait,
//! so the converter stays pure and tests or the controller can serve content from elsewhere.

use std::path::{Component, Path, PathBuf};

use crate::IngestError;

/// Reads `target` as referenced from the file at `base` (empty `base`: the working directory).
pub trait Fetch {
    /// The resolved location and the content.
    fn read(&self, base: &str, target: &str) -> Result<(String, String), IngestError>;

    /// The resolved location without reading, when it can be known up front; lets the
    /// converter skip a file it has already read.
    fn locate(&self, _base: &str, _target: &str) -> Option<String> {
        None
    }
}

/// Reads local files; relative targets are resolved against the referencing file's directory.
/// Remote (http/https) targets are refused: conversion works offline.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsFetch;

impl Fetch for FsFetch {
    fn read(&self, base: &str, target: &str) -> Result<(String, String), IngestError> {
        if is_remote(target) {
            return Err(remote_error(base, target));
        }
        let path = resolve(base, target);
        let shown = path.display().to_string();
        let content = std::fs::read_to_string(&path)
            .map_err(|e| IngestError::invalid(&shown, e.to_string()))?;
        Ok((shown, content))
    }

    fn locate(&self, base: &str, target: &str) -> Option<String> {
        (!is_remote(target)).then(|| resolve(base, target).display().to_string())
    }
}

/// Whether a target is an http(s) URL.
pub fn is_remote(target: &str) -> bool {
    let t = target.trim_start().to_ascii_lowercase();
    t.starts_with("http://") || t.starts_with("https://")
}

/// The error every offline fetcher returns for a URL.
pub fn remote_error(base: &str, target: &str) -> IngestError {
    let at = if base.is_empty() { "(input)" } else { base };
    IngestError::invalid(
        at,
        format!("remote location not followed offline: {target}"),
    )
}

/// `target` joined to the directory of `base`, with `.` and `..` removed lexically, so one file
/// reached by two relative routes gets one location.
fn resolve(base: &str, target: &str) -> PathBuf {
    let target = target.strip_prefix("file:").unwrap_or(target);
    let t = Path::new(target);
    let joined = if t.is_absolute() || base.is_empty() {
        t.to_path_buf()
    } else {
        Path::new(base).parent().unwrap_or(Path::new("")).join(t)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last_is_normal =
                    matches!(out.components().next_back(), Some(Component::Normal(_)));
                if last_is_normal {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets_resolve_against_the_referencing_file() {
        assert_eq!(
            resolve("a/b/all.yaml", "./c/x.yaml"),
            PathBuf::from("a/b/c/x.yaml")
        );
        assert_eq!(
            resolve("a/b/all.yaml", "../x.yaml"),
            PathBuf::from("a/x.yaml")
        );
        assert_eq!(resolve("", "../x.yaml"), PathBuf::from("../x.yaml"));
        assert_eq!(
            resolve("a/all.yaml", "/etc/x.yaml"),
            PathBuf::from("/etc/x.yaml")
        );
    }

    #[test]
    fn remote_targets_are_refused() {
        let e = FsFetch
            .read("a.yaml", "https://example.com/x.yaml")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.yaml: remote location not followed offline: https://example.com/x.yaml"
        );
        assert_eq!(FsFetch.locate("a.yaml", "HTTP://x"), None);
    }
}
