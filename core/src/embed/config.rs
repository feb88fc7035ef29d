//! [`EmbedderConfig`]: how a model directory is run, whichever engine runs it (its own module so
//! the engines share it without importing each other).

/// How an [`OnnxEmbedder`](super::OnnxEmbedder) or an [`E5Embedder`](super::E5Embedder) runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderConfig {
    /// Token limit per text (special tokens included); `None` takes the manifest's (else 128).
    pub max_tokens: Option<usize>,
    /// Threads used inside each model call (matrix products); 1 means the calling thread only.
    pub threads: usize,
    /// Most texts per model call; rounded down to a power of two. Batch 1 measured fastest for
    /// MiniLM-L3 on x86_64 with tract (≈90 vs ≈70 passages/s at batch 8), and with `threads > 1`
    /// small batches spread over the threads.
    pub batch_size: usize,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        EmbedderConfig { max_tokens: None, threads: 1, batch_size: 1 }
    }
}
