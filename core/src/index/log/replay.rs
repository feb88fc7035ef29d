//! Reading a log back: the complete records in order, and where a torn tail begins.

use super::format::Op;
use super::format::{decode_payload, intact_payload, record_len, HEADER_BYTES, MAGIC, RECORD_HEAD, VERSION};
use crate::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::log::format::{encode, header, Entry};
    use crate::index::metadata::{self, Metadata};

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
