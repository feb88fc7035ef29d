//! The `TextSource` apps implement when they keep their passages' text themselves (an index built
//! with `TextStorage::None`), and its bridge to `ember-core`.

use std::sync::Arc;

use crate::EmberError;

pub use ember_core::TextStorage;

/// Whether an index keeps the passages' text.
#[uniffi::remote(Enum)]
pub enum TextStorage {
    /// In the index, compressed (the default): `get` returns it, recompute reads it.
    Store,
    /// Only a 4-byte fingerprint per passage: the app keeps the texts and gives them back through
    /// a `TextSource` (`EmberIndex.setTextSource`). Texts added since the last commit stay in the
    /// index's log until it.
    None,
}

/// The app's own store of passage texts (its notes or mail database), for an index built with
/// `TextStorage.NONE`.
///
/// Ember calls it once per recompute search for every candidate it re-embeds, and in batches
/// from `get`, `materializeVectors`, `buildKeywords` and a commit of an index with keywords.
/// Every text is checked against the fingerprint recorded when its passage was indexed: a changed
/// text fails the call with `TextChanged`, never a wrong score.
#[uniffi::export(with_foreign)]
pub trait TextSource: Send + Sync {
    /// The texts of passages `ids` (your ids), one per id, in order. Throw `EmberError` to fail
    /// the call (it reaches the caller as `TextUnavailable`).
    fn texts(&self, ids: Vec<String>) -> Result<Vec<String>, EmberError>;
}

/// An app source seen as core's.
pub(crate) struct Bridge(pub Arc<dyn TextSource>);

impl ember_core::TextSource for Bridge {
    fn texts(&self, ids: &[String]) -> ember_core::Result<Vec<String>> {
        self.0.texts(ids.to_vec()).map_err(|e| match e {
            EmberError::TextChanged { id } => ember_core::Error::TextChanged { id },
            EmberError::TextUnavailable { detail } => ember_core::Error::TextUnavailable(detail),
            other => ember_core::Error::TextUnavailable(format!("the text source threw: {other}")),
        })
    }
}
