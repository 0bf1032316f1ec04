//! A TCP socket as a source (Flink's `socketTextStream`): the job connects to
//! `tcp://host:port` and reads newline-separated records until the peer closes the
//! connection. One split; a background thread reads the socket so a poll never blocks the
//! task (a silent socket makes the split idle, so its watermark does not hold the job).
//!
//! A socket cannot be replayed: a checkpoint records how many bytes were read, but a
//! restored job reconnects and continues with whatever the peer sends next. Records in
//! flight at a failure are lost (at most once), as with Flink's socket source; use files,
//! DFS record logs or JetStream when output must be exactly once.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError};

use crate::error::{Result, StreamError};
use crate::source::{Poll, Source, SplitReader, push_parsed};

/// Lines from a TCP connection, each parsed into a record (`None` skips the line).
pub struct SocketSource<T> {
    addr: String,
    parse: Arc<dyn Fn(&str) -> Result<Option<T>> + Send + Sync>,
    connect_timeout: Duration,
}

impl<T> SocketSource<T> {
    /// A source reading `url` (`tcp://host:port`, or `host:port`).
    pub fn new(
        url: &str,
        parse: impl Fn(&str) -> Result<Option<T>> + Send + Sync + 'static,
    ) -> Result<Self> {
        let addr = url
            .strip_prefix("tcp://")
            .unwrap_or(url)
            .trim_end_matches('/');
        if addr
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return Err(StreamError::Invalid(format!(
                "{url}: expected tcp://HOST:PORT (e.g. tcp://127.0.0.1:9999)"
            )));
        }
        Ok(SocketSource {
            addr: addr.to_string(),
            parse: Arc::new(parse),
            connect_timeout: Duration::from_secs(10),
        })
    }
}

/// What the reader thread sends: a line, or the end (with an error if the read failed).
enum Line {
    Text(String),
    End(Option<String>),
}

struct SocketReader<T> {
    lines: Receiver<Line>,
    parse: Arc<dyn Fn(&str) -> Result<Option<T>> + Send + Sync>,
    pos: u64,
    ended: bool,
    /// `tcp://host:port`, for errors.
    split: String,
}

impl<T: Send + 'static> SplitReader<T> for SocketReader<T> {
    fn poll(&mut self, max: usize, out: &mut Vec<T>) -> Result<Poll> {
        if self.ended {
            return Ok(Poll::End);
        }
        let mut got = 0;
        while got < max {
            match self.lines.try_recv() {
                Ok(Line::Text(l)) => {
                    let at = self.pos;
                    self.pos += l.len() as u64 + 1;
                    let l = l.trim_end_matches('\r');
                    if !l.is_empty() && push_parsed(&*self.parse, l, out, &self.split, at)? {
                        got += 1;
                    }
                }
                Ok(Line::End(None)) | Err(TryRecvError::Disconnected) => {
                    self.ended = true;
                    break;
                }
                Ok(Line::End(Some(e))) => {
                    return Err(StreamError::Invalid(format!(
                        "{}: reading failed: {e}",
                        self.split
                    )));
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        Ok(match (got, self.ended) {
            (0, true) => Poll::End,
            (0, false) => Poll::Idle,
            _ => Poll::Ready,
        })
    }
    fn offset(&self) -> u64 {
        self.pos
    }
}

impl<T: Send + 'static> Source<T> for SocketSource<T> {
    fn splits(&self) -> Result<Vec<String>> {
        Ok(vec![format!("tcp://{}", self.addr)])
    }
    fn open(&self, _split: &str, _offset: u64) -> Result<Box<dyn SplitReader<T>>> {
        use std::net::ToSocketAddrs;
        let target = self
            .addr
            .to_socket_addrs()
            .map_err(|e| StreamError::Invalid(format!("tcp://{}: {e}", self.addr)))?
            .next()
            .ok_or_else(|| StreamError::Invalid(format!("tcp://{}: no address", self.addr)))?;
        let conn =
            std::net::TcpStream::connect_timeout(&target, self.connect_timeout).map_err(|e| {
                StreamError::Invalid(format!(
                    "tcp://{}: cannot connect ({e}); start the server first (e.g. `nc -lk {}`)",
                    self.addr,
                    target.port()
                ))
            })?;
        let (tx, rx) = crossbeam_channel::bounded(4096);
        std::thread::Builder::new()
            .name(format!("tcp-source {}", self.addr))
            .spawn(move || {
                let mut r = BufReader::with_capacity(1 << 16, conn);
                let mut buf = String::new();
                loop {
                    buf.clear();
                    match r.read_line(&mut buf) {
                        Ok(0) => {
                            let _ = tx.send(Line::End(None));
                            return;
                        }
                        Ok(_) => {
                            let l = buf.strip_suffix('\n').unwrap_or(&buf).to_string();
                            // The job ended or failed: stop reading.
                            if tx.send(Line::Text(l)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Line::End(Some(e.to_string())));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| StreamError::Invalid(format!("cannot start a reader thread: {e}")))?;
        Ok(Box::new(SocketReader {
            lines: rx,
            parse: self.parse.clone(),
            pos: 0,
            ended: false,
            split: format!("tcp://{}", self.addr),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::WatermarkStrategy;
    use std::io::Write;

    #[test]
    fn lines_from_a_socket_flow_through_a_job_until_the_peer_closes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            for i in 0..1000u64 {
                writeln!(c, "{i},{}", i * 10).unwrap();
            }
            // A malformed line would fail the job; a blank one is skipped.
            writeln!(c).unwrap();
        });
        let env = crate::StreamEnv::new(crate::StreamConfig::default());
        let src = SocketSource::new(&format!("tcp://{addr}"), |l: &str| {
            let (a, b) = l
                .split_once(',')
                .ok_or_else(|| StreamError::Invalid(l.into()))?;
            let p = |s: &str| {
                s.parse::<u64>()
                    .map_err(|e| StreamError::Invalid(e.to_string()))
            };
            Ok(Some((p(a)?, p(b)?)))
        })
        .unwrap();
        let out: crate::sink::Collected<u64> = Default::default();
        env.source(
            src,
            WatermarkStrategy::bounded(Duration::ZERO, |r: &(u64, u64)| r.1 as i64),
        )
        .map(|(a, b)| a + b)
        .collect_into(out.clone());
        env.execute().unwrap();
        server.join().unwrap();
        let mut got: Vec<u64> = out.lock().unwrap().iter().map(|r| r.value).collect();
        got.sort();
        assert_eq!(got, (0..1000).map(|i| i * 11).collect::<Vec<_>>());
    }

    #[test]
    fn a_bad_address_or_a_closed_port_is_a_clear_error() {
        let e = SocketSource::new("tcp://nowhere", |_| Ok(Some(())))
            .err()
            .unwrap();
        assert!(e.to_string().contains("expected tcp://HOST:PORT"), "{e}");
        // A port nobody listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let src = SocketSource::new(&format!("tcp://127.0.0.1:{port}"), |_| Ok(Some(()))).unwrap();
        let e = Source::<()>::open(&src, "", 0).err().unwrap();
        assert!(e.to_string().contains("cannot connect"), "{e}");
    }
}
