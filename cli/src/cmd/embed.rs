//! `ember embed`: one vector per input line, in order.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use ember_core::{Embedder, EmbedderConfig, OnnxEmbedder, TextKind};

use super::CliResult;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model directory (model.onnx, tokenizer.json, ember-model.json).
    #[arg(long)]
    model: PathBuf,
    /// Token limit per text, special tokens included (default: the model's manifest).
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Threads used per model call.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Embed the lines as search queries or as passages: asymmetric models (multilingual-e5) put
    /// a different prefix before each.
    #[arg(long = "as", value_name = "KIND", value_enum, default_value = "passage")]
    kind: TextKind,
    /// Input file with one text per line, or - for standard input.
    #[arg(long)]
    input: String,
    /// Print {"model", "dim", "vectors"} as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Output<'a> {
    model: &'a str,
    dim: usize,
    vectors: Vec<Vec<f32>>,
}

pub fn run(args: Args) -> CliResult {
    let lines = read_lines(&args.input)?;
    let config = EmbedderConfig { max_tokens: args.max_tokens, threads: args.threads, ..Default::default() };
    let embedder = OnnxEmbedder::load(&args.model, &config)?;
    let texts: Vec<&str> = lines.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&texts, args.kind)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let doc = Output { model: embedder.model_id(), dim: embedder.dim(), vectors };
        serde_json::to_writer(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        for v in &vectors {
            let row: Vec<String> = v.iter().map(f32::to_string).collect();
            writeln!(out, "{}", row.join(" "))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn read_lines(input: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(input).map_err(|e| format!("cannot open {input}: {e}"))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut lines = Vec::new();
    for line in reader.lines() {
        let line = line.map_err(|e| format!("reading {input}: {e}"))?;
        lines.push(line.trim_end_matches('\r').to_owned());
    }
    Ok(lines)
}
