//! `strata demo`: the main job on the embedded engine, on real data the repository carries.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::time::Instant;
use strata::jobs::{pagerank, wordcount};

fn data_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    let candidates = match given {
        Some(d) => vec![d],
        None => vec![
            PathBuf::from("data"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("data"),
        ],
    };
    for d in &candidates {
        if d.join("shakespeare").is_dir() && d.join("wordnet").is_dir() {
            return Ok(d.clone());
        }
    }
    bail!(
        "demo data not found in {}; run from the repository root or pass --data DIR \
         (scripts/make-demo-data.py rebuilds it)",
        candidates
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

pub fn run(ctx: &strata::Context, data: Option<PathBuf>) -> Result<()> {
    let dir = data_dir(data)?;
    let cfg = ctx.config();
    outln!(
        "Strata demo: embedded engine, {} threads, {} memory budget, data from {}\n",
        cfg.threads,
        cfg.memory,
        dir.display()
    );

    let t = Instant::now();
    let texts = dir.join("shakespeare").display().to_string();
    let counts = wordcount::word_count(ctx, &[texts], None)?.collect()?;
    let total: u64 = counts.iter().map(|c| c.1).sum();
    let mut top = counts.clone();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    outln!(
        "Word count: Shakespeare's plays and poems (Project Gutenberg): {total} words, {} distinct, {:.2}s",
        counts.len(),
        t.elapsed().as_secs_f64()
    );
    let long: Vec<_> = top
        .iter()
        .filter(|(w, _)| w.chars().count() >= 6)
        .take(10)
        .collect();
    outln!(
        "  {:<12} {:>8}     {:<14} {:>6}",
        "top words",
        "count",
        "top 6+ letters",
        "count"
    );
    for (i, (w, c)) in top.iter().take(10).enumerate() {
        let (lw, lc) = long.get(i).map(|x| (x.0.as_str(), x.1)).unwrap_or(("", 0));
        outln!("  {w:<12} {c:>8}     {lw:<14} {lc:>6}");
    }

    let t = Instant::now();
    let edges = dir.join("wordnet").join("edges.txt").display().to_string();
    let ranks = pagerank::pagerank(ctx, &[edges], 20, 0.85, None)?;
    let names = ctx
        .text_file(&[dir.join("wordnet").join("names.tsv").display().to_string()])?
        .try_flat_map(|l| {
            let (id, name) = l
                .split_once('\t')
                .ok_or_else(|| strata::Error::Input(format!("bad names.tsv line {l:?}")))?;
            let id: u64 = id
                .parse()
                .map_err(|_| strata::Error::Input(format!("bad synset id {id:?}")))?;
            Ok(Some((id, name.to_string())))
        });
    let pairs = ranks.pairs()?;
    let mut best: Vec<(u64, f64)> = pairs.clone();
    best.sort_by(|a, b| b.1.total_cmp(&a.1));
    best.truncate(10);
    let top_ids = ctx.parallelize(best.clone());
    let mut named = top_ids.join(&names).collect()?;
    named.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    outln!(
        "\nPageRank: WordNet 3.0 noun graph (kind-of / part-of links): {} synsets, 20 iterations, {:.2}s",
        ranks.nodes,
        t.elapsed().as_secs_f64()
    );
    for (id, (rank, name)) in named {
        outln!("  {rank:.6}  {name} ({id:08})");
    }
    let sum: f64 = pairs.iter().map(|p| p.1).sum();
    outln!("  (ranks sum to {sum:.9})");
    let m = ctx.metrics();
    outln!(
        "\nEngine: {} tasks, {} shuffled, {} spilled. Try `strata run wordcount --help`.",
        m.tasks_succeeded,
        strata::common::ByteSize(m.shuffle_bytes_written),
        strata::common::ByteSize(m.spilled_bytes)
    );
    Ok(())
}
