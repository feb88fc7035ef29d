//! File naming inside an index directory. Every file but CURRENT belongs to one generation; a
//! generation's files are removed once a newer one is published.

use std::path::Path;

use crate::store::Storage;
use crate::{Error, Result};

/// Names the current segment; replaced atomically to publish a new one.
pub const CURRENT: &str = "CURRENT";
/// Held locked (advisory) by the one process that opens the index for writing.
pub const LOCK: &str = "LOCK";

/// The segment file of a generation.
pub fn segment(generation: u64) -> String {
    format!("segment-{generation:06}.ember")
}

/// The vector sidecar of a generation's segment.
pub fn vectors(generation: u64) -> String {
    format!("vectors-{generation:06}.ember")
}

/// A sidecar being materialized (resumable).
pub fn partial_vectors(generation: u64) -> String {
    format!("vectors-{generation:06}.partial")
}

/// The keyword index of a generation's segment.
pub fn keywords(generation: u64) -> String {
    format!("keywords-{generation:06}.ember")
}

/// The write-ahead log on top of a generation's segment.
pub fn wal(generation: u64) -> String {
    format!("wal-{generation:06}.log")
}

/// The generation a file name belongs to.
pub fn generation_of(name: &str) -> Option<u64> {
    let stem = name.split('.').next()?;
    let (kind, num) = stem.split_once('-')?;
    if !["segment", "vectors", "keywords", "wal"].contains(&kind) || num.len() < 6 {
        return None;
    }
    num.parse().ok()
}

/// Largest `CURRENT` accepted: it holds one file name.
pub const MAX_CURRENT_BYTES: u64 = 256;

/// The segment `CURRENT` names, and its generation. `Missing` without `CURRENT`; `Corrupt` if
/// it is not a regular file of at most [`MAX_CURRENT_BYTES`] naming `segment-NNNNNN.ember`
/// (ASCII digits, surrounding whitespace ignored), so it can never point outside the directory.
pub fn read_current(dir: &Path) -> Result<(String, u64)> {
    let path = dir.join(CURRENT);
    let bytes = crate::store::read_regular(&path, MAX_CURRENT_BYTES)?
        .ok_or_else(|| Error::Missing { what: "index (no CURRENT file)", path: dir.into() })?;
    let text = String::from_utf8_lossy(&bytes);
    let name = text.trim();
    let generation = name
        .strip_prefix("segment-")
        .and_then(|rest| rest.strip_suffix(".ember"))
        .filter(|num| num.len() >= 6 && num.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|num| num.parse().ok())
        .ok_or_else(|| Error::Corrupt(format!("CURRENT names {name:.80?}, not a segment")))?;
    Ok((name.to_owned(), generation))
}

/// The generation CURRENT names, if it names one.
pub fn current_generation(dir: &Path) -> Option<u64> {
    read_current(dir).ok().map(|(_, g)| g)
}

/// Remove files of other generations and abandoned temp files.
pub fn remove_stale(storage: &dyn Storage, dir: &Path, keep: u64) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut removed = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = match generation_of(&name) {
            Some(g) => g != keep,
            None => name.starts_with('.') && name.ends_with(".tmp"),
        };
        if stale {
            storage.remove(&entry.path())?;
            removed = true;
        }
    }
    if removed {
        storage.sync_dir(dir)?;
    }
    Ok(())
}
