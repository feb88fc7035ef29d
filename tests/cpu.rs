//! A search's `cpu_ms` against the process CPU time (getrusage) around it, with the real L3 model
//! on two threads, a cold cache and 50 candidates re-embedded: within 10%. Its own test binary
//! with one test, so no other test thread's CPU time lands in the process figure. Also: the
//! writes report their cost, and `Mode::Auto` on battery learns that recompute is over a small
//! budget.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use ember_core::cpu::process_cpu_ns;
use ember_core::{
    DeviceState, EmbedderConfig, Index, IndexConfig, Mode, OnnxEmbedder, OpenOptions, Passage, Policy,
    SearchOptions, Task,
};
use ember_tests::{l3, read_jsonl, shared_data, temp_dir};

#[test]
fn cpu_ms_matches_process_cpu_time() {
    let corpus = read_jsonl(&shared_data("manpages").join("corpus.jsonl"));
    let passages: Vec<Passage> =
        corpus.iter().take(600).map(|r| Passage::new(r["_id"].clone(), r["text"].clone())).collect();
    let threads = EmbedderConfig { threads: 2, ..EmbedderConfig::default() };
    let e = OnnxEmbedder::load(l3(), &threads).unwrap();
    let dir = temp_dir("cpu-vs-rusage");
    let (built, rest) = passages.split_at(500);
    drop(Index::build(&dir, &e, built, &IndexConfig::default(), &Task::none()).unwrap());
    let budget = Policy { battery_query_budget_mj: Some(1.0), ..Policy::default() };
    let index =
        Index::open_with(&dir, OpenOptions { cache_bytes: 0, policy: budget, ..OpenOptions::default() })
            .unwrap();
    // Rerank 50: a fixed workload, whatever effort the build measured.
    let opts = SearchOptions { k: 10, mode: Mode::Recompute, rerank: Some(50), ..SearchOptions::default() };
    // Warm up: tract compiles a plan per batch shape on first use.
    index.search_text("list directory contents", &e, &opts).unwrap();

    let mut worst: f64 = 0.0;
    for query in ["copy files and directories", "show the manual of a command", "change file permissions"] {
        let before = process_cpu_ns().unwrap();
        let (report, _) = index.search_text(query, &e, &opts).unwrap();
        let rusage_ms = (process_cpu_ns().unwrap() - before) as f64 / 1e6;
        let cpu_ms = report.cpu_ms.expect("Linux has per-thread CPU clocks");
        assert_eq!(report.reembedded, 50);
        assert!(rusage_ms > 5.0, "the search did too little work to compare: {rusage_ms} ms");
        let ratio = cpu_ms / rusage_ms;
        eprintln!("{query}: cpu_ms {cpu_ms:.2}, getrusage {rusage_ms:.2} ms, ratio {ratio:.3}");
        assert!((0.9..=1.1).contains(&ratio), "cpu_ms {cpu_ms} against getrusage {rusage_ms} ms");
        let mj = report.energy_mj.unwrap();
        assert!((mj - Policy::default().energy.energy_mj(cpu_ms)).abs() < 1e-9, "{mj}");
        worst = worst.max((ratio - 1.0).abs());
    }
    eprintln!("worst deviation {:.1}%", worst * 100.0);

    // Writes report what they cost, every thread's time included.
    let before = process_cpu_ns().unwrap();
    index.add(rest, &e, &Task::none()).unwrap();
    let rusage_ms = (process_cpu_ns().unwrap() - before) as f64 / 1e6;
    let cost = index.last_write_cost().unwrap();
    let ratio = cost.cpu_ms.unwrap() / rusage_ms;
    eprintln!("add of {}: cpu_ms {:?}, getrusage {rusage_ms:.2} ms", rest.len(), cost.cpu_ms);
    assert!((0.9..=1.1).contains(&ratio), "add: {cost:?} against getrusage {rusage_ms} ms");

    // On battery with a 1 mJ budget, Auto has measured recompute (tens of mJ) and falls to codes.
    index
        .set_device_state(DeviceState {
            battery_percent: 80,
            charging: false,
            low_power_mode: false,
            free_storage_bytes: 1 << 40,
        })
        .unwrap();
    let auto = SearchOptions { mode: Mode::Auto, ..opts };
    let (report, _) = index.search_text("remove files", &e, &auto).unwrap();
    assert_eq!(report.mode, Mode::CodesOnly, "{}", report.reason);
    assert!(report.reason.contains("over the 1 mJ budget"), "{}", report.reason);
    assert!(index.mode_costs().recompute.searches >= 4, "{:?}", index.mode_costs());
}
