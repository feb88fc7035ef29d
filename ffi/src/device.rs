//! What the app tells Ember about the device, and what the device policy advises back.

pub use ember_core::{DeviceState, Precision, VectorAction};

use crate::EmberError;

/// The device's state, fed to the policy behind `Mode::Auto` (set it with
/// `EmberIndex.setDeviceState` whenever it changes; battery and charging events are enough).
#[uniffi::remote(Record)]
pub struct DeviceState {
    /// Battery charge in percent, 0 to 100.
    pub battery_percent: u8,
    /// Plugged in.
    pub charging: bool,
    /// The OS's low-power / battery-saver mode.
    pub low_power_mode: bool,
    /// Free bytes on the volume that holds the index.
    pub free_storage_bytes: u64,
}

/// A device state from the app, checked (core takes the battery level as given).
pub(crate) fn checked(state: DeviceState) -> Result<DeviceState, EmberError> {
    if state.battery_percent > 100 {
        return Err(EmberError::invalid(format!(
            "battery_percent is {}, not 0 to 100",
            state.battery_percent
        )));
    }
    Ok(state)
}

/// What the device policy advises for the stored-vector sidecar.
#[uniffi::remote(Enum)]
pub enum VectorAction {
    /// Build it now (`materializeVectors`): charging, with ample free storage.
    Materialize,
    /// Drop it now (`evictVectors`): free storage is low.
    Evict,
    /// Leave things as they are.
    Keep,
}

/// Element type of materialized vectors.
#[uniffi::remote(Enum)]
pub enum Precision {
    /// 2 bytes per dimension (the recall of f32 in our measurements, half the storage).
    F16,
    /// 4 bytes per dimension.
    F32,
}

/// The policy's advice for the index's sidecar, given the last device state (`None` before any).
pub(crate) fn vectors_advice(index: &ember_core::Index) -> Option<VectorAction> {
    let device = index.device_state()?;
    let has = index.sidecar_status().is_ok();
    let bytes = index.sidecar_bytes(ember_core::Precision::F16);
    Some(index.policy().vector_action(&device, has, bytes).0)
}
