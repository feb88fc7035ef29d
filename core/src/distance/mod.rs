//! Exact distance kernels on full-precision vectors, dispatched at run time to the best the CPU offers.
//!
//! The instruction set is chosen once, on first use, and cached in a [`OnceLock`] as a table of function
//! pointers: AVX-512F, then AVX2+FMA+F16C on x86_64, NEON on aarch64, else portable scalar code. Setting
//! `EMBER_ISA=scalar|avx2|avx512|neon` before the first call pins one (for benchmarks and tests); a value
//! that is unknown or unsupported on the running CPU falls back to detection.
//!
//! Every function works on the common prefix of its two slices: if lengths differ, the shorter one wins.
//! Results of different ISAs differ only in rounding (summation order, fused multiply-add).

use std::sync::OnceLock;

use half::f16;

#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;
#[cfg(test)]
mod tests;
// The AVX-512 intrinsics were stabilised in Rust 1.89, so this module needs rustc >= 1.89 whatever the
// workspace `rust-version` says (1.85 at the time of writing; it should be raised to 1.89).
#[cfg(target_arch = "x86_64")]
#[clippy::msrv = "1.89"]
mod x86;

/// Name of the environment variable that pins the kernel instruction set (read once, on first use).
pub const ISA_ENV: &str = "EMBER_ISA";

/// An instruction set the distance kernels can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable scalar code; always available.
    Scalar,
    /// x86_64 AVX2 + FMA + F16C.
    Avx2,
    /// x86_64 AVX-512F.
    Avx512,
    /// aarch64 NEON.
    Neon,
}

impl Isa {
    /// Every instruction set, in no particular order.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon];

    /// Short lowercase name, as accepted by [`Isa::parse`] and `EMBER_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Parses a name as given in `EMBER_ISA` (ASCII case-insensitive, surrounding whitespace ignored).
    pub fn parse(s: &str) -> Option<Isa> {
        let s = s.trim();
        Isa::ALL.into_iter().find(|isa| isa.name().eq_ignore_ascii_case(s))
    }

    /// Whether the running CPU (and the compilation target) can execute this instruction set's kernels.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
                    && is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("popcnt"),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            _ => false,
        }
    }

    /// The fastest instruction set the running CPU supports.
    pub fn detect() -> Isa {
        best_isa(Isa::is_supported)
    }
}

/// The fastest instruction set for which `supported` holds (scalar if none).
fn best_isa(supported: impl Fn(Isa) -> bool) -> Isa {
    [Isa::Avx512, Isa::Avx2, Isa::Neon].into_iter().find(|&isa| supported(isa)).unwrap_or(Isa::Scalar)
}

/// Chooses the instruction set from an `EMBER_ISA` value: the requested one if it parses and `supported`
/// holds for it, otherwise the best supported one.
fn choose_isa(requested: Option<&str>, supported: impl Fn(Isa) -> bool) -> Isa {
    match requested.and_then(Isa::parse) {
        Some(isa) if supported(isa) => isa,
        _ => best_isa(supported),
    }
}

/// Function-pointer table for one instruction set.
///
/// Invariant: a `Kernels` holding non-scalar kernels exists only if [`Kernels::for_isa`] checked that the
/// running CPU supports them, which is what makes calling its `unsafe fn` pointers sound.
#[derive(Clone, Copy, Debug)]
struct Kernels {
    isa: Isa,
    dot: unsafe fn(&[f32], &[f32]) -> f32,
    l2_sq: unsafe fn(&[f32], &[f32]) -> f32,
    dot_f16: unsafe fn(&[f32], &[f16]) -> f32,
    dot_i8: unsafe fn(&[f32], &[i8]) -> f32,
    bit_dot: unsafe fn(&[u8], &[u64]) -> (u32, u32),
}

/// The portable kernels (safe functions, callable on any CPU).
const SCALAR: Kernels = Kernels {
    isa: Isa::Scalar,
    dot: scalar::dot,
    l2_sq: scalar::l2_sq,
    dot_f16: scalar::dot_f16,
    dot_i8: scalar::dot_i8,
    bit_dot: scalar::bit_dot_portable,
};

impl Kernels {
    /// The kernels of `isa`, or `None` if the running CPU does not support it.
    fn for_isa(isa: Isa) -> Option<Kernels> {
        if !isa.is_supported() {
            return None;
        }
        match isa {
            Isa::Scalar => Some(SCALAR),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Some(Kernels {
                isa,
                dot: x86::dot_avx2,
                l2_sq: x86::l2_sq_avx2,
                dot_f16: x86::dot_f16_avx2,
                dot_i8: x86::dot_i8_avx2,
                bit_dot: x86::bit_dot_popcnt,
            }),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Some(Kernels {
                isa,
                dot: x86::dot_avx512,
                l2_sq: x86::l2_sq_avx512,
                dot_f16: x86::dot_f16_avx512,
                dot_i8: x86::dot_i8_avx512,
                bit_dot: if is_x86_feature_detected!("avx512vpopcntdq") {
                    x86::bit_dot_vpopcnt
                } else {
                    x86::bit_dot_popcnt
                },
            }),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => Some(Kernels {
                isa,
                dot: neon::dot_neon,
                l2_sq: neon::l2_sq_neon,
                dot_f16: neon::dot_f16_neon,
                dot_i8: neon::dot_i8_neon,
                // aarch64 compiles `count_ones` to NEON `cnt` without any target feature.
                bit_dot: scalar::bit_dot_portable,
            }),
            _ => None,
        }
    }
}

static KERNELS: OnceLock<Kernels> = OnceLock::new();

/// The process-wide kernel table, selected on first use from `EMBER_ISA` and CPU detection.
#[inline]
fn kernels() -> &'static Kernels {
    KERNELS.get_or_init(|| {
        let requested = std::env::var(ISA_ENV).ok();
        Kernels::for_isa(choose_isa(requested.as_deref(), Isa::is_supported)).unwrap_or(SCALAR)
    })
}

/// Name of the instruction set the kernels run on in this process: "avx512", "avx2", "neon" or "scalar".
pub fn isa() -> &'static str {
    kernels().isa.name()
}

/// Inner product of two f32 slices (cosine similarity for unit vectors), over the shorter length.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let k = kernels();
    // SAFETY: `k` comes from `Kernels::for_isa`, which checked that this CPU supports its instruction set.
    unsafe { (k.dot)(a, b) }
}

/// Squared Euclidean distance between two f32 slices, over the shorter length.
#[inline]
pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    let k = kernels();
    // SAFETY: `k` comes from `Kernels::for_isa`, which checked that this CPU supports its instruction set.
    unsafe { (k.l2_sq)(a, b) }
}

/// Inner product of an f32 query with an f16 stored vector, over the shorter length.
#[inline]
pub fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    let k = kernels();
    // SAFETY: `k` comes from `Kernels::for_isa`, which checked that this CPU supports its instruction set.
    unsafe { (k.dot_f16)(a, b) }
}

/// Inner product of an f32 query with an i8 vector (unscaled: the caller multiplies by the row's
/// scale), over the shorter length.
#[inline]
pub fn dot_i8(a: &[f32], b: &[i8]) -> f32 {
    let k = kernels();
    // SAFETY: `k` comes from `Kernels::for_isa`, which checked that this CPU supports its instruction set.
    unsafe { (k.dot_i8)(a, b) }
}

/// Popcount inner product of a code bit-plane with a multi-bit query in bit-planes (see
/// `scalar::bit_dot`): `(Σ_j 2^j · popcount(plane & q_j), popcount(plane))`.
#[inline]
pub fn bit_dot(plane: &[u8], q: &[u64]) -> (u32, u32) {
    let k = kernels();
    // SAFETY: `k` comes from `Kernels::for_isa`, which checked that this CPU supports its instruction set.
    unsafe { (k.bit_dot)(plane, q) }
}

/// Inner products of `query` with each row of the row-major f16 matrix `rows` (`n × dim`, so
/// `n = rows.len() / dim`; a trailing partial row is ignored), written to `out[..min(n, out.len())]`.
///
/// Entries of `out` past that are left untouched. With `dim == 0` every row is empty, so its inner product
/// is 0 and all of `out` is set to 0. A query shorter or longer than `dim` uses the common prefix.
pub fn dot_many_f16(query: &[f32], rows: &[f16], dim: usize, out: &mut [f32]) {
    if dim == 0 {
        out.fill(0.0);
        return;
    }
    let k = kernels();
    for (row, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        // SAFETY: `k` comes from `Kernels::for_isa`, which checked that this CPU supports its instruction set.
        *o = unsafe { (k.dot_f16)(query, row) };
    }
}
