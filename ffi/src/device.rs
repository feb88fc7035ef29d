//! What the app tells Ember about the device, and what the device policy advises back.

use crate::EmberError;

/// The device's state, fed to the policy behind `Mode::Auto` (set it with
/// `EmberIndex.setDeviceState` whenever it changes; battery and charging events are enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
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

impl DeviceState {
    pub(crate) fn to_core(self) -> Result<ember_core::DeviceState, EmberError> {
        if self.battery_percent > 100 {
            return Err(EmberError::invalid(format!(
                "battery_percent is {}, not 0 to 100",
                self.battery_percent
            )));
        }
        Ok(ember_core::DeviceState {
            battery_percent: self.battery_percent,
            charging: self.charging,
            low_power_mode: self.low_power_mode,
            free_storage_bytes: self.free_storage_bytes,
        })
    }
}

/// What the device policy advises for the stored-vector sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VectorAction {
    /// Build it now (`materializeVectors`): charging, with ample free storage.
    Materialize,
    /// Drop it now (`evictVectors`): free storage is low.
    Evict,
    /// Leave things as they are.
    Keep,
}

impl From<ember_core::VectorAction> for VectorAction {
    fn from(a: ember_core::VectorAction) -> Self {
        match a {
            ember_core::VectorAction::Materialize => VectorAction::Materialize,
            ember_core::VectorAction::Evict => VectorAction::Evict,
            ember_core::VectorAction::Keep => VectorAction::Keep,
        }
    }
}

/// Element type of materialized vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Precision {
    /// 2 bytes per dimension (the recall of f32 in our measurements, half the storage).
    F16,
    /// 4 bytes per dimension.
    F32,
}

impl From<Precision> for ember_core::Precision {
    fn from(p: Precision) -> Self {
        match p {
            Precision::F16 => ember_core::Precision::F16,
            Precision::F32 => ember_core::Precision::F32,
        }
    }
}

/// The policy's advice for the index's sidecar, given the last device state (`None` before any).
pub(crate) fn vectors_advice(index: &ember_core::Index) -> Option<VectorAction> {
    let device = index.device_state()?;
    let has = index.sidecar_status().is_ok();
    let bytes = index.sidecar_bytes(ember_core::Precision::F16);
    Some(index.policy().vector_action(&device, has, bytes).0.into())
}
