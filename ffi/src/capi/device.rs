//! C calls for the device policy: the device's state, and building or dropping stored vectors.

use super::index::{index_entry, CIndex};
use super::task::{EmberTask, Resolved};
use super::{flag, guard, out_arg, EmberResult};
use crate::{DeviceState, EmberError, ModeCost, ModeCosts, Precision, VectorAction};

/// The device's state, for the policy behind `EMBER_MODE_AUTO`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmberDeviceState {
    /// Battery charge in percent, 0 to 100.
    pub battery_percent: u8,
    /// Nonzero: plugged in.
    pub charging: u8,
    /// Nonzero: the OS's low-power / battery-saver mode is on.
    pub low_power_mode: u8,
    /// Free bytes on the volume that holds the index.
    pub free_storage_bytes: u64,
}

/// Element type of materialized vectors (values for `ember_index_materialize_vectors`; the same
/// numbers as `EmberVectorStorage`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberPrecision {
    /// 2 bytes per dimension.
    F16 = 1,
    /// 4 bytes per dimension.
    F32 = 2,
}

/// What the device policy advises for the stored-vector sidecar (`EmberSearchInfo::vectors_advice`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberVectorAction {
    /// No advice: no device state was set.
    None = 0,
    /// Build it now (`ember_index_materialize_vectors`).
    Materialize = 1,
    /// Drop it now (`ember_index_evict_vectors`).
    Evict = 2,
    /// Leave it as it is.
    Keep = 3,
}

impl From<Option<VectorAction>> for EmberVectorAction {
    fn from(a: Option<VectorAction>) -> Self {
        match a {
            None => EmberVectorAction::None,
            Some(VectorAction::Materialize) => EmberVectorAction::Materialize,
            Some(VectorAction::Evict) => EmberVectorAction::Evict,
            Some(VectorAction::Keep) => EmberVectorAction::Keep,
        }
    }
}

/// Tell the device policy about the battery, charging, low-power mode and free storage.
///
/// # Safety
/// `state` is NULL or valid for reads.
#[no_mangle]
pub unsafe extern "C" fn ember_index_set_device_state(
    index: *const CIndex,
    state: *const EmberDeviceState,
) -> EmberResult {
    guard(|| {
        let index = index_entry(index)?;
        // SAFETY: NULL or valid for reads, per the contract.
        let s = unsafe { state.as_ref() }.ok_or_else(|| EmberError::invalid("state is NULL"))?;
        index.inner.set_device_state(DeviceState {
            battery_percent: s.battery_percent,
            charging: flag(s.charging),
            low_power_mode: flag(s.low_power_mode),
            free_storage_bytes: s.free_storage_bytes,
        })
    })
}

/// What the last `ember_index_add`, `ember_index_update`, `ember_index_compact` or
/// `ember_index_materialize_vectors` on this index cost: the CPU time of every thread that worked
/// for it, milliseconds, and the energy estimate from it, millijoules. Both are NaN before the
/// first such call or where the platform has no per-thread CPU clock.
///
/// # Safety
/// `out_cpu_ms` and `out_energy_mj` are valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_last_write_cost(
    index: *const CIndex,
    out_cpu_ms: *mut f64,
    out_energy_mj: *mut f64,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let cpu = unsafe { out_arg(out_cpu_ms, "out_cpu_ms", f64::NAN) }?;
        // SAFETY: forwarded from this function's contract.
        let energy = unsafe { out_arg(out_energy_mj, "out_energy_mj", f64::NAN) }?;
        let cost = index_entry(index)?.inner.last_write_cost()?.unwrap_or_default();
        *cpu = cost.cpu_ms.unwrap_or(f64::NAN);
        *energy = cost.energy_mj.unwrap_or(f64::NAN);
        Ok(())
    })
}

/// One mode's running mean cost on an index (a field of `EmberModeCosts`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EmberModeCost {
    /// Searches measured.
    pub searches: u64,
    /// Mean CPU time, milliseconds.
    pub cpu_ms: f64,
    /// Mean estimated energy, millijoules.
    pub energy_mj: f64,
}

/// The measured cost of each mode's searches on an index: what `EMBER_MODE_AUTO` weighs against
/// the battery budget.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EmberModeCosts {
    /// Recompute searches.
    pub recompute: EmberModeCost,
    /// Stored-vector searches.
    pub stored: EmberModeCost,
    /// Codes-only searches.
    pub codes: EmberModeCost,
}

fn to_c(c: ModeCost) -> EmberModeCost {
    EmberModeCost { searches: c.searches, cpu_ms: c.cpu_ms, energy_mj: c.energy_mj }
}

fn from_c(c: EmberModeCost) -> ModeCost {
    ModeCost { searches: c.searches, cpu_ms: c.cpu_ms, energy_mj: c.energy_mj }
}

/// The measured mean cost of each mode's searches on this index since it was opened (or since
/// `ember_index_set_mode_costs`). Save it to restore after the next open.
///
/// # Safety
/// `out_costs` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_mode_costs(
    index: *const CIndex,
    out_costs: *mut EmberModeCosts,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_costs, "out_costs", EmberModeCosts::default()) }?;
        let c = index_entry(index)?.inner.mode_costs()?;
        *out = EmberModeCosts { recompute: to_c(c.recompute), stored: to_c(c.stored), codes: to_c(c.codes) };
        Ok(())
    })
}

/// Restore costs saved from an earlier session, so `EMBER_MODE_AUTO` need not measure each mode
/// again. Costs must be finite and not negative (`EMBER_RESULT_INVALID_ARGUMENT`).
///
/// # Safety
/// `costs` is valid for reads.
#[no_mangle]
pub unsafe extern "C" fn ember_index_set_mode_costs(
    index: *const CIndex,
    costs: *const EmberModeCosts,
) -> EmberResult {
    guard(|| {
        // SAFETY: NULL or valid for reads, per the contract.
        let c = unsafe { costs.as_ref() }.ok_or_else(|| EmberError::invalid("costs is NULL"))?;
        let costs =
            ModeCosts { recompute: from_c(c.recompute), stored: from_c(c.stored), codes: from_c(c.codes) };
        index_entry(index)?.inner.set_mode_costs(costs)
    })
}

/// Embedding threads the device policy advises for the last device state: fewer on battery
/// (`EmberOpenOptions::threads_on_battery`), every core while charging.
///
/// # Safety
/// `out_threads` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_index_embed_threads(
    index: *const CIndex,
    out_threads: *mut u32,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_threads, "out_threads", 0) }?;
        *out = index_entry(index)?.inner.embed_threads()?;
        Ok(())
    })
}

/// Build the stored-vector sidecar (for `EMBER_MODE_STORED_RERANK`) by re-embedding every passage,
/// without touching the graph; `precision` is an `EmberPrecision` value. Resumable: a cancelled
/// run keeps its finished rows for the next call. `task` may be NULL.
///
/// # Safety
/// `task` is NULL or valid for reads.
#[no_mangle]
pub unsafe extern "C" fn ember_index_materialize_vectors(
    index: *const CIndex,
    precision: u32,
    task: *const EmberTask,
) -> EmberResult {
    guard(|| {
        let index = index_entry(index)?;
        let precision = match precision {
            p if p == EmberPrecision::F16 as u32 => Precision::F16,
            p if p == EmberPrecision::F32 as u32 => Precision::F32,
            p => return Err(EmberError::invalid(format!("unknown precision {p}"))),
        };
        // SAFETY: forwarded from this function's contract.
        let task = unsafe { Resolved::new(task) }?;
        let report = |done, total| task.report(done, total);
        index.inner.materialize_with(precision, Some(&report), task.cancel.as_deref())
    })
}

/// Delete the stored-vector sidecar to free storage; searches recompute or use codes.
#[no_mangle]
pub extern "C" fn ember_index_evict_vectors(index: *const CIndex) -> EmberResult {
    guard(|| index_entry(index)?.inner.evict_vectors())
}

/// Build the keyword (BM25) index from the stored texts, without re-embedding (the log is
/// committed first); `stem` nonzero reduces English words to their stem.
#[no_mangle]
pub extern "C" fn ember_index_build_keywords(index: *const CIndex, stem: bool) -> EmberResult {
    guard(|| index_entry(index)?.inner.build_keywords(stem))
}

/// Delete the keyword index; searches are dense from then on.
#[no_mangle]
pub extern "C" fn ember_index_drop_keywords(index: *const CIndex) -> EmberResult {
    guard(|| index_entry(index)?.inner.drop_keywords())
}
