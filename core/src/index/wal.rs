//! The write-ahead log: every add, update and delete is appended here (and fsynced, with
//! `Durability::Sync`) before the call returns; a commit folds it into a new segment.
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

use super::metadata::{self, Metadata};
use crate::store::codec::{Dec, Enc};
use crate::{Error, Result};

const MAGIC: [u8; 8] = *b"EMBERWAL";
const VERSION: u32 = 1;
/// Bytes before the first record.
pub const HEADER_BYTES: usize = 24;
const RECORD_HEAD: usize = 12;
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

fn decode_payload(payload: &[u8]) -> Option<Op> {
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

/// What replaying a log found.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The complete records, in order.
    pub ops: Vec<Op>,
    /// Bytes up to the end of the last complete record (where appending resumes).
    pub valid_len: u64,
    /// Bytes of a torn tail dropped after it.
    pub dropped: u64,
}

/// Parse a log. A missing or cut header reads as an empty log; a header for another segment
/// (`fingerprint` differs) or with a bad magic or version is `Corrupt`.
pub fn replay(bytes: &[u8], fingerprint: u64) -> Result<Replay> {
    if bytes.len() < HEADER_BYTES {
        return Ok(Replay { ops: Vec::new(), valid_len: 0, dropped: bytes.len() as u64 });
    }
    let head = &bytes[..HEADER_BYTES];
    if head[..8] != MAGIC {
        return Err(Error::Corrupt("write-ahead log: bad magic".into()));
    }
    let version = crate::store::le::u32_at(head, 8).unwrap_or(0);
    if version != VERSION {
        let found = u16::try_from(version).unwrap_or(u16::MAX);
        return Err(Error::IncompatibleVersion { found, supported: VERSION as u16 });
    }
    let logged_for = u64::from_le_bytes(head[16..24].try_into().unwrap_or([0; 8]));
    if logged_for != fingerprint {
        return Err(Error::Corrupt("write-ahead log belongs to another segment".into()));
    }
    let mut ops = Vec::new();
    let mut pos = HEADER_BYTES;
    while bytes.len() - pos >= RECORD_HEAD {
        let Some(payload) = intact_payload(bytes, pos) else {
            // A torn append is the last thing in a log. A damaged record followed by an intact one
            // is damage in the middle, with acknowledged records after it: refuse rather than cut
            // them off. (Damage to the last record, or to a length field, reads as torn.)
            let claimed = record_len(bytes, pos).unwrap_or(usize::MAX);
            let next = pos.saturating_add(RECORD_HEAD).saturating_add(claimed);
            if intact_payload(bytes, next).is_some() {
                return Err(Error::Corrupt(format!(
                    "write-ahead log: the record at byte {pos} is damaged and complete records follow it"
                )));
            }
            break;
        };
        // Complete and checksummed, so not torn: a payload that does not decode was written by a
        // newer version or a bug.
        let op = decode_payload(payload).ok_or_else(|| {
            Error::Corrupt(format!("write-ahead log: the record at byte {pos} does not decode"))
        })?;
        ops.push(op);
        pos += RECORD_HEAD + payload.len();
    }
    Ok(Replay { ops, valid_len: pos as u64, dropped: (bytes.len() - pos) as u64 })
}

/// The length a record head at `pos` claims, if the head is there and the length is acceptable.
fn record_len(bytes: &[u8], pos: usize) -> Option<usize> {
    let len = crate::store::le::u32_at(bytes, pos)? as usize;
    (len <= MAX_RECORD_BYTES).then_some(len)
}

/// The payload of the record at `pos`, if it is whole and matches its checksum.
fn intact_payload(bytes: &[u8], pos: usize) -> Option<&[u8]> {
    let len = record_len(bytes, pos)?;
    let sum = u64::from_le_bytes(bytes.get(pos + 4..pos + RECORD_HEAD)?.try_into().ok()?);
    let payload = bytes.get(pos + RECORD_HEAD..(pos + RECORD_HEAD).checked_add(len)?)?;
    (crate::store::checksum(payload) == sum).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Op> {
        let mut m = Metadata::new();
        m.insert("k".into(), metadata::Value::Int(3));
        vec![
            Op::Upsert(vec![
                Entry { id: "a".into(), text: "alpha".into(), metadata: m, vector: vec![0.5, -0.5] },
                Entry { id: "b".into(), text: "".into(), metadata: Metadata::new(), vector: vec![1.0, 0.0] },
            ]),
            Op::Delete(vec!["a".into()]),
        ]
    }

    #[test]
    fn round_trip_and_torn_tails() {
        let mut log = header(42);
        let ends: Vec<usize> = sample()
            .iter()
            .map(|op| {
                log.extend(encode(op));
                log.len()
            })
            .collect();
        let r = replay(&log, 42).unwrap();
        assert_eq!((r.ops, r.valid_len, r.dropped), (sample(), log.len() as u64, 0));
        // Every cut keeps exactly the records that are whole.
        for cut in 0..log.len() {
            let r = replay(&log[..cut], 42).unwrap();
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(r.ops, sample()[..whole].to_vec(), "cut {cut}");
            assert_eq!(r.valid_len + r.dropped, cut as u64);
        }
        // A flipped bit in the last record drops that record only.
        let mut bad = log.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(replay(&bad, 42).unwrap().ops, sample()[..1].to_vec());
        // A flipped bit in the first record, with an intact one after it: damage, not a torn tail.
        let mut mid = log.clone();
        mid[HEADER_BYTES + RECORD_HEAD + 2] ^= 1;
        assert!(matches!(replay(&mid, 42), Err(Error::Corrupt(_))));
        // A checksummed record that does not decode (unknown op 9): refused, not dropped as torn.
        let mut odd = header(42);
        let payload = [9u8, 0];
        odd.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        odd.extend_from_slice(&crate::store::checksum(&payload).to_le_bytes());
        odd.extend_from_slice(&payload);
        assert!(matches!(replay(&odd, 42), Err(Error::Corrupt(_))));
        assert!(matches!(replay(&log, 7), Err(Error::Corrupt(_))));
        let mut wrong = log.clone();
        wrong[0] = b'X';
        assert!(matches!(replay(&wrong, 42), Err(Error::Corrupt(_))));
    }
}
