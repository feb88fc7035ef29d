//! Resources an app does not control: an index directory it may not write (permissions, a file
//! system gone read-only), index files deleted or replaced while an index is open, and a cache
//! budget of zero. (A full disk is `crash.rs`.) Every failure must be a typed error, and nothing
//! acknowledged may be lost. Each test prints its counts; docs/reliability.md quotes them.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use ember_core::store::{Fault, FaultyStorage};
use ember_core::TextKind;
use ember_core::{
    Embedder, Error, Index, IndexConfig, Mode, OpenOptions, Passage, Precision, SearchOptions, Task,
    VectorStorage,
};
use ember_tests::{copy_dir, live_state, read_only, synthetic_passages, temp_dir, HashEmbedder};

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Make the directory and its files read-only (0555 / 0444), or writable again (0755 / 0644).
fn set_writable(dir: &Path, writable: bool) {
    for f in std::fs::read_dir(dir).unwrap() {
        chmod(&f.unwrap().path(), if writable { 0o644 } else { 0o444 });
    }
    chmod(dir, if writable { 0o755 } else { 0o555 });
}

/// Whether this process is refused writes to a 0555 directory (not so for root, or with
/// CAP_DAC_OVERRIDE, where permission bits are not enforced).
fn permissions_enforced() -> bool {
    let probe = temp_dir("resources-probe");
    std::fs::create_dir_all(&probe).unwrap();
    chmod(&probe, 0o555);
    let refused = std::fs::write(probe.join("x"), b"x").is_err();
    chmod(&probe, 0o755);
    let _ = std::fs::remove_dir_all(&probe);
    refused
}

fn assert_read_only<T: std::fmt::Debug>(what: &str, r: ember_core::Result<T>) {
    assert!(matches!(r, Err(Error::ReadOnly { .. })), "{what}: expected ReadOnly, got {r:?}");
    println!("resources: read-only: {what}: ReadOnly");
}

fn more(from: usize, to: usize) -> Vec<Passage> {
    synthetic_passages(to)[from..].to_vec()
}

/// The whole read-only story, where permission bits are enforced.
fn read_only_scenario() {
    let e = HashEmbedder::new(64);
    let dir = temp_dir("resources-ro");
    let index =
        Index::build(&dir, &e, &synthetic_passages(60), &IndexConfig::default(), &Task::none()).unwrap();
    // Acknowledged changes still in the log, not yet in a segment.
    index.add(&more(60, 70), &e, &Task::none()).unwrap();
    index.delete(&["p3".into(), "p61".into()]).unwrap();
    let acked = live_state(&index);
    drop(index);

    // 1. A read-only directory and files: a read-write open is refused as ReadOnly (not a generic
    //    I/O error, not a silent fallback); a read-only open works and sees everything acknowledged.
    set_writable(&dir, false);
    assert_read_only("read-write open of a 0555 directory with 0444 files", Index::open(&dir).map(|_| ()));
    let reader = Index::open_with(&dir, read_only()).unwrap();
    assert_eq!(live_state(&reader), acked, "read-only open lost acknowledged passages");
    let q = e.embed(&["battery flash storage"], TextKind::Query).unwrap().remove(0);
    let opts = SearchOptions { k: 5, mode: Mode::Recompute, ..SearchOptions::default() };
    assert_eq!(reader.search(&q, Some(&e), &opts).unwrap().hits.len(), 5);
    assert_read_only("add on a read-only handle", reader.add(&more(80, 81), &e, &Task::none()));
    assert_read_only("delete on a read-only handle", reader.delete(&["p1".into()]));
    assert_read_only("commit on a read-only handle", reader.commit());
    assert_read_only("compact on a read-only handle", reader.compact(&Task::none()));
    assert_read_only(
        "materialize on a read-only handle",
        reader.materialize_vectors(&e, Precision::F16, &Task::none()),
    );
    drop(reader);
    // Building into a directory that cannot be written.
    let sub = dir.join("sub");
    assert_read_only(
        "build inside a read-only directory",
        Index::build(&sub, &e, &synthetic_passages(5), &IndexConfig::default(), &Task::none()).map(|_| ()),
    );
    set_writable(&dir, true);
    assert_eq!(live_state(&Index::open(&dir).unwrap()), acked);

    // 2. Writable at open, read-only later (a volume remounted read-only): every write is ReadOnly,
    //    memory is unchanged, and once writable again the same handle works and nothing is lost.
    let index = Index::open(&dir).unwrap();
    set_writable(&dir, false);
    assert_read_only("add after the directory turned read-only", index.add(&more(70, 75), &e, &Task::none()));
    assert_eq!(live_state(&index), acked, "a refused add changed what searches see");
    assert_read_only("delete after the directory turned read-only", index.delete(&["p5".into()]));
    assert_read_only("commit after the directory turned read-only", index.commit());
    assert_read_only(
        "materialize after the directory turned read-only",
        index.materialize_vectors(&e, Precision::F16, &Task::none()),
    );
    assert_eq!(live_state(&index), acked);
    set_writable(&dir, true);
    index.add(&more(70, 75), &e, &Task::none()).unwrap();
    index.commit().unwrap();
    let after = live_state(&index);
    drop(index);
    assert_eq!(live_state(&Index::open(&dir).unwrap()), after);
    assert_eq!(after.len(), acked.len() + 5);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A read-only index directory, with permissions really enforced: in this process, or (as root,
/// who bypasses permission bits) in a child process running this test as `nobody`.
#[test]
fn read_only_directory() {
    if permissions_enforced() {
        read_only_scenario();
        println!("resources: read-only directory: checked with enforced permissions");
        return;
    }
    // Permission bits do not bind this process (root): rerun this very test as nobody.
    assert!(
        std::env::var_os("EMBER_RESOURCES_CHILD").is_none(),
        "the child cannot enforce permissions either"
    );
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(&exe)
        .args(["read_only_directory", "--exact", "--nocapture", "--test-threads", "1"])
        .env("EMBER_RESOURCES_CHILD", "1")
        .env("TMPDIR", "/tmp")
        .uid(65534)
        .gid(65534)
        .output();
    match out {
        Ok(out) if out.status.success() => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            println!("resources: read-only directory: checked as uid 65534 in a child (this process bypasses permissions)");
        }
        Ok(out) => panic!(
            "the read-only scenario failed as uid 65534:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        // No CAP_SETUID, or the test binary is not reachable by nobody: the permission half cannot
        // run here. The read-only file system half (`read_only_file_system_at_every_write`) still runs.
        Err(e) => println!(
            "resources: read-only directory: SKIPPED the permission check: this process ignores permission \
             bits and cannot run a child as uid 65534 ({e}); read_only_file_system_at_every_write covers ReadOnly"
        ),
    }
}

type Op = fn(&Index, &HashEmbedder) -> ember_core::Result<()>;

/// The file system turns read-only at each write, fsync, rename and remove of every operation in
/// turn (as ext4 does after an I/O error, or a write-protected SD card): the call fails with
/// `ReadOnly`, memory keeps the old state, and the directory reopens to the old state, or to the
/// new one only if the call returned Ok.
#[test]
fn read_only_file_system_at_every_write() {
    let e = HashEmbedder::new(64);
    let template = temp_dir("resources-rofs-template");
    let config = IndexConfig { code_dims: 32, vectors: VectorStorage::F16, ..IndexConfig::default() };
    let index = Index::build(&template, &e, &synthetic_passages(50), &config, &Task::none()).unwrap();
    index.add(&more(50, 55), &e, &Task::none()).unwrap();
    index.delete(&["p2".into()]).unwrap();
    drop(index);
    let ops: Vec<(&str, Op)> = vec![
        ("add", |i, e| i.add(&more(60, 64), e, &Task::none())),
        ("update", |i, e| i.update(&[Passage::new("p7", "swift kotlin")], e, &Task::none())),
        ("delete", |i, _| i.delete(&["p1".into(), "p52".into()]).map(|_| ())),
        ("commit", |i, _| i.commit()),
        ("compact", |i, _| i.compact(&Task::none())),
        ("evict", |i, _| i.evict_vectors()),
    ];
    let mut points = 0;
    for (name, op) in ops {
        let expect_dir = temp_dir("resources-rofs-expected");
        copy_dir(&template, &expect_dir);
        let index = Index::open(&expect_dir).unwrap();
        let old = live_state(&index);
        op(&index, &e).unwrap();
        let new = live_state(&index);
        drop(index);
        let dir = temp_dir("resources-rofs-run");
        let mut n = 0u64;
        loop {
            copy_dir(&template, &dir);
            let storage = Arc::new(FaultyStorage::new(Some(n), Fault::ReadOnly));
            let opened =
                Index::open_with(&dir, OpenOptions { storage: storage.clone(), ..OpenOptions::default() });
            let index = opened.unwrap_or_else(|err| panic!("{name}: open failed: {err}"));
            let result = op(&index, &e);
            let reached = storage.ops() > n;
            match &result {
                Ok(()) => assert_eq!(live_state(&index), new, "{name}: read-only from op {n}"),
                Err(Error::ReadOnly { .. }) => {
                    assert_eq!(live_state(&index), old, "{name}: read-only from op {n}: memory changed")
                }
                Err(other) => panic!("{name}: read-only from op {n} gave {other}"),
            }
            drop(index);
            let got = live_state(&Index::open_with(&dir, read_only()).unwrap());
            if result.is_ok() {
                assert_eq!(got, new, "{name}: read-only from op {n}: acknowledged change lost");
            } else {
                assert!(got == old || got == new, "{name}: read-only from op {n}: neither old nor new state");
            }
            if !reached {
                break;
            }
            points += 1;
            n += 1;
        }
        println!("resources: read-only file system: {name}: {n} points");
    }
    println!("resources: read-only file system: {points} points injected");
    assert!(points >= 10, "only {points} storage operations seen");
}

/// Hits of searches in several modes, as (id, score bits), for exact comparison.
type Answers = Vec<Vec<(String, u32)>>;

/// Hits of a search in each mode.
fn searches(index: &Index, e: &HashEmbedder, stored: bool) -> Answers {
    let mut modes = vec![Mode::CodesOnly, Mode::Recompute];
    if stored {
        modes.push(Mode::StoredRerank);
    }
    let mut out = Vec::new();
    for text in ["battery flash storage", "graph vector phone", "offline private index"] {
        let q = e.embed(&[text], TextKind::Query).unwrap().remove(0);
        for &mode in &modes {
            let opts = SearchOptions { k: 5, mode, ..SearchOptions::default() };
            let r = index.search(&q, Some(e), &opts).unwrap_or_else(|err| panic!("{mode:?}: {err}"));
            out.push(r.hits.iter().map(|h| (h.id.clone(), h.score.to_bits())).collect());
        }
    }
    out
}

/// Published files (segments and sidecars) are never changed in place: an opened file keeps its
/// length and bytes for as long as anyone holds it, deleted or not. That is what makes mapping
/// them safe (a file truncated under a mapping raises SIGBUS).
#[derive(Default)]
struct Published {
    held: HashMap<(u64, u64), (String, std::fs::File, Vec<u8>)>,
}

impl Published {
    /// Hold every segment and sidecar now in `dir`, and check every file held so far is unchanged.
    fn check(&mut self, dir: &Path, step: &str) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.starts_with("segment-") || name.starts_with("vectors-")) || !name.ends_with(".ember") {
                continue;
            }
            let Ok(mut file) = std::fs::File::open(&path) else { continue };
            let meta = file.metadata().unwrap();
            self.held.entry((meta.dev(), meta.ino())).or_insert_with(|| {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).unwrap();
                (name, file, bytes)
            });
        }
        for (name, file, bytes) in self.held.values_mut() {
            let mut now = Vec::new();
            file.rewind().unwrap();
            file.read_to_end(&mut now).unwrap();
            assert!(now == *bytes, "{step}: published file {name} was modified in place");
        }
    }
}

/// Files deleted or renamed over while an index is open: the open handle keeps searching its
/// mapped files (the old inodes), a fresh open sees the directory's new state or a typed error.
/// And Ember's own writes (commit, compact, evict, materialize) never modify a mapped file in place,
/// with a reader searching through all of them.
#[test]
fn files_deleted_or_replaced_while_open() {
    let e = HashEmbedder::new(64);
    let config = IndexConfig { vectors: VectorStorage::F16, ..IndexConfig::default() };
    let dir = temp_dir("resources-replaced");
    drop(Index::build(&dir, &e, &synthetic_passages(200), &config, &Task::none()).unwrap());
    let reader = Index::open_with(&dir, read_only()).unwrap();
    let baseline = searches(&reader, &e, true);
    let baseline_state = live_state(&reader);

    // Another index renamed over the files, one at a time (as a sync tool or a restore would).
    let other = temp_dir("resources-replaced-other");
    let other_passages: Vec<Passage> = synthetic_passages(130)[30..]
        .iter()
        .map(|p| Passage::new(format!("o-{}", p.id), p.text.clone()))
        .collect();
    drop(Index::build(&other, &e, &other_passages, &config, &Task::none()).unwrap());
    let other_state = live_state(&Index::open_with(&other, read_only()).unwrap());
    for name in ["segment-000001.ember", "vectors-000001.ember", "CURRENT"] {
        std::fs::copy(other.join(name), dir.join(format!(".{name}.incoming"))).unwrap();
        std::fs::rename(dir.join(format!(".{name}.incoming")), dir.join(name)).unwrap();
        assert_eq!(searches(&reader, &e, true), baseline, "searches changed after {name} was replaced");
    }
    let fresh = Index::open_with(&dir, read_only()).unwrap();
    assert_eq!(live_state(&fresh), other_state, "a fresh open must see the new files");
    assert!(fresh.sidecar_status().is_ok());
    drop(fresh);
    // Only the segment replaced again (the old sidecar stays): the sidecar no longer matches, the
    // index opens without it, and stored mode is a typed error.
    let mine = temp_dir("resources-replaced-mine");
    drop(Index::build(&mine, &e, &synthetic_passages(80), &config, &Task::none()).unwrap());
    std::fs::copy(mine.join("segment-000001.ember"), dir.join(".incoming")).unwrap();
    std::fs::rename(dir.join(".incoming"), dir.join("segment-000001.ember")).unwrap();
    let fresh = Index::open_with(&dir, read_only()).unwrap();
    assert_eq!(fresh.len(), 80);
    assert!(fresh.sidecar_status().is_err(), "a sidecar of another segment was accepted");
    let q = e.embed(&["battery"], TextKind::Query).unwrap().remove(0);
    let stored = SearchOptions { k: 3, mode: Mode::StoredRerank, ..SearchOptions::default() };
    assert!(matches!(fresh.search(&q, Some(&e), &stored), Err(Error::InvalidArgument(_))));
    assert_eq!(searches(&reader, &e, true), baseline);
    drop(fresh);
    println!("resources: replaced: renamed over one by one: the open handle searches on; a fresh open sees the new state");

    // Everything deleted under the reader.
    for f in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    assert_eq!(searches(&reader, &e, true), baseline, "searches changed after the files were deleted");
    assert_eq!(live_state(&reader), baseline_state);
    let r = Index::open_with(&dir, read_only());
    assert!(matches!(r, Err(Error::Missing { .. })), "{:?}", r.map(|_| ()));
    println!("resources: replaced: all files deleted: the open handle searches on; a fresh open is Missing");

    // Ember's own writes under a reader of every generation: a writer adds, commits, materializes,
    // evicts and compacts, removing the files earlier readers map. Readers keep their answers, no
    // published file is ever modified in place, and a fresh open always sees the writer's state.
    let dir = temp_dir("resources-own-writes");
    let writer = Index::build(&dir, &e, &synthetic_passages(100), &config, &Task::none()).unwrap();
    let mut published = Published::default();
    let mut readers: Vec<(Index, Answers, bool)> = Vec::new();
    type Step<'a> = (&'static str, Box<dyn Fn(&Index) + 'a>);
    let steps: Vec<Step> = vec![
        ("add", Box::new(|w: &Index| w.add(&more(100, 120), &e, &Task::none()).unwrap())),
        ("commit", Box::new(|w: &Index| w.commit().unwrap())),
        ("delete", Box::new(|w: &Index| assert_eq!(w.delete(&["p4".into(), "p110".into()]).unwrap(), 2))),
        ("evict", Box::new(|w: &Index| w.evict_vectors().unwrap())),
        (
            "materialize",
            Box::new(|w: &Index| w.materialize_vectors(&e, Precision::F32, &Task::none()).unwrap()),
        ),
        ("compact", Box::new(|w: &Index| w.compact(&Task::none()).unwrap())),
        (
            "update + commit",
            Box::new(|w: &Index| {
                w.update(&[Passage::new("p9", "kotlin swift")], &e, &Task::none()).unwrap();
                w.commit().unwrap()
            }),
        ),
    ];
    published.check(&dir, "build");
    for (step, run) in &steps {
        let r = Index::open_with(&dir, read_only()).unwrap();
        let stored = r.sidecar_status().is_ok();
        let answers = searches(&r, &e, stored);
        readers.push((r, answers, stored));
        run(&writer);
        published.check(&dir, step);
        for (k, (r, answers, stored)) in readers.iter().enumerate() {
            assert_eq!(&searches(r, &e, *stored), answers, "after {step}: reader {k} changed its answers");
        }
        let fresh = Index::open_with(&dir, read_only()).unwrap();
        assert_eq!(
            live_state(&fresh),
            live_state(&writer),
            "after {step}: a fresh open disagrees with the writer"
        );
    }
    // A torn append, cut by the next writer that opens: the log is truncated in place, but logs
    // are read whole, never mapped, so the readers (which map segments and sidecars) are unaffected.
    writer.add(&more(120, 125), &e, &Task::none()).unwrap();
    let expected = live_state(&writer);
    drop(writer);
    let wal = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .unwrap();
    let whole = std::fs::metadata(&wal).unwrap().len();
    let mut torn = std::fs::OpenOptions::new().append(true).open(&wal).unwrap();
    std::io::Write::write_all(&mut torn, &[40, 0, 0, 0, 9, 9, 9]).unwrap();
    drop(torn);
    let writer = Index::open(&dir).unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), whole, "the torn tail was not cut");
    assert_eq!(live_state(&writer), expected);
    published.check(&dir, "torn tail cut");
    for (k, (r, answers, stored)) in readers.iter().enumerate() {
        assert_eq!(&searches(r, &e, *stored), answers, "after the torn tail was cut: reader {k} changed");
    }
    drop(writer);
    println!(
        "resources: own writes: {} steps and a torn-tail cut, {} readers kept their answers, {} published files \
         never changed in place",
        steps.len(),
        readers.len(),
        published.held.len()
    );
}

/// A recompute search with no cache at all (0 or 1 byte) gives exactly the hits and scores of a
/// search with a warm cache, and re-embeds every candidate every time.
#[test]
fn tiny_cache_in_recompute_mode() {
    let e = HashEmbedder::new(64);
    let dir = temp_dir("resources-cache");
    let config = IndexConfig { vectors: VectorStorage::F32, ..IndexConfig::default() };
    drop(Index::build(&dir, &e, &synthetic_passages(300), &config, &Task::none()).unwrap());
    let queries: Vec<Vec<f32>> = synthetic_passages(330)[300..]
        .iter()
        .map(|p| e.embed(&[p.text.as_str()], TextKind::Query).unwrap().remove(0))
        .collect();
    let run = |index: &Index, mode: Mode| -> (Vec<Vec<(String, f32)>>, usize, usize) {
        let (mut hits, mut reembedded, mut cache_hits) = (Vec::new(), 0, 0);
        // Every query twice: the second run would be served from a cache that kept anything.
        for q in queries.iter().chain(&queries) {
            let opts = SearchOptions { k: 10, mode, ..SearchOptions::default() };
            let r = index.search(q, Some(&e), &opts).unwrap();
            hits.push(r.hits.iter().map(|h| (h.id.clone(), h.score)).collect());
            reembedded += r.reembedded;
            cache_hits += r.cache_hits;
        }
        (hits, reembedded, cache_hits)
    };
    let warm = Index::open_with(&dir, OpenOptions { read_only: true, ..OpenOptions::default() }).unwrap();
    let (reference, warm_embedded, warm_hits) = run(&warm, Mode::Recompute);
    assert!(warm_hits > 0, "the default cache never hit");
    // The same vectors read from the f32 sidecar: recompute must find the same exact scores.
    let (stored, _, _) = run(&warm, Mode::StoredRerank);
    for (a, b) in reference.iter().zip(&stored) {
        let ids = |h: &Vec<(String, f32)>| h.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(ids(a), ids(b), "recompute and stored f32 disagree");
        assert!(a.iter().zip(b).all(|(x, y)| (x.1 - y.1).abs() < 1e-5));
    }
    let mut cases = 0;
    for budget in [0usize, 1, 64] {
        let opened = Index::open_with(
            &dir,
            OpenOptions { read_only: true, cache_bytes: budget, ..OpenOptions::default() },
        )
        .unwrap();
        let set = Index::open_with(&dir, read_only()).unwrap();
        set.set_cache_bytes(budget).unwrap();
        for (how, index) in [("OpenOptions::cache_bytes", &opened), ("set_cache_bytes", &set)] {
            let (hits, reembedded, cache_hits) = run(index, Mode::Recompute);
            assert_eq!(hits, reference, "cache of {budget} bytes ({how}): different results");
            assert_eq!(cache_hits, 0, "cache of {budget} bytes ({how}) served hits");
            assert!(
                reembedded > warm_embedded,
                "cache of {budget} bytes ({how}): re-embedded no more than a warm cache"
            );
            println!(
                "resources: cache of {budget} bytes ({how}): {} searches identical to a warm cache; {reembedded} \
                 passages re-embedded (warm cache: {warm_embedded}), 0 cache hits",
                hits.len()
            );
            cases += hits.len();
        }
    }
    println!("resources: tiny cache: {cases} recompute searches compared, all identical");
}

/// Closing an index and opening it again for writing while another thread starts processes: a
/// child shares the parent's descriptors from fork until exec, the writer lock's included, so a
/// lock released a moment ago can still look busy. Opening must not mistake that for another
/// writer (`Locked`).
#[test]
fn reopening_while_another_thread_starts_processes() {
    let e = HashEmbedder::new(64);
    let dir = temp_dir("resources-fork");
    drop(Index::build(&dir, &e, &synthetic_passages(20), &IndexConfig::default(), &Task::none()).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut spawned = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::process::Command::new("true").status().unwrap();
                spawned += 1;
            }
            spawned
        })
    };
    let rounds = 300;
    for round in 0..rounds {
        let index = Index::open(&dir).unwrap_or_else(|err| panic!("reopen {round}: {err}"));
        assert_eq!(index.len(), 20);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let spawned = spawner.join().unwrap();
    println!("resources: {rounds} read-write reopens while another thread started {spawned} processes: none Locked");
}
