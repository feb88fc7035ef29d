//! Length bucketing: group texts of similar token length into batches with few distinct shapes.
//!
//! Every distinct (rows, seq) shape costs one compiled plan, so shapes are drawn from a small set:
//! seq is rounded up to a multiple of [`SEQ_STEP`] (capped at the token limit), and rows are a
//! power of two no larger than the batch size (a remainder of 13 runs as 8 + 4 + 1, never padded).

/// Sequence lengths are rounded up to a multiple of this.
pub(crate) const SEQ_STEP: usize = 16;

/// One model call: which texts, and the padded sequence length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Indices into the caller's texts; `rows.len()` is a power of two.
    pub rows: Vec<usize>,
    /// Padded sequence length for every row.
    pub seq: usize,
}

/// Round `len` up to the bucket grid, never above `max_tokens`.
pub(crate) fn seq_bucket(len: usize, max_tokens: usize) -> usize {
    len.max(1).div_ceil(SEQ_STEP).saturating_mul(SEQ_STEP).min(max_tokens.max(1))
}

/// Plan batches for texts with the given token lengths.
pub(crate) fn plan(lengths: &[usize], batch_size: usize, max_tokens: usize) -> Vec<Batch> {
    let batch_size = prev_power_of_two(batch_size.max(1));
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    // Longest first; stable so equal lengths keep input order (deterministic output).
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches = Vec::new();
    let mut rest = &order[..];
    while !rest.is_empty() {
        let rows = prev_power_of_two(rest.len()).min(batch_size);
        let (take, tail) = rest.split_at(rows);
        let seq = seq_bucket(lengths[take[0]], max_tokens);
        batches.push(Batch { rows: take.to_vec(), seq });
        rest = tail;
    }
    batches
}

fn prev_power_of_two(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - n.leading_zeros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        assert_eq!(seq_bucket(0, 128), 16);
        assert_eq!(seq_bucket(16, 128), 16);
        assert_eq!(seq_bucket(17, 128), 32);
        assert_eq!(seq_bucket(128, 128), 128);
        assert_eq!(seq_bucket(120, 100), 100);
    }

    #[test]
    fn remainder_splits_into_powers_of_two() {
        let lengths = vec![10; 13];
        let sizes: Vec<usize> = plan(&lengths, 32, 128).iter().map(|b| b.rows.len()).collect();
        assert_eq!(sizes, vec![8, 4, 1]);
        let lengths = vec![10; 70];
        let sizes: Vec<usize> = plan(&lengths, 32, 128).iter().map(|b| b.rows.len()).collect();
        assert_eq!(sizes, vec![32, 32, 4, 2]);
    }

    #[test]
    fn every_text_once_and_seq_covers_it() {
        let lengths: Vec<usize> = (0..57).map(|i| (i * 37) % 130).collect();
        let batches = plan(&lengths, 8, 128);
        let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.rows.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..57).collect::<Vec<_>>());
        for b in &batches {
            assert!(b.rows.len().is_power_of_two() && b.rows.len() <= 8);
            for &r in &b.rows {
                assert!(b.seq >= lengths[r].min(128));
            }
        }
    }
}
