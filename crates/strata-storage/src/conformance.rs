//! The suite every [`Store`] must pass, run by the tests against each backend (local paths
//! in this crate's tests, a real DFS cluster of processes in the binary's tests).
//!
//! It checks what the engines rely on: atomic replacing puts, exact ranged reads (across
//! DFS chunk boundaries when the data is larger than a chunk), listing with the hidden-file
//! rule and its count, sizes, streaming reads, deletes of files and trees, and clear
//! not-found errors.

use crate::{Result, StorageError, Store};
use std::io::Read;

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs the suite under `base` (a directory path inside `store` that may not exist yet);
/// `big` is a size larger than the store's unit of placement (a DFS chunk), to cross it.
/// Returns the first failure, described.
pub fn check(store: &dyn Store, base: &str, big: usize) -> std::result::Result<(), String> {
    let p = |rel: &str| format!("{}/{rel}", base.trim_end_matches('/'));
    let ctx = |what: &str, e: StorageError| format!("{}: {what}: {e}", store.scheme());
    let fail = |what: String| Err(format!("{}: {what}", store.scheme()));

    // Exclusive create: the first wins, the second writes nothing.
    let once = p("dir/once.json");
    if !store
        .put_new(&once, b"first")
        .map_err(|e| ctx("put_new", e))?
    {
        return fail("put_new on a free name said it exists".into());
    }
    if store
        .put_new(&once, b"second")
        .map_err(|e| ctx("put_new again", e))?
    {
        return fail("put_new replaced an existing file".into());
    }
    let mut got = Vec::new();
    store
        .open(&once)
        .and_then(|mut r| {
            r.read_to_end(&mut got).map_err(|e| StorageError::Io {
                path: once.clone(),
                source: e,
            })
        })
        .map_err(|e| ctx("read after put_new", e))?;
    if got != b"first" {
        return fail(format!("put_new kept {got:?}, not the first write"));
    }
    store.delete(&once).map_err(|e| ctx("delete", e))?;

    // Put and read back, whole and by ranges.
    let blob = data(big, 7);
    store
        .put(&p("dir/blob.bin"), &blob)
        .map_err(|e| ctx("put", e))?;
    if store.size(&p("dir/blob.bin")).map_err(|e| ctx("size", e))? != big as u64 {
        return fail("size after put".into());
    }
    for (s, e) in [
        (0, 1),
        (0, big as u64),
        (1, 2),
        (big as u64 / 2 - 3, big as u64 / 2 + 5),
        (big as u64 - 1, big as u64),
    ] {
        let got = store
            .read_range(&p("dir/blob.bin"), s..e)
            .map_err(|e| ctx("read_range", e))?;
        if got != blob[s as usize..e as usize] {
            return fail(format!("read_range {s}..{e} returned other bytes"));
        }
    }
    let opened = store
        .open_ranged(&p("dir/blob.bin"))
        .map_err(|e| ctx("open_ranged", e))?;
    if opened.len() != big as u64 {
        return fail(format!("open_ranged length {}", opened.len()));
    }
    for (s, e) in [(0, 7), (big as u64 - 9, big as u64), (3, big as u64 - 3)] {
        let got = opened.read(s..e).map_err(|e| ctx("ranged read", e))?;
        if got != blob[s as usize..e as usize] {
            return fail(format!("ranged read {s}..{e} returned other bytes"));
        }
    }
    let mut streamed = Vec::new();
    store
        .open(&p("dir/blob.bin"))
        .map_err(|e| ctx("open", e))?
        .read_to_end(&mut streamed)
        .map_err(|e| format!("{}: stream: {e}", store.scheme()))?;
    if streamed != blob {
        return fail("streamed bytes differ".into());
    }
    // A put replaces the whole file.
    store
        .put(&p("dir/blob.bin"), b"short")
        .map_err(|e| ctx("overwrite", e))?;
    let got = store
        .read_range(&p("dir/blob.bin"), 0..5)
        .map_err(|e| ctx("read after overwrite", e))?;
    if got != b"short" || store.size(&p("dir/blob.bin")).ok() != Some(5) {
        return fail("overwrite did not replace the file".into());
    }
    // Listing: recursive, sorted, hidden names skipped and counted, markers ignored.
    for f in [
        "dir/a.csv",
        "dir/sub/b.csv",
        "dir/_tmp/x.csv",
        "dir/.hidden",
        "dir/_SUCCESS",
    ] {
        store.put(&p(f), b"1,2\n").map_err(|e| ctx("put", e))?;
    }
    let l = store.list(&p("dir")).map_err(|e| ctx("list", e))?;
    let names: Vec<String> = l
        .files
        .iter()
        .map(|f| f.url.rsplit('/').next().unwrap_or("").to_string())
        .collect();
    if names != ["a.csv", "blob.bin", "b.csv"] {
        return fail(format!("list gave {names:?}"));
    }
    if l.hidden_files() != 2 {
        return fail(format!("hidden files counted {:?}", l.hidden));
    }
    if !l
        .files
        .iter()
        .all(|f| f.url == store.url(&url_path(&f.url)))
    {
        return fail("listed URLs do not resolve back".into());
    }
    let one = store
        .list(&p("dir/a.csv"))
        .map_err(|e| ctx("list a file", e))?;
    if one.files.len() != 1 || one.files[0].size != 4 {
        return fail(format!("listing a file gave {:?}", one.files));
    }
    // Not found is named as such.
    match store.size(&p("missing")) {
        Err(StorageError::NotFound(_)) => {}
        other => return fail(format!("size of a missing file gave {other:?}")),
    }
    // Deletes: a file, then the tree; absent paths are fine.
    store
        .delete(&p("dir/a.csv"))
        .map_err(|e| ctx("delete file", e))?;
    if store.size(&p("dir/a.csv")).is_ok() {
        return fail("deleted file still there".into());
    }
    store.delete(&p("dir")).map_err(|e| ctx("delete tree", e))?;
    store
        .delete(&p("dir"))
        .map_err(|e| ctx("delete absent", e))?;
    if store.list(&p("dir")).is_ok_and(|l| !l.files.is_empty()) {
        return fail("deleted tree still listed".into());
    }
    Ok(())
}

/// The path part of a listed URL (what the store's `url` was given).
fn url_path(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/".into(), |i| rest[i..].to_string()),
        None => url.to_string(),
    }
}

/// [`check`] as a `Result` for tests that use `?`.
pub fn run(store: &dyn Store, base: &str, big: usize) -> Result<()> {
    check(store, base, big).map_err(StorageError::Remote)
}
