//! Nexmark q0–q8 and q11 as DataStream jobs, following the Flink SQL versions in the
//! Nexmark repository (`nexmark-flink/src/main/resources/queries`). Output columns are
//! named as in those queries. Timestamps print as `YYYY-MM-DD HH:MM:SS.mmm` (UTC); AVG of
//! a BIGINT is a BIGINT (truncated), as in Flink.
//!
//! q4 and q6 are updating queries in Flink (their results change as bids arrive); here
//! each auction's final price is taken once the watermark passes its `expires`, and the
//! per-category (q4) and per-seller (q6) results are emitted when the input ends, so the
//! committed output is the query's answer over the whole input.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::event::{Auction, Bid, Event, Person};
use crate::Record;
use crate::api::{DataStream, Either};
use crate::error::{Result, StreamError};
use crate::process::{KeyedProcessFunction, ProcessContext};
use crate::sink::{FileSink, csv_field as field};
use crate::time::{END_OF_TIME, Ts, format_ts};
use crate::window::{Aggregate, Assigner};

/// The queries implemented.
pub const QUERIES: &[&str] = &["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q11"];

/// Where a query's rows go.
#[derive(Debug, Clone)]
pub enum Output {
    /// CSV part files with a header under a directory or URL.
    Files(String),
    /// Messages (one CSV row each) to `nats://host:port/SUBJECT`, staged under `staging`
    /// until their checkpoint completes.
    JetStream {
        /// The subject URL.
        subject: String,
        /// Staging directory or URL (durable: a restored job re-publishes from it).
        staging: String,
    },
}

impl Output {
    pub(crate) fn sink<T>(
        &self,
        header: &str,
        row: impl Fn(&T, &mut String) + Send + Sync + 'static,
    ) -> FileSink<T> {
        match self {
            Output::Files(url) => FileSink::csv(url.clone(), header, row),
            Output::JetStream { subject, staging } => FileSink {
                url: staging.clone(),
                header: None,
                row: std::sync::Arc::new(row),
                ext: "csv",
                publish: Some(subject.clone()),
            },
        }
    }
}

/// The CSV header of query `q`.
pub fn header(q: &str) -> Option<&'static str> {
    Some(match q {
        "q0" | "q1" => "auction,bidder,price,dateTime,extra",
        "q2" => "auction,price",
        "q3" => "name,city,state,id",
        "q4" => "id,final",
        "q5" => "auction,num",
        "q6" => "seller,avg_price",
        "q7" => "auction,price,bidder,dateTime,extra",
        "q8" => "id,name,stime",
        "q11" => "bidder,bid_count,starttime,endtime",
        _ => return None,
    })
}

fn bids(events: &DataStream<Event>) -> DataStream<Bid> {
    events.flat_map(|e| match e {
        Event::Bid(b) => vec![b],
        _ => Vec::new(),
    })
}

fn auctions(events: &DataStream<Event>) -> DataStream<Auction> {
    events.flat_map(|e| match e {
        Event::Auction(a) => vec![a],
        _ => Vec::new(),
    })
}

fn persons(events: &DataStream<Event>) -> DataStream<Person> {
    events.flat_map(|e| match e {
        Event::Person(p) => vec![p],
        _ => Vec::new(),
    })
}

fn bid_row(b: &Bid, out: &mut String) {
    let _ = write!(
        out,
        "{},{},{},{},",
        b.auction,
        b.bidder,
        b.price,
        format_ts(b.date_time)
    );
    field(out, &b.extra);
}

/// Adds query `q` over `events` to the job, writing CSV part files under `out`.
pub fn build_query(q: &str, events: &DataStream<Event>, out: &Output) -> Result<()> {
    let h = header(q).ok_or_else(|| {
        StreamError::Invalid(format!(
            "unknown query {q}; the queries are {}",
            QUERIES.join(", ")
        ))
    })?;
    match q {
        "q0" => bids(events).sink_files(out.sink(h, bid_row)),
        "q1" => bids(events)
            .map(|b| (b.price * 908, b))
            .sink_files(out.sink(h, |(milli, b): &(i64, Bid), o| {
                let _ = write!(
                    o,
                    "{},{},{}{}.{:03},{},",
                    b.auction,
                    b.bidder,
                    if *milli < 0 { "-" } else { "" },
                    milli.abs() / 1000,
                    milli.abs() % 1000,
                    format_ts(b.date_time)
                );
                field(o, &b.extra);
            })),
        "q2" => bids(events)
            .filter(|b| b.auction % 123 == 0)
            .sink_files(out.sink(h, |b: &Bid, o| {
                let _ = write!(o, "{},{}", b.auction, b.price);
            })),
        "q3" => {
            let sellers =
                persons(events).filter(|p| matches!(p.state.as_str(), "OR" | "ID" | "CA"));
            let items = auctions(events).filter(|a| a.category == 10);
            sellers
                .connect_keyed(&items, |p| p.id, |a| a.seller)
                .process(LocalItems)
                .sink_files(out.sink(h, |(p, id): &(Person, i64), o| {
                    field(o, &p.name);
                    o.push(',');
                    field(o, &p.city);
                    o.push(',');
                    field(o, &p.state);
                    let _ = write!(o, ",{id}");
                }))
        }
        "q4" => auctions(events)
            .connect_keyed(&bids(events), |a| a.id, |b| b.auction)
            .process(Winners)
            .key_by(|w: &Winner| w.category)
            .process(CategoryAverage)
            .sink_files(out.sink(h, |(c, avg): &(i64, i64), o| {
                let _ = write!(o, "{c},{avg}");
            })),
        "q5" => bids(events)
            .key_by(|b| b.auction)
            .window(Assigner::sliding(
                Duration::from_secs(10),
                Duration::from_secs(2),
            ))
            .aggregate(Aggregate::count())
            .key_by(|f| (f.window.start, f.window.end))
            .process(HotItems)
            .sink_files(out.sink(h, |(a, n): &(i64, u64), o| {
                let _ = write!(o, "{a},{n}");
            })),
        "q6" => auctions(events)
            .connect_keyed(&bids(events), |a| a.id, |b| b.auction)
            .process(Winners)
            .key_by(|w: &Winner| w.seller)
            .process(SellerAverage)
            .sink_files(out.sink(h, |(s, avg): &(i64, i64), o| {
                let _ = write!(o, "{s},{avg}");
            })),
        "q7" => bids(events)
            .flat_map(|b| {
                // Each bid counts toward the max of its 10 s window, and one exactly on a
                // window's end is also a candidate of the window that ends there (BETWEEN
                // is inclusive).
                let end = b.date_time - b.date_time.rem_euclid(10_000) + 10_000;
                let mut v = vec![(end, true, b.clone())];
                if b.date_time.rem_euclid(10_000) == 0 {
                    v.push((b.date_time, false, b));
                }
                v
            })
            .key_by(|(end, _, _)| *end)
            .process(HighestBid)
            .sink_files(out.sink(h, |b: &Bid, o| {
                let _ = write!(
                    o,
                    "{},{},{},{},",
                    b.auction,
                    b.price,
                    b.bidder,
                    format_ts(b.date_time)
                );
                field(o, &b.extra);
            })),
        "q8" => persons(events)
            .connect_keyed(
                &auctions(events),
                |p| (p.id, window10(p.date_time)),
                |a| (a.seller, window10(a.date_time)),
            )
            .process(NewUsers)
            .sink_files(out.sink(h, |(id, name, start): &(i64, String, Ts), o| {
                let _ = write!(o, "{id},");
                field(o, name);
                let _ = write!(o, ",{}", format_ts(*start));
            })),
        "q11" => bids(events)
            .key_by(|b| b.bidder)
            .window(Assigner::session(Duration::from_secs(10)))
            .aggregate(Aggregate::count())
            .sink_files(out.sink(h, |f: &crate::Fired<i64, u64>, o| {
                let _ = write!(
                    o,
                    "{},{},{},{}",
                    f.key,
                    f.value,
                    format_ts(f.window.start),
                    format_ts(f.window.end)
                );
            })),
        _ => unreachable!("header() knows every query"),
    }
    Ok(())
}

fn window10(ts: Ts) -> Ts {
    ts - ts.rem_euclid(10_000)
}

/// q3: the regular join of sellers and their auctions (state kept for the job's life).
struct LocalItems;

#[derive(Default, Serialize, Deserialize)]
struct LocalItemsState {
    person: Option<(String, String, String)>,
    waiting: Vec<i64>,
}

impl KeyedProcessFunction<i64, Either<Person, Auction>, (Person, i64)> for LocalItems {
    type State = LocalItemsState;
    fn process(
        &self,
        _: &i64,
        st: &mut LocalItemsState,
        rec: Record<Either<Person, Auction>>,
        ctx: &mut ProcessContext<(Person, i64)>,
    ) {
        match rec.value {
            Either::Left(p) => {
                st.person = Some((p.name.clone(), p.city.clone(), p.state.clone()));
                for id in st.waiting.drain(..) {
                    ctx.emit(rec.ts, (p.clone(), id));
                }
            }
            Either::Right(a) => match &st.person {
                Some((name, city, state)) => {
                    let p = Person {
                        id: a.seller,
                        name: name.clone(),
                        email_address: String::new(),
                        credit_card: String::new(),
                        city: city.clone(),
                        state: state.clone(),
                        date_time: 0,
                        extra: String::new(),
                    };
                    ctx.emit(rec.ts, (p, a.id));
                }
                None => st.waiting.push(a.id),
            },
        }
    }
}

/// The winning bid of a closed auction.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Winner {
    category: i64,
    seller: i64,
    price: i64,
    /// When the winning bid was placed.
    at: Ts,
}

/// q4/q6: per auction, the highest bid between its start and `expires`, final once the
/// watermark passes `expires`.
struct Winners;

#[derive(Default, Serialize, Deserialize)]
struct WinnersState {
    auction: Option<(Ts, Ts, i64, i64)>,
    best: Option<(i64, Ts)>,
    early: Vec<(Ts, i64)>,
}

impl WinnersState {
    fn offer(&mut self, ts: Ts, price: i64) {
        let Some((start, expires, _, _)) = self.auction else {
            self.early.push((ts, price));
            return;
        };
        if ts < start || ts > expires {
            return;
        }
        let better = match self.best {
            None => true,
            Some((p, at)) => price > p || (price == p && ts < at),
        };
        if better {
            self.best = Some((price, ts));
        }
    }
}

impl KeyedProcessFunction<i64, Either<Auction, Bid>, Winner> for Winners {
    type State = WinnersState;
    fn process(
        &self,
        _: &i64,
        st: &mut WinnersState,
        rec: Record<Either<Auction, Bid>>,
        ctx: &mut ProcessContext<Winner>,
    ) {
        match rec.value {
            Either::Left(a) => {
                st.auction = Some((a.date_time, a.expires, a.category, a.seller));
                for (ts, p) in std::mem::take(&mut st.early) {
                    st.offer(ts, p);
                }
                ctx.register_timer(a.expires);
            }
            Either::Right(b) => st.offer(b.date_time, b.price),
        }
    }
    fn on_timer(&self, _: &i64, st: &mut WinnersState, ts: Ts, ctx: &mut ProcessContext<Winner>) {
        if let (Some((_, _, category, seller)), Some((price, at))) = (st.auction, st.best) {
            ctx.emit(
                ts,
                Winner {
                    category,
                    seller,
                    price,
                    at,
                },
            );
        }
        ctx.clear_state();
    }
}

/// q4: the average final price per category, at the end of the input.
struct CategoryAverage;

impl KeyedProcessFunction<i64, Winner, (i64, i64)> for CategoryAverage {
    type State = (i64, i64);
    fn process(
        &self,
        _: &i64,
        st: &mut (i64, i64),
        rec: Record<Winner>,
        ctx: &mut ProcessContext<(i64, i64)>,
    ) {
        st.0 += rec.value.price;
        st.1 += 1;
        ctx.register_timer(END_OF_TIME);
    }
    fn on_timer(&self, k: &i64, st: &mut (i64, i64), ts: Ts, ctx: &mut ProcessContext<(i64, i64)>) {
        if st.1 > 0 {
            ctx.emit(ts, (*k, st.0 / st.1));
        }
        ctx.clear_state();
    }
}

/// q6: per seller, for each closed auction in order of its winning bid's time, the
/// average of that and the 10 preceding final prices.
struct SellerAverage;

impl KeyedProcessFunction<i64, Winner, (i64, i64)> for SellerAverage {
    type State = Vec<(Ts, i64)>;
    fn process(
        &self,
        _: &i64,
        st: &mut Vec<(Ts, i64)>,
        rec: Record<Winner>,
        ctx: &mut ProcessContext<(i64, i64)>,
    ) {
        st.push((rec.value.at, rec.value.price));
        ctx.register_timer(END_OF_TIME);
    }
    fn on_timer(
        &self,
        k: &i64,
        st: &mut Vec<(Ts, i64)>,
        ts: Ts,
        ctx: &mut ProcessContext<(i64, i64)>,
    ) {
        st.sort_unstable();
        for i in 0..st.len() {
            let from = i.saturating_sub(10);
            let win = &st[from..=i];
            let avg = win.iter().map(|w| w.1).sum::<i64>() / win.len() as i64;
            ctx.emit(ts, (*k, avg));
        }
        ctx.clear_state();
    }
}

/// q5: per sliding window, the auctions with the most bids.
struct HotItems;

impl KeyedProcessFunction<(Ts, Ts), crate::Fired<i64, u64>, (i64, u64)> for HotItems {
    type State = Vec<(i64, u64)>;
    fn process(
        &self,
        k: &(Ts, Ts),
        st: &mut Vec<(i64, u64)>,
        rec: Record<crate::Fired<i64, u64>>,
        ctx: &mut ProcessContext<(i64, u64)>,
    ) {
        if st.is_empty() {
            ctx.register_timer(k.1 - 1);
        }
        st.push((rec.value.key, rec.value.value));
    }
    fn on_timer(
        &self,
        _: &(Ts, Ts),
        st: &mut Vec<(i64, u64)>,
        ts: Ts,
        ctx: &mut ProcessContext<(i64, u64)>,
    ) {
        let max = st.iter().map(|x| x.1).max().unwrap_or(0);
        for &(a, n) in st.iter().filter(|x| x.1 >= max) {
            ctx.emit(ts, (a, n));
        }
        ctx.clear_state();
    }
}

/// q7: per 10 s window, the bids at the window's highest price.
struct HighestBid;

#[derive(Default, Serialize, Deserialize)]
struct HighestState {
    max: Option<i64>,
    candidates: Vec<(Ts, i64, i64, i64, String)>,
}

impl KeyedProcessFunction<Ts, (Ts, bool, Bid), Bid> for HighestBid {
    type State = HighestState;
    fn process(
        &self,
        end: &Ts,
        st: &mut HighestState,
        rec: Record<(Ts, bool, Bid)>,
        ctx: &mut ProcessContext<Bid>,
    ) {
        let (_, counts, b) = rec.value;
        if st.max.is_none() && st.candidates.is_empty() {
            ctx.register_timer(*end);
        }
        if counts {
            st.max = Some(st.max.map_or(b.price, |m| m.max(b.price)));
        }
        // Keep only bids that can still be at the max.
        if st.max.is_none_or(|m| b.price >= m) {
            let m = st.max.unwrap_or(i64::MIN);
            st.candidates.retain(|c| c.2 >= m);
            st.candidates
                .push((b.date_time, b.auction, b.price, b.bidder, b.extra));
        }
    }
    fn on_timer(&self, _: &Ts, st: &mut HighestState, ts: Ts, ctx: &mut ProcessContext<Bid>) {
        if let Some(m) = st.max {
            for c in st.candidates.iter().filter(|c| c.2 == m) {
                ctx.emit(
                    ts,
                    Bid {
                        auction: c.1,
                        bidder: c.3,
                        price: c.2,
                        channel: String::new(),
                        url: String::new(),
                        date_time: c.0,
                        extra: c.4.clone(),
                    },
                );
            }
        }
        ctx.clear_state();
    }
}

/// q8: persons who opened an auction in the 10 s window they registered in.
struct NewUsers;

#[derive(Default, Serialize, Deserialize)]
struct NewUsersState {
    name: Option<String>,
    sold: bool,
}

impl KeyedProcessFunction<(i64, Ts), Either<Person, Auction>, (i64, String, Ts)> for NewUsers {
    type State = NewUsersState;
    fn process(
        &self,
        k: &(i64, Ts),
        st: &mut NewUsersState,
        rec: Record<Either<Person, Auction>>,
        ctx: &mut ProcessContext<(i64, String, Ts)>,
    ) {
        if st.name.is_none() && !st.sold {
            ctx.register_timer(k.1 + 10_000 - 1);
        }
        match rec.value {
            Either::Left(p) => st.name = Some(p.name),
            Either::Right(_) => st.sold = true,
        }
    }
    fn on_timer(
        &self,
        k: &(i64, Ts),
        st: &mut NewUsersState,
        ts: Ts,
        ctx: &mut ProcessContext<(i64, String, Ts)>,
    ) {
        if let (Some(name), true) = (&st.name, st.sold) {
            ctx.emit(ts, (k.0, name.clone(), k.1));
        }
        ctx.clear_state();
    }
}
