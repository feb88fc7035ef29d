//! Adding and dropping the keyword index at run time, without re-embedding: built from the
//! segment's texts once the log is folded, like the vector sidecar beside the graph and codes.

use crate::index::files;
use crate::index::handle::Index;
use crate::index::keyword;
use crate::index::snapshot::Snapshot;
use crate::index::task::Task;
use crate::keywords::AnalyzerConfig;
use crate::{Error, Result};

impl Index {
    /// Build the keyword index with `analysis` settings (replacing one built with others). The log
    /// is committed first, so the file covers every passage; passages added later join it through
    /// the log and the next commit. Writers wait; searches do not. Cancellable before the write.
    pub fn build_keywords(&self, analysis: AnalyzerConfig, task: &Task) -> Result<()> {
        let mut w = self.writer()?;
        self.commit_locked(&mut w, task)?;
        let snap = self.snapshot()?;
        if let Some(Ok(kw)) = &snap.keywords {
            if kw.analyzer.config() == analysis {
                return Ok(());
            }
        }
        let base = &snap.base;
        let live: Vec<u32> = (0..base.len() as u32).filter(|&i| !snap.is_deleted(i)).collect();
        let texts = snap.texts(&live)?;
        task.check()?;
        let docs: Vec<(u32, &str)> = live.iter().zip(&texts).map(|(&i, t)| (i, t.as_str())).collect();
        keyword::write(self.opts.storage.as_ref(), &self.dir, base.generation, &docs, analysis)?;
        let keywords = keyword::open(&self.dir, base);
        if let Some(Err(why)) = &keywords {
            return Err(Error::Corrupt(format!("the new keyword index does not open: {why}")));
        }
        self.publish_snapshot(Snapshot { keywords, ..(*snap).clone() })
    }

    /// Delete the keyword index. Searches in flight keep their mapping; later ones are dense.
    pub fn drop_keywords(&self) -> Result<()> {
        let _w = self.writer()?;
        let snap = self.snapshot()?;
        let storage = self.opts.storage.as_ref();
        storage.remove(&self.dir.join(files::keywords(snap.base.generation)))?;
        storage.sync_dir(&self.dir)?;
        self.publish_snapshot(Snapshot { keywords: None, ..(*snap).clone() })
    }
}
