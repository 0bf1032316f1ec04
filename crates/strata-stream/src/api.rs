//! The typed DataStream API. Building a job records a graph of nodes (operators) grouped
//! into stages (chains between exchanges); [`StreamEnv::execute`] builds every stage's
//! operator chain once per parallel instance and runs it.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use strata_storage::StorageOptions;

use crate::channel::{Exchange, Msg, Route};
use crate::checkpoint::CheckpointConfig;
use crate::context::TaskInfo;
use crate::error::Result;
use crate::keys::{Key, key_group};
use crate::operator::{Data, FilterOp, FlatMapOp, MapOp, Operator, StampOp, fan_out};
use crate::process::{KeyedProcessFunction, ProcessOp};
use crate::sink::{CollectOp, Collected, FileSink, FileSinkOp, PrintOp};
use crate::source::Source;
use crate::task::{ChannelTask, Command, Shared, SourceTask, Task};
use crate::time::{Ts, WatermarkStrategy};
use crate::window::{Accumulation, Aggregate, Assigner, Fired, Trigger};
use crate::window_op::{StateData, WindowOp, WindowSpec};

/// How a job runs.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Instances per stage.
    pub parallelism: usize,
    /// Key groups (the most instances keyed state can be spread over).
    pub max_parallelism: usize,
    /// Periodic checkpoints, if any. Without them the job still commits its sinks once,
    /// when its input ends.
    pub checkpoint: Option<CheckpointConfig>,
    /// Resume from the latest complete checkpoint.
    pub restore: bool,
    /// Start from the savepoint at this URL (written by
    /// [`crate::checkpoint::trigger_savepoint`]); new checkpoints go to an empty
    /// `checkpoint` directory.
    pub restore_from: Option<String>,
    /// Where storage URLs go.
    pub storage: StorageOptions,
    /// Batches a channel holds before its producer blocks.
    pub channel_capacity: usize,
    /// Records per batch.
    pub batch_size: usize,
    /// Where keyed state of process functions lives.
    pub state_backend: crate::state::StateBackend,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            parallelism: 1,
            max_parallelism: 128,
            checkpoint: None,
            restore: false,
            restore_from: None,
            storage: StorageOptions::default(),
            channel_capacity: 8,
            batch_size: 512,
            state_backend: crate::state::StateBackend::Heap,
        }
    }
}

pub(crate) type AnyBox = Box<dyn Any + Send>;

/// What building a node needs besides its consumers.
pub(crate) struct Wiring {
    /// Senders into a stage: (stage, edge) → per upstream instance, one sender per
    /// downstream instance.
    pub(crate) senders: HashMap<(usize, usize), Vec<Option<AnyBox>>>,
    /// Receivers of a stage: per instance, one receiver per upstream instance.
    pub(crate) receivers: HashMap<usize, Vec<Option<AnyBox>>>,
    /// Command channels of source tasks.
    pub(crate) commands: HashMap<(usize, usize), Receiver<Command>>,
    pub(crate) command_senders: Vec<Sender<Command>>,
    pub(crate) shared: Shared,
    pub(crate) batch: usize,
}

type Build = Rc<dyn Fn(&TaskInfo, &str, Vec<Vec<AnyBox>>, &mut Wiring) -> Result<AnyBox>>;
type MakeChannels = Rc<dyn Fn(&[usize], usize, usize) -> (Vec<Vec<AnyBox>>, Vec<AnyBox>)>;

pub(crate) struct Node {
    pub(crate) stage: usize,
    pub(crate) parent: Option<(usize, usize)>,
    pub(crate) ports: usize,
    pub(crate) build: Build,
}

pub(crate) struct Stage {
    pub(crate) parallelism: usize,
    pub(crate) root: usize,
    /// Upstream stages, one per input edge.
    pub(crate) inputs: Vec<usize>,
    pub(crate) channels: Option<MakeChannels>,
    pub(crate) source: bool,
}

pub(crate) struct Graph {
    pub(crate) config: StreamConfig,
    pub(crate) nodes: Vec<Node>,
    pub(crate) stages: Vec<Stage>,
    /// Mistakes found while building (reported by `execute`).
    pub(crate) errors: Vec<String>,
}

/// The environment a job is built in (Flink's `StreamExecutionEnvironment`).
#[derive(Clone)]
pub struct StreamEnv {
    pub(crate) g: Rc<RefCell<Graph>>,
}

/// A stream of `T`.
pub struct DataStream<T> {
    env: StreamEnv,
    node: usize,
    port: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for DataStream<T> {
    fn clone(&self) -> Self {
        DataStream {
            env: self.env.clone(),
            node: self.node,
            port: self.port,
            _t: PhantomData,
        }
    }
}

/// One value of two connected streams.
#[derive(Debug, Clone, PartialEq)]
pub enum Either<A, B> {
    /// From the first stream.
    Left(A),
    /// From the second stream.
    Right(B),
}

pub(crate) fn take_ops<U: Data>(v: Vec<AnyBox>) -> Vec<Box<dyn Operator<U>>> {
    v.into_iter()
        .map(|b| {
            *b.downcast::<Box<dyn Operator<U>>>()
                .expect("operator of the stream's type")
        })
        .collect()
}

fn op_box<T: Data>(op: Box<dyn Operator<T>>) -> AnyBox {
    Box::new(op)
}

impl StreamEnv {
    /// A new job.
    pub fn new(config: StreamConfig) -> Self {
        StreamEnv {
            g: Rc::new(RefCell::new(Graph {
                config,
                nodes: Vec::new(),
                stages: Vec::new(),
                errors: Vec::new(),
            })),
        }
    }

    /// The job's configuration.
    pub fn config(&self) -> StreamConfig {
        self.g.borrow().config.clone()
    }

    fn add_node(
        &self,
        stage: usize,
        parent: Option<(usize, usize)>,
        ports: usize,
        build: Build,
    ) -> usize {
        let mut g = self.g.borrow_mut();
        g.nodes.push(Node {
            stage,
            parent,
            ports,
            build,
        });
        g.nodes.len() - 1
    }

    /// A stream read from `source`, stamped and watermarked per split by `strategy`.
    pub fn source<T: Data>(
        &self,
        source: impl Source<T>,
        strategy: WatermarkStrategy<T>,
    ) -> DataStream<T> {
        let source: Arc<dyn Source<T>> = Arc::new(source);
        let stage = {
            let mut g = self.g.borrow_mut();
            let parallelism = g.config.parallelism;
            g.stages.push(Stage {
                parallelism,
                root: usize::MAX,
                inputs: Vec::new(),
                channels: None,
                source: true,
            });
            g.stages.len() - 1
        };
        let build: Build = Rc::new(move |info, uid, mut ports, w| {
            let chain = fan_out(take_ops::<T>(ports.remove(0)));
            let commands = w
                .commands
                .remove(&(info.stage, info.index))
                .expect("source command channel");
            let task: Box<dyn Task> = Box::new(SourceTask {
                info: info.clone(),
                uid: uid.to_string(),
                source: source.clone(),
                strategy: strategy.clone(),
                chain,
                commands,
                shared: w.shared.clone(),
                batch: w.batch,
            });
            Ok(Box::new(task))
        });
        let node = self.add_node(stage, None, 1, build);
        self.g.borrow_mut().stages[stage].root = node;
        DataStream {
            env: self.clone(),
            node,
            port: 0,
            _t: PhantomData,
        }
    }

    /// A new stage fed by `inputs` (each routed by its own partitioner into the stage's
    /// channels); returns the stream of the stage's input.
    fn exchange<T: Data>(&self, inputs: Vec<(usize, usize, Route<T>)>) -> DataStream<T>
    where
        Route<T>: Clone,
    {
        let stage = {
            let mut g = self.g.borrow_mut();
            let p = g.config.parallelism;
            let upstream: Vec<usize> = inputs.iter().map(|(n, _, _)| g.nodes[*n].stage).collect();
            let make: MakeChannels = Rc::new(|ups: &[usize], down: usize, cap: usize| {
                // ups[e] = parallelism of edge e's stage.
                let total: usize = ups.iter().sum();
                let mut per_down: Vec<Vec<Receiver<Msg<T>>>> =
                    (0..down).map(|_| Vec::with_capacity(total)).collect();
                let mut senders = Vec::new();
                for &n in ups {
                    let mut edge = Vec::new();
                    for _ in 0..n {
                        let mut outs: Vec<Sender<Msg<T>>> = Vec::with_capacity(down);
                        for rx in per_down.iter_mut() {
                            let (tx, r) = crossbeam_channel::bounded(cap);
                            outs.push(tx);
                            rx.push(r);
                        }
                        edge.push(Box::new(outs) as AnyBox);
                    }
                    senders.push(edge);
                }
                let receivers = per_down
                    .into_iter()
                    .map(|v| Box::new(v) as AnyBox)
                    .collect();
                (senders, receivers)
            });
            g.stages.push(Stage {
                parallelism: p,
                root: usize::MAX,
                inputs: upstream,
                channels: Some(make),
                source: false,
            });
            g.stages.len() - 1
        };
        for (edge, (node, port, route)) in inputs.into_iter().enumerate() {
            let up_stage = self.g.borrow().nodes[node].stage;
            let build: Build = Rc::new(move |info, _uid, _ports, w| {
                let outs = w
                    .senders
                    .get_mut(&(stage, edge))
                    .and_then(|v| v[info.index].take())
                    .expect("exchange senders");
                let outs = *outs
                    .downcast::<Vec<Sender<Msg<T>>>>()
                    .expect("typed senders");
                Ok(op_box::<T>(Box::new(Exchange::new(
                    info.stage,
                    outs,
                    route.clone(),
                    w.batch,
                ))))
            });
            self.add_node(up_stage, Some((node, port)), 0, build);
        }
        let root_build: Build = Rc::new(move |info, _uid, mut ports, w| {
            let chain = fan_out(take_ops::<T>(ports.remove(0)));
            let rx = w
                .receivers
                .get_mut(&stage)
                .and_then(|v| v[info.index].take())
                .expect("stage receivers");
            let inputs = *rx
                .downcast::<Vec<Receiver<Msg<T>>>>()
                .expect("typed receivers");
            let task: Box<dyn Task> = Box::new(ChannelTask {
                info: info.clone(),
                inputs,
                chain,
                shared: w.shared.clone(),
            });
            Ok(Box::new(task))
        });
        let root = self.add_node(stage, None, 1, root_build);
        self.g.borrow_mut().stages[stage].root = root;
        DataStream {
            env: self.clone(),
            node: root,
            port: 0,
            _t: PhantomData,
        }
    }
}

impl<T> Clone for Route<T> {
    fn clone(&self) -> Self {
        match self {
            Route::Hash(f, m) => Route::Hash(f.clone(), *m),
            Route::Rebalance => Route::Rebalance,
        }
    }
}

impl<T: Data> DataStream<T> {
    /// The environment.
    pub fn env(&self) -> &StreamEnv {
        &self.env
    }

    /// Adds an operator chained after this stream, with `ports` outputs.
    pub(crate) fn add(&self, ports: usize, build: Build) -> usize {
        let stage = self.env.g.borrow().nodes[self.node].stage;
        self.env
            .add_node(stage, Some((self.node, self.port)), ports, build)
    }

    fn stream<U>(&self, node: usize, port: usize) -> DataStream<U> {
        DataStream {
            env: self.env.clone(),
            node,
            port,
            _t: PhantomData,
        }
    }

    /// A one-output operator made by `f` from its consumer.
    pub(crate) fn chain<U: Data>(
        &self,
        f: impl Fn(&TaskInfo, &str, Box<dyn Operator<U>>) -> Result<Box<dyn Operator<T>>> + 'static,
    ) -> DataStream<U> {
        let node = self.add(
            1,
            Rc::new(move |info, uid, mut ports, _w| {
                let next = fan_out(take_ops::<U>(ports.remove(0)));
                Ok(op_box::<T>(f(info, uid, next)?))
            }),
        );
        self.stream(node, 0)
    }

    /// Each record transformed.
    pub fn map<U: Data>(&self, f: impl Fn(T) -> U + Send + Sync + 'static) -> DataStream<U> {
        let f: Arc<dyn Fn(T) -> U + Send + Sync> = Arc::new(f);
        self.chain(move |_, _, next| Ok(Box::new(MapOp { f: f.clone(), next })))
    }

    /// The records `f` keeps.
    pub fn filter(&self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> DataStream<T> {
        let f: Arc<dyn Fn(&T) -> bool + Send + Sync> = Arc::new(f);
        self.chain(move |_, _, next| Ok(Box::new(FilterOp { f: f.clone(), next })))
    }

    /// Zero or more records per record.
    pub fn flat_map<U: Data>(
        &self,
        f: impl Fn(T) -> Vec<U> + Send + Sync + 'static,
    ) -> DataStream<U> {
        let f: Arc<dyn Fn(T) -> Vec<U> + Send + Sync> = Arc::new(f);
        self.chain(move |_, _, next| Ok(Box::new(FlatMapOp { f: f.clone(), next })))
    }

    /// Re-stamps each record's event time.
    pub fn with_timestamps(&self, f: impl Fn(&T) -> Ts + Send + Sync + 'static) -> DataStream<T> {
        let f: Arc<dyn Fn(&T) -> Ts + Send + Sync> = Arc::new(f);
        self.chain(move |_, _, next| Ok(Box::new(StampOp { f: f.clone(), next })))
    }

    /// Partitions the stream by key: records of one key meet in one instance.
    pub fn key_by<K: Key>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> KeyedStream<K, T> {
        let key: Arc<dyn Fn(&T) -> K + Send + Sync> = Arc::new(key);
        let maxp = self.env.g.borrow().config.max_parallelism;
        let k = key.clone();
        let route = Route::Hash(Arc::new(move |v: &T| key_group(&k(v), maxp)), maxp);
        let input = self.env.exchange(vec![(self.node, self.port, route)]);
        KeyedStream { input, key }
    }

    /// This stream and `other` as one, spread round robin over a new stage.
    pub fn union(&self, other: &DataStream<T>) -> DataStream<T> {
        self.env.exchange(vec![
            (self.node, self.port, Route::Rebalance),
            (other.node, other.port, Route::Rebalance),
        ])
    }

    /// This stream and `other`, keyed on a common key: records of both with one key meet
    /// in one instance as [`Either`] values (Flink's `connect(..).keyBy(..)`).
    pub fn connect_keyed<B: Data, K: Key>(
        &self,
        other: &DataStream<B>,
        key_a: impl Fn(&T) -> K + Send + Sync + 'static,
        key_b: impl Fn(&B) -> K + Send + Sync + 'static,
    ) -> KeyedStream<K, Either<T, B>> {
        let left = self.map(Either::<T, B>::Left);
        let right = other.map(Either::<T, B>::Right);
        let key: Arc<dyn Fn(&Either<T, B>) -> K + Send + Sync> = Arc::new(move |e| match e {
            Either::Left(a) => key_a(a),
            Either::Right(b) => key_b(b),
        });
        let maxp = self.env.g.borrow().config.max_parallelism;
        let k = key.clone();
        let route: Route<Either<T, B>> =
            Route::Hash(Arc::new(move |v| key_group(&k(v), maxp)), maxp);
        let input = self.env.exchange(vec![
            (left.node, left.port, route.clone()),
            (right.node, right.port, route),
        ]);
        KeyedStream { input, key }
    }

    /// Writes the stream with a two-phase-commit file sink.
    pub fn sink_files(&self, sink: FileSink<T>) {
        self.chain::<T>(move |info, _, _| Ok(Box::new(FileSinkOp::new(info, sink.clone())?)));
    }

    /// Collects the stream in memory (at least once).
    pub fn collect_into(&self, out: Collected<T>) {
        self.chain::<T>(move |_, _, _| {
            Ok(Box::new(CollectOp {
                out: out.clone(),
                buf: Vec::new(),
            }))
        });
    }

    /// Prints each record with `fmt`.
    pub fn print(&self, fmt: impl Fn(&T) -> String + Send + Sync + 'static) {
        let fmt: Arc<dyn Fn(&T) -> String + Send + Sync> = Arc::new(fmt);
        self.chain::<T>(move |_, _, _| Ok(Box::new(PrintOp { fmt: fmt.clone() })));
    }
}

/// A stream partitioned by key.
pub struct KeyedStream<K, T> {
    input: DataStream<T>,
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
}

impl<K: Key, T: Data> KeyedStream<K, T> {
    /// A process function with per-key state and timers.
    pub fn process<O: Data, F: KeyedProcessFunction<K, T, O>>(&self, f: F) -> DataStream<O> {
        let f = Arc::new(f);
        let key = self.key.clone();
        self.input.chain(move |info, uid, next| {
            Ok(Box::new(ProcessOp::new(
                info,
                uid.to_string(),
                key.clone(),
                f.clone(),
                next,
            )?))
        })
    }

    /// Windows of each key.
    pub fn window(&self, assigner: Assigner) -> WindowedStream<K, T> {
        if let Err(e) = assigner.validate() {
            self.input.env.g.borrow_mut().errors.push(e);
        }
        WindowedStream {
            keyed: KeyedStream {
                input: self.input.clone(),
                key: self.key.clone(),
            },
            spec: WindowSpec {
                assigner,
                trigger: Trigger::default(),
                mode: Accumulation::default(),
                lateness: 0,
            },
        }
    }
}

/// A keyed stream cut into windows.
pub struct WindowedStream<K, T> {
    keyed: KeyedStream<K, T>,
    spec: WindowSpec,
}

impl<K: Key, T: Data> WindowedStream<K, T> {
    /// When panes fire (default: when the watermark passes the window).
    pub fn trigger(mut self, t: Trigger) -> Self {
        self.spec.trigger = t;
        self
    }
    /// How panes relate (default: accumulating).
    pub fn accumulation(mut self, m: Accumulation) -> Self {
        self.spec.mode = m;
        self
    }
    /// How long windows accept late records after the watermark passed them.
    pub fn allowed_lateness(mut self, d: Duration) -> Self {
        self.spec.lateness = d.as_millis() as i64;
        self
    }

    /// Aggregates each window; late records beyond the allowed lateness are dropped.
    pub fn aggregate<A: StateData, R: StateData>(
        &self,
        agg: Aggregate<T, A, R>,
    ) -> DataStream<Fired<K, R>> {
        self.aggregate_with_late(agg).0
    }

    /// Aggregates each window, and returns the records that came too late as a side
    /// output.
    pub fn aggregate_with_late<A: StateData, R: StateData>(
        &self,
        agg: Aggregate<T, A, R>,
    ) -> (DataStream<Fired<K, R>>, DataStream<T>) {
        let key = self.keyed.key.clone();
        let spec = self.spec;
        let node = self.keyed.input.add(
            2,
            Rc::new(move |info, uid, mut ports, _w| {
                let late = fan_out(take_ops::<T>(ports.pop().expect("late port")));
                let next = fan_out(take_ops::<Fired<K, R>>(ports.pop().expect("main port")));
                let op = WindowOp::new(
                    info,
                    uid.to_string(),
                    key.clone(),
                    spec,
                    agg.clone(),
                    next,
                    late,
                )?;
                Ok(op_box::<T>(Box::new(op)))
            }),
        );
        (
            self.keyed.input.stream(node, 0),
            self.keyed.input.stream(node, 1),
        )
    }
}
