//! `backup --dir`: the folder (created, owner only), time-stamped names (several a day) and
//! pruning by age. The copy itself is the store's (`VACUUM INTO`).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, Utc};

const PREFIX: &str = "clicktrail-";
const SUFFIX: &str = ".db";
const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// Creates `dir` and its parents (mode 0700) when missing.
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the backup folder {}", dir.display()))
}

/// `DIR/clicktrail-20261206T171500Z.db`, or `…Z-2.db` when that second is taken.
pub fn new_name(dir: &Path, now: DateTime<Utc>) -> PathBuf {
    let stamp = now.format(STAMP).to_string();
    let first = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{PREFIX}{stamp}-{n}{SUFFIX}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Readable and writable by its owner only (the copy holds webhook secrets).
pub fn owner_only(file: &Path) -> anyhow::Result<()> {
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", file.display()))
}

/// When a file of ours was made, from its name; `None` for any other file.
fn stamp_of(name: &str) -> Option<DateTime<Utc>> {
    let core = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let stamp = core.split('-').next()?;
    NaiveDateTime::parse_from_str(stamp, STAMP)
        .ok()
        .map(|t| t.and_utc())
}

/// Deletes `dir`'s copies named more than `days` days before `now`, except `keep`; returns them.
pub fn prune(
    dir: &Path,
    now: DateTime<Utc>,
    days: u32,
    keep: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let cutoff = now - chrono::Duration::days(i64::from(days));
    let mut removed = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let Some(made) = entry.file_name().to_str().and_then(stamp_of) else {
            continue;
        };
        if made < cutoff && path != keep {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            removed.push(path);
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-06T17:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = new_name(dir.path(), now);
        assert!(a.ends_with("clicktrail-20261206T171500Z.db"));
        std::fs::write(&a, b"x").unwrap();
        let b = new_name(dir.path(), now);
        assert!(b.ends_with("clicktrail-20261206T171500Z-2.db"));
        std::fs::write(&b, b"x").unwrap();
        let old = dir.path().join("clicktrail-20261120T000000Z.db");
        let other = dir.path().join("notes-20261120T000000Z.db");
        std::fs::write(&old, b"x").unwrap();
        std::fs::write(&other, b"x").unwrap();
        assert_eq!(stamp_of("clicktrail-20261206T171500Z-2.db"), Some(now));
        let removed = prune(dir.path(), now, 14, &a).unwrap();
        assert_eq!(removed, vec![old.clone()]);
        assert!(a.exists() && b.exists() && other.exists() && !old.exists());
        // with 0 days everything before now goes, never the file just made
        let removed = prune(dir.path(), now + chrono::Duration::seconds(1), 0, &a).unwrap();
        assert_eq!(removed, vec![b.clone()]);
        assert!(a.exists());
    }
}
