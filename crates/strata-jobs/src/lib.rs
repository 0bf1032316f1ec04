//! # strata-jobs: the built-in jobs and data generators
//!
//! The jobs the `strata` binary runs (`strata run wordcount|pagerank|sort`, `strata gen
//! terasort`), written against the public [`strata_dataflow`] API exactly as a user's
//! program would be. Each module documents the job's contract: input format, output format,
//! and the definition of the answer, which the integration tests check against plain
//! single-threaded references.

#![deny(missing_docs)]

pub mod pagerank;
pub mod rmat;
pub mod terasort;
pub mod wordcount;
