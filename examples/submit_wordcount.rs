//! A user's program that runs embedded or on a cluster without a change: word count with
//! an accumulator, written to a directory.
//!
//! Embedded:
//!
//! ```sh
//! cargo run --release --example submit_wordcount -- data/shakespeare /tmp/wc
//! ```
//!
//! On a cluster (the binary is shipped to the workers through the DFS; each starts it as an
//! executor, and it runs here as the driver):
//!
//! ```sh
//! strata local-cluster -n 3 --dir /tmp/lc &
//! cargo build --release --example submit_wordcount
//! strata submit --master 127.0.0.1:7070 --executors 3 \
//!     target/release/examples/submit_wordcount "$PWD/data/shakespeare" /tmp/wc-cluster
//! ```
//!
//! Every process runs `main`; only the driver prints (`ctx.is_driver()`). Input and output
//! paths must be visible to every worker: absolute local paths on one machine, `dfs://`
//! URLs on several.

use strata::Context;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "data/shakespeare".into());
    let out = args
        .next()
        .unwrap_or_else(|| "/tmp/strata-submit-wordcount".into());

    let ctx = Context::from_env()?;
    let lines = ctx.accumulator(0u64);
    let counter = lines.clone();
    let counts = ctx
        .text_file(&[&input])?
        .flat_map(move |line| {
            counter.add(1);
            strata::jobs::wordcount::words(&line)
        })
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b);
    counts
        .map(|(w, n)| format!("{w}\t{n}"))
        .save_as_text_file(&out)?;
    if ctx.is_driver() {
        println!("lines: {}", lines.value());
        match ctx.app_id() {
            Some(app) => println!("ran as cluster application {app}; output in {out}"),
            None => println!("ran embedded; output in {out}"),
        }
    }
    Ok(())
}
