//! The storage conformance suite against local paths (the DFS runs it in the binary's
//! tests, against a cluster of real processes).

use strata_storage::{StorageOptions, conformance, resolve};

#[test]
fn local_store_passes_the_conformance_suite() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("base");
    let (store, path) = resolve(base.to_str().unwrap(), &StorageOptions::default()).unwrap();
    conformance::check(store.as_ref(), &path, 3 << 20).unwrap();
    // file:// URLs name the same store.
    let url = format!("file://{}", base.display());
    let (store, path) = resolve(&url, &StorageOptions::default()).unwrap();
    assert_eq!(store.scheme(), "file");
    conformance::check(store.as_ref(), &path, 1000).unwrap();
}

#[test]
fn unknown_schemes_are_named() {
    let e = resolve("s4://bucket/x", &StorageOptions::default()).unwrap_err();
    assert!(e.to_string().contains("unknown scheme s4://"), "{e}");
}

/// Ranged reads through the block cache return exactly the file's bytes, whatever the
/// offsets, sizes and order (within a block, across blocks, past the cache's reach).
#[test]
fn range_file_reads_match_the_bytes_through_the_block_cache() {
    use std::io::Read;
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("f.bin");
    let len = (11 << 20) / 2 + 12_345; // 5.5 MiB and a bit
    let mut x = 0x9e37_79b9_u64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&path, &bytes).unwrap();
    let f = strata_storage::RangeFile::open(path.to_str().unwrap(), &StorageOptions::default())
        .unwrap();
    assert_eq!(f.len(), len as u64);
    let block = strata_storage::RangeFile::BLOCK;
    for (s, n) in [
        (0u64, 1u64),
        (block - 3, 7),
        (5, 3 * block),
        (block * 2 + 1, 5 * block),
        (len as u64 - 2, 10),
        (17, len as u64),
        (block, block),
        (3, 4),
    ] {
        let got = f.read(s, n).unwrap();
        let e = ((s + n) as usize).min(len);
        assert!(got == bytes[s as usize..e], "read {s}+{n}");
    }
    let mut tail = Vec::new();
    f.reader_at(block + 99).read_to_end(&mut tail).unwrap();
    assert!(tail == bytes[(block + 99) as usize..]);
}
