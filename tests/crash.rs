//! Crash and disk-full injection: every write, fsync, rename and remove of add, delete, update,
//! commit and compact is made to fail in turn. After a crash (with unsynced bytes and names
//! dropped, as a power loss would), the index must reopen to exactly the old or the new state, and
//! to the new one whenever the call had returned Ok. A full disk must give `OutOfSpace` and leave
//! the old state, in memory and on disk (also after a power loss right after it), with the index
//! still usable.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use ember_core::keywords::AnalyzerConfig;
use ember_core::store::{Fault, FaultyStorage};
use ember_core::{
    Error, Index, IndexConfig, OpenOptions, Passage, Retrieval, SearchOptions, Task, Value, VectorStorage,
};
use ember_tests::{copy_dir, live_state, synthetic_passages, temp_dir, HashEmbedder, State};

/// Two starting points: a fresh index (no log yet), and one with a sidecar and a log holding an
/// add, an update and a delete.
fn templates(name: &str, e: &HashEmbedder) -> Vec<std::path::PathBuf> {
    let all = synthetic_passages(120);
    let fresh = temp_dir(&format!("{name}-fresh"));
    let config = IndexConfig { code_dims: 32, ..IndexConfig::default() };
    drop(Index::build(&fresh, e, &all[..40], &config, &Task::none()).unwrap());
    let logged = temp_dir(&format!("{name}-logged"));
    let config = IndexConfig {
        code_dims: 32,
        vectors: VectorStorage::F16,
        keywords: Some(AnalyzerConfig { stem: true }),
        ..IndexConfig::default()
    };
    let index = Index::build(&logged, e, &all[..60], &config, &Task::none()).unwrap();
    index.add(&all[60..70], e, &Task::none()).unwrap();
    index.update(&[Passage::new("p3", "graph graph graph flash")], e, &Task::none()).unwrap();
    index.delete(&["p4".into(), "p61".into()]).unwrap();
    vec![fresh, logged]
}

type Op = fn(&Index, &HashEmbedder) -> ember_core::Result<()>;

fn ops() -> Vec<(&'static str, Op)> {
    vec![
        ("add", |i, e| {
            let mut p = synthetic_passages(90)[80..90].to_vec();
            p[0].metadata.insert("k".into(), Value::Int(1));
            i.add(&p, e, &Task::none())
        }),
        ("update", |i, e| i.update(&[Passage::new("p7", "swift kotlin")], e, &Task::none())),
        ("delete", |i, _| i.delete(&["p1".into(), "p62".into()]).map(|_| ())),
        ("commit", |i, _| i.commit()),
        ("compact", |i, _| i.compact(&Task::none())),
        ("keywords", |i, _| i.build_keywords(AnalyzerConfig { stem: true }, &Task::none())),
    ]
}

/// With a keyword index, a keyword search finds exactly the live passages holding a query word:
/// none lost, none deleted, none twice.
fn assert_keywords_match_texts(index: &Index, case: &str) {
    if index.keyword_status().is_err() {
        return;
    }
    let words = ["swift", "graph"];
    let want: BTreeSet<String> = live_state(index)
        .into_iter()
        .filter(|(_, text)| text.split_whitespace().any(|w| words.contains(&w)))
        .map(|(id, _)| id)
        .collect();
    let opts = SearchOptions { k: 10_000, retrieval: Retrieval::Keywords, ..SearchOptions::default() };
    let report = index.search_query(Some(&words.join(" ")), None, None, &opts).unwrap();
    let got: Vec<String> = report.hits.into_iter().map(|h| h.id).collect();
    let unique: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "{case}: a passage returned twice");
    assert_eq!(unique, want, "{case}: keyword matches differ from the live texts");
}

/// Old and new state of an operation, computed without faults (equal for commit and compact,
/// which change the files, not the passages).
fn expected(template: &Path, e: &HashEmbedder, op: Op) -> (State, State) {
    let dir = temp_dir(&format!("{}-expected", template.display()).replace(['/', '\\'], "_"));
    copy_dir(template, &dir);
    let index = Index::open(&dir).unwrap();
    let old = live_state(&index);
    op(&index, e).unwrap();
    let new = live_state(&index);
    drop(index);
    assert_eq!(live_state(&Index::open(&dir).unwrap()), new);
    (old, new)
}

fn with_faults(dir: &Path, storage: &Arc<FaultyStorage>) -> ember_core::Result<Index> {
    Index::open_with(dir, OpenOptions { storage: storage.clone(), ..OpenOptions::default() })
}

#[test]
fn crash_at_every_write_and_sync_reopens_to_old_or_new() {
    let e = HashEmbedder::new(64);
    let mut injected = 0;
    for template in templates("crash", &e) {
        for (name, op) in ops() {
            let (old, new) = expected(&template, &e, op);
            let dir = temp_dir("crash-run");
            let mut n = 0u64;
            loop {
                copy_dir(&template, &dir);
                let storage = Arc::new(FaultyStorage::new(Some(n), Fault::Crash));
                let acked = match with_faults(&dir, &storage) {
                    Ok(index) => op(&index, &e).is_ok(),
                    Err(_) => false,
                };
                let crashed = storage.crashed();
                storage.power_loss().unwrap();
                let index = Index::open(&dir)
                    .unwrap_or_else(|err| panic!("{name}: crash at op {n}: reopen failed: {err}"));
                let got = live_state(&index);
                assert_keywords_match_texts(&index, &format!("{name}: crash at op {n}"));
                if acked {
                    assert_eq!(got, new, "{name}: crash at op {n}: acknowledged change lost");
                } else {
                    assert!(got == old || got == new, "{name}: crash at op {n}: neither old nor new state");
                }
                // The recovered index takes writes again.
                index
                    .add(&[Passage::new("after-crash", "recovered index takes writes")], &e, &Task::none())
                    .unwrap();
                drop(index);
                assert!(live_state(&Index::open(&dir).unwrap()).iter().any(|(id, _)| id == "after-crash"));
                if !crashed {
                    break;
                }
                injected += 1;
                n += 1;
            }
            println!("{name}: {n} crash points");
            assert!(
                n >= 2 || matches!(name, "commit" | "compact" | "keywords"),
                "{name}: only {n} storage operations"
            );
        }
    }
    println!("crash points injected: {injected}");
}

/// A copy of `template`, `op` failing with a full disk at storage operation `n`, then a power
/// loss (unsynced bytes and names dropped): the state the directory reopens to.
fn after_power_loss(template: &Path, e: &HashEmbedder, op: Op, n: u64) -> State {
    let dir = temp_dir("nospace-power-loss");
    copy_dir(template, &dir);
    let storage = Arc::new(FaultyStorage::new(Some(n), Fault::NoSpace));
    let index = with_faults(&dir, &storage).unwrap();
    assert!(matches!(op(&index, e), Err(Error::OutOfSpace { .. })), "no-space at op {n} is not repeatable");
    drop(index);
    storage.power_loss().unwrap();
    live_state(&Index::open(&dir).unwrap())
}

#[test]
fn disk_full_at_every_write_is_typed_and_loses_nothing() {
    let e = HashEmbedder::new(64);
    let mut injected = 0;
    let mut lost_checks = 0;
    for template in templates("nospace", &e) {
        for (name, op) in ops() {
            let (old, new) = expected(&template, &e, op);
            let dir = temp_dir("nospace-run");
            let mut n = 0u64;
            loop {
                copy_dir(&template, &dir);
                let storage = Arc::new(FaultyStorage::new(Some(n), Fault::NoSpace));
                let index = match with_faults(&dir, &storage) {
                    Ok(index) => index,
                    Err(Error::OutOfSpace { .. }) => {
                        injected += 1;
                        n += 1;
                        continue;
                    }
                    Err(other) => panic!("{name}: open: {other}"),
                };
                let result = op(&index, &e);
                let done = storage.ops() <= n;
                match result {
                    Ok(()) => assert_eq!(live_state(&index), new, "{name}: no-space at op {n}"),
                    Err(Error::OutOfSpace { .. }) => {
                        assert_eq!(live_state(&index), old, "{name}: no-space at op {n}: memory changed");
                        // Everything acknowledged before is on disk right now: a reader opening
                        // the directory beside the failed writer sees exactly the old state.
                        let ro = OpenOptions { read_only: true, ..OpenOptions::default() };
                        assert_eq!(
                            live_state(&Index::open_with(&dir, ro).unwrap()),
                            old,
                            "{name}: no-space at op {n}: acknowledged passages missing on disk"
                        );
                        // And a power loss right after the failure loses none of it either.
                        assert_eq!(
                            after_power_loss(&template, &e, op, n),
                            old,
                            "{name}: no-space at op {n}, then power loss: acknowledged passages lost"
                        );
                        lost_checks += 1;
                        // The disk has room again: the same handle retries and succeeds.
                        op(&index, &e)
                            .unwrap_or_else(|err| panic!("{name}: retry after no-space at op {n}: {err}"));
                        assert_eq!(live_state(&index), new);
                    }
                    Err(other) => panic!("{name}: no-space at op {n} gave {other}"),
                }
                drop(index);
                assert_eq!(
                    live_state(&Index::open(&dir).unwrap()),
                    new,
                    "{name}: no-space at op {n}: reopened state"
                );
                if done {
                    break;
                }
                injected += 1;
                n += 1;
            }
            println!("{name}: {n} no-space points");
        }
    }
    println!("no-space points injected: {injected}");
    println!(
        "no-space failures (OutOfSpace returned): {lost_checks}, each followed by a reader and by a power \
         loss that found every acknowledged passage"
    );
    assert!(lost_checks > 0, "no operation ever failed with OutOfSpace");
}
