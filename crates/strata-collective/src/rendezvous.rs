//! Forming a communicator: every rank finds every other through rank 0's address.
//!
//! Rank 0 listens on the master address. Every other rank binds a listener of its own (on
//! the interface it reaches the master by), connects to the master and says hello (job
//! token, rank, world size, its listener's address); rank 0 checks the hellos (same job,
//! same size, each rank once) and answers every rank with the table of addresses. The
//! master connection becomes the link to rank 0; rank `j` connects to each rank `0 < i < j`
//! and accepts from each rank above it, so every pair holds exactly one TCP connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::{CollectiveError, Result};

fn setup(msg: impl Into<String>) -> CollectiveError {
    CollectiveError::Setup(msg.into())
}

fn write_msg(s: &mut TcpStream, text: &str) -> std::io::Result<()> {
    s.write_all(&(text.len() as u32).to_le_bytes())?;
    s.write_all(text.as_bytes())
}

fn read_msg(s: &mut TcpStream, deadline: Instant) -> std::io::Result<String> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    s.set_read_timeout(Some(left))?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 1 << 20 {
        return Err(std::io::Error::other("hello too long: not a Strata rank"));
    }
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf)?;
    String::from_utf8(buf).map_err(std::io::Error::other)
}

fn connect_retry(addr: &str, deadline: Instant) -> Result<TcpStream> {
    let mut last = String::new();
    while Instant::now() < deadline {
        let addrs: Vec<SocketAddr> = match addr.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => return Err(setup(format!("{addr}: not an address: {e}"))),
        };
        for a in &addrs {
            match TcpStream::connect_timeout(a, Duration::from_secs(2)) {
                Ok(s) => return Ok(s),
                Err(e) => last = e.to_string(),
            }
        }
        // Rank 0 may not be listening yet: back off briefly and retry until the deadline.
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(setup(format!(
        "could not reach {addr} before the timeout ({last}); is rank 0 running there?"
    )))
}

fn accept_until(listener: &TcpListener, deadline: Instant, what: &str) -> Result<TcpStream> {
    listener
        .set_nonblocking(true)
        .map_err(|e| setup(e.to_string()))?;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).map_err(|e| setup(e.to_string()))?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(setup(format!("timed out waiting for {what}")));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(setup(format!("accept: {e}"))),
        }
    }
}

/// Forms the mesh; returns one stream per rank (`None` at this rank's index).
/// Where rank 0 waits for the others: the master address bound, or a listener the caller
/// bound already (port 0 picks a free port; the caller tells the other ranks which).
pub(crate) enum Master<'a> {
    Addr(&'a str),
    Listener(TcpListener),
}

pub(crate) fn connect_mesh(
    rank: usize,
    size: usize,
    master: Master<'_>,
    job: &str,
    timeout: Duration,
) -> Result<Vec<Option<TcpStream>>> {
    let deadline = Instant::now() + timeout;
    let mut links: Vec<Option<TcpStream>> = (0..size).map(|_| None).collect();
    if size == 1 {
        return Ok(links);
    }
    if rank == 0 {
        let listener = match master {
            Master::Listener(l) => l,
            Master::Addr(a) => TcpListener::bind(a).map_err(|e| {
                setup(format!(
                    "rank 0 cannot listen on {a}: {e}; choose another --master/port"
                ))
            })?,
        };
        let mut table = vec![String::new(); size];
        for _ in 1..size {
            let mut s = accept_until(&listener, deadline, "ranks to join")?;
            let hello = read_msg(&mut s, deadline).map_err(|e| setup(format!("hello: {e}")))?;
            let f: Vec<&str> = hello.split('\t').collect();
            let bad = |m: String, s: &mut TcpStream| {
                let _ = write_msg(s, &format!("ERR\t{m}"));
                setup(m)
            };
            if f.len() != 5 || f[0] != "STRATA-COLL" {
                return Err(bad(
                    format!("a non-Strata client connected: {hello:?}"),
                    &mut s,
                ));
            }
            if f[1] != job {
                return Err(bad(
                    format!("a rank of job {:?} joined job {job:?}", f[1]),
                    &mut s,
                ));
            }
            let (r, n): (usize, usize) = match (f[2].parse(), f[3].parse()) {
                (Ok(r), Ok(n)) => (r, n),
                _ => return Err(bad(format!("bad hello {hello:?}"), &mut s)),
            };
            if n != size {
                return Err(bad(
                    format!("rank {r} expects a world of {n} ranks, rank 0 of {size}"),
                    &mut s,
                ));
            }
            if r == 0 || r >= size || links[r].is_some() {
                return Err(bad(
                    format!("rank {r} joined twice or is out of range"),
                    &mut s,
                ));
            }
            table[r] = f[4].to_string();
            links[r] = Some(s);
        }
        let reply = format!("OK\t{}", table.join("\t"));
        for s in links.iter_mut().flatten() {
            write_msg(s, &reply).map_err(|e| setup(format!("answering a rank: {e}")))?;
        }
        return Ok(links);
    }
    // rank > 0
    let Master::Addr(master) = master else {
        return Err(setup("only rank 0 listens for the others"));
    };
    let mut m = connect_retry(master, deadline)?;
    let ip = m.local_addr().map_err(|e| setup(e.to_string()))?.ip();
    let listener = TcpListener::bind((ip, 0)).map_err(|e| setup(format!("bind {ip}: {e}")))?;
    let me = listener.local_addr().map_err(|e| setup(e.to_string()))?;
    write_msg(&mut m, &format!("STRATA-COLL\t{job}\t{rank}\t{size}\t{me}"))
        .map_err(|e| setup(format!("hello to {master}: {e}")))?;
    let reply = read_msg(&mut m, deadline)
        .map_err(|e| setup(format!("waiting for rank 0 to answer: {e}")))?;
    let f: Vec<&str> = reply.split('\t').collect();
    if f[0] != "OK" || f.len() != size + 1 {
        return Err(setup(format!("rank 0 refused: {}", f[1..].join(" "))));
    }
    links[0] = Some(m);
    for j in 1..rank {
        let mut s = connect_retry(f[j + 1], deadline)?;
        write_msg(&mut s, &format!("{job}\t{rank}"))
            .map_err(|e| setup(format!("hello to rank {j}: {e}")))?;
        links[j] = Some(s);
    }
    for _ in rank + 1..size {
        let mut s = accept_until(&listener, deadline, "higher ranks to connect")?;
        let hello = read_msg(&mut s, deadline).map_err(|e| setup(format!("hello: {e}")))?;
        let (j, r) = hello
            .split_once('\t')
            .ok_or_else(|| setup(format!("bad peer hello {hello:?}")))?;
        let r: usize = r
            .parse()
            .map_err(|_| setup(format!("bad peer hello {hello:?}")))?;
        if j != job || r <= rank || r >= size || links[r].is_some() {
            return Err(setup(format!("unexpected peer hello {hello:?}")));
        }
        links[r] = Some(s);
    }
    Ok(links)
}
