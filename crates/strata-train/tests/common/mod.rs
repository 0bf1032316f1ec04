//! What the training tests share.

use strata_storage::StorageOptions;

/// Storage options for local paths only.
pub fn opts() -> StorageOptions {
    StorageOptions {
        dfs_master: String::new(),
        secret: String::new(),
        s3: Vec::new(),
    }
}

/// The sonnets in the repository's data directory (real text, 95 KB).
pub fn sonnets() -> String {
    format!(
        "{}/../../data/shakespeare/sonnets.txt",
        env!("CARGO_MANIFEST_DIR")
    )
}
