//! Applying one logged operation to a snapshot: live writes (on the writer's private copy) and
//! log replay at open share this, so both reach the same state.

use std::sync::Arc;

use super::insert::{self, Limits};
use crate::index::log::Op;
use crate::index::read::walk::Scratch;
use crate::index::segment::meta::DELETED;
use crate::index::snapshot::{Added, Snapshot};
use crate::{Error, Result};

/// Apply one logged operation to `snap` (live writes and replay share this).
pub(crate) fn apply(snap: &mut Snapshot, op: &Op, limits: Limits, scratch: &mut Scratch) -> Result<()> {
    match op {
        Op::Upsert(entries) => {
            for e in entries {
                let dim = snap.base.meta.dim;
                if e.vector.len() != dim {
                    return Err(Error::DimensionMismatch { expected: dim, found: e.vector.len() });
                }
                if let Some(old) = snap.ids.get(&e.id) {
                    mark_deleted(snap, old);
                }
                let quantizer = &snap.base.quantizer;
                let mut code = vec![0u8; quantizer.code_bytes()];
                quantizer.encode(&e.vector, &mut code)?;
                let position = quantizer.position(&e.vector)?;
                let node = u32::try_from(snap.len())
                    .map_err(|_| Error::InvalidArgument("too many passages for one index".into()))?;
                snap.added.push(Arc::new(Added {
                    id: e.id.clone(),
                    text: e.text.clone(),
                    metadata: e.metadata.clone(),
                    vector: e.vector.clone(),
                    code,
                    position,
                    terms: match &snap.keywords {
                        Some(Ok(kw)) => Some(kw.analyze(&e.text)),
                        _ => None,
                    },
                }));
                snap.adj.push(None);
                snap.flags.push(0);
                snap.live += 1;
                snap.ids.set(&e.id, Some(node));
                insert::insert(snap, node, limits, scratch)?;
            }
        }
        Op::Delete(del) => {
            for id in del {
                if let Some(node) = snap.ids.get(id) {
                    mark_deleted(snap, node);
                    snap.ids.set(id, None);
                }
            }
        }
    }
    snap.logged_ops += 1;
    Ok(())
}

fn mark_deleted(snap: &mut Snapshot, node: u32) {
    if let Some(&f) = snap.flags.get(node as usize) {
        if f & DELETED == 0 {
            snap.flags.set(node as usize, f | DELETED);
            snap.live -= 1;
        }
    }
}
