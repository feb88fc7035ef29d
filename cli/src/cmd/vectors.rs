//! `ember vectors`: build (materialize) or drop (evict) the stored-vector sidecar.

use std::path::PathBuf;

use ember_core::{EmbedderConfig, Index, OnnxEmbedder, Precision, Task};

use super::CliResult;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Action {
    /// Re-embed every passage into the sidecar (resumable).
    Materialize,
    /// Delete the sidecar.
    Evict,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// What to do.
    #[arg(value_enum)]
    action: Action,
    /// Model directory (needed to materialize).
    #[arg(long, required_if_eq("action", "materialize"))]
    model: Option<PathBuf>,
    /// Element type of stored vectors.
    #[arg(long, value_enum, default_value = "f16")]
    precision: Precision,
    /// Threads for embedding.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Print the result as JSON (`sidecar_bytes`, and for materialize `cpu_ms`, `energy_mj`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    text_from: crate::corpus::TextFrom,
}

pub fn run(args: Args) -> CliResult {
    let index = Index::open(&args.dir)?;
    args.text_from.apply(&index)?;
    match args.action {
        Action::Evict => {
            index.evict_vectors()?;
            match args.json {
                true => outln!("{}", serde_json::json!({"sidecar_bytes": 0}))?,
                false => outln!("evicted the vectors of {}", args.dir.display())?,
            }
        }
        Action::Materialize => {
            let model = args.model.as_ref().ok_or("materialize needs --model")?;
            let embedder = OnnxEmbedder::load(
                model,
                &EmbedderConfig {
                    max_tokens: index.max_tokens(),
                    threads: args.threads,
                    ..Default::default()
                },
            )?;
            index.check_embedder(&embedder)?;
            index.commit()?;
            let bar = crate::progress::bar(index.stats()?.passages, "materializing");
            let progress = |done: u64, _total: u64| bar.set_position(done);
            index.materialize_vectors(
                &embedder,
                args.precision,
                &Task { progress: Some(&progress), cancel: None },
            )?;
            bar.finish_and_clear();
            let cost = index.last_write_cost().unwrap_or_default();
            let bytes = index.stats()?.sidecar_bytes;
            match args.json {
                true => outln!(
                    "{}",
                    serde_json::json!({"sidecar_bytes": bytes, "cpu_ms": cost.cpu_ms, "energy_mj": cost.energy_mj})
                )?,
                false => outln!(
                    "materialized {bytes} bytes of vectors in {}{}",
                    args.dir.display(),
                    super::cost_note(&cost)
                )?,
            }
        }
    }
    Ok(())
}
