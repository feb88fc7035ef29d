//! The write-ahead log's bytes: header, records and payloads.
//!
//! ```text
//! header  := "EMBERWAL" | version u32 | reserved u32 | base segment fingerprint u64     (24 B)
//! record  := payload length u32 | xxh3-64 of payload u64 | payload
//! payload := 1 (upsert) | count | (id, text, metadata, vector)*   — ids replace earlier passages
//!          | 2 (delete) | count | id*
//! ```
//! Replay stops at the first record that is cut short or fails its checksum: that is a write torn
//! by a crash, never an acknowledged one (an acknowledged record was complete, and synced, before
//! its call returned). The torn tail is cut off before new records are appended. A damaged record
//! with an intact one after it, or a checksummed record that does not decode, cannot come from a
//! torn write: that is `Corrupt`, so acknowledged records are never cut off silently.

use crate::index::metadata::{self, Metadata};
use crate::store::codec::{Dec, Enc};

pub(super) const MAGIC: [u8; 8] = *b"EMBERWAL";
pub(super) const VERSION: u32 = 1;
/// Bytes before the first record.
pub const HEADER_BYTES: usize = 24;
pub(super) const RECORD_HEAD: usize = 12;
/// Largest record accepted on replay (a bound read from the file is checked before allocating).
pub const MAX_RECORD_BYTES: usize = 1 << 30;

/// One passage as logged: its vector travels with it, so replay never re-embeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The app's id.
    pub id: String,
    /// The text.
    pub text: String,
    /// Its metadata.
    pub metadata: Metadata,
    /// Its embedding.
    pub vector: Vec<f32>,
}

/// A logged operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Add passages; an id already present is replaced (update).
    Upsert(Vec<Entry>),
    /// Delete passages by id.
    Delete(Vec<String>),
}

/// The log's header for a base segment.
pub fn header(fingerprint: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_BYTES);
    h.extend_from_slice(&MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&fingerprint.to_le_bytes());
    h
}

/// One framed record.
pub fn encode(op: &Op) -> Vec<u8> {
    let mut e = Enc::default();
    match op {
        Op::Upsert(entries) => {
            e.u8(1);
            e.uvar(entries.len() as u64);
            for en in entries {
                e.str(&en.id);
                e.str(&en.text);
                metadata::encode_map(&mut e, &en.metadata);
                e.f32s(&en.vector);
            }
        }
        Op::Delete(ids) => {
            e.u8(2);
            e.uvar(ids.len() as u64);
            for id in ids {
                e.str(id);
            }
        }
    }
    let payload = e.buf;
    let mut out = Vec::with_capacity(RECORD_HEAD + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crate::store::checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

pub(super) fn decode_payload(payload: &[u8]) -> Option<Op> {
    let mut d = Dec::new(payload);
    let op = match d.u8()? {
        1 => {
            let n = d.count(4)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let id = d.str()?.to_owned();
                let text = d.str()?.to_owned();
                let metadata = metadata::decode_map(&mut d)?;
                let vector = d.f32s()?;
                entries.push(Entry { id, text, metadata, vector });
            }
            Op::Upsert(entries)
        }
        2 => {
            let n = d.count(1)?;
            Op::Delete((0..n).map(|_| d.str().map(str::to_owned)).collect::<Option<_>>()?)
        }
        _ => return None,
    };
    d.done().then_some(op)
}

/// The length a record head at `pos` claims, if the head is there and the length is acceptable.
pub(super) fn record_len(bytes: &[u8], pos: usize) -> Option<usize> {
    let len = crate::store::le::u32_at(bytes, pos)? as usize;
    (len <= MAX_RECORD_BYTES).then_some(len)
}

/// The payload of the record at `pos`, if it is whole and matches its checksum.
pub(super) fn intact_payload(bytes: &[u8], pos: usize) -> Option<&[u8]> {
    let len = record_len(bytes, pos)?;
    let sum = u64::from_le_bytes(bytes.get(pos + 4..pos + RECORD_HEAD)?.try_into().ok()?);
    let payload = bytes.get(pos + RECORD_HEAD..(pos + RECORD_HEAD).checked_add(len)?)?;
    (crate::store::checksum(payload) == sum).then_some(payload)
}
