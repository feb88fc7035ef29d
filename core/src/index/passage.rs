//! What an app hands the index: a passage (id, text, metadata), and the checks every passage passes.

use super::metadata::{self, Metadata};
use crate::{Error, Result};

/// One passage to index: the app's id, its text and optional metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Passage {
    /// The app's identifier, unique within the index (at most 1 KiB of UTF-8).
    pub id: String,
    /// The text that is embedded, stored and returned.
    pub text: String,
    /// Key → value pairs that filters test.
    pub metadata: Metadata,
}

impl Passage {
    /// A passage without metadata.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Passage {
        Passage { id: id.into(), text: text.into(), metadata: Metadata::new() }
    }
}

/// One passage's id and metadata.
pub(crate) fn validate_passage(p: &Passage) -> Result<()> {
    if p.id.len() > crate::store::MAX_ID_BYTES {
        return Err(Error::InvalidArgument(format!("passage id longer than 1 KiB: {:.40}…", p.id)));
    }
    metadata::validate(&p.metadata)
}
