//! Device policy: from battery, charging, low-power mode and free flash, which way to get exact
//! distances (`Mode::Auto`), and when to build or drop the vector sidecar.
//!
//! The rules, in order (thresholds are fields of [`Policy`]):
//! - Mode: stored vectors present → `stored` (a flash read costs less energy than a model run).
//!   No vectors: no model given → `codes`; low-power mode or battery below
//!   `recompute_min_battery` while not charging → `codes`; otherwise → `recompute`.
//! - Vectors: present and free flash below `evict_below_free_bytes` → evict. Absent, charging,
//!   not in low-power mode, and free flash at least the sidecar's size plus
//!   `materialize_min_free_bytes` → materialize. Otherwise keep things as they are.
//! - Budget: on battery, the mode those rules pick must fit `battery_query_budget_mj` by its
//!   measured mean cost on this index ([`CostSource`]); if it does not, `codes`. A mode not yet
//!   measured is allowed (it has to run once to be measured).
//! - Threads: `threads_on_battery` on battery or in low-power mode, `threads_charging` (0: all
//!   cores) while charging.

use super::options::{Mode, Policy};

/// Measured mean cost of a search in each mode, for `Mode::Auto`'s budget.
pub trait CostSource {
    /// Mean estimated energy of a query in `mode` on this index, millijoules (`None`: not
    /// measured yet).
    fn mean_mj(&self, mode: Mode) -> Option<f64>;
}

/// No measurements: every mode is allowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unmeasured;

impl CostSource for Unmeasured {
    fn mean_mj(&self, _: Mode) -> Option<f64> {
        None
    }
}

/// Running mean cost of each mode on one index: the last [`ModeCosts::WINDOW`] searches weigh
/// most, so the figure follows the index as it grows and the cache warms.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ModeCosts {
    /// Recompute: (searches measured, mean CPU-ms, mean mJ).
    pub recompute: ModeCost,
    /// Stored.
    pub stored: ModeCost,
    /// Codes only.
    pub codes: ModeCost,
}

/// Running mean cost of one mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ModeCost {
    /// Searches measured.
    pub searches: u64,
    /// Mean CPU time, milliseconds.
    pub cpu_ms: f64,
    /// Mean estimated energy, millijoules.
    pub energy_mj: f64,
}

impl ModeCosts {
    /// Past this many searches the mean becomes an exponential one with weight 1/WINDOW.
    pub const WINDOW: u64 = 32;

    fn slot(&mut self, mode: Mode) -> Option<&mut ModeCost> {
        match mode {
            Mode::Recompute => Some(&mut self.recompute),
            Mode::StoredRerank => Some(&mut self.stored),
            Mode::CodesOnly => Some(&mut self.codes),
            Mode::Auto => None,
        }
    }

    /// The cost of `mode` (`None` for `Auto`, which never runs as such).
    pub fn get(&self, mode: Mode) -> Option<&ModeCost> {
        match mode {
            Mode::Recompute => Some(&self.recompute),
            Mode::StoredRerank => Some(&self.stored),
            Mode::CodesOnly => Some(&self.codes),
            Mode::Auto => None,
        }
    }

    /// Add one search's cost; non-finite or negative figures are ignored.
    pub fn record(&mut self, mode: Mode, cpu_ms: f64, energy_mj: f64) {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !ok(cpu_ms) || !ok(energy_mj) {
            return;
        }
        if let Some(c) = self.slot(mode) {
            c.searches = c.searches.saturating_add(1);
            let w = 1.0 / c.searches.min(Self::WINDOW) as f64;
            c.cpu_ms += w * (cpu_ms - c.cpu_ms);
            c.energy_mj += w * (energy_mj - c.energy_mj);
        }
    }
}

impl CostSource for ModeCosts {
    fn mean_mj(&self, mode: Mode) -> Option<f64> {
        self.get(mode).filter(|c| c.searches > 0).map(|c| c.energy_mj)
    }
}

/// What the app reports about the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceState {
    /// Battery charge, 0–100.
    pub battery_percent: u8,
    /// Plugged in.
    pub charging: bool,
    /// The OS's low-power / battery-saver mode.
    pub low_power_mode: bool,
    /// Free bytes on the index's volume.
    pub free_storage_bytes: u64,
}

/// What the policy advises for the vector sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorAction {
    /// Build it now (`materialize_vectors`).
    Materialize,
    /// Delete it now (`evict_vectors`).
    Evict,
    /// Leave it as it is.
    Keep,
}

impl Policy {
    /// The mode `Auto` resolves to, and why: the device rules, then the energy budget on battery
    /// against the measured `costs`.
    pub fn choose_mode(
        &self,
        device: Option<&DeviceState>,
        has_vectors: bool,
        has_model: bool,
        costs: &dyn CostSource,
    ) -> (Mode, String) {
        let (mode, why) = self.device_mode(device, has_vectors, has_model);
        let on_battery = device.is_some_and(|d| !d.charging);
        let (Some(budget), true, false) = (self.battery_query_budget_mj, on_battery, mode == Mode::CodesOnly)
        else {
            return (mode, why);
        };
        match costs.mean_mj(mode) {
            None => (mode, format!("{why}; {} not measured yet, budget {budget} mJ", mode.name())),
            Some(mj) if mj <= budget => {
                (mode, format!("{why}; {} mean {mj:.1} mJ within the {budget} mJ budget", mode.name()))
            }
            Some(mj) => {
                let codes = match costs.mean_mj(Mode::CodesOnly) {
                    Some(c) => format!("codes mean {c:.1} mJ"),
                    None => "codes not measured yet".into(),
                };
                (
                    Mode::CodesOnly,
                    format!(
                        "auto: on battery, {} mean {mj:.1} mJ over the {budget} mJ budget: codes ({codes})",
                        mode.name()
                    ),
                )
            }
        }
    }

    /// Threads to embed with in `device`'s state: fewer on battery, every core while charging.
    pub fn threads(&self, device: Option<&DeviceState>) -> usize {
        let all = || std::thread::available_parallelism().map_or(1, |n| n.get());
        let charging = match device {
            Some(d) => d.charging && !d.low_power_mode,
            None => true,
        };
        match (charging, self.threads_charging) {
            (true, 0) => all(),
            (true, n) => n,
            (false, _) => self.threads_on_battery.max(1),
        }
    }

    /// The mode the device rules pick, before the energy budget.
    fn device_mode(
        &self,
        device: Option<&DeviceState>,
        has_vectors: bool,
        has_model: bool,
    ) -> (Mode, String) {
        if has_vectors {
            return (
                Mode::StoredRerank,
                "auto: stored vectors present (a flash read is cheaper than a model run)".into(),
            );
        }
        if !has_model {
            return (Mode::CodesOnly, "auto: no stored vectors and no model".into());
        }
        match device {
            Some(d) if d.low_power_mode && !d.charging => {
                (Mode::CodesOnly, "auto: low-power mode, not charging: model not run".into())
            }
            Some(d) if d.battery_percent < self.recompute_min_battery && !d.charging => (
                Mode::CodesOnly,
                format!(
                    "auto: battery {}% below {}%, not charging: model not run",
                    d.battery_percent, self.recompute_min_battery
                ),
            ),
            Some(_) => (Mode::Recompute, "auto: no stored vectors; battery allows recompute".into()),
            None => (Mode::Recompute, "auto: no stored vectors, no device state: recompute".into()),
        }
    }

    /// Whether to build or drop the sidecar (`sidecar_bytes`: its size when present or once built).
    pub fn vector_action(
        &self,
        device: &DeviceState,
        has_vectors: bool,
        sidecar_bytes: u64,
    ) -> (VectorAction, String) {
        let free = device.free_storage_bytes;
        if has_vectors {
            if free < self.evict_below_free_bytes {
                return (
                    VectorAction::Evict,
                    format!("free flash {free} B below {} B", self.evict_below_free_bytes),
                );
            }
            return (VectorAction::Keep, "vectors present, flash sufficient".into());
        }
        if !device.charging || device.low_power_mode {
            return (
                VectorAction::Keep,
                "materialize only while charging (re-embedding costs energy)".into(),
            );
        }
        let need = sidecar_bytes.saturating_add(self.materialize_min_free_bytes);
        if free < need {
            return (VectorAction::Keep, format!("free flash {free} B below the {need} B needed"));
        }
        (VectorAction::Materialize, "charging with ample flash".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1 << 30;

    fn dev(battery: u8, charging: bool, low: bool, free: u64) -> DeviceState {
        DeviceState { battery_percent: battery, charging, low_power_mode: low, free_storage_bytes: free }
    }

    #[test]
    fn mode_table() {
        let p = Policy::default();
        // (device, has vectors, has model) → mode
        let table = [
            (Some(dev(90, false, false, 8 * GB)), true, true, Mode::StoredRerank),
            (Some(dev(5, false, true, 8 * GB)), true, false, Mode::StoredRerank),
            (Some(dev(90, false, false, 8 * GB)), false, false, Mode::CodesOnly),
            (Some(dev(90, false, false, 8 * GB)), false, true, Mode::Recompute),
            (Some(dev(20, false, false, 8 * GB)), false, true, Mode::Recompute),
            (Some(dev(19, false, false, 8 * GB)), false, true, Mode::CodesOnly),
            (Some(dev(5, true, false, 8 * GB)), false, true, Mode::Recompute),
            (Some(dev(90, false, true, 8 * GB)), false, true, Mode::CodesOnly),
            (Some(dev(90, true, true, 8 * GB)), false, true, Mode::Recompute),
            (None, false, true, Mode::Recompute),
            (None, false, false, Mode::CodesOnly),
        ];
        for (i, (d, vecs, model, want)) in table.into_iter().enumerate() {
            let (mode, why) = p.choose_mode(d.as_ref(), vecs, model, &Unmeasured);
            assert_eq!(mode, want, "row {i}: {why}");
            assert!(why.starts_with("auto: "), "row {i}: {why}");
        }
    }

    /// A fake cost source: fixed mean mJ per mode (`None`: not measured).
    struct Fake {
        recompute: Option<f64>,
        stored: Option<f64>,
        codes: Option<f64>,
    }

    impl CostSource for Fake {
        fn mean_mj(&self, mode: Mode) -> Option<f64> {
            match mode {
                Mode::Recompute => self.recompute,
                Mode::StoredRerank => self.stored,
                Mode::CodesOnly => self.codes,
                Mode::Auto => None,
            }
        }
    }

    #[test]
    fn budget_table() {
        let p = Policy { battery_query_budget_mj: Some(50.0), ..Policy::default() };
        let fake = |recompute, stored, codes| Fake { recompute, stored, codes };
        let battery = Some(dev(90, false, false, 8 * GB));
        let plugged = Some(dev(90, true, false, 8 * GB));
        // (device, has vectors, costs) → mode, and a word the reason must hold
        let table = [
            (battery, false, fake(None, None, None), Mode::Recompute, "not measured"),
            (battery, false, fake(Some(49.0), None, Some(1.0)), Mode::Recompute, "within"),
            (battery, false, fake(Some(50.0), None, Some(1.0)), Mode::Recompute, "within"),
            (battery, false, fake(Some(51.0), None, Some(1.0)), Mode::CodesOnly, "over"),
            (battery, false, fake(Some(51.0), None, None), Mode::CodesOnly, "codes not measured"),
            (plugged, false, fake(Some(500.0), None, Some(1.0)), Mode::Recompute, "battery allows"),
            (None, false, fake(Some(500.0), None, Some(1.0)), Mode::Recompute, "no device state"),
            (battery, true, fake(Some(500.0), Some(2.0), Some(1.0)), Mode::StoredRerank, "within"),
            (battery, true, fake(None, Some(60.0), Some(1.0)), Mode::CodesOnly, "stored mean 60.0"),
            (plugged, true, fake(None, Some(60.0), Some(1.0)), Mode::StoredRerank, "stored vectors"),
            (
                Some(dev(10, false, false, 8 * GB)),
                false,
                fake(Some(1.0), None, Some(1.0)),
                Mode::CodesOnly,
                "battery 10%",
            ),
        ];
        for (i, (d, vecs, costs, want, word)) in table.into_iter().enumerate() {
            let (mode, why) = p.choose_mode(d.as_ref(), vecs, true, &costs);
            assert_eq!(mode, want, "row {i}: {why}");
            assert!(why.starts_with("auto: ") && why.contains(word), "row {i}: {why}");
        }
        let off = Policy { battery_query_budget_mj: None, ..p };
        let (mode, _) = off.choose_mode(battery.as_ref(), false, true, &fake(Some(1e9), None, Some(1.0)));
        assert_eq!(mode, Mode::Recompute, "no budget, no limit");
    }

    #[test]
    fn on_battery_auto_never_picks_a_mode_over_the_default_budget() {
        let p = Policy::default();
        let budget = p.battery_query_budget_mj.unwrap_or(f64::NAN);
        // Costs around the budget for each mode, codes always within (the floor Auto falls to).
        let levels =
            [None, Some(0.0), Some(budget * 0.5), Some(budget), Some(budget * 1.01), Some(budget * 40.0)];
        let mut picked_over = 0;
        for &recompute in &levels {
            for &stored in &levels {
                for codes in [None, Some(0.5), Some(budget)] {
                    for (vecs, battery, low) in
                        [(false, 90, false), (true, 90, false), (false, 15, false), (false, 90, true)]
                    {
                        let costs = Fake { recompute, stored, codes };
                        let d = dev(battery, false, low, 8 * GB);
                        let (mode, why) = p.choose_mode(Some(&d), vecs, true, &costs);
                        if costs.mean_mj(mode).is_some_and(|mj| mj > budget) {
                            picked_over += 1;
                            eprintln!("{mode:?} over budget: {why}");
                        }
                    }
                }
            }
        }
        assert_eq!(picked_over, 0);
    }

    #[test]
    fn running_costs_feed_the_budget() {
        let p = Policy { battery_query_budget_mj: Some(50.0), ..Policy::default() };
        let battery = dev(90, false, false, 8 * GB);
        let mut costs = ModeCosts::default();
        assert_eq!(p.choose_mode(Some(&battery), false, true, &costs).0, Mode::Recompute);
        costs.record(Mode::Recompute, 80.0, 90.0);
        costs.record(Mode::CodesOnly, 1.0, 1.2);
        assert_eq!(p.choose_mode(Some(&battery), false, true, &costs).0, Mode::CodesOnly);
        // Cheap recomputes (a warm cache) bring the mean back under the budget.
        for _ in 0..ModeCosts::WINDOW * 2 {
            costs.record(Mode::Recompute, 10.0, 12.0);
        }
        assert!(costs.recompute.energy_mj < 50.0, "{:?}", costs.recompute);
        assert_eq!(p.choose_mode(Some(&battery), false, true, &costs).0, Mode::Recompute);
        costs.record(Mode::StoredRerank, f64::NAN, 1.0);
        assert_eq!(costs.stored.searches, 0, "a NaN cost is not recorded");
    }

    #[test]
    fn threads_by_state() {
        let p = Policy { threads_on_battery: 1, threads_charging: 3, ..Policy::default() };
        let table = [
            (Some(dev(90, false, false, GB)), 1),
            (Some(dev(90, true, false, GB)), 3),
            (Some(dev(90, true, true, GB)), 1),
            (None, 3),
        ];
        for (i, (d, want)) in table.into_iter().enumerate() {
            assert_eq!(p.threads(d.as_ref()), want, "row {i}");
        }
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(Policy::default().threads(Some(&dev(90, true, false, GB))), all);
        assert_eq!(Policy { threads_on_battery: 0, ..p }.threads(Some(&dev(90, false, false, GB))), 1);
    }

    #[test]
    fn vector_action_table() {
        let p = Policy::default();
        let side = 100 << 20;
        let table = [
            (dev(50, true, false, 8 * GB), false, VectorAction::Materialize),
            (dev(50, false, false, 8 * GB), false, VectorAction::Keep),
            (dev(50, true, true, 8 * GB), false, VectorAction::Keep),
            (dev(50, true, false, 2 * GB), false, VectorAction::Keep),
            (dev(50, true, false, 2 * GB + side), false, VectorAction::Materialize),
            (dev(50, true, false, 8 * GB), true, VectorAction::Keep),
            (dev(50, true, false, 511 << 20), true, VectorAction::Evict),
            (dev(50, false, false, 512 << 20), true, VectorAction::Keep),
        ];
        for (i, (d, vecs, want)) in table.into_iter().enumerate() {
            let (action, why) = p.vector_action(&d, vecs, side);
            assert_eq!(action, want, "row {i}: {why}");
        }
    }
}
