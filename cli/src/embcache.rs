//! `--embeddings-cache FILE`: passage vectors saved by id, so parameter sweeps re-embed nothing.
//! A benchmarking aid only: a cache made with another model or other texts is ignored (by key).
//! Rows are appended to `FILE.partial` as they are made, so an interrupted run (a million passages
//! take hours) resumes where it stopped; the finished file is renamed into place.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use ember_core::store::checksum;
use ember_core::{Embedder, TextKind};

type Error = Box<dyn std::error::Error>;

/// Vectors of `(id, text)` pairs: from the cache when its key matches, else embedded and saved.
pub fn embed_cached(
    path: Option<&Path>,
    embedder: &dyn Embedder,
    items: &[(&str, &str)],
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<f32>>, Error> {
    let key = cache_key(embedder, items);
    if let Some(path) = path {
        if let Some(hit) = load(path, &key, embedder.dim(), items)? {
            progress(items.len());
            return Ok(hit);
        }
    }
    let mut partial = match path {
        Some(path) => Some(Partial::open(path, &key, embedder.dim(), items)?),
        None => None,
    };
    let mut out = partial.as_mut().map_or_else(Vec::new, |p| std::mem::take(&mut p.done));
    out.reserve_exact(items.len() - out.len());
    progress(out.len());
    for chunk in items[out.len()..].chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|&(_, t)| t).collect();
        let vectors = embedder.embed(&texts, TextKind::Passage)?;
        if let Some(p) = partial.as_mut() {
            p.append(&vectors)?;
        }
        out.extend(vectors);
        progress(out.len());
    }
    if let (Some(p), Some(path)) = (partial, path) {
        p.finish(path)?;
    }
    Ok(out)
}

fn cache_key(embedder: &dyn Embedder, items: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = items.iter().collect();
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

/// A cache file's reader past its header line, and the ids the header lists.
type Opened = (BufReader<File>, Vec<String>);

/// A cache file past its header line, when the header is `key`'s for rows of `dim` and the file
/// holds one whole row per listed id: the reader and the ids, in file order. Shared by [`load`] and
/// [`open_rows`].
fn open_cache(path: &Path, key: &str, dim: usize) -> Result<Option<Opened>, Error> {
    let Ok(file) = File::open(path) else { return Ok(None) };
    let size = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    let Some(json) = line.strip_suffix(b"\n") else { return Ok(None) };
    // Typed, not a `serde_json::Value`: a million ids as Values, cloned out of it, took 0.2 GB.
    #[derive(serde::Deserialize)]
    struct Header {
        key: String,
        dim: usize,
        ids: Vec<String>,
    }
    // (One without these fields, or not JSON, is another tool's file: ignored like another key.)
    let Ok(header) = serde_json::from_slice::<Header>(json) else { return Ok(None) };
    let header_len = line.len() as u64;
    drop(line);
    if dim == 0 || header.key != key || header.dim != dim {
        return Ok(None);
    }
    if size != header_len + (header.ids.len() * dim * 4) as u64 {
        return Ok(None);
    }
    Ok(Some((reader, header.ids)))
}

/// The vectors of `items` from the cache at `path`, `None` unless it holds every one. Rows are read
/// one at a time; a cache in `items` order (one made from the same corpus) is returned as read.
fn load(path: &Path, key: &str, dim: usize, items: &[(&str, &str)]) -> Result<Option<Vec<Vec<f32>>>, Error> {
    let Some((mut reader, ids)) = open_cache(path, key, dim)? else { return Ok(None) };
    let mut row = vec![0u8; dim * 4];
    let mut rows = Vec::with_capacity(ids.len());
    for _ in &ids {
        reader.read_exact(&mut row)?;
        rows.push(decode(&row));
    }
    if in_order(&ids, items) {
        return Ok(Some(rows));
    }
    let by_id: HashMap<&str, &Vec<f32>> = ids.iter().map(String::as_str).zip(&rows).collect();
    Ok(items.iter().map(|(id, _)| by_id.get(id).map(|&row| row.clone())).collect())
}

/// Whether `ids` lists `items`' ids, in order.
fn in_order(ids: &[String], items: &[(&str, &str)]) -> bool {
    ids.len() == items.len() && ids.iter().zip(items).all(|(a, (b, _))| a == b)
}

/// A cache's rows read one at a time, in the order its header lists the ids: a build stages each
/// as it comes and never holds them all in f32 (1.5 GB at a million 384-dimensional rows). A read
/// error ends the rows early; [`CachedRows::finish`] reports it.
pub struct CachedRows {
    reader: BufReader<File>,
    row: Vec<u8>,
    left: usize,
    error: Option<std::io::Error>,
}

impl Iterator for CachedRows {
    type Item = Vec<f32>;

    fn next(&mut self) -> Option<Vec<f32>> {
        if self.left == 0 || self.error.is_some() {
            return None;
        }
        match self.reader.read_exact(&mut self.row) {
            Ok(()) => {
                self.left -= 1;
                Some(decode(&self.row))
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

impl CachedRows {
    /// The read error that ended the rows early, if any.
    pub fn finish(self) -> Result<(), Error> {
        self.error.map_or(Ok(()), |e| Err(e.into()))
    }
}

/// The complete cache at `path` as rows in `items` order, when its key matches and it lists the
/// ids in that order (a cache made from the same corpus does); `None` otherwise.
pub fn open_rows(
    path: &Path,
    embedder: &dyn Embedder,
    items: &[(&str, &str)],
) -> Result<Option<CachedRows>, Error> {
    let dim = embedder.dim();
    let Some((reader, ids)) = open_cache(path, &cache_key(embedder, items), dim)? else { return Ok(None) };
    if !in_order(&ids, items) {
        return Ok(None);
    }
    Ok(Some(CachedRows { reader, row: vec![0; dim * 4], left: items.len(), error: None }))
}

/// `FILE.partial`: the cache's header line, then the rows embedded so far, in `items` order.
struct Partial {
    out: BufWriter<File>,
    path: PathBuf,
    /// The rows found at open, handed to the caller.
    done: Vec<Vec<f32>>,
}

impl Partial {
    /// Opens the partial file of `path` and reads its whole rows when its key matches (a torn last
    /// row is cut off); else starts one.
    fn open(path: &Path, key: &str, dim: usize, items: &[(&str, &str)]) -> Result<Partial, Error> {
        let mut name = path.as_os_str().to_owned();
        name.push(".partial");
        let partial = PathBuf::from(name);
        let header = serde_json::to_vec(&serde_json::json!({
            "key": key,
            "dim": dim,
            "ids": items.iter().map(|&(id, _)| id).collect::<Vec<_>>(),
        }))?;
        let mut done = Vec::new();
        if let Ok(file) = File::open(&partial) {
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            reader.read_until(b'\n', &mut line)?;
            if line.strip_suffix(b"\n") == Some(&header[..]) {
                let mut row = vec![0u8; dim * 4];
                while done.len() < items.len() && reader.read_exact(&mut row).is_ok() {
                    done.push(decode(&row));
                }
            }
        }
        let out = if done.is_empty() {
            let mut out = BufWriter::new(File::create(&partial)?);
            out.write_all(&header)?;
            out.write_all(b"\n")?;
            out
        } else {
            let file = OpenOptions::new().write(true).open(&partial)?;
            file.set_len((header.len() + 1 + done.len() * dim * 4) as u64)?;
            let mut out = BufWriter::new(file);
            std::io::Seek::seek(&mut out, std::io::SeekFrom::End(0))?;
            out
        };
        Ok(Partial { out, path: partial, done })
    }

    fn append(&mut self, vectors: &[Vec<f32>]) -> Result<(), Error> {
        for x in vectors.iter().flatten() {
            self.out.write_all(&x.to_le_bytes())?;
        }
        Ok(())
    }

    /// All rows written: the partial file becomes the cache.
    fn finish(mut self, path: &Path) -> Result<(), Error> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        std::fs::rename(&self.path, path)?;
        Ok(())
    }
}

fn decode(row: &[u8]) -> Vec<f32> {
    row.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A 2-dimensional embedder that counts the texts it embeds.
    struct Counting(AtomicUsize);

    impl Embedder for Counting {
        fn embed(&self, texts: &[&str], _kind: TextKind) -> ember_core::Result<Vec<Vec<f32>>> {
            self.0.fetch_add(texts.len(), Ordering::Relaxed);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
        fn dim(&self) -> usize {
            2
        }
        fn model_id(&self) -> &str {
            "counting"
        }
    }

    #[test]
    fn an_interrupted_cache_resumes_and_a_finished_one_embeds_nothing() {
        let dir = std::env::temp_dir().join(format!("ember-embcache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cache = dir.join("v.emb");
        let owned: Vec<(String, String)> = (0..600).map(|i| (format!("p{i}"), "x".repeat(i % 7))).collect();
        let items: Vec<(&str, &str)> = owned.iter().map(|(id, t)| (id.as_str(), t.as_str())).collect();
        let full: Vec<Vec<f32>> = items.iter().map(|(_, t)| vec![t.len() as f32, 1.0]).collect();

        // A run killed after 300 rows and half a row: the partial file as it would be left.
        let key = cache_key(&Counting(AtomicUsize::new(0)), &items);
        let mut p = Partial::open(&cache, &key, 2, &items).unwrap();
        p.append(&full[..300]).unwrap();
        p.out.write_all(&[0u8; 5]).unwrap();
        p.out.flush().unwrap();
        drop(p);

        let e = Counting(AtomicUsize::new(0));
        let got = embed_cached(Some(&cache), &e, &items, &mut |_| {}).unwrap();
        assert_eq!(got, full);
        assert_eq!(e.0.load(Ordering::Relaxed), 300, "only the rows not yet saved are embedded");
        assert!(!dir.join("v.emb.partial").exists());

        let e = Counting(AtomicUsize::new(0));
        assert_eq!(embed_cached(Some(&cache), &e, &items, &mut |_| {}).unwrap(), full);
        assert_eq!(e.0.load(Ordering::Relaxed), 0);

        // The finished cache read back lazily in corpus order; not for another order or a short file.
        let rows: Vec<Vec<f32>> = open_rows(&cache, &e, &items).unwrap().unwrap().collect();
        assert_eq!(rows, full);
        let mut reordered = items.clone();
        reordered.swap(0, 1);
        assert!(open_rows(&cache, &e, &reordered).unwrap().is_none());
        let bytes = std::fs::read(&cache).unwrap();
        std::fs::write(&cache, &bytes[..bytes.len() - 1]).unwrap();
        assert!(open_rows(&cache, &e, &items).unwrap().is_none());
        std::fs::write(&cache, &bytes).unwrap();

        // Other texts: another key, so everything is embedded again.
        let mut other = items.clone();
        other[0].1 = "changed";
        let e = Counting(AtomicUsize::new(0));
        embed_cached(Some(&cache), &e, &other, &mut |_| {}).unwrap();
        assert_eq!(e.0.load(Ordering::Relaxed), 600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
