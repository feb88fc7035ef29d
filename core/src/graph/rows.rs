//! The vectors a graph is built over: f32 rows, or i8 rows with a scale each, which quarter a
//! build's largest buffer (a million 384-dimensional vectors: 1.5 GB in f32, 0.39 GB in i8).

use std::cell::RefCell;

/// Row-major vectors, `dim` values per row, in f32 or i8. Distances are computed in f32 either way
/// (an i8 row is widened inside the dot product).
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// Full precision.
    F32(&'a [f32]),
    /// Row `i` is `values[i·dim..(i+1)·dim] × scales[i]` (see [`quantize_i8`]).
    I8(&'a [i8], &'a [f32]),
}

/// `row` as i8 steps of its largest magnitude / 127, appended to `out`; returns the step (the
/// row's scale). Rounding moves a value by at most half a step (0.4% of the largest), which for
/// unit vectors of 384 dimensions moves a dot product by about 0.001, below what a graph's
/// neighbour choices notice (docs/BENCHMARKS.md, "One million passages"). A row with a NaN or an
/// infinity gets a non-finite scale, which [`Rows::all_finite`] reports.
pub(crate) fn quantize_i8(row: &[f32], out: &mut Vec<i8>) -> f32 {
    let max = row.iter().fold(0f32, |m, x| if x.abs() > m || x.is_nan() { x.abs() } else { m });
    if !max.is_finite() {
        out.extend(std::iter::repeat_n(0, row.len()));
        return f32::NAN;
    }
    let step = max / 127.0;
    let inv = if step > 0.0 { 1.0 / step } else { 0.0 };
    out.extend(row.iter().map(|&x| (x * inv).round().clamp(-127.0, 127.0) as i8));
    step
}

impl<'a> Rows<'a> {
    /// Number of values (rows × dim).
    pub(crate) fn values(self) -> usize {
        match self {
            Rows::F32(v) => v.len(),
            Rows::I8(v, _) => v.len(),
        }
    }

    /// Whether every value is finite.
    pub(crate) fn all_finite(self) -> bool {
        match self {
            Rows::F32(v) => v.iter().all(|x| x.is_finite()),
            Rows::I8(_, scales) => scales.iter().all(|x| x.is_finite()),
        }
    }

    /// `dot(query, row i)`; `i` trusted in range.
    #[inline]
    pub(crate) fn dot(self, dim: usize, query: &[f32], i: u32) -> f32 {
        let at = i as usize * dim..(i as usize + 1) * dim;
        match self {
            Rows::F32(v) => crate::distance::dot(query, &v[at]),
            Rows::I8(v, scales) => crate::distance::dot_i8(query, &v[at]) * scales[i as usize],
        }
    }

    /// The distance of unit vectors, `1 - dot(query, row i)` (half the squared Euclidean distance);
    /// `i` trusted in range. Clamped at 0 against rounding, which the α rule of RobustPrune needs
    /// (`α·d` must grow with `α`).
    #[inline]
    pub(crate) fn distance(self, dim: usize, query: &[f32], i: u32) -> f32 {
        (1.0 - self.dot(dim, query, i)).max(0.0)
    }

    /// Row `i` in f32: borrowed from f32 rows, widened into `buf` from i8 ones.
    #[inline]
    pub(crate) fn row<'b>(self, dim: usize, i: u32, buf: &'b mut Vec<f32>) -> &'b [f32]
    where
        'a: 'b,
    {
        let at = i as usize * dim..(i as usize + 1) * dim;
        match self {
            Rows::F32(v) => &v[at],
            Rows::I8(v, scales) => {
                let scale = scales[i as usize];
                buf.clear();
                buf.extend(v[at].iter().map(|&x| f32::from(x) * scale));
                buf
            }
        }
    }

    /// The distance between rows `a` and `b`, for RobustPrune, which asks for many `b` per `a`:
    /// an i8 row `a` is widened once per run of calls with the same `a`.
    pub(crate) fn pair_distance(self, dim: usize) -> impl Fn(u32, u32) -> f32 + 'a {
        let widened: RefCell<(u32, Vec<f32>)> = RefCell::new((u32::MAX, Vec::new()));
        move |a, b| match self {
            Rows::F32(v) => {
                let a = &v[a as usize * dim..(a as usize + 1) * dim];
                self.distance(dim, a, b)
            }
            Rows::I8(..) => {
                let mut w = widened.borrow_mut();
                if w.0 != a {
                    // (u32::MAX at first: never a node id, see check_rows)
                    let (_, buf) = &mut *w;
                    self.row(dim, a, buf);
                    w.0 = a;
                }
                self.distance(dim, &w.1, b)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i8_rows_give_the_f32_distances_within_half_a_step() {
        let dim = 16;
        let mut rng = crate::rng::SplitMix64::new(3);
        let mut v32: Vec<f32> = (0..8 * dim).map(|_| rng.below(2001) as f32 / 1000.0 - 1.0).collect();
        for row in v32.chunks_mut(dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        v32[dim..2 * dim].fill(0.0); // a zero row: scale 0, every value 0
        let (mut values, mut scales) = (Vec::new(), Vec::new());
        for row in v32.chunks(dim) {
            scales.push(quantize_i8(row, &mut values));
        }
        let (a, b) = (Rows::F32(&v32), Rows::I8(&values, &scales));
        let mut buf = Vec::new();
        for i in 0..8u32 {
            let step = scales[i as usize];
            for (x, y) in a.row(dim, i, &mut Vec::new()).iter().zip(b.row(dim, i, &mut buf)) {
                assert!((x - y).abs() <= step / 2.0 + 1e-7, "row {i}: {x} vs {y}");
            }
        }
        let (da, db) = (a.pair_distance(dim), b.pair_distance(dim));
        for i in 0..8 {
            for j in 0..8 {
                assert!((da(i, j) - db(i, j)).abs() < 0.02, "{i} {j}: {} vs {}", da(i, j), db(i, j));
            }
        }
        assert_eq!(b.row(dim, 1, &mut buf), &[0.0; 16]);
        assert!(b.all_finite());
        let mut bad = Vec::new();
        assert!(quantize_i8(&[0.5, f32::NAN], &mut bad).is_nan() && bad.len() == 2);
        assert!(quantize_i8(&[f32::INFINITY, 0.5], &mut bad).is_nan() && bad.len() == 4);
        assert!(!Rows::I8(&[0, 0], &[f32::NAN]).all_finite());
    }
}
