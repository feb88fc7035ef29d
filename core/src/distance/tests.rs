//! Tests of every distance kernel the running CPU supports against the scalar reference.

use std::sync::OnceLock;

use half::f16;
use proptest::prelude::*;

use super::*;

/// Kernel tables of every ISA this CPU supports; prints a note once for each one it skips.
fn tested_kernels() -> &'static [Kernels] {
    static TABLES: OnceLock<Vec<Kernels>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut tables = Vec::new();
        for isa in Isa::ALL {
            match Kernels::for_isa(isa) {
                Some(k) => tables.push(k),
                None => eprintln!("note: not testing {} kernels: unsupported on this CPU/target", isa.name()),
            }
        }
        eprintln!(
            "distance kernels under test: {:?}",
            tables.iter().map(|k| k.isa.name()).collect::<Vec<_>>()
        );
        tables
    })
}

fn run_dot(k: &Kernels, a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: `k` comes from `Kernels::for_isa`, which checked CPU support.
    unsafe { (k.dot)(a, b) }
}

fn run_l2_sq(k: &Kernels, a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: `k` comes from `Kernels::for_isa`, which checked CPU support.
    unsafe { (k.l2_sq)(a, b) }
}

fn run_dot_f16(k: &Kernels, a: &[f32], b: &[f16]) -> f32 {
    // SAFETY: `k` comes from `Kernels::for_isa`, which checked CPU support.
    unsafe { (k.dot_f16)(a, b) }
}

fn run_dot_i8(k: &Kernels, a: &[f32], b: &[i8]) -> f32 {
    // SAFETY: `k` comes from `Kernels::for_isa`, which checked CPU support.
    unsafe { (k.dot_i8)(a, b) }
}

/// `v` (values in [-2, 2]) as i8 steps of 1/63, and the same values widened back.
fn to_i8(v: &[f32]) -> (Vec<i8>, Vec<f32>) {
    let q: Vec<i8> = v.iter().map(|x| (x * 63.0).round().clamp(-127.0, 127.0) as i8).collect();
    let w = q.iter().map(|&x| f32::from(x)).collect();
    (q, w)
}

/// Error bound for a sum whose terms have absolute values summing to `abs_sum`.
fn tol(abs_sum: f64) -> f64 {
    1e-4 * (1.0 + abs_sum)
}

fn abs_dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (f64::from(*x) * f64::from(*y)).abs()).sum()
}

fn exact_l2_sq(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum()
}

fn to_f16(v: &[f32]) -> Vec<f16> {
    v.iter().map(|x| f16::from_f32(*x)).collect()
}

fn widen(v: &[f16]) -> Vec<f32> {
    v.iter().map(|x| x.to_f32()).collect()
}

/// Checks all three kernels of every supported ISA on one input pair against the scalar reference, and
/// the scalar reference against an f64 computation.
fn check_all(a: &[f32], b: &[f32]) -> Result<(), TestCaseError> {
    let n = a.len().min(b.len());
    let bh = to_f16(b);
    let bw = widen(&bh);

    let dot_ref = scalar::dot(a, b);
    let l2_ref = scalar::l2_sq(a, b);
    let f16_ref = scalar::dot_f16(a, &bh);
    let (bq, bqw) = to_i8(b);
    let i8_ref = scalar::dot_i8(a, &bq);
    let (dot_abs, l2_exact, f16_abs) = (abs_dot(a, b), exact_l2_sq(a, b), abs_dot(a, &bw));
    let i8_abs = abs_dot(a, &bqw);
    prop_assert!(
        (f64::from(i8_ref) - f64::from(scalar::dot(a, &bqw))).abs() <= tol(i8_abs),
        "scalar dot_i8 n={n}"
    );

    let exact_dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    prop_assert!((f64::from(dot_ref) - exact_dot).abs() <= tol(dot_abs), "scalar dot n={n}");
    prop_assert!((f64::from(l2_ref) - l2_exact).abs() <= tol(l2_exact), "scalar l2_sq n={n}");

    for k in tested_kernels() {
        let name = k.isa.name();
        let got = run_dot(k, a, b);
        prop_assert!(
            (f64::from(got) - f64::from(dot_ref)).abs() <= tol(dot_abs),
            "{name} dot n={n}: got {got}, want {dot_ref}"
        );
        let got = run_l2_sq(k, a, b);
        prop_assert!(
            (f64::from(got) - f64::from(l2_ref)).abs() <= tol(l2_exact),
            "{name} l2_sq n={n}: got {got}, want {l2_ref}"
        );
        let got = run_dot_f16(k, a, &bh);
        prop_assert!(
            (f64::from(got) - f64::from(f16_ref)).abs() <= tol(f16_abs),
            "{name} dot_f16 n={n}: got {got}, want {f16_ref}"
        );
        let got = run_dot_i8(k, a, &bq);
        prop_assert!(
            (f64::from(got) - f64::from(i8_ref)).abs() <= tol(i8_abs),
            "{name} dot_i8 n={n}: got {got}, want {i8_ref}"
        );
    }
    Ok(())
}

fn values(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-2.0f32..=2.0, n)
}

fn equal_pair(max: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (0..=max).prop_flat_map(|n| (values(n), values(n)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn kernels_match_scalar((a, b) in equal_pair(1100)) {
        check_all(&a, &b)?;
    }

    /// Short vectors, where most of the work is in the tails.
    #[test]
    fn kernels_match_scalar_short((a, b) in equal_pair(80)) {
        check_all(&a, &b)?;
    }

    /// Unequal lengths never panic and use the common prefix.
    #[test]
    fn mismatched_lengths_use_prefix(a in prop::collection::vec(-2.0f32..=2.0, 0..=300),
                                     b in prop::collection::vec(-2.0f32..=2.0, 0..=300)) {
        let n = a.len().min(b.len());
        check_all(&a, &b)?;
        let bh = to_f16(&b);
        for k in tested_kernels() {
            let name = k.isa.name();
            prop_assert_eq!(run_dot(k, &a, &b), run_dot(k, &a[..n], &b[..n]), "{} dot", name);
            prop_assert_eq!(run_dot(k, &b, &a), run_dot(k, &b[..n], &a[..n]), "{} dot swapped", name);
            prop_assert_eq!(run_l2_sq(k, &a, &b), run_l2_sq(k, &a[..n], &b[..n]), "{} l2_sq", name);
            let (got, want) = (run_dot_f16(k, &a, &bh), run_dot_f16(k, &a[..n], &bh[..n]));
            prop_assert_eq!(got, want, "{} dot_f16", name);
            let bq = to_i8(&b).0;
            prop_assert_eq!(run_dot_i8(k, &a, &bq), run_dot_i8(k, &a[..n], &bq[..n]), "{} dot_i8", name);
        }
        prop_assert_eq!(dot(&a, &b), dot(&a[..n], &b[..n]));
        prop_assert_eq!(l2_sq(&a, &b), l2_sq(&a[..n], &b[..n]));
        prop_assert_eq!(dot_f16(&a, &bh), dot_f16(&a[..n], &bh[..n]));
    }
}

/// Deterministic pseudo-random values in [-2, 2].
fn lcg_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

/// Every length up to 260 (all tail sizes of every block width), at unaligned start offsets too.
#[test]
fn every_length_and_offset() {
    for n in 0..=260 {
        let (a, b) = (lcg_values(n + 3, n as u64), lcg_values(n + 3, 1000 + n as u64));
        for off in 0..=3 {
            check_all(&a[off..off + n], &b[3 - off..3 - off + n]).unwrap();
        }
    }
}

#[test]
fn empty_inputs_give_zero() {
    for k in tested_kernels() {
        assert_eq!(run_dot(k, &[], &[]), 0.0, "{}", k.isa.name());
        assert_eq!(run_l2_sq(k, &[], &[1.0]), 0.0, "{}", k.isa.name());
        assert_eq!(run_dot_f16(k, &[1.0, 2.0], &[]), 0.0, "{}", k.isa.name());
        assert_eq!(run_dot_i8(k, &[1.0, 2.0], &[]), 0.0, "{}", k.isa.name());
    }
}

#[test]
fn scalar_and_best_isa_are_tested() {
    let tested: Vec<Isa> = tested_kernels().iter().map(|k| k.isa).collect();
    assert!(tested.contains(&Isa::Scalar));
    assert!(tested.contains(&Isa::detect()), "best ISA {:?} not among {tested:?}", Isa::detect());
    #[cfg(target_arch = "aarch64")]
    assert!(tested.contains(&Isa::Neon));
}

#[test]
fn dispatcher_reports_a_supported_isa() {
    let name = isa();
    let parsed = Isa::parse(name).unwrap();
    assert!(parsed.is_supported());
    let (a, b) = (lcg_values(384, 1), lcg_values(384, 2));
    let want = scalar::dot(&a, &b);
    assert!((f64::from(dot(&a, &b)) - f64::from(want)).abs() <= tol(abs_dot(&a, &b)));
}

#[test]
fn isa_parse() {
    assert_eq!(Isa::parse("scalar"), Some(Isa::Scalar));
    assert_eq!(Isa::parse("avx2"), Some(Isa::Avx2));
    assert_eq!(Isa::parse("AVX512"), Some(Isa::Avx512));
    assert_eq!(Isa::parse(" neon\n"), Some(Isa::Neon));
    assert_eq!(Isa::parse(""), None);
    assert_eq!(Isa::parse("avx"), None);
    assert_eq!(Isa::parse("sse4"), None);
    for isa in Isa::ALL {
        assert_eq!(Isa::parse(isa.name()), Some(isa));
    }
}

#[test]
fn isa_choice_honours_supported_override_else_detects() {
    let x86_all = |isa: Isa| isa != Isa::Neon;
    let avx2_only = |isa: Isa| matches!(isa, Isa::Scalar | Isa::Avx2);
    let arm = |isa: Isa| matches!(isa, Isa::Scalar | Isa::Neon);
    let scalar_only = |isa: Isa| isa == Isa::Scalar;

    assert_eq!(choose_isa(None, x86_all), Isa::Avx512);
    assert_eq!(choose_isa(None, avx2_only), Isa::Avx2);
    assert_eq!(choose_isa(None, arm), Isa::Neon);
    assert_eq!(choose_isa(None, scalar_only), Isa::Scalar);

    assert_eq!(choose_isa(Some("scalar"), x86_all), Isa::Scalar);
    assert_eq!(choose_isa(Some("avx2"), x86_all), Isa::Avx2);
    assert_eq!(choose_isa(Some("Scalar"), arm), Isa::Scalar);
    // Unsupported or unknown requests fall back to detection.
    assert_eq!(choose_isa(Some("avx512"), avx2_only), Isa::Avx2);
    assert_eq!(choose_isa(Some("neon"), x86_all), Isa::Avx512);
    assert_eq!(choose_isa(Some("avx2"), arm), Isa::Neon);
    assert_eq!(choose_isa(Some("fast"), x86_all), Isa::Avx512);
    assert_eq!(choose_isa(Some(""), scalar_only), Isa::Scalar);
}

#[test]
fn unsupported_isa_has_no_kernels() {
    for isa in Isa::ALL {
        assert_eq!(Kernels::for_isa(isa).is_some(), isa.is_supported(), "{}", isa.name());
    }
    #[cfg(target_arch = "x86_64")]
    assert!(Kernels::for_isa(Isa::Neon).is_none());
    #[cfg(not(target_arch = "x86_64"))]
    assert!(Kernels::for_isa(Isa::Avx2).is_none() && Kernels::for_isa(Isa::Avx512).is_none());
}

#[test]
fn dot_many_f16_matches_rowwise() {
    let dim = 37;
    let query = lcg_values(dim, 7);
    let rows = to_f16(&lcg_values(dim * 5 + 3, 8)); // 5 full rows and a partial one
    let want: Vec<f32> = rows.chunks_exact(dim).map(|r| dot_f16(&query, r)).collect();

    let mut out = vec![f32::NAN; 7];
    dot_many_f16(&query, &rows, dim, &mut out);
    assert_eq!(&out[..5], &want[..]);
    assert!(out[5..].iter().all(|x| x.is_nan()), "entries past n must be untouched");

    let mut short = vec![f32::NAN; 3];
    dot_many_f16(&query, &rows, dim, &mut short);
    assert_eq!(&short[..], &want[..3]);

    let mut none: Vec<f32> = Vec::new();
    dot_many_f16(&query, &rows, dim, &mut none);

    let mut zeros = vec![f32::NAN; 4];
    dot_many_f16(&query, &rows, 0, &mut zeros);
    assert_eq!(zeros, vec![0.0; 4]);

    // Query shorter than dim: common prefix of each row.
    let mut out = vec![0.0; 5];
    dot_many_f16(&query[..10], &rows, dim, &mut out);
    for (o, r) in out.iter().zip(rows.chunks_exact(dim)) {
        assert_eq!(*o, dot_f16(&query[..10], &r[..10]));
    }
}

/// Bit-by-bit reference for `bit_dot`.
fn naive_bit_dot(plane: &[u8], q: &[u64]) -> (u32, u32) {
    let words = plane.len().div_ceil(8);
    let (mut weighted, mut ones) = (0u32, 0u32);
    for i in 0..plane.len() * 8 {
        if plane[i / 8] >> (i % 8) & 1 == 0 {
            continue;
        }
        ones += 1;
        for (j, word) in q.chunks(words).enumerate() {
            weighted += ((word[i / 64] >> (i % 64) & 1) as u32) << j;
        }
    }
    (weighted, ones)
}

proptest! {
    #[test]
    fn bit_dot_matches_bit_by_bit(
        (plane, q) in (1usize..=80).prop_flat_map(|bytes| (
            prop::collection::vec(any::<u8>(), bytes),
            prop::collection::vec(any::<u64>(), bytes.div_ceil(8) * 6),
        ))
    ) {
        let want = naive_bit_dot(&plane, &q);
        for k in tested_kernels() {
            // SAFETY: `k` comes from `Kernels::for_isa`, which checked CPU support.
            let got = unsafe { (k.bit_dot)(&plane, &q) };
            prop_assert_eq!(got, want, "{:?}", k.isa);
        }
    }

    /// Whole-word codes up to 512 bits: the shapes the one-register AVX-512 path takes.
    #[test]
    fn bit_dot_matches_bit_by_bit_whole_words(
        (plane, q) in (1usize..=8).prop_flat_map(|words| (
            prop::collection::vec(any::<u8>(), words * 8),
            prop::collection::vec(any::<u64>(), words * 6),
        ))
    ) {
        let want = naive_bit_dot(&plane, &q);
        for k in tested_kernels() {
            // SAFETY: `k` comes from `Kernels::for_isa`, which checked CPU support.
            let got = unsafe { (k.bit_dot)(&plane, &q) };
            prop_assert_eq!(got, want, "{:?}", k.isa);
        }
    }
}
