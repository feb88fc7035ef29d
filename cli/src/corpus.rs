//! Reading BEIR files: `corpus.jsonl` passages and `queries.jsonl` queries.

use std::io::BufRead;
use std::path::Path;

/// One BEIR record: `{"_id", "title"?, "text", "metadata"?}`; metadata values are strings,
/// numbers or booleans.
#[derive(Debug, Clone, serde::Deserialize)]
#[allow(dead_code)] // `id` is read by the index commands.
pub struct Record {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub metadata: ember_core::Metadata,
}

impl Record {
    /// The record as a passage to index.
    pub fn into_passage(self) -> ember_core::Passage {
        let text = match self.title.is_empty() {
            true => self.text,
            false => self.passage(),
        };
        ember_core::Passage { text, id: self.id, metadata: self.metadata }
    }

    /// The text Ember embeds: title and body, as BEIR evaluations do. Allocated to its exact size
    /// (`format!` grew it by doubling: 43 MB more at a million passages).
    pub fn passage(&self) -> String {
        if self.title.is_empty() {
            return self.text.clone();
        }
        let mut s = String::with_capacity(self.title.len() + 1 + self.text.len());
        s.push_str(&self.title);
        s.push('\n');
        s.push_str(&self.text);
        s
    }
}

/// `--text-from`, shared by the commands that may need an index's texts (`search`, `eval`,
/// `vectors materialize`).
#[derive(Debug, clap::Args)]
pub struct TextFrom {
    /// For an index built with `--text none`: a BEIR corpus.jsonl that plays the app's part,
    /// handing Ember the texts it asks for (checked against the recorded fingerprints).
    #[arg(long)]
    text_from: Option<std::path::PathBuf>,
}

impl TextFrom {
    /// Give `index` the corpus as its text source (id → passage text, as `ember index` embedded
    /// it: title and body), when the flag was given.
    pub fn apply(&self, index: &ember_core::Index) -> Result<(), Box<dyn std::error::Error>> {
        let Some(path) = &self.text_from else { return Ok(()) };
        let map: std::collections::HashMap<String, String> =
            read_jsonl_with(path, |r| (r.passage(), r.id))?.into_iter().map(|(t, id)| (id, t)).collect();
        Ok(index.set_text_source(Some(std::sync::Arc::new(map)))?)
    }
}

/// Read a JSONL file of records; a bad line is an error naming the line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Record>, String> {
    read_jsonl_with(path, |r| r)
}

/// [`read_jsonl`], each record mapped by `f` as it is read.
pub fn read_jsonl_with<T>(path: &Path, mut f: impl FnMut(Record) -> T) -> Result<Vec<T>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("reading {}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: Record = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: not a BEIR record: {e}", path.display(), n + 1))?;
        out.push(f(rec));
    }
    Ok(out)
}
