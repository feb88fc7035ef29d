//! Open-time validation of claims a file makes that no checksum can catch (a buggy writer or an
//! attacker writes consistent checksums): the quantizer's dimensions, checked against the index and
//! bounded before its rotation (O(dims³)) is rebuilt; the graph's own node count; unique live ids;
//! and `CURRENT`, the log and the partial sidecar as FIFOs, devices, directories or huge files.
//! Each case prints what it gave; docs/reliability.md quotes the figures.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ember_core::store::{encode_ids, SectionKind};
use ember_core::Prefixes;
use ember_core::{Error, Index, IndexConfig, Passage, Task, VectorStorage};
use ember_tests::damage::{open_and_use, rewrite_segment, Watchdog};
use ember_tests::{read_only, synthetic_passages, temp_dir, HashEmbedder};

/// Refusals of crafted headers must take well under a second: the rotation of 1,024 dimensions,
/// the largest accepted, takes about 0.2 s here, and a claim refused before it takes microseconds.
const FAST: Duration = Duration::from_millis(100);

/// An index of `n` synthetic passages (64 dimensions) in a fresh directory; its segment's path.
fn fixture(name: &str, n: usize) -> (PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let config = IndexConfig { vectors: VectorStorage::None, ..IndexConfig::default() };
    if n == 0 {
        drop(Index::create(&dir, "hash-64", &Prefixes::default(), 64, &config).unwrap());
    } else {
        drop(
            Index::build(&dir, &HashEmbedder::new(64), &synthetic_passages(n), &config, &Task::none())
                .unwrap(),
        );
    }
    let segment = dir.join(std::fs::read_to_string(dir.join("CURRENT")).unwrap().trim());
    (dir, segment)
}

/// A rotation-only quantizer section claiming `dim` dimensions: 24 header bytes, `dim` f32 means.
fn rotation_only(dim: u32, dims: u32) -> Vec<u8> {
    let mut q: Vec<u8> = [dim, dims, 1, 0, 7, 0].iter().flat_map(|w| w.to_le_bytes()).collect();
    q.resize(24 + 4 * dim as usize, 0);
    q
}

/// The meta JSON with `dim` and `code_dims` replaced.
fn meta_with_dims(meta: &[u8], dim: usize, code_dims: usize) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(meta).unwrap();
    v["dim"] = dim.into();
    v["code_dims"] = code_dims.into();
    serde_json::to_vec(&v).unwrap()
}

/// `segment` (an empty index) rewritten to claim `dims` dimensions consistently: a rotation-only
/// quantizer of that width and a meta that agrees.
fn consistent_dims(segment: &Path, dims: u32) -> Vec<u8> {
    rewrite_segment(segment, |k, body| match k {
        SectionKind::Quantizer => Some(rotation_only(dims, dims)),
        SectionKind::Meta => Some(meta_with_dims(body, dims as usize, dims as usize)),
        _ => None,
    })
    .unwrap()
}

fn describe(r: &ember_core::Result<Index>) -> String {
    match r {
        Ok(_) => "opened".into(),
        Err(e) => format!("refused: {e}"),
    }
}

#[test]
fn quantizer_claims_are_refused_before_the_rotation() {
    let watchdog = Watchdog::new("quantizer claims", Duration::from_secs(60));
    let (dir, segment) = fixture("open-quantizer", 200);
    let (empty_dir, empty_segment) = fixture("open-quantizer-empty", 0);
    let good = std::fs::read(&segment).unwrap();
    let good_empty = std::fs::read(&empty_segment).unwrap();
    type Craft = (&'static str, bool, Box<dyn Fn() -> Vec<u8>>);
    let (seg, eseg) = (segment.clone(), empty_segment.clone());
    let cases: Vec<Craft> = vec![
        // Before the fix, this rebuilt a 1,024-dimension rotation (0.65–1.9 s, 8 MiB) before
        // comparing the dimension with the meta's: within the cap, so only the order refuses it.
        (
            "dim = dims = 1024 in a 4 KB section, meta says 64",
            false,
            Box::new({
                let seg = seg.clone();
                move || {
                    rewrite_segment(&seg, |k, _| {
                        (k == SectionKind::Quantizer).then(|| rotation_only(1024, 1024))
                    })
                    .unwrap()
                }
            }),
        ),
        // Before the fix, this rebuilt a 4,096-dimension rotation (about two minutes, 128 MiB).
        (
            "dim = dims = 4096 in a 16 KB section, meta says 64",
            false,
            Box::new(move || {
                rewrite_segment(&seg, |k, _| (k == SectionKind::Quantizer).then(|| rotation_only(4096, 4096)))
                    .unwrap()
            }),
        ),
        (
            "empty index, dim = dims = 4096 everywhere (consistent but over the cap)",
            true,
            Box::new({
                let eseg = eseg.clone();
                move || consistent_dims(&eseg, 4096)
            }),
        ),
        (
            "empty index, dim = dims = 1032 (one step over the cap)",
            true,
            Box::new({
                let eseg = eseg.clone();
                move || consistent_dims(&eseg, 1032)
            }),
        ),
        (
            "dim = dims = 2^31 (section far too short for it)",
            false,
            Box::new({
                let seg = segment.clone();
                move || {
                    rewrite_segment(&seg, |k, body| {
                        (k == SectionKind::Quantizer).then(|| {
                            let mut q = body.to_vec();
                            q[..8].copy_from_slice(&[0, 0, 0, 0x80, 0, 0, 0, 0x80]);
                            q
                        })
                    })
                    .unwrap()
                }
            }),
        ),
        (
            "code dims 64 → 1024 in the meta only (codes sized for 64)",
            false,
            Box::new({
                let seg = segment.clone();
                move || {
                    rewrite_segment(&seg, |k, body| {
                        (k == SectionKind::Meta).then(|| meta_with_dims(body, 64, 1024))
                    })
                    .unwrap()
                }
            }),
        ),
    ];
    for (what, empty, craft) in &cases {
        watchdog.tick();
        let (d, s) = if *empty { (&empty_dir, &empty_segment) } else { (&dir, &segment) };
        // Each case starts from the intact segment.
        std::fs::write(&segment, &good).unwrap();
        std::fs::write(&empty_segment, &good_empty).unwrap();
        std::fs::write(s, craft()).unwrap();
        let start = Instant::now();
        let r = Index::open_with(d, read_only());
        let took = start.elapsed();
        println!("open_checks: quantizer: {what}: {} in {:.3} ms", describe(&r), took.as_secs_f64() * 1e3);
        assert!(matches!(r, Err(Error::Corrupt(_))), "{what}: {}", describe(&r));
        assert!(took < FAST, "{what}: took {took:?}");
    }
    // The largest accepted shape: an empty index of 1,024 dimensions, rotation only, consistent.
    // It opens, and pays the one rotation a legitimate index of that width pays.
    watchdog.tick();
    std::fs::write(&empty_segment, consistent_dims(&empty_segment, 1024)).unwrap();
    let start = Instant::now();
    let r = Index::open_with(&empty_dir, read_only());
    println!(
        "open_checks: quantizer: empty index of 1,024 dimensions (largest accepted): {} in {:.0} ms",
        describe(&r),
        start.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(r.unwrap().dim(), 1024);
    // And the untouched fixtures still open.
    std::fs::write(&segment, &good).unwrap();
    std::fs::write(&empty_segment, &good_empty).unwrap();
    assert!(open_and_use(&dir).opened());
    assert!(open_and_use(&empty_dir).opened());
    // Building refuses code dimensions over the cap instead of writing what no open would accept.
    let wide = temp_dir("open-quantizer-wide");
    let r = Index::create(&wide, "wide", &Prefixes::default(), 1032, &IndexConfig::default());
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{:?}", r.map(|_| ()));
}

#[test]
fn graph_node_count_must_match_the_passages() {
    let (dir, segment) = fixture("open-graph-nodes", 200);
    let mut refused = 0;
    for claim in [0u32, 1, 199, 201, 1 << 20, u32::MAX] {
        let image = rewrite_segment(&segment, |k, body| {
            (k == SectionKind::GraphBlocks).then(|| {
                let mut b = body.to_vec();
                b[4..8].copy_from_slice(&claim.to_le_bytes());
                b
            })
        })
        .unwrap();
        std::fs::write(&segment, image).unwrap();
        let r = Index::open_with(&dir, read_only());
        println!("open_checks: graph header claims {claim} nodes for 200 passages: {}", describe(&r));
        assert!(matches!(r, Err(Error::Corrupt(_))), "claim {claim}: {}", describe(&r));
        refused += 1;
    }
    let image = rewrite_segment(&segment, |k, body| {
        (k == SectionKind::GraphBlocks).then(|| {
            let mut b = body.to_vec();
            b[4..8].copy_from_slice(&200u32.to_le_bytes());
            b
        })
    })
    .unwrap();
    std::fs::write(&segment, image).unwrap();
    assert!(open_and_use(&dir).opened(), "the true count must open");
    println!("open_checks: graph node count: {refused} wrong claims refused, the true one opens");
}

#[test]
fn live_ids_must_be_unique() {
    let (dir, segment) = fixture("open-dup-ids", 200);
    let good = std::fs::read(&segment).unwrap();
    let ids: Vec<String> = Index::open_with(&dir, read_only()).unwrap().ids().unwrap();
    // Internal order is the locality order, not p0, p1, ...: duplicate by position.
    let with_dups = |pairs: &[(usize, usize)]| -> Vec<u8> {
        let mut dup = ids.clone();
        for &(from, to) in pairs {
            dup[to] = dup[from].clone();
        }
        let refs: Vec<&str> = dup.iter().map(String::as_str).collect();
        rewrite_segment(&segment, |k, _| (k == SectionKind::Ids).then(|| encode_ids(&refs))).unwrap()
    };
    let mut refused = 0;
    for pairs in [vec![(0, 1)], vec![(5, 199)], vec![(17, 16)], vec![(3, 100), (4, 101)]] {
        std::fs::write(&segment, with_dups(&pairs)).unwrap();
        let r = Index::open_with(&dir, read_only());
        println!("open_checks: ids: live passages {pairs:?} share an id: {}", describe(&r));
        assert!(matches!(r, Err(Error::Corrupt(_))), "{pairs:?}: {}", describe(&r));
        refused += 1;
    }
    std::fs::write(&segment, &good).unwrap();
    // A deleted passage may share its id with a live one: that is what a committed update leaves.
    let index = Index::open(&dir).unwrap();
    let e = HashEmbedder::new(64);
    index.update(&[Passage::new(ids[7].clone(), "graph flash battery")], &e, &Task::none()).unwrap();
    index.commit().unwrap();
    drop(index);
    let index = Index::open_with(&dir, read_only()).unwrap();
    assert_eq!(index.len(), 200);
    assert_eq!(index.get(&ids[7]).unwrap().unwrap().text, "graph flash battery");
    println!(
        "open_checks: ids: {refused} segments with duplicate live ids refused; a tombstone's id may repeat"
    );
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("this test needs the `mkfifo` command (coreutils): {e}"));
    assert!(status.success(), "mkfifo failed");
}

/// `CURRENT`, the log and the partial sidecar are read whole: anything but a small regular file
/// must be refused before it is opened (a FIFO blocks its opener until a writer comes, a device
/// never ends).
#[test]
fn current_and_log_must_be_regular_files() {
    let watchdog = Watchdog::new("special files", Duration::from_secs(20));
    let (dir, segment) = fixture("open-current-special", 50);
    let current = dir.join("CURRENT");
    let name = std::fs::read_to_string(&current).unwrap();
    let mut cases = 0;
    let mut check = |what: &str, r: ember_core::Result<Index>| {
        println!("open_checks: {what}: {}", describe(&r));
        assert!(matches!(r, Err(Error::Corrupt(_))), "{what}: {}", describe(&r));
        cases += 1;
    };
    // CURRENT as a FIFO, read-only and read-write.
    std::fs::remove_file(&current).unwrap();
    mkfifo(&current);
    watchdog.tick();
    check("CURRENT is a FIFO (read-only open)", Index::open_with(&dir, read_only()));
    watchdog.tick();
    check("CURRENT is a FIFO (read-write open)", Index::open(&dir));
    std::fs::remove_file(&current).unwrap();
    // A symlink to a device, a directory, a huge file.
    std::os::unix::fs::symlink("/dev/zero", &current).unwrap();
    watchdog.tick();
    check("CURRENT is a symlink to /dev/zero", Index::open_with(&dir, read_only()));
    std::fs::remove_file(&current).unwrap();
    std::fs::create_dir(&current).unwrap();
    check("CURRENT is a directory", Index::open_with(&dir, read_only()));
    std::fs::remove_dir(&current).unwrap();
    let mut huge = name.clone().into_bytes();
    huge.resize(64 << 20, b' ');
    std::fs::write(&current, &huge).unwrap();
    let start = Instant::now();
    check("CURRENT is 64 MiB (a valid name, then spaces)", Index::open_with(&dir, read_only()));
    assert!(start.elapsed() < FAST, "a huge CURRENT must be refused by its size, not read");
    std::fs::write(&current, &name).unwrap();
    // The log as a FIFO and as a device.
    let wal = dir.join("wal-000001.log");
    mkfifo(&wal);
    watchdog.tick();
    check("the log is a FIFO (read-only open)", Index::open_with(&dir, read_only()));
    watchdog.tick();
    check("the log is a FIFO (read-write open)", Index::open(&dir));
    std::fs::remove_file(&wal).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &wal).unwrap();
    watchdog.tick();
    check("the log is a symlink to /dev/zero", Index::open_with(&dir, read_only()));
    std::fs::remove_file(&wal).unwrap();
    // A FIFO where a partial sidecar would be: materializing removes it, never opens it.
    let index = Index::open(&dir).unwrap();
    let partial = dir.join("vectors-000001.partial");
    mkfifo(&partial);
    watchdog.tick();
    index.materialize_vectors(&HashEmbedder::new(64), ember_core::Precision::F16, &Task::none()).unwrap();
    assert!(index.sidecar_status().is_ok());
    assert!(!partial.exists());
    drop(index);
    assert!(open_and_use(&dir).opened());
    assert!(segment.exists());
    println!(
        "open_checks: special files: {cases} refused, none waited on; a FIFO partial sidecar is replaced"
    );
}
