//! A cluster program that pauses between two jobs until a file appears: the tests use the
//! pause to preempt one of its executors for a production job, then check that the second
//! job still gives the right answer on the executors that remain.
//!
//! ```sh
//! strata submit --master 127.0.0.1:7070 --executors 2 \
//!     target/release/examples/preemptible_sum /tmp/go   # then: touch /tmp/go
//! ```
//!
//! Every process (driver and executors) waits for the file, so all of them reach the second
//! job together (SPMD); paths must be visible to every process (one machine here).

use std::path::Path;
use std::time::Duration;
use strata::Context;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let marker = std::env::args()
        .nth(1)
        .ok_or("usage: preemptible_sum MARKER_FILE")?;
    let ctx = Context::from_env()?;
    let warm = ctx
        .parallelize_with((1..=1000u64).collect(), 4)
        .map(|x| x * 2)
        .reduce(|a, b| a + b)?;
    if ctx.is_driver() {
        println!("first: {}", warm.unwrap_or(0));
    }
    while !Path::new(&marker).exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sum = ctx
        .parallelize_with((1..=100_000u64).collect(), 8)
        .map(|x| x % 7)
        .reduce(|a, b| a + b)?;
    if ctx.is_driver() {
        println!("second: {}", sum.unwrap_or(0));
    }
    Ok(())
}
