//! Where a map output lives.

use serde::{Deserialize, Serialize};

/// Where a map output lives in a cluster: which executor, and its shuffle server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The executor that wrote it.
    pub executor: u64,
    /// Its host.
    pub host: String,
    /// Its shuffle server (`host:port`).
    pub addr: String,
}
