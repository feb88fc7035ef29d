//! The public error: a short list of cases a caller can act on, mapped from `ember_core::Error`.

/// Why an Ember call failed. Kotlin sees `EmberException`, Swift `EmberError`, C an `EmberResult`.
///
/// New cases are added at the end; callers should keep a default branch.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum EmberError {
    /// An argument is outside its allowed range (k = 0, duplicate ids, bad UTF-8, ...).
    #[error("invalid argument: {detail}")]
    InvalidArgument {
        /// What is wrong.
        detail: String,
    },
    /// A vector's length differs from the index's or the embedder's dimension.
    #[error("dimension mismatch: expected {expected}, found {found}")]
    DimensionMismatch {
        /// The dimension required.
        expected: u64,
        /// The dimension given.
        found: u64,
    },
    /// A file or directory that must exist does not (model dir, index dir).
    #[error("not found: {detail}")]
    NotFound {
        /// What was expected, and where.
        detail: String,
    },
    /// Reading or writing a file failed.
    #[error("i/o error: {detail}")]
    Io {
        /// The operation, the file and the operating system's error.
        detail: String,
    },
    /// Stored index data failed validation; rebuild the index.
    #[error("corrupt index: {detail}")]
    Corrupt {
        /// What failed validation.
        detail: String,
    },
    /// The index was written by an incompatible format version; rebuild it.
    #[error("incompatible index format {found} (this build reads {supported})")]
    IncompatibleVersion {
        /// The format major version found.
        found: u32,
        /// The format major version this build reads.
        supported: u32,
    },
    /// The model directory does not hold a usable model (file, tokenizer, manifest, inputs).
    #[error("invalid model: {detail}")]
    InvalidModel {
        /// What is wrong with it.
        detail: String,
    },
    /// The index was built with another embedding model than the one given, or with the same
    /// model and other prefixes (then both fields read `query prefix "..."` or
    /// `passage prefix "..."`).
    #[error("index was built with model {index_model}, not {given_model}")]
    ModelMismatch {
        /// The model id recorded in the index (or its prefix that differs).
        index_model: String,
        /// The model id of the embedder given (or its prefix that differs).
        given_model: String,
    },
    /// The disk is full; nothing was changed.
    #[error("out of space: {detail}")]
    OutOfSpace {
        /// The file being written.
        detail: String,
    },
    /// The operation was cancelled through its `CancellationToken`.
    #[error("cancelled")]
    Cancelled,
    /// The index was closed; open it again.
    #[error("the index is closed")]
    Closed,
    /// A bug or an unexpected failure (a panic, a failed model run, an exception in a callback).
    #[error("internal error: {detail}")]
    Internal {
        /// What happened.
        detail: String,
    },
    /// `update` named a passage id the index does not hold; nothing was changed.
    #[error("no passage with id {id:?}")]
    UnknownId {
        /// The first unknown id.
        id: String,
    },
    /// `add` was given an id the index already holds (use `update`); nothing was changed.
    #[error("passage id {id:?} is already in the index")]
    DuplicateId {
        /// The first duplicate id.
        id: String,
    },
    /// Another handle (in this process or another) holds the index open for writing. Close it, or
    /// open this one read-only to search beside it.
    #[error("locked: {detail}")]
    Locked {
        /// The index directory and what to do.
        detail: String,
    },
    /// The index cannot be changed: this handle was opened read-only, or the directory or file
    /// system refuses writes (an index shipped in an app bundle, a read-only mount). Nothing was
    /// changed; searching still works.
    #[error("read-only: {detail}")]
    ReadOnly {
        /// The file or directory that could not be written.
        detail: String,
    },
    /// The index keeps no text (built with `TextStorage.NONE`) and could not get it from the app:
    /// no `TextSource` is set, it threw, or it returned the wrong number of texts.
    #[error("text unavailable: {detail}")]
    TextUnavailable {
        /// What was missing, or what the source threw.
        detail: String,
    },
    /// The app's `TextSource` returned a text other than the one indexed under `id`: update the
    /// passage (its stored fingerprint differs, so the scores would be wrong).
    #[error("the text of passage {id:?} changed since it was indexed")]
    TextChanged {
        /// The passage's id.
        id: String,
    },
}

impl EmberError {
    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        EmberError::InvalidArgument { detail: detail.into() }
    }

    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        EmberError::Internal { detail: detail.into() }
    }
}

impl From<ember_core::Error> for EmberError {
    fn from(e: ember_core::Error) -> Self {
        use ember_core::Error as E;
        let detail = e.to_string();
        // No catch-all: core's Error is exhaustive on purpose, so a new case stops this build
        // until it is given an actionable public case here.
        match e {
            E::Missing { .. } => EmberError::NotFound { detail },
            E::Io { .. } => EmberError::Io { detail },
            E::InvalidModel { .. } | E::UnsupportedModel(_) | E::Tokenizer { .. } | E::Manifest { .. } => {
                EmberError::InvalidModel { detail }
            }
            E::DimensionMismatch { expected, found } => {
                EmberError::DimensionMismatch { expected: expected as u64, found: found as u64 }
            }
            E::Corrupt(detail) => EmberError::Corrupt { detail },
            E::IncompatibleVersion { found, supported } => {
                EmberError::IncompatibleVersion { found: found.into(), supported: supported.into() }
            }
            E::ModelMismatch { index, given } => {
                EmberError::ModelMismatch { index_model: index, given_model: given }
            }
            // The same model with other prefixes makes vectors that do not compare: to the app it
            // is another model, with the same remedy (the embedder the index was built with), so
            // it keeps the public list of cases short; the message names the prefixes.
            E::PrefixMismatch { kind, index, given } => EmberError::ModelMismatch {
                index_model: format!("{kind} prefix {index:?}"),
                given_model: format!("{kind} prefix {given:?}"),
            },
            E::OutOfSpace { .. } => EmberError::OutOfSpace { detail },
            E::InvalidArgument(detail) => EmberError::InvalidArgument { detail },
            E::UnknownId(id) => EmberError::UnknownId { id },
            E::DuplicateId(id) => EmberError::DuplicateId { id },
            E::Cancelled => EmberError::Cancelled,
            E::Closed => EmberError::Closed,
            E::Locked { .. } => EmberError::Locked { detail },
            E::ReadOnly { .. } => EmberError::ReadOnly { detail },
            E::TextUnavailable(detail) => EmberError::TextUnavailable { detail },
            E::TextChanged { id } => EmberError::TextChanged { id },
            // A model run that failed, or a lock poisoned by an earlier panic: nothing to act on.
            E::Inference(_) => EmberError::Internal { detail },
        }
    }
}

/// A foreign `Embedder` or `ProgressListener` threw something that is not an `EmberError`.
impl From<uniffi::UnexpectedUniFFICallbackError> for EmberError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        EmberError::Internal { detail: format!("callback failed: {}", e.reason) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_the_actionable_cases() {
        let e: EmberError =
            ember_core::Error::Missing { what: "model directory", path: "/nowhere".into() }.into();
        assert!(matches!(e, EmberError::NotFound { ref detail } if detail.contains("/nowhere")), "{e:?}");
        let e: EmberError = ember_core::Error::IncompatibleVersion { found: 9, supported: 1 }.into();
        assert_eq!(e, EmberError::IncompatibleVersion { found: 9, supported: 1 });
        let e: EmberError =
            ember_core::Error::Tokenizer { path: "t.json".into(), detail: "bad".into() }.into();
        assert!(matches!(e, EmberError::InvalidModel { .. }), "{e:?}");
        let e: EmberError = ember_core::Error::Inference("tract failed".into()).into();
        assert!(matches!(e, EmberError::Internal { .. }), "{e:?}");
        let e: EmberError = ember_core::Error::UnknownId("n1".into()).into();
        assert_eq!(e, EmberError::UnknownId { id: "n1".into() });
        let e: EmberError = ember_core::Error::DuplicateId("n2".into()).into();
        assert_eq!(e, EmberError::DuplicateId { id: "n2".into() });
        assert_eq!(EmberError::from(ember_core::Error::Cancelled), EmberError::Cancelled);
        assert_eq!(EmberError::from(ember_core::Error::Closed), EmberError::Closed);
        let e: EmberError = ember_core::Error::ReadOnly { path: "/ro".into() }.into();
        assert!(matches!(e, EmberError::ReadOnly { ref detail } if detail.contains("/ro")), "{e:?}");
        let e: EmberError = ember_core::Error::Locked { dir: "/idx".into() }.into();
        assert!(matches!(e, EmberError::Locked { ref detail } if detail.contains("/idx")), "{e:?}");
        let e: EmberError = ember_core::Error::TextChanged { id: "n3".into() }.into();
        assert_eq!(e, EmberError::TextChanged { id: "n3".into() });
        let e: EmberError = ember_core::Error::TextUnavailable("no source".into()).into();
        assert!(matches!(e, EmberError::TextUnavailable { ref detail } if detail == "no source"), "{e:?}");
    }
}
