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
