//! Nexmark: the online-auction event stream (persons, auctions, bids) and the benchmark's
//! queries q0–q8 and q11 as Strata Stream jobs, following Nexmark's Flink SQL versions.

pub mod event;
pub mod generate;
pub mod queries;

pub use event::{Auction, Bid, Event, Person};
pub use generate::{GeneratorSource, events, write_events};
pub use queries::{Output, QUERIES, build_query, header};
