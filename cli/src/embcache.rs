//! `--embeddings-cache FILE`: passage vectors saved by id, so parameter sweeps re-embed nothing.
//! A benchmarking aid only: a cache made with another model or other texts is ignored (by key).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use ember_core::store::checksum;
use ember_core::{Embedder, TextKind};

type Error = Box<dyn std::error::Error>;

/// Vectors of `(id, text)` pairs: from the cache when its key matches, else embedded and saved.
pub fn embed_cached(
    path: Option<&Path>,
    embedder: &dyn Embedder,
    items: &[(String, String)],
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<f32>>, Error> {
    let key = cache_key(embedder, items);
    if let Some(path) = path {
        if let Some(hit) = load(path, &key, embedder.dim(), items)? {
            progress(items.len());
            return Ok(hit);
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|(_, t)| t.as_str()).collect();
        out.extend(embedder.embed(&texts, TextKind::Passage)?);
        progress(out.len());
    }
    if let Some(path) = path {
        save(path, &key, items, &out)?;
    }
    Ok(out)
}

fn cache_key(embedder: &dyn Embedder, items: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = items.iter().collect();
    sorted.sort();
    let mut h = 0u64;
    for (id, text) in sorted {
        h = h.rotate_left(5) ^ checksum(id.as_bytes()) ^ checksum(text.as_bytes()).rotate_left(17);
    }
    // The passage prefix is part of what made the vectors; left out when empty so caches written
    // before prefixes existed still match.
    match embedder.prefix(TextKind::Passage) {
        "" => format!("{}:{}:{h:016x}", embedder.model_id(), items.len()),
        prefix => format!("{}:{prefix:?}:{}:{h:016x}", embedder.model_id(), items.len()),
    }
}

fn load(
    path: &Path,
    key: &str,
    dim: usize,
    items: &[(String, String)],
) -> Result<Option<Vec<Vec<f32>>>, Error> {
    let Ok(bytes) = std::fs::read(path) else { return Ok(None) };
    let Some(nl) = bytes.iter().position(|&b| b == b'\n') else { return Ok(None) };
    let header: serde_json::Value = serde_json::from_slice(&bytes[..nl])?;
    if header["key"] != key || header["dim"] != dim {
        return Ok(None);
    }
    let ids: Vec<String> = serde_json::from_value(header["ids"].clone())?;
    let body = &bytes[nl + 1..];
    if dim == 0 || body.len() != ids.len() * dim * 4 {
        return Ok(None);
    }
    // Rows are decoded straight from the file's bytes (no second copy of every vector).
    let by_id: HashMap<&str, &[u8]> =
        ids.iter().map(String::as_str).zip(body.chunks_exact(dim * 4)).collect();
    let decode =
        |row: &[u8]| row.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(items.iter().map(|(id, _)| by_id.get(id.as_str()).map(|row| decode(row))).collect())
}

fn save(path: &Path, key: &str, items: &[(String, String)], vectors: &[Vec<f32>]) -> Result<(), Error> {
    let ids: Vec<&str> = items.iter().map(|(id, _)| id.as_str()).collect();
    let dim = vectors.first().map_or(0, Vec::len);
    // Streamed: at a million passages the vectors are 1.5 GB.
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer(&mut out, &serde_json::json!({"key": key, "dim": dim, "ids": ids}))?;
    out.write_all(b"\n")?;
    for x in vectors.iter().flatten() {
        out.write_all(&x.to_le_bytes())?;
    }
    out.flush()?;
    Ok(())
}
