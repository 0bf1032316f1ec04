//! `strata dfs ...`: the DFS shell.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use strata::common::ByteSize;
use strata::dfs::DfsClient;

#[derive(Subcommand, Debug)]
pub enum DfsCmd {
    /// Copy a local file into the DFS.
    Put {
        /// Local file (`-` for stdin).
        local: PathBuf,
        /// DFS path (`/dir/file` or `dfs:///dir/file`).
        path: String,
        /// Replicas per chunk [default: the cluster's dfs.replication].
        #[arg(long, short = 'r', default_value_t = 0)]
        replication: u32,
        /// Replace the file if it exists.
        #[arg(long, short = 'f')]
        overwrite: bool,
    },
    /// Copy a DFS file to a local file.
    Get {
        /// DFS path.
        path: String,
        /// Local file.
        local: PathBuf,
    },
    /// Print a DFS file to stdout.
    Cat {
        /// DFS path.
        path: String,
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

pub fn run(master: &str, secret: &str, quiet: bool, cmd: DfsCmd) -> Result<()> {
    let mut c = DfsClient::connect(master, secret)?;
    match cmd {
        DfsCmd::Put {
            local,
            path,
            replication,
            overwrite,
        } => {
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
        DfsCmd::Get { path, local } => {
            let len = c.stat(&path)?.length;
            let f = std::fs::File::create(&local)
                .with_context(|| format!("cannot write {}", local.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let pb = (!quiet && len > 64 << 20).then(|| bar(len));
            c.get(&path, &mut w, &mut |n| {
                if let Some(b) = &pb {
                    b.set_position(n)
                }
            })?;
            w.flush()
                .with_context(|| format!("cannot write {}", local.display()))?;
            if let Some(b) = pb {
                b.finish_and_clear();
            }
        }
        DfsCmd::Cat { path } => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            c.get(&path, &mut out, &mut |_| {})?;
            out.flush().ok();
        }
        DfsCmd::Ls { path, recursive } => {
            for e in c.list(&path, recursive)? {
                if e.is_dir {
                    outln!("d {:>12} {:>3}  {}/", "-", "-", e.path);
                } else {
                    outln!("- {:>12} {:>3}  {}", e.length, e.replication, e.path);
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
                "files {}  chunks {}  under-replicated {}  corrupt {}  pending deletion {}",
                r.files,
                r.chunks,
                r.under_replicated,
                r.corrupt,
                r.pending_deletion
            );
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
