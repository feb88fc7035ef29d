//! Target `wal_replay`: arbitrary bytes through `wal::replay`, the parser of the write-ahead log.
//! Beyond "no panic", what it returns must be what a log means: a typed error, or complete records
//! that survive a canonical re-encoding, a torn tail cut at any byte that keeps exactly the whole
//! records before it, and damage in the middle of a log that is refused rather than cut off.

use ember_core::index::wal::{encode, header, replay, Op};
use ember_core::Error;

use super::Input;
use crate::damage::{repair_wal, WAL_HEADER};

/// Flag: check the log against the fingerprint its own header names (else a fixed one).
pub const OWN_FINGERPRINT: u8 = 1;
/// Flag: recompute every record's checksum first, so damage reaches the record decoder.
pub const REPAIR: u8 = 2;

fn fingerprint_of(log: &[u8]) -> u64 {
    log.get(16..WAL_HEADER).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// The encodings of `ops`: `Op` holds floats (NaN ≠ NaN), so records are compared as bytes.
fn encodings(ops: &[Op]) -> Vec<Vec<u8>> {
    ops.iter().map(encode).collect()
}

/// A flags byte, a byte choosing where to cut and damage, then the log.
pub fn wal_replay(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let pick = usize::from(input.u8());
    let mut log = input.rest().to_vec();
    if flags & REPAIR != 0 {
        repair_wal(&mut log, None);
    }
    let fingerprint = if flags & OWN_FINGERPRINT != 0 { fingerprint_of(&log) } else { 0x00e3_b0c4_4298_fc1c };
    let r = match replay(&log, fingerprint) {
        Ok(r) => r,
        Err(Error::Corrupt(_) | Error::IncompatibleVersion { .. }) => return,
        Err(e) => panic!("replay failed with an untyped error: {e:?}"),
    };
    let valid = usize::try_from(r.valid_len).unwrap_or(usize::MAX);
    assert_eq!(r.valid_len + r.dropped, log.len() as u64, "valid + dropped is not the log's length");
    assert!(valid == 0 || valid >= WAL_HEADER, "valid length {valid} inside the header");
    assert!(!r.ops.is_empty() || valid <= WAL_HEADER, "bytes kept without a record");
    let ops = encodings(&r.ops);

    // The kept prefix replays to the same records with nothing dropped.
    let prefix =
        replay(&log[..valid], fingerprint).unwrap_or_else(|e| panic!("the kept prefix is refused: {e}"));
    assert_eq!(encodings(&prefix.ops), ops, "the kept prefix replays differently");
    assert_eq!(prefix.dropped, 0);
    if valid == 0 {
        return;
    }

    // Canonical re-encoding: written back as the writer would, the records read back unchanged.
    let mut canonical = header(fingerprint);
    let mut ends = Vec::with_capacity(ops.len());
    for op in &ops {
        canonical.extend_from_slice(op);
        ends.push(canonical.len());
    }
    let again =
        replay(&canonical, fingerprint).unwrap_or_else(|e| panic!("a re-encoded log is refused: {e}"));
    assert_eq!(encodings(&again.ops), ops, "records change through a re-encoding");
    assert_eq!(again.dropped, 0);

    // A torn tail, cut at a few bytes: exactly the whole records before the cut survive.
    for k in 0..4 {
        let cut = (pick * 131 + k * 977) % (canonical.len() + 1);
        let torn = replay(&canonical[..cut], fingerprint).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        assert_eq!(encodings(&torn.ops), ops[..whole].to_vec(), "cut at {cut}: wrong records kept");
    }

    // Damage inside a record that has a whole record after it cannot be a torn write: refused.
    if ops.len() >= 2 {
        let victim = pick % (ops.len() - 1);
        let start = if victim == 0 { WAL_HEADER } else { ends[victim - 1] };
        let payload = start + 12..ends[victim];
        let at = payload.start + pick % payload.len();
        let mut bad = canonical.clone();
        bad[at] ^= 1 << (pick % 8);
        let r = replay(&bad, fingerprint);
        assert!(matches!(r, Err(Error::Corrupt(_))), "damage in record {victim} of {}: {r:?}", ops.len());
    }
}
