//! Graph evaluation: recall@10 of an exact-distance beam search (beams 32/64/128/256) against brute
//! force, distance evaluations per query, mean degree, encoded bytes per node (in the original
//! numbering, in BFS order, and in [`locality_order`], the one used), build and reorder time, for
//! several (M, m) settings. `M:M` builds a native graph of degree M (no hub pruning).
//!
//! Vectors come from `ember embed --json` (`{"model", "dim", "vectors": [[...], ...]}`):
//!
//! ```text
//! cargo run --release -p ember-core --example graph_eval -- CORPUS.json QUERIES.json \
//!     [--queries 200] [--configs 16:8,24:10,32:12,8:8] [--build-beam 64] [--alpha 1.2] [--hubs 0.02]
//! ```
//!
//! The queries are a seeded sample of the query file's vectors; the graph holds every corpus vector.

use std::time::Instant;

use ember_core::graph::{
    bfs_order, build, encode, greedy_search, locality_order, permute, reachable, Graph, GraphParams,
    SearchScratch,
};

fn load(path: &str) -> Result<(usize, Vec<f32>), Box<dyn std::error::Error>> {
    #[derive(serde::Deserialize)]
    struct File {
        dim: usize,
        vectors: Vec<Vec<f32>>,
    }
    let f: File = serde_json::from_reader(std::io::BufReader::new(std::fs::File::open(path)?))?;
    let mut flat = Vec::with_capacity(f.vectors.len() * f.dim);
    for v in &f.vectors {
        if v.len() != f.dim {
            return Err(format!("{path}: a vector of length {} in dimension {}", v.len(), f.dim).into());
        }
        flat.extend_from_slice(v);
    }
    Ok((f.dim, flat))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Encoded bytes per node of `g` renumbered by `order`.
fn bytes_per_node(g: &Graph, order: Option<&[u32]>) -> Result<f64, Box<dyn std::error::Error>> {
    let g = match order {
        Some(o) => permute(g, o),
        None => g.clone(),
    };
    let e = encode(&g)?;
    Ok(e.bytes() as f64 / g.len().max(1) as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut pos = Vec::new();
    let mut nq = 200usize;
    let mut configs = "16:8,24:10,32:12,8:8".to_string();
    let mut base = GraphParams::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--queries" => nq = val()?.parse()?,
            "--configs" => configs = val()?.clone(),
            "--build-beam" => base.build_beam = val()?.parse()?,
            "--alpha" => base.alpha = val()?.parse()?,
            "--hubs" => base.hub_fraction = val()?.parse()?,
            "--seed" => base.seed = val()?.parse()?,
            _ => pos.push(a.clone()),
        }
    }
    let [corpus, queries] = pos.as_slice() else {
        return Err("usage: graph_eval CORPUS.json QUERIES.json [options]".into());
    };
    let (dim, vectors) = load(corpus)?;
    let (qdim, qall) = load(queries)?;
    if qdim != dim {
        return Err("query and corpus dimensions differ".into());
    }
    let n = vectors.len() / dim;
    let total_q = qall.len() / dim;
    // A seeded sample of distinct queries.
    let mut rng = ember_core::rng::SplitMix64::new(42);
    let mut ids: Vec<usize> = (0..total_q).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i + 1));
    }
    ids.truncate(nq.min(total_q));
    let qs: Vec<&[f32]> = ids.iter().map(|&i| &qall[i * dim..(i + 1) * dim]).collect();
    let truth: Vec<Vec<u32>> = qs
        .iter()
        .map(|q| {
            let mut s: Vec<(f32, u32)> =
                vectors.chunks_exact(dim).enumerate().map(|(i, v)| (dot(q, v), i as u32)).collect();
            s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            s.iter().take(10).map(|x| x.1).collect()
        })
        .collect();
    println!(
        "n = {n}, dim = {dim}, {} queries, build_beam {}, alpha {}, hubs {}, threads {}",
        qs.len(),
        base.build_beam,
        base.alpha,
        base.hub_fraction,
        rayon::current_num_threads()
    );
    println!(
        "{:>7} | {:>6} {:>6} {:>6} {:>6} | {:>8} {:>8} | {:>6} {:>6} {:>6} {:>6} | {:>7} {:>7}",
        "M:m",
        "r@10/32",
        "/64",
        "/128",
        "/256",
        "evals64",
        "evals128",
        "deg",
        "B/n id",
        "B/n bfs",
        "B/n",
        "build s",
        "order s"
    );
    for cfg in configs.split(',') {
        let (m_big, m_small) = cfg.split_once(':').ok_or("config must be M:m")?;
        let p = GraphParams { max_degree: m_big.parse()?, degree: m_small.parse()?, ..base.clone() };
        let t = Instant::now();
        let g = build(&vectors, dim, &p)?;
        let secs = t.elapsed().as_secs_f64();
        if reachable(&g).iter().any(|&r| !r) {
            return Err(format!("{cfg}: unreachable nodes").into());
        }
        let mut scratch = SearchScratch::new();
        let mut recalls = Vec::new();
        let mut evals = Vec::new();
        for beam in [32, 64, 128, 256] {
            let mut hits = 0usize;
            let mut ev = 0usize;
            for (q, t) in qs.iter().zip(&truth) {
                let found = greedy_search(&g, &vectors, dim, q, beam, &mut scratch)?;
                hits += found.iter().take(10).filter(|c| t.contains(&c.id)).count();
                ev += scratch.evaluations();
            }
            recalls.push(hits as f64 / (qs.len() * 10) as f64);
            evals.push(ev as f64 / qs.len() as f64);
        }
        let raw = bytes_per_node(&g, None)?;
        let bfs = bytes_per_node(&g, Some(&bfs_order(&g)))?;
        let t = Instant::now();
        let order = locality_order(&g);
        let order_secs = t.elapsed().as_secs_f64();
        let loc = bytes_per_node(&g, Some(&order))?;
        let permuted = permute(&g, &order);
        if encode(&permuted)?.view()?.to_graph() != permuted {
            return Err(format!("{cfg}: encoding does not round-trip").into());
        }
        println!(
            "{:>7} | {:>6.3} {:>6.3} {:>6.3} {:>6.3} | {:>8.0} {:>8.0} | {:>6.2} {:>6.2} {:>6.2} {:>6.2} | {:>7.2} {:>7.2}",
            cfg,
            recalls[0],
            recalls[1],
            recalls[2],
            recalls[3],
            evals[1],
            evals[2],
            g.edges() as f64 / n as f64,
            raw,
            bfs,
            loc,
            secs,
            order_secs
        );
    }
    Ok(())
}
