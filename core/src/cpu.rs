//! CPU time spent for one call, from per-thread CPU clocks, and an energy estimate from it.
//!
//! Accounting scheme: every CPU-second a call causes is charged to the thread that made the call.
//! - The calling thread reads its own clock (`CLOCK_THREAD_CPUTIME_ID`) at start and end.
//! - Work it hands to helper threads is measured where it is handed over and added to a
//!   thread-local tally of the calling thread:
//!   - the embedders' private pools ([`MeteredPool`]): one call uses the pool at a time, and each
//!     pool thread reads its own clock (a `broadcast`) before and after, so the sum of the deltas
//!     is exactly that call's work, whatever runs on the pool (tract's split matrix products
//!     included, whose work items Ember cannot wrap);
//!   - work items on rayon's global pool ([`Helpers`]): each item reads its own thread's clock
//!     around itself and adds the delta to a per-call counter.
//!
//! A [`Meter`] is the difference of (own clock + tally) between its start and its end, so meters
//! nest and any caller (the CLI, an app) can meter any call. Where no per-thread clock exists the
//! meter reports `None`, never a guess. An app's own embedder that runs on its own threads (an
//! NPU, a Kotlin pool) is counted only for the time the calling thread spends in it.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

/// CPU time of the calling thread, nanoseconds; `None` where no per-thread clock exists.
pub fn thread_cpu_ns() -> Option<u64> {
    imp::thread_cpu_ns()
}

/// CPU time of the whole process (every thread, user and system), nanoseconds, from `getrusage`:
/// the reference a meter is checked against; `None` where unavailable.
pub fn process_cpu_ns() -> Option<u64> {
    imp::process_cpu_ns()
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
mod imp {
    pub fn process_cpu_ns() -> Option<u64> {
        // SAFETY: rusage is plain data; all-zero is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
            return None;
        }
        let ns = |t: libc::timeval| -> Option<u64> {
            let s = u64::try_from(t.tv_sec).ok()?;
            let us = u64::try_from(t.tv_usec).ok()?;
            s.checked_mul(1_000_000_000)?.checked_add(us.checked_mul(1000)?)
        };
        ns(ru.ru_utime)?.checked_add(ns(ru.ru_stime)?)
    }

    pub fn thread_cpu_ns() -> Option<u64> {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the OS defines.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc != 0 {
            return None;
        }
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u64::try_from(ts.tv_nsec).ok()?;
        secs.checked_mul(1_000_000_000)?.checked_add(nanos)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
mod imp {
    pub fn process_cpu_ns() -> Option<u64> {
        None
    }

    pub fn thread_cpu_ns() -> Option<u64> {
        None
    }
}

thread_local! {
    /// CPU nanoseconds helper threads spent for calls made on this thread, ever (only grows, so
    /// nested meters each see their own share).
    static HELPED_NS: Cell<u64> = const { Cell::new(0) };
    /// Set when some helper work could not be measured: meters running across it report `None`.
    static HELPED_LOST: Cell<u64> = const { Cell::new(0) };
}

/// Charge `ns` of helper-thread CPU time to the calling thread's current meters.
fn charge(ns: Option<u64>) {
    match ns {
        Some(ns) => HELPED_NS.with(|h| h.set(h.get().saturating_add(ns))),
        None => HELPED_LOST.with(|l| l.set(l.get().wrapping_add(1))),
    }
}

/// CPU time of one call: this thread's own, plus what helper threads did for it.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    own: Option<u64>,
    helped: u64,
    lost: u64,
}

impl Meter {
    /// Start metering on the calling thread.
    pub fn start() -> Meter {
        Meter { own: thread_cpu_ns(), helped: HELPED_NS.with(Cell::get), lost: HELPED_LOST.with(Cell::get) }
    }

    /// CPU time since `start`, milliseconds; `None` without per-thread clocks or when some
    /// helper's time could not be read. Call it on the thread that started the meter.
    pub fn cpu_ms(&self) -> Option<f64> {
        let now = thread_cpu_ns()?;
        let own = now.checked_sub(self.own?)?;
        if HELPED_LOST.with(Cell::get) != self.lost {
            return None;
        }
        let helped = HELPED_NS.with(Cell::get).saturating_sub(self.helped);
        Some(own.saturating_add(helped) as f64 / 1e6)
    }
}

/// A rayon pool whose threads' CPU time is charged to the call that uses it. One call at a time
/// uses the pool: the pool is CPU-bound, so serialising calls costs no throughput, and it is
/// what makes the pool's clock deltas belong to that call alone.
#[derive(Debug)]
pub struct MeteredPool {
    pool: Arc<rayon::ThreadPool>,
    turn: Mutex<()>,
}

impl MeteredPool {
    /// Wrap a built pool.
    pub fn new(pool: rayon::ThreadPool) -> MeteredPool {
        MeteredPool { pool: Arc::new(pool), turn: Mutex::new(()) }
    }

    /// Run `f` with the pool to itself; its threads' CPU time over `f` is charged to the caller.
    pub fn run<T>(&self, f: impl FnOnce(&Arc<rayon::ThreadPool>) -> T) -> T {
        // The mutex guards no data, only the turn: a panic in another call leaves nothing broken.
        let _turn = self.turn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = self.clocks();
        let out = f(&self.pool);
        let after = self.clocks();
        let spent = before.iter().zip(&after).try_fold(0u64, |sum, (b, a)| {
            let d = a.as_ref()?.checked_sub(*b.as_ref()?)?;
            Some(sum.saturating_add(d))
        });
        charge(spent);
        out
    }

    /// Each pool thread's own CPU clock, by thread index.
    fn clocks(&self) -> Vec<Option<u64>> {
        self.pool.broadcast(|_| thread_cpu_ns())
    }
}

/// Charges the CPU time of work items run on other threads (rayon's global pool) to the thread
/// that created it, when it is dropped.
#[derive(Debug)]
pub struct Helpers {
    owner: ThreadId,
    spent: AtomicU64,
    lost: AtomicBool,
}

impl Helpers {
    /// A tally for the calling thread.
    pub fn new() -> Helpers {
        Helpers { owner: std::thread::current().id(), spent: AtomicU64::new(0), lost: AtomicBool::new(false) }
    }

    /// Run one work item, measuring it when it runs on another thread (on the owner's thread its
    /// time is already in the owner's own clock).
    pub fn item<T>(&self, f: impl FnOnce() -> T) -> T {
        if std::thread::current().id() == self.owner {
            return f();
        }
        let start = thread_cpu_ns();
        let out = f();
        match (start, thread_cpu_ns()) {
            (Some(s), Some(e)) => {
                self.spent.fetch_add(e.saturating_sub(s), Ordering::Relaxed);
            }
            _ => self.lost.store(true, Ordering::Relaxed),
        }
        out
    }
}

impl Default for Helpers {
    fn default() -> Self {
        Helpers::new()
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        // Dropped on another thread (moved away), the charge would land on the wrong tally.
        if std::thread::current().id() == self.owner {
            match self.lost.load(Ordering::Relaxed) {
                true => charge(None),
                false => charge(Some(self.spent.load(Ordering::Relaxed))),
            }
        }
    }
}

/// Joules one CPU-second costs on a device: the energy estimate behind `energy_mj`. CPU clocks do
/// not say which core a thread ran on, so the profile says what share of the time to price as a
/// big core. An estimate, not a measurement: apps with their own measurements set their own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyProfile {
    /// Joules per CPU-second on a big (performance) core at its top frequency.
    pub big_j_per_cpu_s: f64,
    /// Joules per CPU-second on a little (efficiency) core.
    pub little_j_per_cpu_s: f64,
    /// Share of CPU time priced as big-core time, 0 to 1.
    pub big_share: f64,
}

impl EnergyProfile {
    /// A 2017 phone SoC, HiSilicon Kirin 960 (docs/architecture.md, "Energy"): AnandTech measured
    /// +1.03 to +1.24 W per added loaded Cortex-A73 core at 2.36 GHz and +0.23 to +0.30 W per
    /// added Cortex-A53 core at 1.84 GHz. Compute-bound threads run on big cores, hence share 1.
    pub const PHONE: EnergyProfile =
        EnergyProfile { big_j_per_cpu_s: 1.15, little_j_per_cpu_s: 0.26, big_share: 1.0 };
    /// An x86 laptop: a four-core Tiger Lake i7-1185G7 sustains 15 W with all cores loaded
    /// (AnandTech's Tiger Lake review), about 3.75 W a core; one core has no little sibling.
    pub const LAPTOP_X86: EnergyProfile =
        EnergyProfile { big_j_per_cpu_s: 3.75, little_j_per_cpu_s: 3.75, big_share: 1.0 };

    /// The profile for the platform Ember was built for: phone on Android and iOS, laptop elsewhere.
    pub fn platform_default() -> EnergyProfile {
        if cfg!(any(target_os = "android", target_os = "ios")) {
            EnergyProfile::PHONE
        } else {
            EnergyProfile::LAPTOP_X86
        }
    }

    /// Refuse negative or non-finite rates and a share outside [0, 1].
    pub fn check(&self) -> crate::Result<()> {
        let rate = |x: f64| x.is_finite() && x >= 0.0;
        match rate(self.big_j_per_cpu_s)
            && rate(self.little_j_per_cpu_s)
            && (0.0..=1.0).contains(&self.big_share)
        {
            true => Ok(()),
            false => Err(crate::Error::InvalidArgument(format!("energy profile {self:?} is out of range"))),
        }
    }

    /// Estimated millijoules for `cpu_ms` of CPU time (J per s × ms = mJ).
    pub fn energy_mj(&self, cpu_ms: f64) -> f64 {
        let rate = self.big_share * self.big_j_per_cpu_s + (1.0 - self.big_share) * self.little_j_per_cpu_s;
        cpu_ms * rate
    }
}

impl Default for EnergyProfile {
    fn default() -> Self {
        EnergyProfile::platform_default()
    }
}

/// What one call cost: CPU time and the energy estimate from it.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Cost {
    /// CPU time of every thread that worked for the call, milliseconds (`None`: no per-thread clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<f64>,
    /// Estimated energy, millijoules: `cpu_ms` priced by the [`EnergyProfile`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_mj: Option<f64>,
}

impl Cost {
    /// The cost a meter read, priced by `profile`.
    pub fn of(meter: &Meter, profile: &EnergyProfile) -> Cost {
        let cpu_ms = meter.cpu_ms();
        Cost { cpu_ms, energy_mj: cpu_ms.map(|ms| profile.energy_mj(ms)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    /// Burn `ms` of this thread's CPU time (by its own clock, so a busy machine cannot shorten it).
    fn spin(ms: u64) -> u64 {
        let Some(start) = thread_cpu_ns() else { return 0 };
        let mut x = 0u64;
        while thread_cpu_ns().is_some_and(|now| now - start < ms * 1_000_000) {
            for _ in 0..1000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        x
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[test]
    fn sleeping_costs_nothing_and_spinning_counts() {
        let m = Meter::start();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let slept = m.cpu_ms().unwrap_or(f64::NAN);
        assert!(slept < 20.0, "{slept} ms of CPU for a sleep");
        let m = Meter::start();
        std::hint::black_box(spin(40));
        let spun = m.cpu_ms().unwrap_or(f64::NAN);
        assert!((40.0..60.0).contains(&spun), "{spun} ms of CPU for a 40 ms spin");
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    #[test]
    fn pool_and_global_work_is_charged_to_the_caller() -> Result<(), rayon::ThreadPoolBuildError> {
        let pool = MeteredPool::new(rayon::ThreadPoolBuilder::new().num_threads(2).build()?);
        let m = Meter::start();
        // The caller only waits: what is counted beyond a few ms comes from the pool's threads.
        pool.run(|p| p.install(|| (0..2).into_par_iter().map(|_| spin(30)).sum::<u64>()));
        let pooled = m.cpu_ms().unwrap_or(f64::NAN);
        assert!((60.0..90.0).contains(&pooled), "{pooled} ms for two 30 ms items on the pool");

        let m = Meter::start();
        let h = Helpers::new();
        std::thread::scope(|s| {
            s.spawn(|| h.item(|| spin(30)));
        });
        drop(h);
        let helped = m.cpu_ms().unwrap_or(f64::NAN);
        assert!((30.0..45.0).contains(&helped), "{helped} ms for a 30 ms item on another thread");

        // On the owner's own thread an item is not counted twice.
        let m = Meter::start();
        let h = Helpers::new();
        h.item(|| spin(30));
        drop(h);
        let own = m.cpu_ms().unwrap_or(f64::NAN);
        assert!((30.0..45.0).contains(&own), "{own} ms for a 30 ms item on the owner's thread");
        Ok(())
    }

    #[test]
    fn profile_prices_and_checks() {
        let p = EnergyProfile { big_j_per_cpu_s: 2.0, little_j_per_cpu_s: 0.5, big_share: 0.5 };
        assert!((p.energy_mj(100.0) - 125.0).abs() < 1e-9);
        assert!(p.check().is_ok());
        assert!(EnergyProfile { big_share: 1.5, ..p }.check().is_err());
        assert!(EnergyProfile { little_j_per_cpu_s: f64::NAN, ..p }.check().is_err());
    }
}
