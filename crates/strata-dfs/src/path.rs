//! DFS path normalization: absolute, `/`-separated, no `.` or `..` left, no empty or NUL
//! components. Every path a client sends is normalized by the master before use, so two
//! spellings of one path are one path, and no path can climb above `/`.

use crate::error::{DfsError, Result};

/// The normalized form of `p`: `/a/b`, or `/` for the root. Accepts `dfs:///a/b` too.
pub fn normalize(p: &str) -> Result<String> {
    let raw = p.strip_prefix("dfs://").unwrap_or(p);
    if !raw.starts_with('/') {
        return Err(DfsError::InvalidPath(
            p.into(),
            "DFS paths are absolute: start with /",
        ));
    }
    if raw.contains('\0') {
        return Err(DfsError::InvalidPath(p.into(), "NUL bytes are not allowed"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(DfsError::InvalidPath(p.into(), "`..` would leave the root"));
                }
            }
            c if c.len() > 255 => {
                return Err(DfsError::InvalidPath(
                    p.into(),
                    "a name is longer than 255 bytes",
                ));
            }
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The parent of a normalized path (`None` for the root).
pub fn parent(p: &str) -> Option<&str> {
    if p == "/" {
        return None;
    }
    match p.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&p[..i]),
        None => None,
    }
}

/// The last component of a normalized path.
pub fn name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or("")
}

/// Whether `p` is `dir` or below it.
pub fn is_within(p: &str, dir: &str) -> bool {
    dir == "/" || p == dir || (p.starts_with(dir) && p.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// `p` (at or below `from`) moved to `to`, component by component: `rebase("/a/x", "/a",
/// "/b") == "/b/x"`, `rebase("/x", "/", "/s") == "/s/x"`.
pub fn rebase(p: &str, from: &str, to: &str) -> String {
    debug_assert!(is_within(p, from), "{p} is not within {from}");
    let rest = if from == "/" { p } else { &p[from.len()..] };
    if rest.is_empty() || rest == "/" {
        return to.to_string();
    }
    if to == "/" {
        rest.to_string()
    } else {
        format!("{to}{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses_escapes() {
        assert_eq!(normalize("/a//b/./c/").unwrap(), "/a/b/c");
        assert_eq!(normalize("dfs:///x/../y").unwrap(), "/y");
        assert_eq!(normalize("/").unwrap(), "/");
        assert!(normalize("a/b").is_err());
        assert!(normalize("/../etc/passwd").is_err());
        assert!(normalize("/a\0b").is_err());
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
        assert_eq!(name("/a/b"), "b");
        assert!(is_within("/a/b", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert_eq!(rebase("/a/x", "/a", "/b"), "/b/x");
        assert_eq!(rebase("/a", "/a", "/b"), "/b");
        assert_eq!(rebase("/data", "/", "/v/s"), "/v/s/data");
        assert_eq!(rebase("/", "/", "/v/s"), "/v/s");
        assert_eq!(rebase("/a/x", "/a", "/"), "/x");
    }
}
