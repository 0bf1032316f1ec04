//! Finding input files and committing output files.
//!
//! Inputs: each argument is a file, a directory (read recursively, skipping hidden files and
//! files whose name starts with `_` such as `_SUCCESS`), or a glob. Files are listed in sorted
//! order so that partition numbering is deterministic on every process.
//!
//! Outputs: each task writes `DIR/_temporary/part-NNNNN.attempt-A` and renames it to
//! `DIR/part-NNNNN` when the attempt succeeds (a rename is atomic), so a failed or retried
//! attempt never leaves a partial part file. The job writes `DIR/_SUCCESS` at the end.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One input file and its length.
#[derive(Clone, Debug)]
pub struct InputFile {
    /// Path.
    pub path: PathBuf,
    /// Length in bytes.
    pub len: u64,
}

/// Expands inputs to the sorted list of files they name.
pub fn expand_inputs<P: AsRef<str>>(inputs: &[P]) -> Result<Vec<InputFile>> {
    if inputs.is_empty() {
        return Err(Error::Input("no input paths given".into()));
    }
    let mut files = Vec::new();
    for input in inputs {
        let input = input.as_ref();
        let path = Path::new(input);
        if path.exists() {
            collect(path, &mut files)?;
        } else if input.contains(['*', '?', '[']) {
            let matches = glob::glob(input)
                .map_err(|e| Error::Input(format!("invalid glob pattern {input:?}: {e}")))?;
            let before = files.len();
            for m in matches {
                let m = m.map_err(|e| Error::io(e.path().to_path_buf(), e.into()))?;
                collect(&m, &mut files)?;
            }
            if files.len() == before {
                return Err(Error::Input(format!(
                    "input glob {input:?} matches no files; check the pattern"
                )));
            }
        } else {
            return Err(Error::Input(format!(
                "input path {input:?} does not exist; give an existing file, directory or glob"
            )));
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

fn hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

fn collect(path: &Path, out: &mut Vec<InputFile>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(path, err)))
            .collect::<Result<_>>()?;
        entries.sort();
        for e in entries {
            if !hidden(&e) {
                collect(&e, out)?;
            }
        }
    } else {
        out.push(InputFile {
            path: path.to_path_buf(),
            len: meta.len(),
        });
    }
    Ok(())
}

/// Byte ranges of files, cut at `split_size` (and at least `min_splits` in all).
pub fn plan_splits(
    files: &[InputFile],
    split_size: u64,
    min_splits: usize,
    align: u64,
) -> Vec<(usize, u64, u64)> {
    let total: u64 = files.iter().map(|f| f.len).sum();
    let goal = if min_splits > 0 {
        total.div_ceil(min_splits as u64)
    } else {
        total
    };
    let mut size = split_size.min(goal.max(1)).max(align);
    size -= size % align;
    let mut splits = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if f.len == 0 {
            continue;
        }
        let mut start = 0;
        while start < f.len {
            // Avoid a tiny last split: absorb anything under 10% of a split.
            let mut end = (start + size).min(f.len);
            if f.len - end < size / 10 {
                end = f.len;
            }
            splits.push((i, start, end));
            start = end;
        }
    }
    splits
}

/// Prepares an output directory: it must not hold a previous result.
pub fn prepare_output(dir: &Path) -> Result<()> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| output_err(dir, e))?
            .next()
            .is_some();
        if non_empty {
            return Err(Error::Output {
                path: dir.to_path_buf(),
                reason: "the directory already exists and is not empty; remove it or choose another output".into(),
            });
        }
    }
    std::fs::create_dir_all(dir.join("_temporary")).map_err(|e| output_err(dir, e))
}

pub(crate) fn output_err(dir: &Path, e: std::io::Error) -> Error {
    let reason = match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            format!("{e}; choose a directory you can write to")
        }
        _ => e.to_string(),
    };
    Error::Output {
        path: dir.to_path_buf(),
        reason,
    }
}

/// Where task `partition`'s attempt writes before commit.
pub fn attempt_path(dir: &Path, partition: usize, attempt: u32) -> PathBuf {
    dir.join("_temporary")
        .join(format!("part-{partition:05}.attempt-{attempt}"))
}

/// The committed name of a part file.
pub fn part_path(dir: &Path, partition: usize) -> PathBuf {
    dir.join(format!("part-{partition:05}"))
}

/// Marks the output complete and removes the scratch directory.
pub fn finish_output(dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir.join("_temporary"));
    std::fs::write(dir.join("_SUCCESS"), b"").map_err(|e| output_err(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_files_exactly() {
        let files = vec![
            InputFile {
                path: "a".into(),
                len: 1000,
            },
            InputFile {
                path: "b".into(),
                len: 0,
            },
            InputFile {
                path: "c".into(),
                len: 250,
            },
        ];
        let splits = plan_splits(&files, 300, 1, 1);
        let covered: u64 = splits.iter().map(|s| s.2 - s.1).sum();
        assert_eq!(covered, 1250);
        assert!(splits.iter().all(|s| s.0 != 1));
        let aligned = plan_splits(&files[..1], 330, 4, 100);
        assert!(aligned.iter().all(|s| s.1 % 100 == 0));
    }

    #[test]
    fn missing_input_is_named() {
        let err = expand_inputs(&["/no/such/file"]).unwrap_err().to_string();
        assert!(
            err.contains("/no/such/file") && err.contains("does not exist"),
            "{err}"
        );
        let err = expand_inputs(&["/no/such/*.txt"]).unwrap_err().to_string();
        assert!(err.contains("matches no files"), "{err}");
    }
}
