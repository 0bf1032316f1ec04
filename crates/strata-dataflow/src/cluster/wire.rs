//! The driver–executor protocol: length-prefixed bincode messages over one TCP connection.
//!
//! An executor connects, says `Hello` (with the cluster secret), and is `Welcome`d. From then
//! on the driver sends `Task`s for the job the executor said it is `Ready` for, `JobEnd` with
//! the job's results (so every process's program sees the same action results), and `Ping`s;
//! the executor answers with `TaskDone` reports and `Heartbeat`s. Either side that hears
//! nothing for `cluster.node_timeout_ms` declares the other lost.

use crate::error::Error;
use crate::metrics::TaskMetrics;
use crate::shuffle::{MapStatus, ShuffleId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// Largest message accepted (a collected partition travels in one).
const MAX_MESSAGE: u64 = 4 << 30;

/// Writes one message and flushes.
pub(crate) fn send<W: Write, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    let bytes = bincode::serialize(msg).map_err(|e| io::Error::other(e.to_string()))?;
    w.write_all(&(bytes.len() as u64).to_le_bytes())?;
    w.write_all(&bytes)?;
    w.flush()
}

/// Reads one message; `Ok(None)` at a clean end of stream.
pub(crate) fn recv<R: Read, T: DeserializeOwned>(r: &mut R) -> io::Result<Option<T>> {
    let mut len = [0u8; 8];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u64::from_le_bytes(len);
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes exceeds the limit"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    bincode::deserialize(&buf)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

pub use crate::shuffle::location::Location;

/// Executor → driver.
#[derive(Serialize, Deserialize)]
pub(crate) enum ToDriver {
    Hello {
        secret: String,
        app: String,
        executor: u64,
        host: String,
        shuffle_addr: String,
        cores: usize,
    },
    Ready {
        job: u64,
    },
    TaskDone(TaskReport),
    Heartbeat,
    /// The executor's program has ended; it exits now.
    Bye,
}

/// Driver → executor.
#[derive(Serialize, Deserialize)]
pub(crate) enum ToExecutor {
    Welcome,
    Refused(String),
    Task(Box<TaskDesc>),
    JobEnd {
        job: u64,
        #[serde(with = "bytes::arc")]
        result: Result<Arc<Vec<u8>>, String>,
    },
    Ping,
    Shutdown,
}

pub(crate) use crate::backend::TaskKind;

/// One task attempt, as sent to an executor.
#[derive(Serialize, Deserialize)]
pub(crate) struct TaskDesc {
    pub task: u64,
    pub job: u64,
    pub stage: u64,
    pub partition: usize,
    pub attempt: u32,
    pub kind: TaskKind,
    /// Map outputs of every shuffle the task reads.
    pub inputs: Arc<Vec<(ShuffleId, Vec<Option<MapStatus>>)>>,
    pub inject_failure: bool,
}

/// A task attempt's outcome.
#[derive(Serialize, Deserialize)]
pub(crate) struct TaskReport {
    pub task: u64,
    #[serde(with = "bytes::plain")]
    pub result: Result<Vec<u8>, WireError>,
    pub accumulators: Vec<(u64, Vec<u8>)>,
    pub metrics: [u64; 4],
    /// Cache blocks the attempt stored on its executor.
    pub cached: Vec<(u64, usize)>,
}

/// An [`Error`] in transit, keeping what the scheduler acts on.
#[derive(Serialize, Deserialize)]
pub(crate) enum WireError {
    Input(String),
    Output {
        path: PathBuf,
        reason: String,
    },
    FetchFailed {
        shuffle: u64,
        map: usize,
        reason: String,
    },
    Other(String),
}

impl From<Error> for WireError {
    fn from(e: Error) -> Self {
        match e {
            Error::Input(m) => WireError::Input(m),
            Error::Output { path, reason } => WireError::Output { path, reason },
            Error::FetchFailed {
                shuffle,
                map,
                reason,
            } => WireError::FetchFailed {
                shuffle,
                map,
                reason,
            },
            other => WireError::Other(other.to_string()),
        }
    }
}

impl WireError {
    pub fn into_error(self, host: &str) -> Error {
        match self {
            WireError::Input(m) => Error::Input(m),
            WireError::Output { path, reason } => Error::Output { path, reason },
            WireError::FetchFailed {
                shuffle,
                map,
                reason,
            } => Error::FetchFailed {
                shuffle,
                map,
                reason,
            },
            WireError::Other(m) => Error::Remote(format!("on {host}: {m}")),
        }
    }
}

pub(crate) fn metrics_to_wire(m: &TaskMetrics) -> [u64; 4] {
    [
        m.shuffle_bytes_written.get(),
        m.shuffle_bytes_read.get(),
        m.spilled_bytes.get(),
        m.spills.get(),
    ]
}

pub(crate) fn metrics_from_wire(w: [u64; 4]) -> TaskMetrics {
    let m = TaskMetrics::default();
    m.shuffle_bytes_written.set(w[0]);
    m.shuffle_bytes_read.set(w[1]);
    m.spilled_bytes.set(w[2]);
    m.spills.set(w[3]);
    m
}

/// Encoded results as byte strings: bincode writes a `Vec<u8>` byte by byte through serde
/// (a job's 100 MB result took seconds), a byte string in one copy.
mod bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub mod plain {
        use super::*;

        pub fn serialize<E: Serialize, S: Serializer>(
            r: &Result<Vec<u8>, E>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            r.as_ref().map(|v| Bytes::new(v)).serialize(s)
        }

        pub fn deserialize<'de, E: Deserialize<'de>, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Result<Vec<u8>, E>, D::Error> {
            Ok(Result::<ByteBuf, E>::deserialize(d)?.map(ByteBuf::into_vec))
        }
    }

    pub mod arc {
        use super::*;
        use std::sync::Arc;

        pub fn serialize<E: Serialize, S: Serializer>(
            r: &Result<Arc<Vec<u8>>, E>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            r.as_ref().map(|v| Bytes::new(v)).serialize(s)
        }

        pub fn deserialize<'de, E: Deserialize<'de>, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Result<Arc<Vec<u8>>, E>, D::Error> {
            Ok(Result::<ByteBuf, E>::deserialize(d)?.map(|b| Arc::new(b.into_vec())))
        }
    }
}
