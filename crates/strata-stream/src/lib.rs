//! Strata Stream: event-time stream processing with exactly-once state.
//!
//! What it is for: unbounded (and bounded) data processed as it arrives, with the
//! semantics of the Dataflow model and Apache Flink — event time, watermarks, windows,
//! triggers and accumulation modes; keyed state; asynchronous barrier snapshots; output
//! committed exactly once.
//!
//! How it works:
//! - A job is built with the typed [`DataStream`] API in an [`StreamEnv`]. Operators
//!   between exchanges form a stage; each stage runs as `parallelism` tasks, each task a
//!   thread driving its chain of operators by direct calls ([`operator`]).
//! - `key_by` is an exchange: records are routed by key group ([`keys`]) over bounded
//!   channels ([`channel`]), which is also how backpressure works.
//! - Sources ([`source`]) are split into partitions read from checkpointed offsets; each
//!   partition has its own watermark generator, combined as the minimum over active
//!   partitions, and a silent partition is declared idle ([`time`]).
//! - Windows ([`window`], [`window_op`]) and process functions with timers
//!   ([`process`]) keep their state per key, snapshotted by key and redistributed by key
//!   group when a job restores at another parallelism ([`context`]).
//! - The coordinator ([`job`]) injects checkpoint barriers at the sources; channel tasks
//!   align them; snapshots are written through the storage layer ([`checkpoint`]) and
//!   file sinks commit in two phases ([`sink`]).
//! - Keyed state of process functions lives on the heap or in an on-disk LSM tree
//!   ([`state`]); its checkpoints are incremental (shared delta files, reference-counted).
//! - [`socket`]: a TCP socket of text lines (`tcp://host:port`, not replayable).
//! - [`jetstream`]: NATS JetStream as a replayable source (sequence numbers as offsets) and
//!   an exactly-once sink.
//! - [`sql`]: streaming SQL with window table functions, each window run on Strata SQL.
//! - [`nexmark`]: the Nexmark event model, generator and queries q0–q8 and q11.
//!
//! - [`metrics`]: records, watermarks, backpressure and checkpoints in `/metrics`.
//!
//! Not yet: tasks on the cluster's workers (jobs run in one process), a micro-batch
//! (D-Streams) mode, unaligned checkpoints, LSM-backed window state. See ARCHITECTURE.md.

pub mod api;
pub mod channel;
pub mod checkpoint;
pub mod context;
pub mod error;
pub mod jetstream;
pub mod job;
pub mod keys;
pub mod metrics;
pub mod nexmark;
pub mod operator;
pub mod process;
pub mod sink;
pub mod socket;
pub mod source;
pub mod sql;
pub mod state;
pub mod task;
pub mod time;
pub mod window;
pub mod window_op;

pub use api::{DataStream, Either, KeyedStream, StreamConfig, StreamEnv, WindowedStream};
pub use checkpoint::CheckpointConfig;
pub use error::{Result, StreamError};
pub use job::{CheckpointStat, JobStats};
pub use operator::Record;
pub use process::{KeyedProcessFunction, ProcessContext};
pub use sink::{Collected, FileSink};
pub use source::{DfsLogSource, LinesSource, Poll, Source, SplitReader, VecSource};
pub use state::StateBackend;
pub use time::{Ts, WatermarkStrategy};
pub use window::{Accumulation, Aggregate, Assigner, Fired, Timing, Trigger, Window};
