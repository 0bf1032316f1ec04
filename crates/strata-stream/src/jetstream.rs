//! NATS JetStream, used as users use Kafka: a replayable source whose stream sequence
//! numbers are the offsets checkpoints record, and an exactly-once sink.
//!
//! Source: one split per stream, read by an ephemeral pull consumer that starts after the
//! checkpointed sequence. Bounded mode stops at the stream's last sequence when the job
//! started (for benchmarks and tests); unbounded mode keeps polling.
//!
//! Sink: rows are staged like the file sink's and published when their checkpoint
//! completes, each with a `Nats-Msg-Id` made of its staged file and line, so a commit that
//! is redone after a crash is dropped by JetStream's duplicate window (2 minutes by
//! default) instead of appearing twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;

use crate::error::{Result, StreamError};
use crate::source::{Poll, Source, SplitReader};

fn rt() -> &'static tokio::runtime::Runtime {
    strata_storage::io_runtime()
}

fn nats_err(what: &str, e: impl std::fmt::Display) -> StreamError {
    StreamError::Invalid(format!("NATS {what}: {e}"))
}

/// `nats://host:port/name` → (`host:port`, `name`).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("nats://")
        .ok_or_else(|| StreamError::Invalid(format!("{url}: not a nats:// URL")))?;
    match rest.split_once('/') {
        Some((host, name)) if !host.is_empty() && !name.is_empty() => {
            Ok((host.to_string(), name.to_string()))
        }
        _ => Err(StreamError::Invalid(format!(
            "{url}: write nats://host:port/STREAM (or /SUBJECT for a sink)"
        ))),
    }
}

/// One connection per server for the process (the client reconnects on its own).
async fn context(server: &str) -> Result<jetstream::Context> {
    static CONTEXTS: OnceLock<Mutex<HashMap<String, jetstream::Context>>> = OnceLock::new();
    let cache = CONTEXTS.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(server) {
        return Ok(c.clone());
    }
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(server)
        .await
        .map_err(|e| {
            nats_err(
                &format!("connect to {server} (is nats-server with JetStream running?)"),
                e,
            )
        })?;
    let c = jetstream::new(client);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(server.to_string(), c.clone());
    Ok(c)
}

/// Records of a JetStream stream, parsed from each message's payload.
pub struct JetStreamSource<T> {
    server: String,
    stream: String,
    parse: Arc<dyn Fn(&[u8]) -> Result<Option<T>> + Send + Sync>,
    bounded: bool,
}

impl<T> JetStreamSource<T> {
    /// Reads `nats://host:port/STREAM` up to its last message at the time the job starts.
    pub fn bounded(
        url: &str,
        parse: impl Fn(&[u8]) -> Result<Option<T>> + Send + Sync + 'static,
    ) -> Result<Self> {
        let (server, stream) = parse_url(url)?;
        Ok(JetStreamSource {
            server,
            stream,
            parse: Arc::new(parse),
            bounded: true,
        })
    }
    /// Keeps reading new messages (the job runs until stopped).
    pub fn unbounded(mut self) -> Self {
        self.bounded = false;
        self
    }
}

struct JsReader<T> {
    consumer: consumer::Consumer<consumer::pull::Config>,
    parse: Arc<dyn Fn(&[u8]) -> Result<Option<T>> + Send + Sync>,
    pos: u64,
    end: u64,
}

impl<T: Send + 'static> SplitReader<T> for JsReader<T> {
    fn poll(&mut self, max: usize, out: &mut Vec<T>) -> Result<Poll> {
        if self.pos >= self.end {
            return Ok(Poll::End);
        }
        let want = (max as u64).min(self.end - self.pos) as usize;
        let msgs = rt().block_on(async {
            let mut batch = self
                .consumer
                .fetch()
                .max_messages(want)
                .expires(Duration::from_millis(200))
                .messages()
                .await
                .map_err(|e| nats_err("fetch", e))?;
            let mut v = Vec::new();
            while let Some(m) = batch.next().await {
                v.push(m.map_err(|e| nats_err("message", e))?);
            }
            Ok::<_, StreamError>(v)
        })?;
        if msgs.is_empty() {
            return Ok(Poll::Idle);
        }
        for m in msgs {
            let seq = m
                .info()
                .map_err(|e| nats_err("message info", e))?
                .stream_sequence;
            if seq <= self.pos {
                continue;
            }
            self.pos = seq;
            if let Some(v) = (self.parse)(&m.payload)? {
                out.push(v);
            }
        }
        Ok(Poll::Ready)
    }
    fn offset(&self) -> u64 {
        self.pos
    }
}

impl<T: Send + 'static> Source<T> for JetStreamSource<T> {
    fn splits(&self) -> Result<Vec<String>> {
        Ok(vec![format!("nats://{}/{}", self.server, self.stream)])
    }
    fn open(&self, _split: &str, offset: u64) -> Result<Box<dyn SplitReader<T>>> {
        let (consumer, last) = rt().block_on(async {
            let js = context(&self.server).await?;
            let mut s = js
                .get_stream(&self.stream)
                .await
                .map_err(|e| nats_err(&format!("stream {}", self.stream), e))?;
            let last = s
                .info()
                .await
                .map_err(|e| nats_err("stream info", e))?
                .state
                .last_sequence;
            let consumer = s
                .create_consumer(consumer::pull::Config {
                    deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: offset + 1,
                    },
                    ack_policy: consumer::AckPolicy::None,
                    inactive_threshold: Duration::from_secs(60),
                    ..Default::default()
                })
                .await
                .map_err(|e| nats_err("create consumer", e))?;
            Ok::<_, StreamError>((consumer, last))
        })?;
        Ok(Box::new(JsReader {
            consumer,
            parse: self.parse.clone(),
            pos: offset,
            end: if self.bounded { last } else { u64::MAX },
        }))
    }
}

/// Creates stream `name` (subject `name`) if absent and publishes `payloads` to it, waiting
/// for each acknowledgement; returns the last sequence.
pub fn publish(url: &str, payloads: impl Iterator<Item = Vec<u8>>) -> Result<u64> {
    let (server, name) = parse_url(url)?;
    rt().block_on(async {
        let js = context(&server).await?;
        js.get_or_create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![name.clone()],
            ..Default::default()
        })
        .await
        .map_err(|e| nats_err(&format!("create stream {name}"), e))?;
        let mut last = 0;
        let mut acks = Vec::new();
        for p in payloads {
            let ack = js
                .publish(name.clone(), p.into())
                .await
                .map_err(|e| nats_err("publish", e))?;
            acks.push(ack);
            if acks.len() >= 1024 {
                for a in acks.drain(..) {
                    last = a.await.map_err(|e| nats_err("publish ack", e))?.sequence;
                }
            }
        }
        for a in acks {
            last = a.await.map_err(|e| nats_err("publish ack", e))?.sequence;
        }
        Ok(last)
    })
}

/// Publishes the lines of a staged sink file to `nats://host:port/SUBJECT`, each with the
/// message id `id_prefix:line` (JetStream drops a repeat within its duplicate window).
pub(crate) fn publish_lines(url: &str, id_prefix: &str, data: &[u8]) -> Result<()> {
    let (server, subject) = parse_url(url)?;
    rt().block_on(async {
        let js = context(&server).await?;
        let mut acks = Vec::new();
        for (i, line) in data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Msg-Id", format!("{id_prefix}:{i}").as_str());
            let ack = js
                .publish_with_headers(subject.clone(), h, line.to_vec().into())
                .await
                .map_err(|e| nats_err(&format!("publish to {subject}"), e))?;
            acks.push(ack);
        }
        for a in acks {
            a.await.map_err(|e| nats_err("publish ack", e))?;
        }
        Ok(())
    })
}

/// Reads every message of stream `nats://host:port/STREAM` (tests, tools).
pub fn read_all(url: &str) -> Result<Vec<Vec<u8>>> {
    let src = JetStreamSource::bounded(url, |b: &[u8]| Ok(Some(b.to_vec())))?;
    let mut r = src.open("", 0)?;
    let mut out = Vec::new();
    while r.poll(1024, &mut out)? != Poll::End {}
    Ok(out)
}

/// Deletes stream `nats://host:port/STREAM` (no error when absent).
pub fn delete_stream(url: &str) -> Result<()> {
    let (server, name) = parse_url(url)?;
    rt().block_on(async {
        let js = context(&server).await?;
        let _ = js.delete_stream(&name).await;
        Ok(())
    })
}
