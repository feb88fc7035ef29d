//! Malformed index files, exhaustively on a small index: the segment cut at every byte and every
//! bit of it flipped, random multi-bit damage with and without repaired checksums, crafted size
//! claims (time and largest allocation measured), the vector sidecar cut and flipped, and bad
//! `CURRENT` files. Every case must end in a typed error or a well-formed result (checked by
//! [`open_and_use`], which searches in every mode whenever an index opens); a watchdog turns a hang
//! into a failure. Each test prints its counts; docs/reliability.md quotes them.
//!
//! `EMBER_MALFORMED_SEED=N` replays the random tests with another seed.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ember_core::rng::SplitMix64;
use ember_core::store::{SectionKind, Segment, SegmentWriter};
use ember_core::{Error, Index, IndexConfig, Mode, SearchOptions, VectorStorage};
use ember_tests::damage::{
    open_and_use, repair_segment, repair_sidecar, reseal_header, InPlace, Layout, Outcome, Watchdog, ENTRY,
    FOOTER, HEADER, SIDECAR_HEADER,
};
use ember_tests::{open_read_only, synthetic_passages, temp_dir, HashEmbedder};

/// Records the largest single allocation made by the current thread while tracking is on.
struct Tracking;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    if TRACKING.try_with(Cell::get).unwrap_or(false) {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only touches
// const-initialized thread-locals, which never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Run `f`, returning its result, its wall time and the largest allocation it made on this thread.
fn measured<T>(f: impl FnOnce() -> T) -> (T, Duration, usize) {
    LARGEST.with(|l| l.set(0));
    TRACKING.with(|t| t.set(true));
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    TRACKING.with(|t| t.set(false));
    (out, took, LARGEST.with(Cell::get))
}

fn seed() -> u64 {
    std::env::var("EMBER_MALFORMED_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6d61_6c66)
}

/// Section kind numbers (part of the format; see `core/src/store/format.rs`).
const QUANTIZER: u32 = 2;
const CODES: u32 = 3;
const GRAPH_BLOCKS: u32 = 4;
const GRAPH_LENGTHS: u32 = 5;
const IDS: u32 = 7;
const TEXT: u32 = 8;

fn section_name(kind: u32) -> &'static str {
    ["?", "meta", "quantizer", "codes", "graph_blocks", "graph_lengths", "graph_edges", "ids", "text"]
        .get(kind as usize)
        .copied()
        .unwrap_or("unknown")
}

/// A built index of 200 passages whose files a test damages in place.
struct Fixture {
    dir: PathBuf,
    segment: PathBuf,
    good: Vec<u8>,
    layout: Layout,
    sidecar: Option<Vec<u8>>,
    segment_file: InPlace,
    sidecar_file: Option<InPlace>,
}

impl Fixture {
    fn new(name: &str, vectors: VectorStorage) -> Fixture {
        let dir = temp_dir(&format!("malformed-{name}"));
        let config = IndexConfig { vectors, ..IndexConfig::default() };
        Index::build(
            &dir,
            &HashEmbedder::new(64),
            &synthetic_passages(200),
            &config,
            &ember_core::Task::none(),
        )
        .unwrap();
        let segment = dir.join(std::fs::read_to_string(dir.join("CURRENT")).unwrap().trim());
        let good = std::fs::read(&segment).unwrap();
        let layout = Layout::of(&good).unwrap();
        let sidecar = std::fs::read(dir.join("vectors-000001.ember")).ok();
        assert_eq!(sidecar.is_some(), vectors != VectorStorage::None);
        let segment_file = InPlace::open(&segment).unwrap();
        let sidecar_file =
            sidecar.as_ref().map(|_| InPlace::open(&dir.join("vectors-000001.ember")).unwrap());
        Fixture { dir, segment, good, layout, sidecar, segment_file, sidecar_file }
    }

    fn sidecar_path(&self) -> PathBuf {
        self.dir.join("vectors-000001.ember")
    }

    /// Write `bytes` as the segment (no index holds a mapping of it between cases).
    fn write_segment(&self, bytes: &[u8]) {
        self.segment_file.set(bytes).unwrap();
    }

    /// Write `bytes` as the sidecar.
    fn write_sidecar(&self, bytes: &[u8]) {
        self.sidecar_file.as_ref().unwrap().set(bytes).unwrap();
    }

    fn restore(&self) {
        self.write_segment(&self.good);
        if let Some(side) = &self.sidecar {
            self.write_sidecar(side);
        }
    }

    /// Which region byte `i` of the segment lies in.
    fn region(&self, i: usize) -> String {
        if i < HEADER {
            return "header".into();
        }
        if let Some((kind, _)) = self.layout.sections.iter().find(|(_, r)| r.contains(&i)) {
            return format!("section {}", section_name(*kind));
        }
        if self.layout.table.contains(&i) {
            return "section table".into();
        }
        if i >= self.good.len() - FOOTER {
            return "footer".into();
        }
        "padding".into()
    }
}

/// Tallies of outcomes, printed at the end of each test.
#[derive(Default)]
struct Tally {
    cases: usize,
    rejected: BTreeMap<String, usize>,
    opened: usize,
    searches: usize,
    nonfinite: usize,
    slowest: Duration,
}

impl Tally {
    fn add(&mut self, outcome: &Outcome, took: Duration) {
        self.cases += 1;
        self.slowest = self.slowest.max(took);
        match outcome {
            Outcome::Rejected(e) => *self.rejected.entry(kind(e).to_string()).or_default() += 1,
            Outcome::Opened { searches, nonfinite, .. } => {
                self.opened += 1;
                self.searches += searches;
                self.nonfinite += nonfinite;
            }
        }
    }

    fn print(&self, what: &str, started: Instant) {
        println!(
            "malformed: {what}: {} cases, rejected {:?}, opened {} (searches run: {}, non-finite scores: {}), \
             slowest case {:.2} ms, total {:.1} s",
            self.cases,
            self.rejected,
            self.opened,
            self.searches,
            self.nonfinite,
            self.slowest.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64()
        );
    }
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Corrupt(_) => "Corrupt",
        Error::IncompatibleVersion { .. } => "IncompatibleVersion",
        Error::Missing { .. } => "Missing",
        Error::Io { .. } => "Io",
        Error::InvalidArgument(_) => "InvalidArgument",
        _ => "other",
    }
}

/// A damaged segment must be refused as corrupt (or as a version this build does not read).
fn assert_refused_as_damaged(outcome: &Outcome, case: &str) {
    match outcome {
        Outcome::Rejected(Error::Corrupt(_) | Error::IncompatibleVersion { .. }) => {}
        Outcome::Rejected(other) => panic!("{case}: wrong error type: {other:?}"),
        Outcome::Opened { .. } => panic!("{case}: a damaged segment opened"),
    }
}

/// A damaged segment must be refused with a typed damage error, or give well-formed results
/// (checked inside `open_and_use`).
fn assert_typed_or_valid(outcome: &Outcome, case: &str) {
    if let Outcome::Rejected(e) = outcome {
        assert!(
            matches!(e, Error::Corrupt(_) | Error::IncompatibleVersion { .. }),
            "{case}: wrong error type: {e:?}"
        );
    }
}

#[test]
fn segment_cut_at_every_byte_or_extended_is_refused() {
    let started = Instant::now();
    let watchdog = Watchdog::new("segment truncation", Duration::from_secs(60));
    let mut tally = Tally::default();
    for vectors in [VectorStorage::None, VectorStorage::F16] {
        let f = Fixture::new(&format!("cut-{vectors:?}"), vectors);
        for cut in 0..f.good.len() {
            watchdog.tick();
            f.write_segment(&f.good[..cut]);
            let (outcome, took, _) = measured(|| open_and_use(&f.dir));
            assert_refused_as_damaged(&outcome, &format!("cut at {cut} of {}", f.good.len()));
            tally.add(&outcome, took);
        }
        for extra in [1, 15, 16, 63, 64, 4096] {
            let mut long = f.good.clone();
            long.extend(std::iter::repeat_n(0u8, extra));
            f.write_segment(&long);
            let (outcome, took, _) = measured(|| open_and_use(&f.dir));
            assert_refused_as_damaged(&outcome, &format!("{extra} bytes appended"));
            tally.add(&outcome, took);
        }
        f.restore();
        assert!(open_and_use(&f.dir).opened());
    }
    tally.print("segment cut at every byte (and extended), with and without sidecar", started);
}

#[test]
fn every_single_bit_flip_of_the_segment_is_refused() {
    let started = Instant::now();
    let watchdog = Watchdog::new("segment bit flips", Duration::from_secs(60));
    let f = Fixture::new("flips", VectorStorage::None);
    let mut tally = Tally::default();
    let mut by_region: BTreeMap<String, usize> = BTreeMap::new();
    let mut missed: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad = f.good.clone();
    for i in 0..f.good.len() {
        for bit in 0..8 {
            watchdog.tick();
            bad[i] ^= 1 << bit;
            f.write_segment(&bad);
            bad[i] ^= 1 << bit;
            let (outcome, took, _) = measured(|| open_and_use(&f.dir));
            tally.add(&outcome, took);
            *by_region.entry(f.region(i)).or_default() += 1;
            if let Outcome::Rejected(e) = &outcome {
                assert!(
                    matches!(e, Error::Corrupt(_) | Error::IncompatibleVersion { .. }),
                    "flip of byte {i} bit {bit}: wrong error type {e:?}"
                );
            } else {
                *missed.entry(f.region(i)).or_default() += 1;
            }
        }
    }
    tally.print(
        &format!("every bit of a {}-byte segment flipped, by region {by_region:?}", f.good.len()),
        started,
    );
    assert!(missed.is_empty(), "single-bit flips that opened, by region: {missed:?}");
}

#[test]
fn header_and_table_bit_flips_with_a_sidecar_are_refused() {
    let started = Instant::now();
    let watchdog = Watchdog::new("header flips", Duration::from_secs(60));
    let f = Fixture::new("flips-sidecar", VectorStorage::F16);
    let mut tally = Tally::default();
    let tail = f.layout.table.start..f.good.len();
    for i in (0..HEADER).chain(tail) {
        for bit in 0..8 {
            watchdog.tick();
            let mut bad = f.good.clone();
            bad[i] ^= 1 << bit;
            f.write_segment(&bad);
            let (outcome, took, _) = measured(|| open_and_use(&f.dir));
            assert_refused_as_damaged(&outcome, &format!("flip of byte {i} ({}) bit {bit}", f.region(i)));
            tally.add(&outcome, took);
        }
    }
    tally.print("every bit of the header, section table and footer flipped (index with sidecar)", started);
}

/// 10,000 cases of 1 to 8 random bit flips anywhere in the segment, raw (checksums must catch all)
/// and then behind repaired checksums (the structural checks must give a typed error, or the
/// index must give well-formed results).
#[test]
fn random_damage_raw_and_behind_repaired_checksums() {
    const CASES: usize = 10_000;
    let seed = seed();
    println!("malformed: random damage seed {seed} (EMBER_MALFORMED_SEED)");
    let watchdog = Watchdog::new("random damage", Duration::from_secs(60));
    for vectors in [VectorStorage::None, VectorStorage::F16] {
        let f = Fixture::new(&format!("random-{vectors:?}"), vectors);
        let mut rng = SplitMix64::new(seed ^ vectors as u64);
        let (mut raw, mut repaired) = (Tally::default(), Tally::default());
        let (started, mut repaired_time) = (Instant::now(), Duration::ZERO);
        let mut opened_regions: BTreeMap<String, usize> = BTreeMap::new();
        for case in 0..CASES {
            watchdog.tick();
            let mut bad = f.good.clone();
            let flips = 1 + rng.below(8);
            let mut first_region = String::new();
            for k in 0..flips {
                // Bodies of sections most of the time: that is where the structure lives.
                let i = if rng.below(4) == 0 {
                    rng.below(bad.len())
                } else {
                    let (_, r) = &f.layout.sections[rng.below(f.layout.sections.len())];
                    if r.is_empty() {
                        rng.below(bad.len())
                    } else {
                        r.start + rng.below(r.len())
                    }
                };
                if k == 0 {
                    first_region = f.region(i);
                }
                bad[i] ^= 1 << rng.below(8);
            }
            if bad == f.good {
                continue; // two flips cancelled out
            }
            f.write_segment(&bad);
            let (outcome, took, _) = measured(|| open_and_use(&f.dir));
            assert_refused_as_damaged(&outcome, &format!("raw case {case} ({flips} flips)"));
            raw.add(&outcome, took);

            repair_segment(&mut bad);
            f.write_segment(&bad);
            let (outcome, took, _) = measured(|| open_and_use(&f.dir));
            repaired_time += took;
            assert_typed_or_valid(&outcome, &format!("repaired case {case} ({flips} flips)"));
            if outcome.opened() && bad != f.good {
                *opened_regions.entry(first_region).or_default() += 1;
            }
            repaired.add(&outcome, took);
        }
        f.restore();
        raw.print(&format!("random raw damage, sidecar {vectors:?}"), started);
        repaired.print(
            &format!(
                "random damage behind repaired checksums, sidecar {vectors:?} (opened, by region of the \
                 first flip: {opened_regions:?}; {:.1} s of it)",
                repaired_time.as_secs_f64()
            ),
            started,
        );
        assert_eq!(raw.opened, 0);
    }
}

/// A crafted image claiming sizes far beyond the file (checksums made consistent) is refused
/// before anything of that size is allocated. Times and largest allocations are printed.
#[test]
fn crafted_size_claims_are_refused_without_large_allocations() {
    let f = Fixture::new("claims", VectorStorage::F16);
    let watchdog = Watchdog::new("size claims", Duration::from_secs(120));
    let put32 = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 = |b: &mut Vec<u8>, at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    let sec = |kind: u32| f.layout.section(kind).unwrap();
    let row = |kind: u32| {
        let k = f.layout.sections.iter().position(|(k, _)| *k == kind).unwrap();
        f.layout.table.start + k * ENTRY
    };
    // Meta edits change its length: rebuild the whole segment around the new meta.
    let sections: Vec<(SectionKind, Vec<u8>)> = {
        let seg = Segment::open(&f.segment).unwrap();
        SectionKind::ALL
            .iter()
            .filter_map(|&k| seg.optional_section(k).unwrap().map(|b| (k, b.to_vec())))
            .collect()
    };
    let with_section = |target: SectionKind, new: &dyn Fn(&[u8]) -> Vec<u8>| -> Vec<u8> {
        let mut w = SegmentWriter::new();
        for (kind, body) in &sections {
            w.add(*kind, if *kind == target { new(body) } else { body.clone() });
        }
        w.to_bytes()
    };
    let meta_with = |from: &str, to: &str| -> Vec<u8> {
        with_section(SectionKind::Meta, &|body| {
            let meta = String::from_utf8(body.to_vec()).unwrap();
            assert!(meta.contains(from), "{meta}");
            meta.replace(from, to).into_bytes()
        })
    };
    // A rotation-only quantizer of `dim` dimensions: 24 header bytes and `dim` f32 means.
    let quantizer_of = |dim: u32| -> Vec<u8> {
        with_section(SectionKind::Quantizer, &|_| {
            let mut q: Vec<u8> = [dim, dim, 1, 0, 7, 0].iter().flat_map(|w| w.to_le_bytes()).collect();
            q.resize(24 + 4 * dim as usize, 0);
            q
        })
    };
    // Each crafted image has consistent checksums, so only the size checks can refuse it.
    let sealed = |mut b: Vec<u8>| {
        repair_segment(&mut b);
        b
    };
    type Craft<'a> = (&'static str, Box<dyn Fn() -> Vec<u8> + 'a>);
    let cases: Vec<Craft> = vec![
        (
            "header: section_count = 2^32-1",
            Box::new(|| {
                let mut b = f.good.clone();
                put32(&mut b, 16, u32::MAX);
                sealed(b)
            }),
        ),
        (
            "header: table_offset = 2^62",
            Box::new(|| {
                let mut b = f.good.clone();
                put64(&mut b, 24, 1 << 62);
                sealed(b)
            }),
        ),
        (
            "header: file_len = 2^40 (file not extended)",
            Box::new(|| {
                let mut b = f.good.clone();
                repair_segment(&mut b);
                put64(&mut b, 32, 1 << 40);
                reseal_header(&mut b);
                b
            }),
        ),
        (
            "table: codes section len = 2^40",
            Box::new(|| {
                let mut b = f.good.clone();
                put64(&mut b, row(CODES) + 16, 1 << 40);
                sealed(b)
            }),
        ),
        (
            "table: text section offset = 2^63, len = 2^63",
            Box::new(|| {
                let mut b = f.good.clone();
                put64(&mut b, row(TEXT) + 8, 1 << 63);
                put64(&mut b, row(TEXT) + 16, 1 << 63);
                sealed(b)
            }),
        ),
        (
            "meta: passages = 2^40",
            Box::new(|| sealed(meta_with("\"passages\":200", "\"passages\":1099511627776"))),
        ),
        (
            "meta: passages = 2^32 + 200",
            Box::new(|| sealed(meta_with("\"passages\":200", "\"passages\":4294967496"))),
        ),
        ("meta: dim = 2^40", Box::new(|| sealed(meta_with("\"dim\":64", "\"dim\":1099511627776")))),
        (
            "quantizer: dim = dims = 2^31",
            Box::new(|| {
                let mut b = f.good.clone();
                put32(&mut b, sec(QUANTIZER).start, 1 << 31);
                put32(&mut b, sec(QUANTIZER).start + 4, 1 << 31);
                sealed(b)
            }),
        ),
        // Within the dimension cap, so only checking it against the meta before the rotation is
        // rebuilt keeps this cheap (it used to cost a full 1,024-dimension rotation and 8 MiB).
        ("quantizer: dim = dims = 1024 in a 4 KB section", Box::new(|| sealed(quantizer_of(1024)))),
        (
            "ids: count = 2^32-1",
            Box::new(|| {
                let mut b = f.good.clone();
                put32(&mut b, sec(IDS).start, u32::MAX);
                sealed(b)
            }),
        ),
        (
            "ids: first id length varint = 2^63",
            Box::new(|| {
                let mut b = f.good.clone();
                let blocks = 200usize.div_ceil(16);
                let at = sec(IDS).start + 8 + blocks * 4;
                b[at..at + 10].copy_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
                sealed(b)
            }),
        ),
        (
            "text: count = blocks = 2^32-1",
            Box::new(|| {
                let mut b = f.good.clone();
                put32(&mut b, sec(TEXT).start, u32::MAX);
                put32(&mut b, sec(TEXT).start + 4, u32::MAX);
                sealed(b)
            }),
        ),
        (
            "text: blocks = 2^32-1",
            Box::new(|| {
                let mut b = f.good.clone();
                put32(&mut b, sec(TEXT).start + 4, u32::MAX);
                sealed(b)
            }),
        ),
        (
            "text: first block claims 4 GiB decompressed",
            Box::new(|| {
                let mut b = f.good.clone();
                let text = sec(TEXT);
                let blocks =
                    u32::from_le_bytes(b[text.start + 4..text.start + 8].try_into().unwrap()) as usize;
                let first_block = text.start + 8 + (blocks + 1) * 8;
                put32(&mut b, first_block, u32::MAX);
                sealed(b)
            }),
        ),
        (
            "graph: every list length 255",
            Box::new(|| {
                let mut b = f.good.clone();
                b[sec(GRAPH_LENGTHS)].fill(255);
                sealed(b)
            }),
        ),
        (
            "graph: block offsets 2^32-1",
            Box::new(|| {
                let mut b = f.good.clone();
                let r = sec(GRAPH_BLOCKS);
                b[r.start + 8..r.end].fill(0xff);
                sealed(b)
            }),
        ),
    ];
    println!(
        "malformed: crafted size claims in a {}-byte segment (checksums made consistent):",
        f.good.len()
    );
    let bound = (1 << 20) + 4 * f.good.len();
    let ((), _, legit) = measured(|| assert!(open_and_use(&f.dir).opened()));
    println!("malformed:   (the intact index: largest allocation {legit} bytes while opening and searching)");
    for (what, craft) in &cases {
        watchdog.tick();
        f.write_segment(&craft());
        let (outcome, took, largest) = measured(|| open_and_use(&f.dir));
        println!(
            "malformed:   {what}: {} in {:.3} ms, largest allocation {largest} bytes",
            match &outcome {
                Outcome::Rejected(e) => format!("refused ({})", kind(e)),
                Outcome::Opened { .. } => "opened".to_string(),
            },
            took.as_secs_f64() * 1e3,
        );
        assert_refused_as_damaged(&outcome, what);
        assert!(largest <= bound, "{what}: allocated {largest} bytes (bound {bound})");
    }

    // The sidecar's own claims: it is refused, the index still opens, stored mode is off.
    let side = f.sidecar.clone().unwrap();
    let fingerprint = ember_core::store::fingerprint(&f.good);
    f.restore();
    let sidecar_cases: [(&str, usize, u64, u32); 3] = [
        ("sidecar: n = 2^40", 24, 1 << 40, 8),
        ("sidecar: dim = 2^32-1", 16, u64::from(u32::MAX), 4),
        ("sidecar: dtype = 2^32-1", 12, u64::from(u32::MAX), 4),
    ];
    for (what, at, value, width) in sidecar_cases {
        watchdog.tick();
        let mut bad = side.clone();
        bad[at..at + width as usize].copy_from_slice(&value.to_le_bytes()[..width as usize]);
        repair_sidecar(&mut bad, fingerprint);
        f.write_sidecar(&bad);
        let (outcome, took, largest) = measured(|| open_and_use(&f.dir));
        println!(
            "malformed:   {what}: sidecar refused = {}, in {:.3} ms, largest allocation {largest} bytes",
            matches!(outcome, Outcome::Opened { sidecar_ok: false, .. }),
            took.as_secs_f64() * 1e3
        );
        assert!(matches!(outcome, Outcome::Opened { sidecar_ok: false, .. }), "{what}: {outcome:?}");
        assert!(largest <= bound, "{what}: allocated {largest} bytes (bound {bound})");
    }
}

fn assert_sidecar_refused(dir: &Path, case: &str) -> Outcome {
    let outcome = open_and_use(dir);
    match &outcome {
        Outcome::Opened { sidecar_ok: false, .. } => {}
        other => panic!("{case}: expected the index to open without its sidecar, got {other:?}"),
    }
    outcome
}

#[test]
fn damaged_sidecar_only_disables_stored_mode() {
    let started = Instant::now();
    let watchdog = Watchdog::new("sidecar damage", Duration::from_secs(60));
    let f = Fixture::new("sidecar", VectorStorage::F16);
    let good = f.sidecar.clone().unwrap();
    let path = f.sidecar_path();
    let mut tally = Tally::default();
    // Light check for the bulk: open, sidecar refused, stored mode a typed error, auto falls back.
    let e = HashEmbedder::new(64);
    let q = ember_core::Embedder::embed(&e, &["battery"], ember_core::TextKind::Query).unwrap().remove(0);
    let light = |case: &str| {
        let index = open_read_only(&f.dir).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(index.sidecar_status().is_err(), "{case}: sidecar accepted");
        let opts = SearchOptions { k: 3, mode: Mode::StoredRerank, ..SearchOptions::default() };
        assert!(matches!(index.search(&q, Some(&e), &opts), Err(Error::InvalidArgument(_))), "{case}");
        let opts = SearchOptions { mode: Mode::Auto, ..opts };
        assert_eq!(index.search(&q, Some(&e), &opts).unwrap().mode, Mode::Recompute, "{case}");
        Outcome::Opened { passages: index.len(), sidecar_ok: false, searches: 2, nonfinite: 0 }
    };
    // Cut at every byte: inside the header with the full check (every mode searched), after it with
    // the light one.
    for cut in 0..good.len() {
        watchdog.tick();
        f.write_sidecar(&good[..cut]);
        let case = format!("sidecar cut at {cut}");
        let (outcome, took, _) = if cut <= SIDECAR_HEADER {
            measured(|| assert_sidecar_refused(&f.dir, &case))
        } else {
            measured(|| light(&case))
        };
        tally.add(&outcome, took);
    }
    // Every bit of the header (full check), and one bit of every data byte, rotating through the
    // bit positions (light check): the data checksum (xxh3-64) must catch each.
    let mut bad = good.clone();
    for i in 0..good.len() {
        let bits = if i < SIDECAR_HEADER { 0..8 } else { i % 8..i % 8 + 1 };
        for bit in bits {
            watchdog.tick();
            bad[i] ^= 1 << bit;
            f.write_sidecar(&bad);
            bad[i] ^= 1 << bit;
            let case = format!("sidecar flip of byte {i} bit {bit}");
            let (outcome, took, _) = if i < SIDECAR_HEADER {
                measured(|| assert_sidecar_refused(&f.dir, &case))
            } else {
                measured(|| light(&case))
            };
            tally.add(&outcome, took);
        }
    }
    // Extended, empty, a directory, and a sidecar tied to another segment (header rewritten with
    // consistent checksums).
    let mut long = good.clone();
    long.extend([0u8; 64]);
    f.write_sidecar(&long);
    tally.add(&assert_sidecar_refused(&f.dir, "sidecar extended"), Duration::ZERO);
    let mut stale = good.clone();
    repair_sidecar(&mut stale, Some(0x0123_4567_89ab_cdef));
    f.write_sidecar(&stale);
    tally.add(&assert_sidecar_refused(&f.dir, "sidecar of another segment"), Duration::ZERO);
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    tally.add(&assert_sidecar_refused(&f.dir, "sidecar is a directory"), Duration::ZERO);
    std::fs::remove_dir(&path).unwrap();
    std::fs::write(&path, &good).unwrap();
    assert!(matches!(open_and_use(&f.dir), Outcome::Opened { sidecar_ok: true, .. }));
    tally.print(
        &format!(
            "sidecar ({} bytes) cut at every byte, every header bit and one bit per data byte flipped",
            good.len()
        ),
        started,
    );
}

#[test]
fn bad_current_files_are_refused() {
    let f = Fixture::new("current", VectorStorage::None);
    let current = f.dir.join("CURRENT");
    let name = std::fs::read_to_string(&current).unwrap();
    // A valid segment just outside the index directory: no CURRENT may reach it.
    let outside = f.dir.parent().unwrap().join(format!("segment-escaped-{}.ember", std::process::id()));
    std::fs::write(&outside, &f.good).unwrap();
    let escaped = outside.file_name().unwrap().to_string_lossy().into_owned();
    let long = format!("segment-{}", "9".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("whitespace", b" \n\t\n".to_vec()),
        ("not UTF-8", vec![0xff, 0xfe, 0x00, 0x80, b's']),
        ("NUL inside", b"segment-000001.ember\0".to_vec()),
        ("garbage", b"\x1b[2J hello".to_vec()),
        ("../x", b"../x".to_vec()),
        ("../ to a valid segment", format!("../{escaped}").into_bytes()),
        ("segment-/../../ to a valid segment", format!("segment-/../../{escaped}").into_bytes()),
        ("segment-..\\..\\x", b"segment-..\\..\\x".to_vec()),
        ("absolute path", outside.to_string_lossy().into_owned().into_bytes()),
        ("the sidecar's name", b"vectors-000001.ember".to_vec()),
        ("CURRENT itself", b"CURRENT".to_vec()),
        ("a segment that does not exist", b"segment-000009.ember".to_vec()),
        ("10 KB name", long.into_bytes()),
        ("two names", format!("{name}\n{name}").into_bytes()),
    ];
    for (what, bytes) in &cases {
        std::fs::write(&current, bytes).unwrap();
        let (outcome, took, largest) = measured(|| open_and_use(&f.dir));
        println!(
            "malformed: CURRENT {what}: {} in {:.3} ms, largest allocation {largest} bytes",
            match &outcome {
                Outcome::Rejected(e) => format!("refused ({})", kind(e)),
                Outcome::Opened { .. } => "opened".into(),
            },
            took.as_secs_f64() * 1e3
        );
        match outcome {
            Outcome::Rejected(Error::Corrupt(_) | Error::Missing { .. } | Error::Io { .. }) => {}
            other => panic!("CURRENT {what}: expected a typed refusal, got {other:?}"),
        }
    }
    // CURRENT a directory; CURRENT missing; a segment name that is a directory.
    std::fs::remove_file(&current).unwrap();
    assert!(matches!(open_read_only(&f.dir), Err(Error::Missing { .. })));
    std::fs::create_dir(&current).unwrap();
    assert!(matches!(open_read_only(&f.dir), Err(Error::Corrupt(_))));
    std::fs::remove_dir(&current).unwrap();
    std::fs::create_dir(f.dir.join("segment-dir")).unwrap();
    std::fs::write(&current, "segment-dir").unwrap();
    let r = open_read_only(&f.dir);
    assert!(matches!(r, Err(Error::Corrupt(_) | Error::Io { .. })), "{r:?}");
    // Surrounding whitespace is tolerated: the name is trimmed.
    std::fs::write(&current, format!("\n  {name}  \n")).unwrap();
    assert!(open_and_use(&f.dir).opened());
    std::fs::remove_file(&outside).unwrap();
}

/// Opening a FIFO blocks until a writer comes; a segment or sidecar path that is not a regular
/// file must be refused before it is opened.
#[test]
fn special_files_are_refused_not_waited_on() {
    let f = Fixture::new("fifo", VectorStorage::F16);
    let watchdog = Watchdog::new("special files", Duration::from_secs(20));
    let fifo = f.dir.join("segment-fifo.ember");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap_or_else(|e| panic!("this test needs the `mkfifo` command (coreutils): {e}"));
    assert!(status.success(), "mkfifo failed");
    watchdog.tick();
    std::fs::write(f.dir.join("CURRENT"), "segment-fifo.ember").unwrap();
    let r = open_read_only(&f.dir);
    assert!(matches!(r, Err(Error::Corrupt(_))), "{r:?}");
    // The sidecar as a FIFO: refused, the index opens without it.
    f.restore();
    std::fs::write(f.dir.join("CURRENT"), f.segment.file_name().unwrap().to_string_lossy().as_bytes())
        .unwrap();
    std::fs::remove_file(f.sidecar_path()).unwrap();
    std::fs::rename(&fifo, f.sidecar_path()).unwrap();
    watchdog.tick();
    assert_sidecar_refused(&f.dir, "sidecar is a FIFO");
    // A symlink to a device reads as empty or is refused; never opened as a segment.
    std::fs::remove_file(f.sidecar_path()).unwrap();
    let link = f.dir.join("segment-zero.ember");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    std::fs::write(f.dir.join("CURRENT"), "segment-zero.ember").unwrap();
    let r = open_read_only(&f.dir);
    assert!(matches!(r, Err(Error::Corrupt(_))), "{r:?}");
}

/// Every input a fuzzer crashed on, kept in `tests/fuzz_regressions/TARGET/`, replayed through its
/// target: each must now pass (a target panics on any broken invariant).
#[test]
fn fuzz_crashes_stay_fixed() {
    let root = ember_tests::workspace().join("tests/fuzz_regressions");
    let mut replayed = 0;
    for (name, target) in ember_tests::fuzz::TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            println!("malformed: replaying fuzz crash {}", path.display());
            target(&std::fs::read(&path).unwrap());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no fuzz regression inputs found under {}", root.display());
}
