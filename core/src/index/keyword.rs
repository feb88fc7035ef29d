//! The keyword half of a living index: the generation's keyword file (`keywords-N.ember`, built
//! from the segment's live passages at build, commit, compaction or `build_keywords`) and the terms
//! of passages added since (analyzed once, when logged or replayed). `read::bm25` searches both.

use std::path::Path;
use std::sync::Arc;

use super::files;
use super::segment::load::Base;
use crate::keywords::{Analyzer, AnalyzerConfig, KeywordFile, KeywordIndex};
use crate::store::Storage;
use crate::Result;

/// A generation's keyword file, validated, and the analyzer it was built with.
#[derive(Debug)]
pub(crate) struct Keywords {
    pub file: KeywordFile,
    pub analyzer: Analyzer,
}

/// A snapshot's keyword index: `None` without one; `Some(Err(why))` when its file is present but
/// refused (searches that need it get a typed error, `Retrieval::Auto` falls back to dense).
pub(crate) type KeywordState = Option<std::result::Result<Arc<Keywords>, String>>;

/// The terms of one added passage: distinct terms in byte order with their frequency, and its
/// length in terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocTerms {
    pub terms: Vec<(String, u32)>,
    pub len: u32,
}

impl Keywords {
    /// Analyze an added passage as the file's passages were.
    pub fn analyze(&self, text: &str) -> DocTerms {
        let mut all = self.analyzer.terms(text);
        let len = u32::try_from(all.len()).unwrap_or(u32::MAX);
        all.sort_unstable();
        let mut terms: Vec<(String, u32)> = Vec::new();
        for t in all {
            match terms.last_mut() {
                Some((last, n)) if *last == t => *n += 1,
                _ => terms.push((t, 1)),
            }
        }
        DocTerms { terms, len }
    }

    /// Bytes of the file.
    pub fn file_bytes(&self) -> u64 {
        self.file.view().stats().file_bytes
    }
}

/// Open the keyword file of `base`'s generation, if there is one. It must cover at most the
/// segment's passages (its file name ties it to the generation; other generations' files are
/// removed at open).
pub(crate) fn open(dir: &Path, base: &Base) -> KeywordState {
    let path = dir.join(files::keywords(base.generation));
    if std::fs::symlink_metadata(&path).is_err() {
        return None;
    }
    let opened = KeywordFile::open(&path).map_err(|e| e.to_string()).and_then(|file| {
        let view = file.view();
        if view.node_count() as usize > base.len() || view.doc_count() as usize > base.len() {
            return Err(format!(
                "keyword index: covers {} nodes, the segment has {}",
                view.node_count(),
                base.len()
            ));
        }
        let analyzer = Analyzer::new(view.analyzer_config());
        Ok(Arc::new(Keywords { file, analyzer }))
    });
    Some(opened)
}

/// Build and write (atomically) the keyword file of `generation` over `docs`: (node in that
/// generation's segment, text) of its live passages.
pub(crate) fn write(
    storage: &dyn Storage,
    dir: &Path,
    generation: u64,
    docs: &[(u32, &str)],
    config: AnalyzerConfig,
) -> Result<()> {
    let index = KeywordIndex::build(docs, &Analyzer::new(config))?;
    index.write(storage, &dir.join(files::keywords(generation)))
}
