//! On-disk storage: immutable checksummed segments, the vector sidecar, ids and the text store.

mod atomic;
pub(crate) mod codec;
mod faulty;
mod format;
mod ids;
pub(crate) mod le;
mod mmap;
mod os_error;
mod read;
mod segment;
mod storage;
mod text;
pub(crate) mod varint;

pub use atomic::{atomic_write, sync_dir};
pub use faulty::{Fault, FaultyStorage};
pub use format::{checksum, SectionKind, FORMAT_MAJOR, FORMAT_MINOR, READABLE_MAJORS};
pub use ids::{encode_ids, IdsView, MAX_ID_BYTES};
pub use mmap::Mapped;
pub(crate) use os_error::write_err;
pub use read::read_regular;
pub use segment::{fingerprint, Segment, SegmentWriter};
pub use storage::{RealStorage, Storage};
pub use text::{encode_texts, TextView};
