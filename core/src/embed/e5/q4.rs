//! The 4-bit block format: reading scales and weights out of stored blocks.
//!
//! A block is an f16 scale `d` and 16 bytes: byte `j` holds weight `j` in its low nibble and
//! weight `j + 16` in its high nibble, each worth `(q - 8) · d`. Matrices are `[out, in]`, one row
//! of `in / 32` blocks per output. The encoder unpacks them to int8 once at load (`qgemm`).

use super::format::{BLOCK, BLOCK_BYTES};

/// A block's scale.
pub(crate) fn scale(block: &[u8]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32()
}

/// Weights `0..32` of one block as stored nibbles (0..=15, not yet offset by -8).
fn nibbles(block: &[u8], out: &mut [u8]) {
    for j in 0..16 {
        let b = block[2 + j];
        out[j] = b & 0x0f;
        out[j + 16] = b >> 4;
    }
}

/// Dequantize one row of `cols` weights (a word embedding, or a test's reference).
pub(crate) fn dequantize_row(row: &[u8], cols: usize, out: &mut [f32]) {
    let mut q = [0u8; BLOCK];
    for (b, o) in row.chunks_exact(BLOCK_BYTES).zip(out[..cols].chunks_exact_mut(BLOCK)) {
        let d = scale(b);
        nibbles(b, &mut q);
        for (v, &n) in o.iter_mut().zip(&q) {
            *v = (f32::from(n) - 8.0) * d;
        }
    }
}

/// Weight `(o, k)` of a matrix stored as `nb` blocks per row, as int8 (`q - 8`, in -8..=7).
pub(crate) fn weight(data: &[u8], nb: usize, o: usize, k: usize) -> i8 {
    let blk = &data[(o * nb + k / BLOCK) * BLOCK_BYTES..];
    let j = k % BLOCK;
    let byte = blk[2 + j % 16];
    let q = if j < 16 { byte & 0x0f } else { byte >> 4 };
    q as i8 - 8
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn blocks(seed: &[u8], rows: usize, cols: usize) -> Vec<u8> {
        let n = rows * cols / BLOCK;
        let mut out = Vec::with_capacity(n * BLOCK_BYTES);
        for i in 0..n {
            let d = half::f16::from_f32(0.001 + f32::from(seed[i % seed.len()]) / 4000.0);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
            for j in 0..16 {
                out.push(seed[(i * 16 + j * 7 + 3) % seed.len()].wrapping_mul(37).wrapping_add(j as u8));
            }
        }
        out
    }

    fn inputs(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..rows * cols)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 6.0
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// `weight` reads the same value `dequantize_row` does, before the scale.
        #[test]
        fn weight_agrees_with_dequantize(
            rows in 1usize..5, nb in 1usize..4, seed in proptest::collection::vec(any::<u8>(), 64),
        ) {
            let cols = nb * BLOCK;
            let data = blocks(&seed, rows, cols);
            let mut row = vec![0f32; cols];
            for o in 0..rows {
                dequantize_row(&data[o * nb * BLOCK_BYTES..(o + 1) * nb * BLOCK_BYTES], cols, &mut row);
                for k in 0..cols {
                    let d = scale(&data[(o * nb + k / BLOCK) * BLOCK_BYTES..]);
                    prop_assert_eq!(f32::from(weight(&data, nb, o, k)) * d, row[k]);
                }
            }
        }

        /// Packed for qgemm, a 4-bit matrix gives the dequantized f32 product within the int8
        /// activations' rounding bound (every kernel is checked against scalar in qgemm's tests).
        #[test]
        fn packed_product_matches_dequantized(
            rows in 1usize..20, nb in 1usize..4, tokens in 1usize..5,
            seed in proptest::collection::vec(any::<u8>(), 64), xs in any::<u64>(),
        ) {
            use super::super::super::qgemm::{matmul, Activations, Bits, Kernel, Weights};
            let cols = nb * BLOCK;
            let data = blocks(&seed, rows, cols);
            let scales: Vec<f32> = data.chunks_exact(BLOCK_BYTES).map(scale).collect();
            let w = Weights::pack(Bits::Four, rows, cols, BLOCK, |o, k| weight(&data, nb, o, k), &scales).unwrap();
            let x = inputs(tokens, cols, xs);
            let kernel = Kernel::best();
            let mut a = Activations::default();
            a.quantize(&x, tokens, &w, kernel);
            let bias = vec![0.5f32; rows];
            let mut y = vec![0f32; tokens * rows];
            matmul(kernel, &w, &a, &bias, &mut y);
            let mut wrow = vec![0f32; cols];
            for o in 0..rows {
                dequantize_row(&data[o * nb * BLOCK_BYTES..(o + 1) * nb * BLOCK_BYTES], cols, &mut wrow);
                for t in 0..tokens {
                    let xt = &x[t * cols..(t + 1) * cols];
                    let exact: f32 = 0.5 + xt.iter().zip(&wrow).map(|(a, b)| a * b).sum::<f32>();
                    // Each activation is off by at most half its block's step (amax / 127 / 2).
                    let bound: f32 = (0..cols)
                        .map(|i| {
                            let blk = &xt[i / BLOCK * BLOCK..(i / BLOCK + 1) * BLOCK];
                            wrow[i].abs() * blk.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0 * 0.5
                        })
                        .sum::<f32>() * 1.01 + 1e-4;
                    let got = y[t * rows + o];
                    prop_assert!((got - exact).abs() <= bound, "{got} vs {exact}, bound {bound}");
                }
            }
        }
    }

    #[test]
    fn nibble_layout_low_then_high() {
        // Scale 1.0; byte j = (j + 16 weight) << 4 | (j weight).
        let mut blk = half::f16::from_f32(1.0).to_bits().to_le_bytes().to_vec();
        blk.extend((0..16u8).map(|j| (15 - j) << 4 | j));
        let mut out = [0f32; 32];
        dequantize_row(&blk, 32, &mut out);
        for j in 0..16 {
            assert_eq!(out[j], j as f32 - 8.0);
            assert_eq!(out[j + 16], (15 - j) as f32 - 8.0);
        }
    }
}
