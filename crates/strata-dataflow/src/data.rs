//! What a dataset element must be.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An element of a [`crate::Dataset`].
///
/// Elements cross thread boundaries (tasks run on a pool), are written to shuffle, spill and
/// cache files, and in cluster mode travel between processes, so they must be `Send + Sync`,
/// `Clone`, and serde-serializable. Every type meeting the bounds implements `Data`.
pub trait Data: Send + Sync + Clone + Serialize + DeserializeOwned + 'static {}

impl<T: Send + Sync + Clone + Serialize + DeserializeOwned + 'static> Data for T {}

/// A shuffle key: [`Data`] that can be hashed and compared for equality.
///
/// Keys are hashed with a fixed (unseeded) hash so that every process of a cluster agrees on
/// which partition a key belongs to.
pub trait Key: Data + std::hash::Hash + Eq {}

impl<T: Data + std::hash::Hash + Eq> Key for T {}
