//! The write-ahead log: every add, update and delete is appended here (and fsynced, with
//! `Durability::Sync`) before the call returns; a commit folds it into a new segment. One home
//! for all of it: the bytes ([`format`]), appending a record ([`append`]), cutting a torn tail
//! ([`cut`]) and reading the records back ([`replay`]).

pub(crate) mod append;
pub(crate) mod cut;
pub mod format;
pub mod replay;

pub use format::{encode, header, Entry, Op, HEADER_BYTES, MAX_RECORD_BYTES};
pub use replay::{replay, Replay};
