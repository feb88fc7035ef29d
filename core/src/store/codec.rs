//! Bounds-checked encoding of records (WAL entries, metadata): varints, length-prefixed bytes,
//! little-endian floats. Every read of untrusted bytes returns `None` instead of reading past the end.

use super::varint;

/// Appends fields to a byte buffer.
#[derive(Debug, Default)]
pub(crate) struct Enc {
    pub buf: Vec<u8>,
}

impl Enc {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn uvar(&mut self, v: u64) {
        varint::put(&mut self.buf, v);
    }
    /// Signed, zig-zag encoded.
    pub fn ivar(&mut self, v: i64) {
        varint::put(&mut self.buf, ((v << 1) ^ (v >> 63)) as u64);
    }
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.uvar(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    /// A length-prefixed run of f32s.
    pub fn f32s(&mut self, v: &[f32]) {
        self.uvar(v.len() as u64);
        for x in v {
            self.buf.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// Reads fields back; every method checks bounds.
#[derive(Debug)]
pub(crate) struct Dec<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Dec { bytes, pos: 0 }
    }
    pub fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    pub fn uvar(&mut self) -> Option<u64> {
        varint::get(self.bytes, &mut self.pos)
    }
    /// A count that must fit in what remains (each item takes at least `min_item` bytes), so a
    /// corrupt count can never cause a large allocation.
    pub fn count(&mut self, min_item: usize) -> Option<usize> {
        let n = usize::try_from(self.uvar()?).ok()?;
        (n.checked_mul(min_item.max(1))? <= self.bytes.len() - self.pos).then_some(n)
    }
    pub fn ivar(&mut self) -> Option<i64> {
        let u = self.uvar()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }
    pub fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.uvar()?).ok()?;
        self.take(n)
    }
    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    pub fn f32s(&mut self) -> Option<Vec<f32>> {
        let n = self.count(4)?;
        let raw = self.take(n * 4)?;
        Some(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let mut e = Enc::default();
        e.u8(7);
        e.ivar(-5);
        e.ivar(i64::MIN);
        e.f64(2.5);
        e.str("héllo");
        e.f32s(&[1.0, -2.0]);
        let mut d = Dec::new(&e.buf);
        assert_eq!(d.u8(), Some(7));
        assert_eq!(d.ivar(), Some(-5));
        assert_eq!(d.ivar(), Some(i64::MIN));
        assert_eq!(d.f64(), Some(2.5));
        assert_eq!(d.str(), Some("héllo"));
        assert_eq!(d.f32s(), Some(vec![1.0, -2.0]));
        assert!(d.done());
        for cut in 0..e.buf.len() {
            let mut d = Dec::new(&e.buf[..cut]);
            let ok = (|| Some((d.u8()?, d.ivar()?, d.ivar()?, d.f64()?, d.str()?.len(), d.f32s()?)))();
            assert!(ok.is_none(), "cut {cut} decoded");
        }
        // A huge count is refused before any allocation.
        let mut e = Enc::default();
        e.uvar(1 << 40);
        assert_eq!(Dec::new(&e.buf).f32s(), None);
    }
}
