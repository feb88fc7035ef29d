//! An index directory as fuzz input: a flags byte, then files (`name_len: u8`, name, `len: u32`,
//! bytes). Names are kept literally (a target for a new file kind needs no new framing); a name
//! that is not a plain file name (`[A-Za-z0-9._-]`, not `.`/`..`) is dropped, so nothing is ever
//! written outside the scratch directory.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::damage::{repair_segment, repair_sidecar, repair_wal};

use super::Input;

/// Flag: recompute the checksums of every `segment-*` file, so that damage reaches the structural
/// checks behind them.
pub const REPAIR_SEGMENTS: u8 = 1;
/// Flag: recompute the sidecar's checksums and tie it to the segment `CURRENT` names.
pub const REPAIR_SIDECAR: u8 = 2;
/// Flag: recompute the checksum of every record of each `wal-*` log and tie its header to the
/// segment of the same generation, so damage reaches the record decoder and the replay.
pub const REPAIR_WAL: u8 = 4;

/// Files of an index directory, and how to post-process them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirImage {
    /// [`REPAIR_SEGMENTS`] | [`REPAIR_SIDECAR`] | [`REPAIR_WAL`].
    pub flags: u8,
    /// (file name, contents), in order.
    pub files: Vec<(String, Vec<u8>)>,
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl DirImage {
    /// Decode fuzz bytes (never fails: a cut-short file keeps what is there).
    pub fn parse(data: &[u8]) -> DirImage {
        let mut input = Input::new(data);
        let flags = input.u8();
        let mut files = Vec::new();
        while !input.is_empty() {
            let len = usize::from(input.u8());
            let name = String::from_utf8_lossy(input.bytes(len)).into_owned();
            let body = input.len_prefixed().to_vec();
            files.push((name, body));
        }
        DirImage { flags, files }
    }

    /// Encode for a seed file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.flags];
        for (name, body) in &self.files {
            let name = &name.as_bytes()[..name.len().min(255)];
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(body);
        }
        out
    }

    /// Every regular file of `dir`, sorted by name.
    pub fn read(dir: &Path, flags: u8) -> std::io::Result<DirImage> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                files.push((name, std::fs::read(entry.path())?));
            }
        }
        files.sort();
        Ok(DirImage { flags, files })
    }

    /// The contents of file `name`, if present (the last one wins, as when written).
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.iter().rev().find(|(n, _)| n == name).map(|(_, b)| b.as_slice())
    }

    /// Apply the repair flags.
    pub fn repair(&mut self) {
        if self.flags & REPAIR_SEGMENTS != 0 {
            for (name, body) in &mut self.files {
                if name.starts_with("segment-") {
                    repair_segment(body);
                }
            }
        }
        if self.flags & REPAIR_WAL != 0 {
            let segments: Vec<(String, Option<u64>)> = self
                .files
                .iter()
                .filter(|(n, _)| n.starts_with("segment-"))
                .map(|(n, b)| (n.clone(), ember_core::store::fingerprint(b)))
                .collect();
            for (name, body) in &mut self.files {
                if let Some(generation) = name.strip_prefix("wal-").and_then(|r| r.strip_suffix(".log")) {
                    let segment = format!("segment-{generation}.ember");
                    let fingerprint =
                        segments.iter().rev().find(|(n, _)| *n == segment).and_then(|(_, f)| *f);
                    repair_wal(body, fingerprint);
                }
            }
        }
        if self.flags & REPAIR_SIDECAR != 0 {
            let current = self.file("CURRENT").map(|c| String::from_utf8_lossy(c).trim().to_string());
            let fingerprint = current.and_then(|c| self.file(&c)).and_then(ember_core::store::fingerprint);
            for (name, body) in &mut self.files {
                if name == "vectors-000001.ember" {
                    repair_sidecar(body, fingerprint);
                }
            }
        }
    }

    /// Empty `dir`, then write the files whose names are safe.
    pub fn write_to(&self, dir: &Path) {
        clear(dir);
        for (name, body) in &self.files {
            if safe_name(name) {
                // Best effort: a name colliding with a directory just fails to write.
                let _ = std::fs::write(dir.join(name), body);
            }
        }
    }
}

/// Remove every entry of `dir` (it holds only what a target wrote).
fn clear(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir_all(&path);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// A directory of this process for targets to write files into (under `$TMPDIR`).
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ember-fuzz-{}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create the scratch directory {}: {e}", dir.display());
        }
        dir
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unsafe_names() {
        let image = DirImage {
            flags: 3,
            files: vec![("CURRENT".into(), b"segment-000001.ember".to_vec()), ("a".into(), vec![])],
        };
        assert_eq!(DirImage::parse(&image.to_bytes()), image);
        for bad in ["", ".", "..", "../x", "a/b", "/etc/passwd", "x\\y", "é"] {
            assert!(!safe_name(bad), "{bad}");
        }
        assert!(safe_name("segment-000001.ember"));
    }
}
