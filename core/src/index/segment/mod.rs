//! A segment: one immutable file per generation holding the graph, codes, ids, text and metadata.
//! Written once ([`write`]), made current ([`publish`]), mapped and validated ([`load`]).

pub(crate) mod load;
pub(crate) mod meta;
pub(crate) mod publish;
pub(crate) mod write;
