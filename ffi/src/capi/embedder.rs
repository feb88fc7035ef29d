//! C handles for embedders: the built-in ONNX model, or the app's own through a callback.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use super::handles::Registry;
use super::{guard, guard_void, out_arg, str_arg, EmberResult};
use crate::{Embedder, EmbedderConfig, EmberError, TextKind};

/// An embedder handle (opaque). Free it with `ember_embedder_free`; an index opened with it keeps
/// its own reference, so the handle may be freed before the index.
#[derive(Debug)]
pub struct CEmbedder {
    _opaque: [u8; 0],
}

pub(crate) static EMBEDDERS: Registry<dyn Embedder, CEmbedder> = Registry::new(2);

/// The live embedder `embedder` names.
pub(crate) fn embedder_arg(embedder: *const CEmbedder) -> Result<Arc<dyn Embedder>, EmberError> {
    EMBEDDERS.get(embedder, "embedder", || EmberError::invalid("embedder was freed"))
}

/// Options of the built-in ONNX embedder. Start from `ember_embedder_options_default`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmberEmbedderOptions {
    /// Token limit per text, 3 to 512; 0 takes the model manifest's (else 128).
    pub max_tokens: u32,
    /// Threads inside each model call (at least 1).
    pub threads: u32,
    /// Most texts per model call (at least 1).
    pub batch_size: u32,
}

impl From<EmberEmbedderOptions> for EmbedderConfig {
    fn from(o: EmberEmbedderOptions) -> Self {
        EmbedderConfig {
            max_tokens: (o.max_tokens != 0).then_some(o.max_tokens),
            threads: o.threads,
            batch_size: o.batch_size,
        }
    }
}

/// What a text is to the model (values of `kind` in `EmberEmbedFn` and `ember_embedder_embed`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmberTextKind {
    /// A search query: Ember embeds the search text as one.
    Query = 0,
    /// A passage: build, add, update, stored vectors and recompute embed passages.
    Passage = 1,
}

impl From<TextKind> for EmberTextKind {
    fn from(k: TextKind) -> Self {
        match k {
            TextKind::Query => EmberTextKind::Query,
            TextKind::Passage => EmberTextKind::Passage,
        }
    }
}

/// A kind from C, checked: any other number is an invalid argument, never a Rust enum.
fn kind_from_u32(k: u32) -> Result<TextKind, EmberError> {
    [TextKind::Query, TextKind::Passage]
        .into_iter()
        .find(|&kind| EmberTextKind::from(kind) as u32 == k)
        .ok_or_else(|| EmberError::invalid(format!("unknown text kind {k}")))
}

/// Fill `out_vectors` with `texts_len * dim` floats (one vector per text, row-major; Ember
/// normalizes them) and return 0; any other return value fails the Ember call with
/// `EMBER_RESULT_INTERNAL`. `kind` says whether the texts are queries or passages: put the
/// model's prefix for it (the one given to `ember_embedder_new_callback`) before each text.
/// `out_vectors_len` is `texts_len * dim`. May be called from several threads at once, and for
/// as long as any handle or index holding the embedder lives.
pub type EmberEmbedFn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        texts: *const *const c_char,
        texts_len: usize,
        kind: EmberTextKind,
        out_vectors: *mut f32,
        out_vectors_len: usize,
    ) -> i32,
>;

/// The callback's signature.
type EmbedFn =
    unsafe extern "C" fn(*mut c_void, *const *const c_char, usize, EmberTextKind, *mut f32, usize) -> i32;

/// An app embedder reached through a C function pointer.
struct CallbackEmbedder {
    embed: EmbedFn,
    user_data: *mut c_void,
    dim: u32,
    model_id: String,
    prefixes: ember_core::Prefixes,
}

// SAFETY: `ember_embedder_new_callback` documents that the callback and `user_data` must be
// usable from any thread, concurrently; Ember only passes the pointer back to the callback.
unsafe impl Send for CallbackEmbedder {}
// SAFETY: as above.
unsafe impl Sync for CallbackEmbedder {}

impl Embedder for CallbackEmbedder {
    fn embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, EmberError> {
        let owned: Vec<CString> = texts
            .into_iter()
            .map(|t| CString::new(t).map_err(|_| EmberError::invalid("text contains a NUL byte")))
            .collect::<Result<_, _>>()?;
        let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        let dim = self.dim as usize;
        let len = ptrs.len().checked_mul(dim).ok_or_else(|| EmberError::invalid("too many texts"))?;
        let mut out = vec![0f32; len];
        // SAFETY: `ptrs` holds `ptrs.len()` valid C strings kept alive by `owned`, and `out` is
        // writable for `len` floats; the callback's contract is documented on `EmberEmbedFn`.
        let status = unsafe {
            (self.embed)(self.user_data, ptrs.as_ptr(), ptrs.len(), kind.into(), out.as_mut_ptr(), len)
        };
        if status != 0 {
            return Err(EmberError::internal(format!("embedder callback returned {status}")));
        }
        Ok(out.chunks(dim.max(1)).map(<[f32]>::to_vec).collect())
    }

    fn dim(&self) -> u32 {
        self.dim
    }

    fn model_id(&self) -> String {
        self.model_id.clone()
    }

    fn prefix(&self, kind: TextKind) -> String {
        self.prefixes.get(kind).to_owned()
    }
}

/// Fill `out_options` with the defaults (manifest token limit, 1 thread, batch 1).
///
/// # Safety
/// `out_options` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_embedder_options_default(
    out_options: *mut EmberEmbedderOptions,
) -> EmberResult {
    guard(|| {
        let d = EmbedderConfig::default();
        let value = EmberEmbedderOptions {
            max_tokens: d.max_tokens.unwrap_or(0),
            threads: d.threads,
            batch_size: d.batch_size,
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { out_arg(out_options, "out_options", value) }?;
        Ok(())
    })
}

/// Load the built-in ONNX embedder from `model_dir` (`model.onnx`, `tokenizer.json`, optional
/// `ember-model.json`), or a multilingual-e5 directory (`model.q4.bin`, manifest
/// `"weights": "e5-q4"`, which applies `query: ` and `passage: ` itself). `options` may be NULL
/// for the defaults.
///
/// # Safety
/// `model_dir` is a NUL-terminated string; `options` is NULL or valid for reads;
/// `out_embedder` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_embedder_new_onnx(
    model_dir: *const c_char,
    options: *const EmberEmbedderOptions,
    out_embedder: *mut *mut CEmbedder,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_embedder, "out_embedder", std::ptr::null_mut()) }?;
        // SAFETY: forwarded from this function's contract.
        let dir = unsafe { str_arg(model_dir, "model_dir") }?;
        // SAFETY: NULL or valid for reads, per the contract.
        let config = unsafe { options.as_ref() }.map(|o| EmbedderConfig::from(*o));
        *out = EMBEDDERS.insert(crate::onnx_embedder(dir.to_owned(), config)?);
        Ok(())
    })
}

/// Wrap the app's own embedder (an accelerator, a model Ember does not run) in a handle.
/// `model_id` names the model and its weights (recorded in indexes); `dim` is its dimension;
/// `query_prefix` and `passage_prefix` (NULL for none) are what `embed` puts before queries and
/// passages, recorded in indexes too (an index refuses an embedder with other prefixes).
///
/// # Safety
/// `model_id` is a NUL-terminated string, and each prefix NULL or one; `embed` and `user_data`
/// must be usable from any thread, concurrently, until the last handle and index holding this
/// embedder are freed (see `EmberEmbedFn`); `out_embedder` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_embedder_new_callback(
    model_id: *const c_char,
    dim: usize,
    query_prefix: *const c_char,
    passage_prefix: *const c_char,
    embed: EmberEmbedFn,
    user_data: *mut c_void,
    out_embedder: *mut *mut CEmbedder,
) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_embedder, "out_embedder", std::ptr::null_mut()) }?;
        // SAFETY: forwarded from this function's contract.
        let model_id = unsafe { str_arg(model_id, "model_id") }?;
        let prefix = |p: *const c_char, name: &str| -> Result<String, EmberError> {
            if p.is_null() {
                return Ok(String::new());
            }
            // SAFETY: non-NULL, so a NUL-terminated string per this function's contract.
            Ok(unsafe { str_arg(p, name) }?.to_owned())
        };
        let prefixes = ember_core::Prefixes {
            query: prefix(query_prefix, "query_prefix")?,
            passage: prefix(passage_prefix, "passage_prefix")?,
        };
        let embed = embed.ok_or_else(|| EmberError::invalid("embed is NULL"))?;
        let dim = u32::try_from(dim)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| EmberError::invalid("dim out of range"))?;
        if model_id.is_empty() {
            return Err(EmberError::invalid("model_id is empty"));
        }
        *out = EMBEDDERS.insert(Arc::new(CallbackEmbedder {
            embed,
            user_data,
            dim,
            model_id: model_id.to_owned(),
            prefixes,
        }));
        Ok(())
    })
}

/// The embedder's dimension.
///
/// # Safety
/// `out_dim` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn ember_embedder_dim(embedder: *const CEmbedder, out_dim: *mut usize) -> EmberResult {
    guard(|| {
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { out_arg(out_dim, "out_dim", 0) }?;
        *out = embedder_arg(embedder)?.dim() as usize;
        Ok(())
    })
}

/// Embed one text as `kind` (an `EmberTextKind` value: a query or a passage) into `out_vector`,
/// which holds `out_vector_len` floats: exactly the embedder's dimension, else
/// `EMBER_RESULT_DIMENSION_MISMATCH`. The vector is L2-normalized.
///
/// # Safety
/// `text` is a NUL-terminated string; `out_vector` is valid for writes of `out_vector_len` floats.
#[no_mangle]
pub unsafe extern "C" fn ember_embedder_embed(
    embedder: *const CEmbedder,
    text: *const c_char,
    kind: u32,
    out_vector: *mut f32,
    out_vector_len: usize,
) -> EmberResult {
    guard(|| {
        let e = embedder_arg(embedder)?;
        // SAFETY: forwarded from this function's contract.
        let text = unsafe { str_arg(text, "text") }?;
        let kind = kind_from_u32(kind)?;
        if out_vector.is_null() {
            return Err(EmberError::invalid("out_vector is NULL"));
        }
        let model = crate::embedder::Model::new(e)?;
        if out_vector_len != model.dim {
            return Err(EmberError::DimensionMismatch {
                expected: model.dim as u64,
                found: out_vector_len as u64,
            });
        }
        let bridge = model.bridge();
        let mut v = bridge.finish(ember_core::Embedder::embed(&bridge, &[text], kind))?;
        let v = v.pop().ok_or_else(|| EmberError::internal("embedder returned no vector"))?;
        // SAFETY: `out_vector` is non-NULL and valid for `out_vector_len` == `v.len()` floats.
        let out = unsafe { std::slice::from_raw_parts_mut(out_vector, out_vector_len) };
        out.copy_from_slice(&v);
        Ok(())
    })
}

/// Free an embedder handle. NULL, and a handle freed before, are ignored; indexes and calls using
/// the embedder keep it alive.
#[no_mangle]
pub extern "C" fn ember_embedder_free(embedder: *mut CEmbedder) {
    guard_void(|| drop(EMBEDDERS.remove(embedder)))
}
