//! The tracker files built into a release binary (`--features embed-tracker`, what
//! `npm run release` builds): a production server then needs nothing beside the binary.
//!
//! At start the files are written once into a private temporary folder and served from there by
//! the same code as `--dist` (tower-http's `ServeFile`: encoding negotiation between the `.br` /
//! `.gz` / identity files, ETag, 304, ranges, HEAD). Each file keeps the build time as its
//! modification time, so ETags stay the same across restarts of one release. The dashboard and
//! the portal are built in with `include_bytes!` in their own modules.

/// The tracker build id: the 8 hex digits of the content-hashed wasm's name
/// (`clicktrail_bg.<id>.wasm`), when the tracker is built in.
pub fn tracker_build() -> Option<String> {
    imp::names().into_iter().find_map(|name| build_id_of(&name))
}

/// Writes the built-in tracker files into a new private folder; `None` when the binary has
/// none (then `--dist`, default `./dist`, is served). The folder lives as long as the value.
pub fn unpack() -> anyhow::Result<Option<tempfile::TempDir>> {
    imp::unpack()
}

fn build_id_of(name: &str) -> Option<String> {
    let id = name.strip_prefix("clicktrail_bg.")?.strip_suffix(".wasm")?;
    (id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| id.to_string())
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

    pub fn unpack() -> anyhow::Result<Option<tempfile::TempDir>> {
        let dir = tempfile::Builder::new()
            .prefix("clicktrail-tracker-")
            .tempdir()
            .context("cannot create a folder for the built-in tracker files")?;
        for name in TrackerFiles::iter() {
            let Some(file) = TrackerFiles::get(&name) else {
                continue;
            };
            let path = dir.path().join(name.as_ref());
            std::fs::write(&path, &file.data)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if let Some(secs) = file.metadata.last_modified() {
                let f = std::fs::File::options().write(true).open(&path)?;
                f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))?;
            }
        }
        Ok(Some(dir))
    }
}

#[cfg(not(feature = "embed-tracker"))]
mod imp {
    pub fn names() -> Vec<String> {
        Vec::new()
    }

    pub fn unpack() -> anyhow::Result<Option<tempfile::TempDir>> {
        Ok(None)
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
        ] {
            assert_eq!(build_id_of(other), None, "{other}");
        }
    }
}
