//! `strata dfs ...`: the DFS shell.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use strata::common::ByteSize;
use strata::dfs::DfsClient;

#[derive(Subcommand, Debug)]
pub enum DfsCmd {
    /// Copy a local file into the DFS. The file appears under its name only once it is
    /// complete (a failed or interrupted put leaves nothing); while it is being written,
    /// another put to the same path is refused.
    Put {
        /// Local file (`-` for stdin).
        local: PathBuf,
        /// DFS path (`/dir/file` or `dfs:///dir/file`); a path ending in `/`, or an existing
        /// directory, receives the file under its local name.
        path: String,
        /// Replicas per chunk [default: the cluster's dfs.replication].
        #[arg(long, short = 'r', default_value_t = 0)]
        replication: u32,
        /// Replace the file if it exists.
        #[arg(long, short = 'f')]
        overwrite: bool,
    },
    /// Copy a DFS file to a local file (written to a temporary name beside it and renamed
    /// when complete, so a failed get never leaves a truncated file).
    Get {
        /// DFS path.
        path: String,
        /// Local file.
        local: PathBuf,
        /// Read chunks whose every replica fails its checksums anyway, as stored (salvage).
        #[arg(long)]
        skip_checksums: bool,
    },
    /// Print a DFS file to stdout. Files written by `append` print one record per line.
    Cat {
        /// DFS path.
        path: String,
        /// Print a record file's bytes as stored (with the record framing).
        #[arg(long)]
        raw: bool,
        /// Read chunks whose every replica fails its checksums anyway, as stored (salvage).
        #[arg(long)]
        skip_checksums: bool,
    },
    /// List a directory.
    Ls {
        /// DFS path [default: /].
        #[arg(default_value = "/")]
        path: String,
        /// Everything below, recursively.
        #[arg(short = 'R')]
        recursive: bool,
    },
    /// Remove a file (or, with -r, a directory and everything below it).
    Rm {
        /// DFS path.
        path: String,
        /// Remove directories and their contents.
        #[arg(short = 'r')]
        recursive: bool,
    },
    /// Rename a file or directory (into DEST if it is a directory).
    Mv {
        /// Source.
        from: String,
        /// Destination.
        to: String,
    },
    /// Create a directory.
    Mkdir {
        /// DFS path.
        path: String,
        /// Create missing parents; no error if it exists.
        #[arg(short = 'p')]
        parents: bool,
    },
    /// Show a file's or directory's metadata and chunk locations.
    Stat {
        /// DFS path.
        path: String,
    },
    /// Copy-on-write snapshot of a file or directory.
    Snapshot {
        /// Source.
        from: String,
        /// Destination (must not exist).
        to: String,
    },
    /// Append one record (atomically, at least once) to a file; prints its offset.
    Append {
        /// DFS path (the file must exist: create it with `put` of an empty file).
        path: String,
        /// The record's text.
        record: String,
    },
    /// Show chunkservers, capacity and chunk health.
    Report,
}

fn bar(len: u64) -> ProgressBar {
    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    b.set_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("template"),
    );
    b
}

/// A DFS path as printed: control characters (a newline in a name could forge a line of
/// the listing) and backslashes are escaped, as `ls -b` does.
fn printable(p: &str) -> String {
    let mut o = String::with_capacity(p.len());
    for ch in p.chars() {
        match ch {
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if c.is_control() => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

/// A reader that went away (`strata dfs cat f | head`) ends the command quietly.
fn closed_pipe(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Err(e)
}

/// `local`'s temporary name while it is being written: hidden, beside it, unique.
fn temp_beside(local: &Path) -> PathBuf {
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "get".into());
    local.with_file_name(format!(".{name}.strata-get-{}", std::process::id()))
}

/// Where `put` writes: `path`, or `path/<local name>` when `path` ends in `/` or is a
/// directory.
fn put_target(c: &mut DfsClient, local: &Path, path: &str) -> Result<String> {
    let is_dir = path.ends_with('/') || c.stat(path).map(|i| i.is_dir).unwrap_or(false);
    if !is_dir {
        return Ok(path.to_string());
    }
    let name = local
        .file_name()
        .filter(|_| local.as_os_str() != "-")
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{path} is a directory: name the file to create in it (e.g. {path}/data.bin)"
            )
        })?;
    Ok(format!("{}/{name}", path.trim_end_matches('/')))
}

pub fn run(master: &str, secret: &str, quiet: bool, cmd: DfsCmd) -> Result<()> {
    let mut c = DfsClient::connect(master, secret)?;
    match cmd {
        DfsCmd::Put {
            local,
            path,
            replication,
            overwrite,
        } => {
            let path = put_target(&mut c, &local, &path)?;
            let (mut input, len): (Box<dyn std::io::Read>, u64) = if local.as_os_str() == "-" {
                (Box::new(std::io::stdin().lock()), 0)
            } else {
                let f = std::fs::File::open(&local)
                    .with_context(|| format!("cannot read {}", local.display()))?;
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                (Box::new(f), len)
            };
            let pb = (!quiet && len > 64 << 20).then(|| bar(len));
            let n = c.put(&mut input, &path, replication, overwrite, &mut |n| {
                if let Some(b) = &pb {
                    b.set_position(n)
                }
            })?;
            if let Some(b) = pb {
                b.finish_and_clear();
            }
            eprintln!("put {} -> {path} ({})", local.display(), ByteSize(n));
        }
        DfsCmd::Get {
            path,
            local,
            skip_checksums,
        } => {
            c.set_skip_checksums(skip_checksums);
            let len = c.stat(&path)?.length;
            let tmp = temp_beside(&local);
            let f = std::fs::File::create(&tmp)
                .with_context(|| format!("cannot write {}", local.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let pb = (!quiet && len > 64 << 20).then(|| bar(len));
            let copied = c
                .get(&path, &mut w, &mut |n| {
                    if let Some(b) = &pb {
                        b.set_position(n)
                    }
                })
                .map_err(anyhow::Error::from)
                .and_then(|_| {
                    w.flush()?;
                    w.get_ref().sync_all()?;
                    Ok(())
                })
                .with_context(|| format!("cannot copy {path} to {}", local.display()));
            if let Some(b) = pb {
                b.finish_and_clear();
            }
            if let Err(e) = copied {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, &local)
                .with_context(|| format!("cannot write {}", local.display()))?;
        }
        DfsCmd::Cat {
            path,
            raw,
            skip_checksums,
        } => {
            c.set_skip_checksums(skip_checksums);
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let records = !raw && c.stat(&path)?.records;
            if records {
                for r in c.read_records(&path)? {
                    out.write_all(&r)
                        .and_then(|_| out.write_all(b"\n"))
                        .or_else(closed_pipe)?;
                }
            } else {
                c.get(&path, &mut out, &mut |_| {})?;
            }
            out.flush().ok();
        }
        DfsCmd::Ls { path, recursive } => {
            for e in c.list(&path, recursive)? {
                let name = printable(&e.path);
                if e.is_dir {
                    outln!("d {:>12} {:>3}  {name}/", "-", "-");
                } else {
                    let kind = if e.records { 'r' } else { '-' };
                    outln!("{kind} {:>12} {:>3}  {name}", e.length, e.replication);
                }
            }
        }
        DfsCmd::Rm { path, recursive } => c.delete(&path, recursive)?,
        DfsCmd::Mv { from, to } => c.rename(&from, &to)?,
        DfsCmd::Mkdir { path, parents } => c.mkdir(&path, parents)?,
        DfsCmd::Stat { path } => {
            let info = c.stat(&path)?;
            outln!("path: {}", info.path);
            if info.is_dir {
                outln!("type: directory");
            } else {
                outln!(
                    "type: file\nlength: {}\nreplication: {}\nchunks: {}",
                    info.length,
                    info.replication,
                    info.chunks
                );
                for ch in c.chunks(&path)?.chunks {
                    outln!(
                        "  chunk {} v{} @{} len {} on [{}]",
                        ch.handle,
                        ch.version,
                        ch.offset,
                        ch.length,
                        ch.replicas.join(", ")
                    );
                }
            }
        }
        DfsCmd::Snapshot { from, to } => c.snapshot(&from, &to)?,
        DfsCmd::Append { path, record } => {
            let off = c.append_record(&path, record.as_bytes())?;
            outln!("{off}");
        }
        DfsCmd::Report => {
            let r = c.report()?;
            outln!(
                "files {}  chunks {}  under-replicated {} (in {} files)  corrupt replicas {}  unreadable chunks {}  being written {}  pending deletion {}",
                r.files,
                r.chunks,
                r.under_replicated,
                r.under_replicated_files,
                r.corrupt,
                r.unreadable,
                r.being_written,
                r.pending_deletion
            );
            if r.unreadable > 0 {
                outln!(
                    "warning: {} chunks have no readable replica (lost with their nodes, or every copy corrupt; `dfs get --skip-checksums` salvages corrupt ones)",
                    r.unreadable
                );
            }
            outln!(
                "{:<22} {:<20} {:>6} {:>12} {:>7}  last heartbeat",
                "node",
                "address",
                "state",
                "used",
                "chunks"
            );
            for n in r.nodes {
                outln!(
                    "{:<22} {:<20} {:>6} {:>12} {:>7}  {} ms ago",
                    n.id,
                    n.address,
                    if n.alive { "live" } else { "dead" },
                    ByteSize(n.used).to_string(),
                    n.chunks,
                    n.last_heartbeat_ms_ago
                );
            }
        }
    }
    Ok(())
}
