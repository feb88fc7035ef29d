//! Keyword search: an analyzer, a compact on-disk inverted index, BM25 ranking, and fusion of
//! keyword and dense results.

pub mod analyze;
pub mod bm25;
pub mod fuse;
pub mod postings;

#[cfg(test)]
mod tests;

pub use analyze::{Analyzer, AnalyzerConfig};
pub use bm25::{top_k, Bm25Params, Corpus, Idf, Scored};
pub use fuse::{adaptive, adaptive_alpha, blend, rrf, Normalize, ADAPTIVE_MIN_WEIGHT};
pub use postings::{KeywordFile, KeywordIndex, KeywordStats, KeywordView, Postings};
