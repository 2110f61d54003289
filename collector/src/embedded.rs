//! The tracker files built into a release binary (`--features embed-tracker`, what
//! `npm run release` builds): a production server then needs nothing beside the binary.
//!
//! At start the files are written into a folder and served from there by the same code as
//! `--dist` (tower-http's `ServeFile`: encoding negotiation between the `.br` / `.gz` /
//! identity files, ETag, 304, ranges, HEAD). Each file keeps the build time as its modification
//! time, so ETags stay the same across restarts of one release. Under systemd the folder is
//! `$STATE_DIRECTORY/tracker` and keeps the newest [`KEEP_BUILDS`] hashed files of each kind
//! (four releases): a page still holding the previous `tracking.js` (cached five minutes)
//! finds its files after an upgrade. Elsewhere it is a private temporary folder. The
//! dashboard and the portal are built in with `include_bytes!` in their own modules.

/// The tracker build id: the 8 hex digits of the content-hashed wasm's name
/// (`clicktrail_bg.<id>.wasm`), when the tracker is built in.
pub fn tracker_build() -> Option<String> {
    imp::names().into_iter().find_map(|name| build_id_of(&name))
}

/// Hashed files of each kind kept (the current release's among them): four releases of the
/// four full modules, one per page mode (`scripts/build.sh`).
pub const KEEP_BUILDS: usize = 16;

/// Where the built-in tracker files are served from.
pub enum Unpacked {
    /// `$STATE_DIRECTORY/tracker`, kept across restarts and upgrades.
    State(std::path::PathBuf),
    /// A private temporary folder, removed when the value is dropped.
    Temp(tempfile::TempDir),
}

impl Unpacked {
    pub fn path(&self) -> &std::path::Path {
        match self {
            Unpacked::State(p) => p,
            Unpacked::Temp(d) => d.path(),
        }
    }
}

/// Writes the built-in tracker files out (see the module doc); `None` when the binary has none
/// (then `--dist`, default `./dist`, is served).
pub fn unpack() -> anyhow::Result<Option<Unpacked>> {
    if imp::names().is_empty() {
        return Ok(None);
    }
    let dir = match std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may list several folders, separated by ':'; the first is ours
        Some(dirs) => {
            let first = std::env::split_paths(&dirs).next().unwrap_or_default();
            let dir = first.join("tracker");
            std::fs::create_dir_all(&dir)?;
            Unpacked::State(dir)
        }
        None => Unpacked::Temp(
            tempfile::Builder::new()
                .prefix("clicktrail-tracker-")
                .tempdir()?,
        ),
    };
    imp::write_into(dir.path())?;
    prune_old_builds(dir.path())?;
    Ok(Some(dir))
}

/// The content-hashed files of the tracker, as (prefix, suffix) around 8 hex digits: the full
/// modules and their glue.
const HASHED: [(&str, &str); 2] = [("clicktrail_bg.", ".wasm"), ("clicktrail_full.", ".js")];

/// Keeps the newest [`KEEP_BUILDS`] hashed files of each kind (and their `.br` / `.gz`) in `dir`.
fn prune_old_builds(dir: &std::path::Path) -> std::io::Result<()> {
    let mut files: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((e.metadata().ok()?.modified().ok()?, name))
        })
        .collect();
    files.sort_by_key(|b| std::cmp::Reverse(b.0));
    for (prefix, suffix) in HASHED {
        let kind = files
            .iter()
            .filter(|(_, name)| hashed_id(name, prefix, suffix).is_some());
        for (_, name) in kind.skip(KEEP_BUILDS) {
            for ext in ["", ".br", ".gz"] {
                let _ = std::fs::remove_file(dir.join(format!("{name}{ext}")));
            }
        }
    }
    Ok(())
}

fn build_id_of(name: &str) -> Option<String> {
    let (prefix, suffix) = HASHED[0];
    hashed_id(name, prefix, suffix).map(str::to_string)
}

/// The 8 lowercase hex digits of `{prefix}{id}{suffix}`.
fn hashed_id<'a>(name: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let id = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(id)
}

#[cfg(feature = "embed-tracker")]
mod imp {
    use std::time::{Duration, SystemTime};

    use anyhow::Context;
    use rust_embed::RustEmbed;

    #[derive(RustEmbed)]
    #[folder = "../dist/"]
    struct TrackerFiles;

    pub fn names() -> Vec<String> {
        TrackerFiles::iter().map(|n| n.into_owned()).collect()
    }

    pub fn write_into(dir: &std::path::Path) -> anyhow::Result<()> {
        for name in TrackerFiles::iter() {
            let Some(file) = TrackerFiles::get(&name) else {
                continue;
            };
            // written aside and renamed: a second collector starting beside this one (the
            // template unit) never serves a half-written file
            let path = dir.join(name.as_ref());
            let part = dir.join(format!(".{name}.{}", std::process::id()));
            std::fs::write(&part, &file.data)
                .with_context(|| format!("cannot write {}", part.display()))?;
            if let Some(secs) = file.metadata.last_modified() {
                let f = std::fs::File::options().write(true).open(&part)?;
                f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))?;
            }
            std::fs::rename(&part, &path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

#[cfg(not(feature = "embed-tracker"))]
mod imp {
    pub fn names() -> Vec<String> {
        Vec::new()
    }

    pub fn write_into(_: &std::path::Path) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::build_id_of;

    #[test]
    fn the_build_id_is_read_from_the_hashed_wasm_name_only() {
        assert_eq!(
            build_id_of("clicktrail_bg.0358a382.wasm").as_deref(),
            Some("0358a382")
        );
        for other in [
            "clicktrail_bg.wasm",
            "clicktrail_bg.0358a382.wasm.br",
            "clicktrail_bg.0358A382.wasm",
            "clicktrail_bg.0358a38.wasm",
            "tracking.js",
            "clicktrail_full.0358a382.js",
        ] {
            assert_eq!(build_id_of(other), None, "{other}");
        }
    }

    #[test]
    fn old_builds_are_pruned_per_kind_keeping_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let at = |i: u64| std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(i);
        let mut names = Vec::new();
        let n = super::KEEP_BUILDS as u64 + 2;
        for i in 0..n {
            for kind in ["clicktrail_bg.{}.wasm", "clicktrail_full.{}.js"] {
                let name = kind.replace("{}", &format!("{i:08x}"));
                for ext in ["", ".br"] {
                    let path = dir.path().join(format!("{name}{ext}"));
                    std::fs::write(&path, b"x").unwrap();
                    std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .unwrap()
                        .set_modified(at(i))
                        .unwrap();
                }
                names.push((i, name));
            }
        }
        std::fs::write(dir.path().join("tracking.js"), b"x").unwrap();
        super::prune_old_builds(dir.path()).unwrap();
        for (i, name) in names {
            let kept = i >= n - super::KEEP_BUILDS as u64;
            assert_eq!(dir.path().join(&name).exists(), kept, "{name}");
            assert_eq!(
                dir.path().join(format!("{name}.br")).exists(),
                kept,
                "{name}.br"
            );
        }
        assert!(dir.path().join("tracking.js").exists());
    }
}
