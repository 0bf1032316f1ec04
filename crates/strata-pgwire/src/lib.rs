//! # strata-pgwire: Strata SQL behind the PostgreSQL wire protocol
//!
//! `strata sql-server --listen HOST:PORT` serves one [`strata_sql::Engine`] (its registered
//! tables and its database of created tables) to any PostgreSQL client: `psql`, `psycopg`,
//! JDBC, BI tools. The protocol itself (startup, authentication, message framing, portals,
//! cancel keys) comes from the `pgwire` crate; this crate maps it onto the engine:
//!
//! - **Simple query protocol** ([`handler`]): a query string of one or more statements,
//!   parsed once; each runs in order on a blocking thread and stops at the first error, as
//!   PostgreSQL does. Rows go out as they are encoded ([`encode`]): Arrow types map to
//!   PostgreSQL's (`BIGINT` → `int8`, `DECIMAL` → `numeric`, `TIMESTAMP` → `timestamp`, ...),
//!   in text or binary format as the client asks.
//! - **Extended query protocol**: Parse / Bind / Describe / Execute with `$n` parameters.
//!   Parameters are bound into the statement as typed SQL literals ([`params`]) at the
//!   token positions of the placeholders (never inside string literals), so a value can
//!   never change the statement's shape; Describe plans the query to give the row shape.
//! - **Authentication**: with a cluster secret (`STRATA_SECRET` / `[cluster] secret`)
//!   clients must give it as their password (MD5 challenge, any user name); without one the
//!   server trusts every client and should listen on loopback only.
//! - **Cancel**: a cancel request (psql's Ctrl-C, `connection.cancel()`) sets the running
//!   query's [`strata_sql::exec::Cancel`] flag; its scans stop at the next batch and the
//!   client gets SQLSTATE 57014. A client that disconnects mid-query cancels it too.
//! - **Transactions**: every statement commits on its own (autocommit). `BEGIN`/`COMMIT`
//!   are accepted so drivers that open transactions work; a `ROLLBACK` after a change in
//!   the same transaction is an error saying that the change stayed ([`handler`]).
//! - **Errors** carry SQLSTATE codes ([`errors`]): `42601` syntax, `42P01` unknown table,
//!   `42703` unknown column, `0A000` unsupported, `22012` division by zero, ...

pub mod encode;
pub mod errors;
pub mod handler;
pub mod params;

use handler::Handlers;
use std::net::SocketAddr;
use std::sync::Arc;
use strata_sql::Engine;

/// What the server needs besides the engine.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// The password every client must give (any user name); `None` trusts every client.
    pub password: Option<String>,
}

/// A running server: where it listens, and the accept loop to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    handlers: Arc<Handlers>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port; see [`Server::local_addr`]).
    pub async fn bind(addr: &str, engine: Engine, opts: ServerOptions) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Ok(Server {
            listener,
            handlers: Arc::new(Handlers::new(engine, opts)),
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until the process ends; each is served on a task of its own.
    pub async fn run(self) -> std::io::Result<()> {
        loop {
            let (socket, peer) = match self.listener.accept().await {
                Ok(s) => s,
                // Out of file descriptors and the like: keep serving the connections
                // there are, and try again shortly.
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let handlers = self.handlers.clone();
            tokio::spawn(async move {
                if let Err(e) = pgwire::tokio::process_socket(socket, None, handlers).await {
                    tracing::debug!("connection from {peer} ended: {e}");
                }
            });
        }
    }
}
