//! The write path: opening (replay), applying an operation, the writer's entry points (add,
//! update, delete), graph inserts and repair, commit, compaction, building, the vector sidecar
//! and the keyword index. One writer at a time, behind the handle's mutex; it may use the read path's walk.

pub(crate) mod apply;
pub(crate) mod build;
pub(crate) mod calibrate;
pub(crate) mod commit;
pub(crate) mod compact;
pub(crate) mod insert;
pub(crate) mod keywords;
pub(crate) mod open;
pub(crate) mod staged;
pub(crate) mod vectors;
pub(crate) mod writer;
