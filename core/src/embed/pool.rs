//! Mean pooling of token embeddings over the attention mask.

use super::l2_normalize;

/// Mean of `hidden[row, t, :]` over the tokens `t < len`, optionally L2-normalized.
///
/// `hidden` is row-major `[rows, seq, dim]`; padded positions (t ≥ len) are ignored, which is the
/// same as weighting by the attention mask.
pub(crate) fn mean_pool(
    hidden: &[f32],
    seq: usize,
    dim: usize,
    len: usize,
    row: usize,
    normalize: bool,
) -> Vec<f32> {
    let mut out = vec![0f32; dim];
    let base = row * seq * dim;
    for t in 0..len {
        let tok = &hidden[base + t * dim..base + (t + 1) * dim];
        out.iter_mut().zip(tok).for_each(|(o, x)| *o += x);
    }
    let n = len.max(1) as f32;
    out.iter_mut().for_each(|x| *x /= n);
    if normalize {
        l2_normalize(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_padding() {
        // rows=1, seq=3, dim=2; only the first two tokens count.
        let hidden = [1.0, 0.0, 3.0, 0.0, 100.0, 100.0];
        assert_eq!(mean_pool(&hidden, 3, 2, 2, 0, false), vec![2.0, 0.0]);
        assert_eq!(mean_pool(&hidden, 3, 2, 2, 0, true), vec![1.0, 0.0]);
    }
}
