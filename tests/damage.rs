//! Damaging index files on purpose, for the malformed-file tests and the fuzz targets: the segment
//! layout as bytes, checksum repair (so damage reaches the structural checks behind the
//! checksums), and opening + using an index while checking that whatever it returns is well formed.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ember_core::store::checksum;
use ember_core::TextKind;
use ember_core::{Embedder, Error, Index, Mode, SearchOptions};

use crate::HashEmbedder;

/// Segment header size; the header checksum sits at [`HEADER_CHECKSUM`].
pub const HEADER: usize = 64;
/// Byte range of the header's own checksum.
pub const HEADER_CHECKSUM: Range<usize> = 40..48;
/// One section-table row: kind u32, reserved u32, offset u64, len u64, checksum u64.
pub const ENTRY: usize = 32;
/// Footer: the table's checksum, then the magic `EMBEREND`.
pub const FOOTER: usize = 16;
/// Sidecar header size.
pub const SIDECAR_HEADER: usize = 64;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    if let Some(dst) = b.get_mut(at..at + 8) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
}

/// Where things are in a well-formed segment image.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The section table (without the footer).
    pub table: Range<usize>,
    /// Each section: its kind number and byte range.
    pub sections: Vec<(u32, Range<usize>)>,
    /// Alignment padding: bytes between sections (and before the table) that no section holds.
    pub padding: Vec<Range<usize>>,
}

impl Layout {
    /// Read the layout of `image`, trusting its header and table (use on undamaged images).
    pub fn of(image: &[u8]) -> Option<Layout> {
        let count = u32_at(image, 16)? as usize;
        let table_start = usize::try_from(u64_at(image, 24)?).ok()?;
        let table = table_start..table_start.checked_add(count.checked_mul(ENTRY)?)?;
        let mut sections = Vec::with_capacity(count);
        let mut padding = Vec::new();
        let mut free = HEADER;
        for k in 0..count {
            let row = table.start + k * ENTRY;
            let start = usize::try_from(u64_at(image, row + 8)?).ok()?;
            let end = start.checked_add(usize::try_from(u64_at(image, row + 16)?).ok()?)?;
            if start > free {
                padding.push(free..start);
            }
            sections.push((u32_at(image, row)?, start..end));
            free = end;
        }
        if table.start > free {
            padding.push(free..table.start);
        }
        Some(Layout { table, sections, padding })
    }

    /// The byte range of section `kind`.
    pub fn section(&self, kind: u32) -> Option<Range<usize>> {
        self.sections.iter().find(|(k, _)| *k == kind).map(|(_, r)| r.clone())
    }
}

/// Recompute every checksum of a segment image that its (possibly damaged) header and table let
/// us reach: each in-bounds section's, the table's, the file length and the header's. Damage then
/// has to be caught by the structural checks rather than by a checksum.
pub fn repair_segment(image: &mut [u8]) {
    if image.len() < HEADER + FOOTER {
        return;
    }
    let len = image.len();
    put_u64(image, 32, len as u64);
    let count = u32_at(image, 16).unwrap_or(0) as usize;
    let table_start = u64_at(image, 24).and_then(|t| usize::try_from(t).ok()).unwrap_or(usize::MAX);
    let table_end = count.checked_mul(ENTRY).and_then(|t| table_start.checked_add(t));
    if let Some(table_end) = table_end.filter(|&e| e <= len - FOOTER && count <= 64) {
        for k in 0..count {
            let row = table_start + k * ENTRY;
            let (Some(off), Some(n)) = (u64_at(image, row + 8), u64_at(image, row + 16)) else { continue };
            let range =
                usize::try_from(off).ok().and_then(|o| Some(o..o.checked_add(usize::try_from(n).ok()?)?));
            if let Some(sum) = range.and_then(|r| image.get(r)).map(checksum) {
                put_u64(image, row + 24, sum);
            }
        }
        let sum = checksum(&image[table_start..table_end]);
        put_u64(image, len - FOOTER, sum);
    }
    reseal_header(image);
}

/// Rebuild a segment image section by section: `edit(kind, body)` returns a replacement body (or
/// `None` to keep it). Every checksum of the result is consistent, so only the structural checks
/// behind them can refuse it.
pub fn rewrite_segment(
    path: &Path,
    edit: impl Fn(ember_core::store::SectionKind, &[u8]) -> Option<Vec<u8>>,
) -> ember_core::Result<Vec<u8>> {
    use ember_core::store::{SectionKind, Segment, SegmentWriter};
    let seg = Segment::open(path)?;
    let mut w = SegmentWriter::new();
    for kind in SectionKind::ALL {
        if let Some(body) = seg.optional_section(kind)? {
            w.add(kind, edit(kind, body).unwrap_or_else(|| body.to_vec()));
        }
    }
    Ok(w.to_bytes())
}

/// Recompute only the header's checksum (after editing a header field on purpose).
pub fn reseal_header(image: &mut [u8]) {
    if image.len() < HEADER {
        return;
    }
    put_u64(image, HEADER_CHECKSUM.start, 0);
    let sum = checksum(&image[..HEADER]);
    put_u64(image, HEADER_CHECKSUM.start, sum);
}

/// A file rewritten in place, never truncated to zero and rewritten or renamed over: on ext4 both of
/// those force the data to disk on close (`auto_da_alloc`), which makes 100,000 rewrites take
/// minutes instead of seconds. No mapping of the file may be alive while it is rewritten.
#[derive(Debug)]
pub struct InPlace {
    file: std::fs::File,
    len: std::cell::Cell<u64>,
}

impl InPlace {
    /// Open an existing file for rewriting.
    pub fn open(path: &Path) -> std::io::Result<InPlace> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len();
        Ok(InPlace { file, len: std::cell::Cell::new(len) })
    }

    /// Make the file hold exactly `bytes`.
    pub fn set(&self, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        if (bytes.len() as u64) < self.len.get() {
            self.file.set_len(bytes.len() as u64)?;
        }
        self.file.write_all_at(bytes, 0)?;
        self.len.set(bytes.len() as u64);
        Ok(())
    }
}

/// Recompute a sidecar's data and header checksums; with `fingerprint`, also tie it to that segment.
pub fn repair_sidecar(side: &mut [u8], fingerprint: Option<u64>) {
    if side.len() < SIDECAR_HEADER {
        return;
    }
    if let Some(f) = fingerprint {
        put_u64(side, 32, f);
    }
    let sum = checksum(&side[SIDECAR_HEADER..]);
    put_u64(side, 40, sum);
    put_u64(side, 48, 0);
    let sum = checksum(&side[..SIDECAR_HEADER]);
    put_u64(side, 48, sum);
}

/// Write-ahead log: header bytes (magic, version, reserved, base segment fingerprint), then records
/// of `len: u32`, `xxh3: u64`, payload.
pub const WAL_HEADER: usize = 24;
const WAL_RECORD_HEAD: usize = 12;

/// Recompute the checksum of every record of a log that its (possibly damaged) length fields let
/// us reach; with `fingerprint`, also tie the log to that segment. Damage then reaches the record
/// decoder and the replay behind the checksums.
pub fn repair_wal(log: &mut [u8], fingerprint: Option<u64>) {
    if log.len() < WAL_HEADER {
        return;
    }
    if let Some(f) = fingerprint {
        put_u64(log, 16, f);
    }
    let mut pos = WAL_HEADER;
    while let Some(len) = u32_at(log, pos) {
        let start = pos + WAL_RECORD_HEAD;
        let Some(end) = start.checked_add(len as usize).filter(|&e| e <= log.len()) else { break };
        let sum = checksum(&log[start..end]);
        put_u64(log, pos + 4, sum);
        pos = end;
    }
}

/// What opening a possibly damaged index directory and using it gave.
#[derive(Debug)]
pub enum Outcome {
    /// `Index::open` refused it with this error.
    Rejected(Error),
    /// It opened; every call made on it returned a well-formed result or a typed error.
    Opened {
        /// Passages the index claims.
        passages: usize,
        /// Whether the vector sidecar was accepted.
        sidecar_ok: bool,
        /// Searches that returned hits.
        searches: usize,
        /// Hits whose score was NaN or infinite (possible only when damage passed every check).
        nonfinite: usize,
    },
}

impl Outcome {
    /// Whether the index opened.
    pub fn opened(&self) -> bool {
        matches!(self, Outcome::Opened { .. })
    }
}

/// Open `dir` and, if that works, use everything a caller can reach: stats, ids, texts and a search
/// in every mode. Panics (a test failure, or a crash under the fuzzer) if a result is malformed:
/// more hits than asked, a hit id the index does not hold, unsorted scores, a stats count that
/// disagrees, or stored mode working without a valid sidecar.
pub fn open_and_use(dir: &Path) -> Outcome {
    let read_only = ember_core::OpenOptions { read_only: true, ..Default::default() };
    let index = match Index::open_with(dir, read_only) {
        Ok(index) => index,
        Err(e) => return Outcome::Rejected(e),
    };
    let n = index.len();
    let stats = match index.stats() {
        Ok(s) => s,
        Err(e) => return Outcome::Rejected(e),
    };
    assert_eq!(stats.passages as usize, n, "stats disagree with len");
    assert_eq!(stats.dim as usize, index.dim());
    let ids = index.ids();
    if let Ok(ids) = &ids {
        assert_eq!(ids.len(), n, "ids() returned {} ids for {n} passages", ids.len());
    }
    // Internal numbers count deleted passages too (until compaction).
    let total = usize::try_from(stats.passages + stats.deleted).unwrap_or(usize::MAX);
    let some: Vec<u32> = (0..total.min(64) as u32).collect();
    if let Ok(texts) = index.texts(&some) {
        assert_eq!(texts.len(), some.len());
    }
    assert!(index.texts(&[total as u32]).is_err(), "text of passage {total} of {total}");
    let sidecar_ok = index.sidecar_status().is_ok();
    let embedder = HashEmbedder { dim: index.dim(), id: index.model().to_string() };
    let query = embedder.embed(&["battery flash storage offline"], TextKind::Query).map(|mut v| v.remove(0));
    let mut searches = 0;
    let mut nonfinite = 0;
    if let Ok(query) = query {
        for (mode, with_model) in [
            (Mode::CodesOnly, false),
            (Mode::Auto, false),
            (Mode::Recompute, true),
            (Mode::StoredRerank, true),
            (Mode::Auto, true),
        ] {
            let k = 5;
            let opts = SearchOptions { k, mode, beam: Some(24), rerank: Some(8), ..SearchOptions::default() };
            let model: Option<&dyn Embedder> = if with_model { Some(&embedder) } else { None };
            let report = index.search(&query, model, &opts);
            if mode == Mode::StoredRerank && !sidecar_ok {
                assert!(report.is_err(), "stored mode ran without a valid sidecar");
            }
            let Ok(report) = report else { continue };
            assert_ne!(report.mode, Mode::Auto, "auto must resolve to a mode");
            assert!(report.hits.len() <= k.min(n), "{} hits for k = {k}, n = {n}", report.hits.len());
            assert!(n == 0 || !report.hits.is_empty(), "no hit in a non-empty index");
            assert!(
                report.hits.windows(2).all(|w| w[0].score.total_cmp(&w[1].score).is_ge()),
                "hits not sorted by score"
            );
            if let Ok(ids) = &ids {
                for hit in &report.hits {
                    assert!(ids.contains(&hit.id), "hit {:?} is not an id of the index", hit.id);
                }
            }
            nonfinite += report.hits.iter().filter(|h| !h.score.is_finite()).count();
            searches += 1;
        }
    }
    Outcome::Opened { passages: n, sidecar_ok, searches, nonfinite }
}

/// Ends the process (with a message) if no [`Watchdog::tick`] comes for `limit`: a hang in a test
/// then fails the run instead of stalling it. Dropping the watchdog stops it.
#[derive(Debug)]
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    case: Arc<AtomicU64>,
}

impl Watchdog {
    /// Start watching; `what` names the test in the message.
    pub fn new(what: &'static str, limit: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let case = Arc::new(AtomicU64::new(0));
        let (s, c) = (stop.clone(), case.clone());
        std::thread::spawn(move || {
            let mut last = (c.load(Ordering::Relaxed), Instant::now());
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let now = c.load(Ordering::Relaxed);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > limit {
                    eprintln!("{what}: case {now} made no progress for {limit:?}: a hang");
                    std::process::exit(101);
                }
            }
        });
        Watchdog { stop, case }
    }

    /// A case is starting.
    pub fn tick(&self) {
        self.case.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
