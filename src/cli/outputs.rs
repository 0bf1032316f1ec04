//! Output safety: what must hold before a command writes (and, with `--overwrite`, deletes)
//! an output directory.
//!
//! Regression (data-safety issue, row 1): `run wordcount inp --out inp --overwrite` deleted
//! its own input, and a typo in an input path deleted the old output before the inputs were
//! checked. Now every input is resolved first (a missing one is an error and nothing is
//! deleted), and the output may not be an input, contain one, or lie inside one, locally or
//! on the DFS, nor contain the working directory.

use anyhow::{Result, bail};
use std::path::{Component, Path, PathBuf};
use strata::common::ClusterConfig;
use strata::dataflow::io::{expand_inputs_with, parse_dfs_url};

/// An absolute, normalized form of `p` (symlinks resolved for the part that exists).
fn absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    // Resolve the longest existing prefix, then append the rest lexically.
    let mut existing = abs.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(n), Some(parent)) => {
                rest.push(n);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for n in rest.into_iter().rev() {
        out.push(n);
    }
    let mut clean = PathBuf::new();
    for c in out.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            c => clean.push(c),
        }
    }
    clean
}

/// The directory a local input names: the input itself, or for a glob the directory above
/// its first wildcard.
fn input_root(input: &str) -> PathBuf {
    match input.find(['*', '?', '[']) {
        None => absolute(Path::new(input)),
        Some(i) => {
            let head = &input[..i];
            let dir = head
                .rfind('/')
                .map_or(".", |j| if j == 0 { "/" } else { &head[..j] });
            absolute(Path::new(dir))
        }
    }
}

fn overlap(out: &Path, input: &Path) -> Option<&'static str> {
    if out == input {
        Some("is")
    } else if input.starts_with(out) {
        Some("contains")
    } else if out.starts_with(input) {
        Some("lies inside")
    } else {
        None
    }
}

fn dfs_overlap(out: &str, input: &str) -> Option<&'static str> {
    use strata::dfs::path::is_within;
    if out == input {
        Some("is")
    } else if is_within(input, out) {
        Some("contains")
    } else if is_within(out, input) {
        Some("lies inside")
    } else {
        None
    }
}

/// Checks a job's inputs and output before anything is written or deleted.
pub fn check_job_output(inputs: &[String], out: &Path, cluster: &ClusterConfig) -> Result<()> {
    // Every input must resolve (this also lists the DFS inputs): a typo fails here.
    expand_inputs_with(inputs, cluster)?;
    let out_s = out.to_string_lossy();
    let out_dfs = parse_dfs_url(&out_s, &cluster.master);
    for input in inputs {
        let in_dfs = parse_dfs_url(input, &cluster.master);
        let why = match (&out_dfs, &in_dfs) {
            (Some((om, op)), Some((im, ip))) if om == im => {
                let ip = strata::dfs::path::normalize(ip).unwrap_or_else(|_| ip.clone());
                let op = strata::dfs::path::normalize(op).unwrap_or_else(|_| op.clone());
                dfs_overlap(&op, &ip)
            }
            (None, None) => overlap(&absolute(out), &input_root(input)),
            _ => None,
        };
        if let Some(why) = why {
            bail!(
                "the output {} {why} the input {input}: choose an output directory outside every input (nothing was written or deleted)",
                out.display()
            );
        }
    }
    check_not_cwd(out)
}

/// Refuses an output that is `/` or contains the working directory (deleting it with
/// `--overwrite` would delete the directory the command runs in).
pub fn check_not_cwd(out: &Path) -> Result<()> {
    let s = out.to_string_lossy();
    if s.starts_with("dfs://") {
        if let Some((_, p)) = parse_dfs_url(&s, "")
            && strata::dfs::path::normalize(&p).is_ok_and(|p| p == "/")
        {
            bail!("the output {s} is the root of the DFS: choose a directory below it");
        }
        return Ok(());
    }
    let abs = absolute(out);
    let cwd = absolute(Path::new("."));
    if cwd.starts_with(&abs) {
        bail!(
            "the output {} contains the working directory {}: choose another output directory (nothing was written or deleted)",
            out.display(),
            cwd.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_are_by_component() {
        assert_eq!(overlap(Path::new("/a/b"), Path::new("/a/b")), Some("is"));
        assert_eq!(
            overlap(Path::new("/a"), Path::new("/a/b")),
            Some("contains")
        );
        assert_eq!(
            overlap(Path::new("/a/b/c"), Path::new("/a/b")),
            Some("lies inside")
        );
        assert_eq!(overlap(Path::new("/a/bc"), Path::new("/a/b")), None);
        assert_eq!(dfs_overlap("/", "/x"), Some("contains"));
        assert_eq!(dfs_overlap("/ab", "/a"), None);
        assert_eq!(input_root("/data/*.txt"), absolute(Path::new("/data")));
        assert_eq!(absolute(Path::new("/x/./y/../z")), PathBuf::from("/x/z"));
    }
}
