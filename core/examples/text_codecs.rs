//! Measures text-store codecs on real corpora: size as a share of the text, decode time per
//! passage fetched at random (as recompute search fetches its candidates), and encode speed.
//!
//! `cargo run --release -p ember-core --example text_codecs -- NAME=PATH ...`
//!
//! PATH is a BEIR `corpus.jsonl` (passages in file order, each `title\ntext` as `ember index`
//! stores them) or an index directory (its live passages in the index's internal order, the order
//! the text section stores them in). Every candidate packs passages into blocks (`count × u32`
//! lengths, then the texts, as the text section does) and compresses each block on its own, so one
//! candidate's fetch decompresses exactly one block. Sizes count everything a section would hold:
//! the block offsets and the dictionary.
//!
//! `TEXT_CODECS_ONLY="a|b"` keeps the candidates whose names contain `a` or `b`;
//! `TEXT_CODECS_LIMIT=N` keeps each corpus's first N passages.

use std::path::Path;
use std::time::Instant;

use ember_core::store::{encode_texts, TextView};
use ember_core::{Index, OpenOptions};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Passages fetched per candidate; recompute fetches ~30-50 random passages per query.
const FETCHES: usize = 20_000;

fn read_corpus(path: &Path) -> Res<Vec<String>> {
    if path.is_dir() {
        let index = Index::open_with(path, OpenOptions { read_only: true, ..OpenOptions::default() })?;
        return Ok(index.live_texts()?.into_iter().map(|(_, t)| t).collect());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let get = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let (title, body) = (get("title"), get("text"));
        out.push(if title.is_empty() { body } else { format!("{title}\n{body}") });
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug)]
enum Codec {
    Lz4,
    Zstd { level: i32, dict: usize },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Decoder {
    Native,
    /// ruzstd, the pure-Rust zstd decoder, on frames written by libzstd.
    Ruzstd,
}

struct Candidate {
    codec: Codec,
    per_block: usize,
    max_bytes: usize,
    decoder: Decoder,
}

impl Candidate {
    fn name(&self) -> String {
        let blocks = format!("{} psg/{} KiB", self.per_block, self.max_bytes / 1024);
        match self.codec {
            Codec::Lz4 => format!("lz4 {blocks}"),
            Codec::Zstd { level, dict } => {
                let d = if dict == 0 { "no dict".to_string() } else { format!("dict {} KiB", dict / 1024) };
                let dec = if self.decoder == Decoder::Ruzstd { ", ruzstd decode" } else { "" };
                format!("zstd -{level} {d} {blocks}{dec}")
            }
        }
    }
}

/// Blocks of up to `per_block` passages or `max_bytes` of text (a longer passage alone), as the
/// text section packs them: `(first passage, raw block)`.
fn pack(texts: &[String], per_block: usize, max_bytes: usize) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < texts.len() {
        let mut j = i;
        let mut bytes = 0;
        while j < texts.len() && j - i < per_block && (j == i || bytes + texts[j].len() <= max_bytes) {
            bytes += texts[j].len();
            j += 1;
        }
        let mut raw = Vec::with_capacity(bytes + 4 * (j - i));
        texts[i..j].iter().for_each(|t| raw.extend_from_slice(&(t.len() as u32).to_le_bytes()));
        texts[i..j].iter().for_each(|t| raw.extend_from_slice(t.as_bytes()));
        out.push((i, raw));
        i = j;
    }
    out
}

/// Passage `k` of a raw block.
fn passage(raw: &[u8], k: usize, count: usize) -> String {
    let len = |i: usize| u32::from_le_bytes(raw[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4])) as usize;
    let start = count * 4 + (0..k).map(len).sum::<usize>();
    String::from_utf8(raw[start..start + len(k)].to_vec()).unwrap_or_default()
}

/// A deterministic stream of passage numbers (xorshift), the same for every candidate.
fn picks(n: usize, count: usize) -> Vec<usize> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..count)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % n as u64) as usize
        })
        .collect()
}

/// Every `stride`-th passage, at most `budget` bytes: the dictionary's training sample.
fn sample(texts: &[String], budget: usize) -> Vec<&[u8]> {
    let total: usize = texts.iter().map(String::len).sum();
    let stride = total.div_ceil(budget.max(1)).max(1);
    texts.iter().step_by(stride).map(|t| t.as_bytes()).collect()
}

struct Row {
    name: String,
    pct: f64,
    p50_us: f64,
    p90_us: f64,
    encode_mbs: f64,
    train_ms: f64,
    open_ms: f64,
}

fn median_p90(mut ns: Vec<u64>) -> (f64, f64) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    (at(0.5), at(0.9))
}

fn run(texts: &[String], c: &Candidate) -> Res<Row> {
    let text_bytes: usize = texts.iter().map(String::len).sum();
    let blocks = pack(texts, c.per_block, c.max_bytes);
    let firsts: Vec<usize> = blocks.iter().map(|b| b.0).collect();
    let (mut dict, mut train_ms) = (Vec::new(), 0.0);
    if let Codec::Zstd { dict: size, .. } = c.codec {
        if size > 0 {
            let t = Instant::now();
            dict = zstd::dict::from_samples(&sample(texts, 2 << 20), size)?;
            train_ms = t.elapsed().as_secs_f64() * 1e3;
        }
    }
    let t = Instant::now();
    let comp: Vec<Vec<u8>> = match c.codec {
        Codec::Lz4 => blocks.iter().map(|(_, raw)| lz4_flex::compress_prepend_size(raw)).collect(),
        Codec::Zstd { level, .. } => {
            let prepared = zstd::dict::EncoderDictionary::copy(&dict, level);
            let mut z = zstd::bulk::Compressor::with_prepared_dictionary(&prepared)?;
            // The block's own length table says where passages end: the frame's checksum and
            // dictionary id would only repeat what the section's checksum and layout give.
            z.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(false))?;
            z.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))?;
            blocks.iter().map(|(_, raw)| z.compress(raw)).collect::<Result<_, _>>()?
        }
    };
    let encode_s = t.elapsed().as_secs_f64();
    // n, blocks, offsets, dictionary length, dictionary, blocks.
    let bytes = 12 + 8 * (blocks.len() + 1) + dict.len() + comp.iter().map(Vec::len).sum::<usize>();

    // Open: a reader prepares the dictionary once.
    let t = Instant::now();
    let ddict = zstd::dict::DecoderDictionary::copy(&dict);
    let mut dz = zstd::bulk::Decompressor::with_prepared_dictionary(&ddict)?;
    let rdict = if dict.is_empty() { None } else { Some(ruzstd::decoding::Dictionary::decode_dict(&dict)?) };
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut rz = ruzstd::decoding::FrameDecoder::new();
    if let Some(d) = rdict {
        rz.add_dict(d)?;
    }

    let mut ns = Vec::with_capacity(FETCHES);
    let mut check = 0usize;
    for (i, want) in picks(texts.len(), FETCHES).into_iter().map(|i| (i, &texts[i])) {
        let t = Instant::now();
        let b = firsts.partition_point(|&f| f <= i) - 1;
        let count = firsts.get(b + 1).copied().unwrap_or(texts.len()) - firsts[b];
        let raw = match (c.codec, c.decoder) {
            (Codec::Lz4, _) => lz4_flex::decompress_size_prepended(&comp[b])?,
            (Codec::Zstd { .. }, Decoder::Native) => dz.decompress(&comp[b], blocks[b].1.len())?,
            (Codec::Zstd { .. }, Decoder::Ruzstd) => {
                let mut out = Vec::with_capacity(blocks[b].1.len());
                if !dict.is_empty() {
                    // Frames carry no dictionary id (see above): name the dictionary.
                    let mut input = &comp[b][..];
                    rz.init(&mut input)?;
                    rz.force_dict(ruzstd_dict_id(&dict))?;
                    rz.decode_blocks(&mut input, ruzstd::decoding::BlockDecodingStrategy::All)?;
                    out = rz.collect().unwrap_or_default();
                } else {
                    rz.decode_all_to_vec(&comp[b], &mut out)?;
                }
                out
            }
        };
        let text = passage(&raw, i - firsts[b], count);
        ns.push(t.elapsed().as_nanos() as u64);
        check += usize::from(text == *want);
    }
    if check != FETCHES {
        return Err(format!("{}: {} of {FETCHES} passages read back wrong", c.name(), FETCHES - check).into());
    }
    let (p50_us, p90_us) = median_p90(ns);
    Ok(Row {
        name: c.name(),
        pct: 100.0 * bytes as f64 / text_bytes as f64,
        p50_us,
        p90_us,
        encode_mbs: text_bytes as f64 / 1e6 / encode_s,
        train_ms,
        open_ms,
    })
}

/// The id a trained dictionary declares (bytes 4..8 after its magic).
fn ruzstd_dict_id(dict: &[u8]) -> u32 {
    dict.get(4..8).map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4]))).unwrap_or(0)
}

/// Ember's own text section, as the segment writer and reader use it.
fn ember_row(texts: &[String]) -> Res<Row> {
    let text_bytes: usize = texts.iter().map(String::len).sum();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let t = Instant::now();
    let bytes = encode_texts(&refs)?;
    let encode_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let view = TextView::new(&bytes, texts.len())?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut ns = Vec::with_capacity(FETCHES);
    for i in picks(texts.len(), FETCHES) {
        let t = Instant::now();
        let got = view.get_many(&bytes, &[i as u32])?;
        ns.push(t.elapsed().as_nanos() as u64);
        if got.first() != Some(&texts[i]) {
            return Err(format!("ember: passage {i} read back wrong").into());
        }
    }
    let (p50_us, p90_us) = median_p90(ns);
    Ok(Row {
        name: "ember text section (this build)".into(),
        pct: 100.0 * bytes.len() as f64 / text_bytes as f64,
        p50_us,
        p90_us,
        encode_mbs: text_bytes as f64 / 1e6 / encode_s,
        train_ms: 0.0,
        open_ms,
    })
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return Err("usage: text_codecs NAME=PATH ... (a corpus.jsonl or an index directory)".into());
    }
    let only: Option<String> = std::env::var("TEXT_CODECS_ONLY").ok();
    const K: usize = 1024;
    let z = |level, dict, per_block, max_bytes| Candidate {
        codec: Codec::Zstd { level, dict },
        per_block,
        max_bytes,
        decoder: Decoder::Native,
    };
    let mut candidates = vec![
        Candidate { codec: Codec::Lz4, per_block: 16, max_bytes: 64 * K, decoder: Decoder::Native },
        Candidate { codec: Codec::Lz4, per_block: 32, max_bytes: 128 * K, decoder: Decoder::Native },
        Candidate { codec: Codec::Lz4, per_block: 64, max_bytes: 256 * K, decoder: Decoder::Native },
        z(3, 0, 16, 64 * K),
        z(9, 0, 16, 64 * K),
        z(19, 0, 16, 64 * K),
        z(19, 0, 64, 256 * K),
        z(3, 32 * K, 16, 64 * K),
        z(9, 32 * K, 16, 64 * K),
        z(19, 32 * K, 16, 64 * K),
        z(19, 32 * K, 1, 64 * K),
        z(19, 32 * K, 4, 64 * K),
        z(19, 32 * K, 8, 64 * K),
        z(19, 32 * K, 32, 128 * K),
        z(3, 32 * K, 64, 256 * K),
        z(9, 32 * K, 64, 256 * K),
        z(12, 32 * K, 64, 256 * K),
        z(15, 32 * K, 64, 256 * K),
        z(19, 32 * K, 64, 256 * K),
        z(19, 16 * K, 64, 256 * K),
        z(19, 64 * K, 64, 256 * K),
        z(19, 32 * K, 128, 512 * K),
    ];
    candidates.push(Candidate { decoder: Decoder::Ruzstd, ..z(19, 32 * K, 64, 256 * K) });
    candidates.push(Candidate { decoder: Decoder::Ruzstd, ..z(19, 0, 64, 256 * K) });
    for arg in &args {
        let (name, path) = arg.split_once('=').ok_or("arguments are NAME=PATH")?;
        let mut texts = read_corpus(Path::new(path))?;
        if let Some(limit) = std::env::var("TEXT_CODECS_LIMIT").ok().and_then(|l| l.parse().ok()) {
            texts.truncate(limit);
        }
        let bytes: usize = texts.iter().map(String::len).sum();
        println!(
            "\n## {name}: {} passages, {:.2} MB of text, {:.0} B per passage",
            texts.len(),
            bytes as f64 / 1e6,
            bytes as f64 / texts.len().max(1) as f64
        );
        println!(
            "| codec | % of text | decode µs/passage p50 | p90 | encode MB/s | dict train ms | open ms |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        let mut rows = vec![ember_row(&texts)?];
        for c in &candidates {
            if only.as_deref().is_some_and(|o| !o.split('|').any(|o| c.name().contains(o))) {
                continue;
            }
            rows.push(run(&texts, c)?);
        }
        for r in rows {
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2} |",
                r.name, r.pct, r.p50_us, r.p90_us, r.encode_mbs, r.train_ms, r.open_ms
            );
        }
    }
    Ok(())
}
