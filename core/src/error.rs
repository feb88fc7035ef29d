//! Ember's detailed error type; every public entry point returns [`Result`].

use std::path::PathBuf;

/// Everything that can go wrong inside Ember, with enough detail to act on.
///
/// Deliberately not `#[non_exhaustive]`: the SDK adapter (`ember-ffi`) matches it without a
/// catch-all, so a new case fails its build until it is mapped to a public error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory that must exist does not.
    #[error("missing {what}: {path}")]
    Missing {
        /// What was expected there (e.g. "model file").
        what: &'static str,
        /// Where it was expected.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The model file is not a usable ONNX model (empty, truncated, not protobuf, ...).
    #[error("invalid model {path}: {detail}")]
    InvalidModel {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The model loads but its inputs or outputs are not a BERT-style encoder's.
    #[error("unsupported model: {0}")]
    UnsupportedModel(String),
    /// The tokenizer file could not be loaded.
    #[error("cannot load tokenizer {path}: {detail}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// Why it failed.
        detail: String,
    },
    /// The model manifest (`ember-model.json`) is malformed.
    #[error("invalid model manifest {path}: {detail}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Vectors or models of different dimensions met.
    #[error("dimension mismatch: expected {expected}, found {found}")]
    DimensionMismatch {
        /// The dimension required.
        expected: usize,
        /// The dimension given.
        found: usize,
    },
    /// Running the model failed.
    #[error("inference failed: {0}")]
    Inference(String),
    /// Stored data failed validation (bad magic, checksum, bounds, ...).
    #[error("corrupt index: {0}")]
    Corrupt(String),
    /// The file was written by an incompatible format version.
    #[error("incompatible index format version {found} (this build reads {supported})")]
    IncompatibleVersion {
        /// The major version found in the file.
        found: u16,
        /// The major version this build reads.
        supported: u16,
    },
    /// The index was built with a different embedding model.
    #[error("index was built with model {index}, not {given}")]
    ModelMismatch {
        /// The model id recorded in the index.
        index: String,
        /// The model id offered now.
        given: String,
    },
    /// The index was built with the same model but other prefixes (the text put before each
    /// query or passage): its vectors and the embedder's would not compare.
    #[error("index was built with {kind} prefix {index:?}, the embedder uses {given:?}")]
    PrefixMismatch {
        /// `"query"` or `"passage"`: the first prefix that differs.
        kind: &'static str,
        /// The prefix recorded in the index.
        index: String,
        /// The embedder's prefix.
        given: String,
    },
    /// The index keeps no text (`TextStorage::None`) and the app's [`crate::TextSource`] could not
    /// give it: none is set, it failed, or it returned the wrong number of texts.
    #[error("text unavailable: {0}")]
    TextUnavailable(String),
    /// The app's text source returned a text other than the one indexed under `id` (its
    /// fingerprint differs): update the passage, or the scores would be wrong.
    #[error("the text of passage {id:?} changed since it was indexed (update the passage)")]
    TextChanged {
        /// The app's id of the passage.
        id: String,
    },
    /// The disk is full; nothing was changed.
    #[error("out of space writing {path}")]
    OutOfSpace {
        /// The file being written.
        path: PathBuf,
    },
    /// The index cannot be changed: it was opened read-only, or its directory or files cannot be
    /// written (a read-only file system or mount, no write permission). Nothing was changed; open
    /// the index with `OpenOptions { read_only: true, .. }` to search it.
    #[error("{} is read-only: it can be searched (open it read-only) but not changed", path.display())]
    ReadOnly {
        /// The file or directory that could not be written.
        path: PathBuf,
    },
    /// A caller passed an argument outside its allowed range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An id named by the caller is not in the index (update of an unknown passage).
    #[error("no passage with id {0:?}")]
    UnknownId(String),
    /// An id given to `add` is already in the index (use update to replace it).
    #[error("passage id {0:?} is already in the index")]
    DuplicateId(String),
    /// A long operation was cancelled; the index is as it was before the call.
    #[error("cancelled")]
    Cancelled,
    /// The index was closed; the handle can no longer be used.
    #[error("the index is closed")]
    Closed,
    /// Another handle holds the index open for writing; open it read-only to search beside it.
    #[error("{} is open for writing elsewhere (open it read-only to search)", dir.display())]
    Locked {
        /// The index directory.
        dir: PathBuf,
    },
}

/// Ember's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }
}

/// A mutex or lock poisoned by a panic on another thread: internal, never the caller's fault.
pub(crate) fn lock_poisoned() -> Error {
    Error::Inference("internal lock poisoned by an earlier panic".into())
}
