//! `ember search`: query an index; with --json one line per query (a stable contract).

use std::path::PathBuf;

use ember_core::{
    DeviceState, EmbedderConfig, Filter, Fusion, Index, Mode, OnnxEmbedder, OpenOptions, Retrieval,
    SearchOptions,
};

use super::CliResult;
use crate::corpus::read_jsonl;
use crate::knob::Knob;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Index directory.
    dir: PathBuf,
    /// Model directory (must be the model the index was built with).
    #[arg(long)]
    model: PathBuf,
    /// One query text.
    #[arg(long, conflicts_with = "queries", required_unless_present = "queries")]
    query: Option<String>,
    /// A BEIR queries.jsonl.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Hits per query.
    #[arg(short, default_value_t = SearchOptions::DEFAULT_K)]
    k: usize,
    /// How exact distances are obtained.
    #[arg(long, value_enum, default_value = "auto")]
    mode: Mode,
    /// Dense, keywords or hybrid (auto: hybrid when the index has a keyword index, else dense).
    #[arg(long, value_enum, default_value = "auto")]
    retrieval: Retrieval,
    /// How hybrid search fuses the two lists: adaptive[:RANK], rrf[:K] or blend[:ALPHA].
    #[arg(long, default_value_t = Fusion::default())]
    fusion: Fusion,
    /// Token limit (default: the one the index was built with).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Beam width of the graph search (`auto`: the index's measured default for the mode).
    #[arg(long, default_value_t = Knob(None))]
    beam: Knob,
    /// Candidates given exact scores (`auto`: the index's measured default for the mode).
    #[arg(long, default_value_t = Knob(None))]
    rerank: Knob,
    /// Threads for embedding the query and any recomputed passages.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// One JSON line per query.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    text_from: crate::corpus::TextFrom,
    /// Only passages whose metadata matches, e.g. `lang = "en" and year >= 2020`.
    #[arg(long)]
    filter: Option<String>,
    /// Device state for `--mode auto`: battery level, 0–100.
    #[arg(long)]
    battery: Option<u8>,
    /// Device state: plugged in.
    #[arg(long)]
    charging: Option<bool>,
    /// Device state: the OS's low-power mode.
    #[arg(long)]
    low_power: Option<bool>,
    /// Device state: free bytes on the index's volume.
    #[arg(long)]
    free_storage: Option<u64>,
}

impl Args {
    /// The device state given on the command line, if any part of it was; the rest defaults to a
    /// full, unplugged battery with plenty of space.
    fn device(&self) -> Option<DeviceState> {
        if self.battery.is_none()
            && self.charging.is_none()
            && self.low_power.is_none()
            && self.free_storage.is_none()
        {
            return None;
        }
        Some(DeviceState {
            battery_percent: self.battery.unwrap_or(100).min(100),
            charging: self.charging.unwrap_or(false),
            low_power_mode: self.low_power.unwrap_or(false),
            free_storage_bytes: self.free_storage.unwrap_or(u64::MAX),
        })
    }
}

#[derive(serde::Serialize)]
struct Line<'a> {
    query_id: &'a str,
    hits: &'a [ember_core::SearchHit],
    retrieval: &'static str,
    mode: &'static str,
    reembedded: usize,
    embed_ms: f64,
    search_ms: f64,
    elapsed_ms: f64,
    cache_hits: usize,
    bytes_read: u64,
    reason: &'a str,
    scanned: bool,
    dense_ms: f64,
    keyword_ms: f64,
    keyword_hits: usize,
    beam: usize,
    rerank: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    energy_mj: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vectors_advice: Option<ember_core::VectorAction>,
}

pub fn run(args: Args) -> CliResult {
    // Read-only: searching never takes the writer lock, so it works while `ember add` runs.
    let index = Index::open_with(&args.dir, OpenOptions { read_only: true, ..OpenOptions::default() })?;
    args.text_from.apply(&index)?;
    let device = args.device();
    if let Some(d) = device {
        index.set_device_state(d)?;
    }
    let advice = device.map(|d| {
        let has = index.sidecar_status().is_ok();
        index.policy().vector_action(&d, has, index.sidecar_bytes(ember_core::Precision::F16)).0
    });
    let filter = args.filter.as_deref().map(Filter::parse).transpose()?;
    let max_tokens = args.max_tokens.or(index.max_tokens());
    let embedder = OnnxEmbedder::load(
        &args.model,
        &EmbedderConfig { max_tokens, threads: args.threads, ..Default::default() },
    )?;
    index.check_embedder(&embedder)?;
    let queries: Vec<(String, String)> = match (&args.query, &args.queries) {
        (Some(q), _) => vec![("query".to_owned(), q.clone())],
        (None, Some(path)) => read_jsonl(path)?.into_iter().map(|r| (r.id, r.text)).collect(),
        (None, None) => return Err("give --query TEXT or --queries FILE".into()),
    };
    let opts = SearchOptions {
        k: args.k,
        mode: args.mode,
        beam: args.beam.0,
        rerank: args.rerank.0,
        filter,
        retrieval: args.retrieval,
        fusion: args.fusion,
        ..SearchOptions::default()
    };
    for (id, text) in &queries {
        let (report, embed_ms) = index.search_text(text, &embedder, &opts)?;
        if args.json {
            let line = Line {
                query_id: id,
                hits: &report.hits,
                retrieval: report.retrieval.name(),
                mode: report.mode.name(),
                reembedded: report.reembedded,
                embed_ms,
                search_ms: report.search_ms,
                elapsed_ms: embed_ms + report.search_ms,
                cache_hits: report.cache_hits,
                bytes_read: report.bytes_read,
                reason: &report.reason,
                scanned: report.scanned,
                dense_ms: report.dense_ms,
                keyword_ms: report.keyword_ms,
                keyword_hits: report.keyword_hits,
                beam: report.beam,
                rerank: report.rerank,
                cpu_ms: report.cpu_ms,
                energy_mj: report.energy_mj,
                vectors_advice: advice,
            };
            outln!("{}", serde_json::to_string(&line)?)?;
        } else {
            outln!(
                "{id}: {text}  [{}, {} mode, {} re-embedded, {:.1} ms]",
                report.retrieval.name(),
                report.mode.name(),
                report.reembedded,
                embed_ms + report.search_ms
            )?;
            for (rank, hit) in report.hits.iter().enumerate() {
                outln!("  {:>2}. {:.4}  {}", rank + 1, hit.score, hit.id)?;
            }
        }
    }
    Ok(())
}
