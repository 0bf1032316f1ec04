//! Nexmark events from the `nexmark` crate's generator (a port of the reference Java
//! generator: the 1:3:46 person/auction/bid mix, hot sellers/auctions/bidders, padding to
//! the standard average sizes, events reordered within groups of 64 for bounded
//! disorder). The stream is cut into `parts` interleaved partitions (partition i holds
//! events i, i+parts, …), like the partitions of a broker topic; each has its own
//! watermark when read.

use std::sync::Arc;

use nexmark::EventGenerator;
use nexmark::config::NexmarkConfig;
use strata_storage::StorageOptions;

use super::event::{Auction, Bid, Event, Person};
use crate::error::{Result, StreamError};
use crate::source::{Poll, Source, SplitReader};

/// 2015-07-15 00:00:00 UTC, where generated event time starts.
pub const BASE_TIME: u64 = 1_436_918_400_000;

fn config(seed: u64) -> NexmarkConfig {
    NexmarkConfig {
        base_time: BASE_TIME,
        out_of_order_group_size: 64,
        first_event_id: (seed as usize).wrapping_mul(1_000_003),
        // Upper case as in the reference generator (Nexmark's q3 filters on 'OR', 'ID', 'CA').
        us_states: ["AZ", "CA", "ID", "OR", "WA", "WY"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ..Default::default()
    }
}

fn convert(e: nexmark::event::Event) -> Event {
    use nexmark::event::Event as N;
    match e {
        N::Person(p) => Event::Person(Person {
            id: p.id as i64,
            name: p.name,
            email_address: p.email_address,
            credit_card: p.credit_card,
            city: p.city,
            state: p.state,
            date_time: p.date_time as i64,
            extra: p.extra,
        }),
        N::Auction(a) => Event::Auction(Auction {
            id: a.id as i64,
            item_name: a.item_name,
            description: a.description,
            initial_bid: a.initial_bid as i64,
            reserve: a.reserve as i64,
            date_time: a.date_time as i64,
            expires: a.expires as i64,
            seller: a.seller as i64,
            category: a.category as i64,
            extra: a.extra,
        }),
        N::Bid(b) => Event::Bid(Bid {
            auction: b.auction as i64,
            bidder: b.bidder as i64,
            price: b.price as i64,
            channel: b.channel,
            url: b.url,
            date_time: b.date_time as i64,
            extra: b.extra,
        }),
    }
}

/// How many of `total` events partition `i` of `parts` holds.
fn part_len(total: u64, parts: usize, i: usize) -> u64 {
    let p = parts as u64;
    total / p + u64::from((i as u64) < total % p)
}

/// The events of partition `i`, from its `offset`-th on.
fn part_events(
    seed: u64,
    total: u64,
    parts: usize,
    i: usize,
    offset: u64,
) -> impl Iterator<Item = Event> {
    let n = part_len(total, parts, i).saturating_sub(offset);
    EventGenerator::new(config(seed))
        .with_offset(i as u64 + offset * parts as u64)
        .with_step(parts as u64)
        .take(n as usize)
        .map(convert)
}

/// All `total` events, partition by partition (what `write_events` writes).
pub fn events(total: u64, parts: usize, seed: u64) -> Vec<Event> {
    (0..parts.max(1))
        .flat_map(|i| part_events(seed, total, parts.max(1), i, 0))
        .collect()
}

/// Writes `total` events as `parts` JSON-lines files `events-NN.jsonl` under `dir`.
pub fn write_events(
    dir: &str,
    storage: &StorageOptions,
    total: u64,
    parts: usize,
    seed: u64,
) -> Result<u64> {
    if parts == 0 {
        return Err(StreamError::Invalid(
            "--partitions must be at least 1".into(),
        ));
    }
    let (store, root) = strata_storage::resolve(dir, storage)?;
    let root = root.trim_end_matches('/').to_string();
    let mut bytes = 0;
    for i in 0..parts {
        let mut out = String::new();
        for e in part_events(seed, total, parts, i, 0) {
            out.push_str(&e.to_json());
            out.push('\n');
        }
        bytes += out.len() as u64;
        store.put(&format!("{root}/events-{i:02}.jsonl"), out.as_bytes())?;
    }
    Ok(bytes)
}

/// Generates the events while the job runs (no files): `parts` partitions whose offsets
/// are event counts.
pub struct GeneratorSource {
    /// Events in all.
    pub total: u64,
    /// Partitions.
    pub parts: usize,
    /// Seed (0 = Nexmark's standard stream).
    pub seed: u64,
}

struct GenReader {
    it: Box<dyn Iterator<Item = Event> + Send>,
    pos: u64,
}

impl SplitReader<Event> for GenReader {
    fn poll(&mut self, max: usize, out: &mut Vec<Event>) -> Result<Poll> {
        let before = out.len();
        out.extend((&mut self.it).take(max));
        let n = out.len() - before;
        self.pos += n as u64;
        Ok(if n == 0 { Poll::End } else { Poll::Ready })
    }
    fn offset(&self) -> u64 {
        self.pos
    }
}

impl Source<Event> for GeneratorSource {
    fn splits(&self) -> Result<Vec<String>> {
        Ok((0..self.parts).map(|i| format!("nexmark-{i:02}")).collect())
    }
    fn open(&self, split: &str, offset: u64) -> Result<Box<dyn SplitReader<Event>>> {
        let i: usize = split
            .strip_prefix("nexmark-")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StreamError::Invalid(format!("no generator split {split}")))?;
        Ok(Box::new(GenReader {
            it: Box::new(part_events(self.seed, self.total, self.parts, i, offset)),
            pos: offset,
        }))
    }
}

/// Parses Nexmark JSON lines (for [`crate::LinesSource`]).
pub fn parse_line() -> Arc<dyn Fn(&str) -> Result<Option<Event>> + Send + Sync> {
    Arc::new(|l| Event::parse(l).map(Some).map_err(StreamError::Invalid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_interleave_the_one_stream_and_resume_at_an_offset() {
        let all: Vec<Event> = (0..3).flat_map(|i| part_events(0, 100, 3, i, 0)).collect();
        assert_eq!(all.len(), 100);
        let bids = all.iter().filter(|e| matches!(e, Event::Bid(_))).count();
        assert!((85..=97).contains(&bids), "{bids}");
        let tail: Vec<Event> = part_events(0, 100, 3, 1, 10).collect();
        let full: Vec<Event> = part_events(0, 100, 3, 1, 0).collect();
        assert_eq!(tail, full[10..]);
        assert!(all.iter().all(|e| e.ts() >= BASE_TIME as i64));
    }
}
