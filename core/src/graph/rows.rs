//! The vectors a graph is built over: f32 rows, or f16 rows that halve a build's largest buffer
//! (a million 384-dimensional vectors: 1.5 GB in f32, 0.77 GB in f16).

use std::cell::RefCell;

use half::f16;

/// Row-major vectors, `dim` values per row, in f32 or f16. Distances are computed in f32 either way
/// (an f16 row is widened inside the dot product).
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// Full precision.
    F32(&'a [f32]),
    /// Half precision (relative rounding 2^-11 per value).
    F16(&'a [f16]),
}

impl<'a> Rows<'a> {
    /// Number of values (rows × dim).
    pub(crate) fn values(self) -> usize {
        match self {
            Rows::F32(v) => v.len(),
            Rows::F16(v) => v.len(),
        }
    }

    /// Whether every value is finite.
    pub(crate) fn all_finite(self) -> bool {
        match self {
            Rows::F32(v) => v.iter().all(|x| x.is_finite()),
            Rows::F16(v) => v.iter().all(|x| x.is_finite()),
        }
    }

    /// `dot(query, row i)`; `i` trusted in range.
    #[inline]
    pub(crate) fn dot(self, dim: usize, query: &[f32], i: u32) -> f32 {
        let at = i as usize * dim..(i as usize + 1) * dim;
        match self {
            Rows::F32(v) => crate::distance::dot(query, &v[at]),
            Rows::F16(v) => crate::distance::dot_f16(query, &v[at]),
        }
    }

    /// The distance of unit vectors, `1 - dot(query, row i)` (half the squared Euclidean distance);
    /// `i` trusted in range. Clamped at 0 against rounding, which the α rule of RobustPrune needs
    /// (`α·d` must grow with `α`).
    #[inline]
    pub(crate) fn distance(self, dim: usize, query: &[f32], i: u32) -> f32 {
        (1.0 - self.dot(dim, query, i)).max(0.0)
    }

    /// Row `i` in f32: borrowed from f32 rows, widened into `buf` from f16 ones.
    #[inline]
    pub(crate) fn row<'b>(self, dim: usize, i: u32, buf: &'b mut Vec<f32>) -> &'b [f32]
    where
        'a: 'b,
    {
        let at = i as usize * dim..(i as usize + 1) * dim;
        match self {
            Rows::F32(v) => &v[at],
            Rows::F16(v) => {
                buf.clear();
                buf.extend(v[at].iter().map(|x| x.to_f32()));
                buf
            }
        }
    }

    /// The distance between rows `a` and `b`, for RobustPrune, which asks for many `b` per `a`:
    /// an f16 row `a` is widened once per run of calls with the same `a`.
    pub(crate) fn pair_distance(self, dim: usize) -> impl Fn(u32, u32) -> f32 + 'a {
        let widened: RefCell<(u32, Vec<f32>)> = RefCell::new((u32::MAX, Vec::new()));
        move |a, b| match self {
            Rows::F32(v) => {
                let a = &v[a as usize * dim..(a as usize + 1) * dim];
                self.distance(dim, a, b)
            }
            Rows::F16(_) => {
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
    fn f16_rows_give_the_f32_distances_within_rounding() {
        let dim = 8;
        let v32: Vec<f32> = (0..4 * dim).map(|i| ((i * 37 % 11) as f32 - 5.0) / 8.0).collect();
        let v16: Vec<f16> = v32.iter().map(|&x| f16::from_f32(x)).collect();
        let (a, b) = (Rows::F32(&v32), Rows::F16(&v16));
        let (da, db) = (a.pair_distance(dim), b.pair_distance(dim));
        for i in 0..4 {
            for j in 0..4 {
                assert!((da(i, j) - db(i, j)).abs() < 2e-3, "{i} {j}: {} vs {}", da(i, j), db(i, j));
            }
        }
        let mut buf = Vec::new();
        assert_eq!(a.row(dim, 2, &mut buf), &v32[16..24]);
        assert_eq!(b.row(dim, 2, &mut buf), &v32[16..24], "these values are exact in f16");
        assert!(b.all_finite());
        assert!(!Rows::F16(&[f16::INFINITY]).all_finite());
    }
}
