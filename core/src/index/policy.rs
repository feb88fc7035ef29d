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

use super::options::{Mode, Policy};

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
    /// The mode `Auto` resolves to, and why.
    pub fn choose_mode(
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
            let (mode, why) = p.choose_mode(d.as_ref(), vecs, model);
            assert_eq!(mode, want, "row {i}: {why}");
            assert!(why.starts_with("auto: "), "row {i}: {why}");
        }
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
