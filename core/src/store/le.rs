//! Bounds-checked little-endian reads from untrusted bytes.

/// The u32 at byte offset `at`, if the four bytes are there.
pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Every whole little-endian u32 in `bytes`, as `usize`.
pub(crate) fn u32s(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
}
