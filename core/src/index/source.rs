//! App-held text: an index built with `TextStorage::None` keeps a 4-byte fingerprint per passage
//! instead of its text, and asks the app's [`TextSource`] for texts when it needs them (recompute,
//! materializing vectors, building a keyword index, `get`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::{Error, Result};

/// The app's own store of passage texts (its notes, mail or messages database), for an index that
/// keeps none.
///
/// Ember asks once per search for every candidate it re-embeds, and in batches while it
/// materializes vectors or builds a keyword index. Each returned text is checked against the
/// fingerprint recorded when the passage was indexed: a text that changed since gives
/// [`Error::TextChanged`], never a wrong score.
pub trait TextSource: Send + Sync {
    /// The texts of passages `ids` (the app's ids), one per id, in the order asked. Fail with any
    /// error (it reaches the caller as [`Error::TextUnavailable`]) when a text cannot be had.
    fn texts(&self, ids: &[String]) -> Result<Vec<String>>;
}

/// An in-memory source: id → text. Handy in tests and for apps that already hold a map.
impl<S: std::hash::BuildHasher + Send + Sync> TextSource for HashMap<String, String, S> {
    fn texts(&self, ids: &[String]) -> Result<Vec<String>> {
        ids.iter()
            .map(|id| {
                self.get(id).cloned().ok_or_else(|| Error::TextUnavailable(format!("no text for {id:?}")))
            })
            .collect()
    }
}

/// The 4-byte fingerprint of a passage's text (the low half of its xxh3-64). A changed text
/// passes unnoticed with probability 2^-32.
pub(crate) fn fingerprint(text: &str) -> u32 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes()) as u32
}

/// The source an index asks, if the app set one (kept in each snapshot so every reader sees the
/// same one).
#[derive(Clone, Default)]
pub(crate) struct Slot(pub Option<Arc<dyn TextSource>>);

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Slot(Some(..))" } else { "Slot(None)" })
    }
}

impl Slot {
    /// Texts of `ids` from the app, checked: one per id, each with its recorded fingerprint.
    pub fn fetch(&self, ids: &[String], fingerprints: &[u32]) -> Result<Vec<String>> {
        let source = self.0.as_ref().ok_or_else(|| {
            Error::TextUnavailable(
                "the index keeps no text (built with text none) and no text source is set".into(),
            )
        })?;
        let texts = source.texts(ids).map_err(|e| match e {
            Error::TextUnavailable(_) | Error::TextChanged { .. } => e,
            other => Error::TextUnavailable(format!("the text source failed: {other}")),
        })?;
        if texts.len() != ids.len() {
            return Err(Error::TextUnavailable(format!(
                "the text source returned {} texts for {} ids",
                texts.len(),
                ids.len()
            )));
        }
        for ((id, text), &expected) in ids.iter().zip(&texts).zip(fingerprints) {
            if fingerprint(text) != expected {
                return Err(Error::TextChanged { id: id.clone() });
            }
        }
        Ok(texts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(map: &[(&str, &str)]) -> Slot {
        let m: HashMap<String, String> = map.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        Slot(Some(Arc::new(m)))
    }

    #[test]
    fn checks_count_fingerprint_and_presence() {
        let s = slot(&[("a", "alpha"), ("b", "beta")]);
        let ids = vec!["a".to_string(), "b".to_string()];
        let fps = [fingerprint("alpha"), fingerprint("beta")];
        assert_eq!(s.fetch(&ids, &fps).unwrap(), vec!["alpha", "beta"]);
        let wrong = [fingerprint("alpha"), fingerprint("BETA")];
        assert!(matches!(s.fetch(&ids, &wrong), Err(Error::TextChanged { id }) if id == "b"));
        let missing = vec!["a".to_string(), "zz".to_string()];
        assert!(matches!(s.fetch(&missing, &fps), Err(Error::TextUnavailable(_))));
        assert!(matches!(Slot::default().fetch(&ids, &fps), Err(Error::TextUnavailable(_))));
    }

    #[test]
    fn a_source_returning_the_wrong_count_is_refused() {
        struct Short;
        impl TextSource for Short {
            fn texts(&self, ids: &[String]) -> Result<Vec<String>> {
                Ok(ids.iter().skip(1).cloned().collect())
            }
        }
        let s = Slot(Some(Arc::new(Short)));
        let ids = vec!["a".to_string(), "b".to_string()];
        let err = s.fetch(&ids, &[fingerprint("a"), fingerprint("b")]).unwrap_err();
        assert!(err.to_string().contains("1 texts for 2 ids"), "{err}");
    }
}
