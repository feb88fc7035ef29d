//! The stable fuzz runner (no nightly features, no coverage instrumentation, so it reuses the normal
//! release build): replays a target's corpus, then mutates it blindly (bit flips, interesting
//! integers, insertions, deletions, splices; stacked) for a number of seconds. A panic or an input
//! running longer than `--timeout` seconds is saved under `fuzz/artifacts/TARGET/` and fails the run.
//!
//! ```text
//! fuzz TARGET SECONDS [--seed N] [--timeout S] [CORPUS_DIR_OR_FILE...]   (default corpus: fuzz/corpus/TARGET)
//! fuzz TARGET 0 fuzz/artifacts/TARGET/crash-...                          (replay only)
//! ```
//! scripts/check/fuzz.sh runs it for every target; cargo-fuzz (coverage-guided) is the long-run engine.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ember_core::rng::SplitMix64;
use ember_tests::fuzz::TARGETS;
use ember_tests::workspace;

const MAX_LEN: usize = 1 << 16;

fn usage() -> ! {
    eprintln!("usage: fuzz TARGET SECONDS [--seed N] [--timeout S] [CORPUS_DIR_OR_FILE...]");
    let names: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
    eprintln!("targets: {}", names.join(", "));
    std::process::exit(2)
}

fn load(path: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        entries.sort();
        for p in entries {
            let bytes = std::fs::read(&p).unwrap();
            out.push((p, bytes));
        }
    } else if path.is_file() {
        out.push((path.to_path_buf(), std::fs::read(path).unwrap()));
    } else {
        eprintln!("fuzz: no corpus at {}", path.display());
        std::process::exit(2);
    }
}

/// Save a failing input and end the run.
fn fail(target: &str, kind: &str, input: &[u8], detail: &str) -> ! {
    let dir = workspace().join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{kind}-{:016x}", ember_core::store::checksum(input)));
    std::fs::write(&path, input).unwrap();
    eprintln!("fuzz: {target}: {kind}: {detail}");
    eprintln!("fuzz: input saved to {}", path.display());
    eprintln!("fuzz: replay: target/release/examples/fuzz {target} 0 {}", path.display());
    std::process::exit(1)
}

const INTERESTING_32: [u32; 10] = [0, 1, 2, 7, 8, 64, 255, 0x7fff_ffff, 0x8000_0000, u32::MAX];
const INTERESTING_64: [u64; 6] = [0, 1, 1 << 32, 1 << 40, 1 << 63, u64::MAX];

/// One random edit of `data`.
fn mutate_once(rng: &mut SplitMix64, data: &mut Vec<u8>, corpus: &[(PathBuf, Vec<u8>)]) {
    let len = data.len();
    match rng.below(9) {
        0 | 1 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        2 if len > 0 => {
            let i = rng.below(len);
            data[i] = [0, 1, 0x7f, 0x80, 0xff, rng.next_u64() as u8][rng.below(6)];
        }
        3 if len >= 4 => {
            let i = rng.below(len - 3);
            let v = if rng.below(3) == 0 { rng.next_u64() as u32 } else { INTERESTING_32[rng.below(10)] };
            data[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
        4 if len >= 8 => {
            let i = rng.below(len - 7);
            data[i..i + 8].copy_from_slice(&INTERESTING_64[rng.below(6)].to_le_bytes());
        }
        5 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            data.drain(at..at + n);
        }
        6 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(32);
            let bytes: Vec<u8> = if len > 0 && rng.below(2) == 0 {
                let from = rng.below(len);
                data[from..(from + n).min(len)].to_vec()
            } else {
                (0..n).map(|_| rng.next_u64() as u8).collect()
            };
            data.splice(at..at, bytes);
        }
        7 if !corpus.is_empty() => {
            let other = &corpus[rng.below(corpus.len())].1;
            let at = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            data.truncate(at);
            data.extend_from_slice(&other[from..]);
        }
        _ if len > 0 => {
            let i = rng.below(len);
            data[i] = data[i].wrapping_add(rng.below(33) as u8).wrapping_sub(16);
        }
        _ => data.push(rng.next_u64() as u8),
    }
    data.truncate(MAX_LEN);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else { usage() };
    let Some(&(name, target)) = TARGETS.iter().find(|t| t.0 == name) else { usage() };
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| usage());
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut timeout = 20u64;
    let mut paths = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| usage()),
            "--timeout" => timeout = args.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| usage()),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        paths.push(workspace().join("fuzz/corpus").join(name));
    }
    let mut corpus = Vec::new();
    for p in &paths {
        load(p, &mut corpus);
    }
    if corpus.is_empty() {
        eprintln!("fuzz: {name}: empty corpus");
        std::process::exit(2);
    }

    // The watchdog: an input that runs longer than the timeout is saved as a hang.
    let current = Arc::new(Mutex::new(Vec::<u8>::new()));
    let started_ms = Arc::new(AtomicU64::new(u64::MAX));
    let epoch = Instant::now();
    {
        let (current, started_ms) = (current.clone(), started_ms.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let s = started_ms.load(Ordering::Relaxed);
            let now = epoch.elapsed().as_millis() as u64;
            if s != u64::MAX && now.saturating_sub(s) > timeout * 1000 {
                let input = current.lock().map(|c| c.clone()).unwrap_or_default();
                fail(name, "timeout", &input, &format!("one input ran over {timeout} s"));
            }
        });
    }
    let run = |input: &[u8]| {
        *current.lock().unwrap() = input.to_vec();
        started_ms.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        let result = catch_unwind(AssertUnwindSafe(|| target(input)));
        started_ms.store(u64::MAX, Ordering::Relaxed);
        if let Err(payload) = result {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            fail(name, "crash", input, &format!("panic: {msg}"));
        }
    };

    let start = Instant::now();
    for (_, input) in &corpus {
        run(input);
    }
    let replayed = corpus.len();
    let mut rng = SplitMix64::new(seed);
    let mut parents: Vec<Vec<u8>> = Vec::new();
    let mut execs = 0u64;
    let deadline = Duration::from_secs(seconds);
    while start.elapsed() < deadline {
        // Mostly fresh from the corpus; sometimes keep damaging an earlier mutant (a random walk).
        let mut data = match parents.len() {
            n if n > 0 && rng.below(4) == 0 => parents[rng.below(n)].clone(),
            _ => corpus[rng.below(corpus.len())].1.clone(),
        };
        for _ in 0..1 + rng.below(4) {
            mutate_once(&mut rng, &mut data, &corpus);
        }
        run(&data);
        execs += 1;
        if parents.len() < 256 {
            parents.push(data);
        } else {
            let k = rng.below(parents.len());
            parents[k] = data;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fuzz: {name}: {replayed} corpus inputs replayed, {execs} mutated executions in {secs:.0} s ({:.0}/s), \
         seed {seed}, 0 crashes",
        execs as f64 / secs.max(1e-9)
    );
}
