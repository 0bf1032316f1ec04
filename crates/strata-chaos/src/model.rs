//! What a client's files may hold, given what its operations were told.
//!
//! A path's state is a set of possibilities, each `None` (absent) or a content digest. An
//! acknowledged operation makes a state certain; an operation whose reply was lost (the
//! master died, a socket broke) may or may not have happened, so it *widens* the set with
//! its outcome. A refused one (the master said why) changed nothing. The checker then
//! requires the final state to be one of the possibilities.

use std::collections::{BTreeMap, BTreeSet};

/// Length and CRC32C of a file's content.
pub type Digest = (u64, u32);

/// The digest of `bytes`.
pub fn digest(bytes: &[u8]) -> Digest {
    (bytes.len() as u64, crc32c::crc32c(bytes))
}

/// One client's view of the history.
#[derive(Debug, Default)]
pub struct Model {
    /// The client's directory.
    pub root: String,
    /// Possible states of each path the client ever touched.
    pub files: BTreeMap<String, BTreeSet<Option<Digest>>>,
    /// The client's record log.
    pub log: String,
    /// Records the DFS acknowledged (each must be in the log at the end).
    pub acked: Vec<String>,
    /// Every record the client tried to append (nothing else may be in the log).
    pub attempted: BTreeSet<String>,
    /// Contents this client tried to write to the shared race file.
    pub race: Vec<Digest>,
    /// Operations by kind: (acknowledged, failed or of unknown outcome).
    pub ops: BTreeMap<&'static str, (u64, u64)>,
    /// Anomalies seen during the run (a read of one's own acknowledged write that differs).
    pub anomalies: Vec<String>,
}

impl Model {
    /// The possible states of `path` (absent if never touched).
    pub fn possible(&self, path: &str) -> BTreeSet<Option<Digest>> {
        self.files
            .get(path)
            .cloned()
            .unwrap_or_else(|| [None].into_iter().collect())
    }

    /// `path` is now certainly in `state`.
    pub fn set(&mut self, path: &str, state: Option<Digest>) {
        self.files
            .insert(path.to_string(), [state].into_iter().collect());
    }

    /// `path` may now also be in `state`.
    pub fn widen(&mut self, path: &str, state: Option<Digest>) {
        let mut p = self.possible(path);
        p.insert(state);
        self.files.insert(path.to_string(), p);
    }

    /// `path` may now also be in any of `states`.
    pub fn widen_all(&mut self, path: &str, states: &BTreeSet<Option<Digest>>) {
        let mut p = self.possible(path);
        p.extend(states.iter().copied());
        self.files.insert(path.to_string(), p);
    }

    /// Paths that may exist now.
    pub fn maybe_present(&self) -> Vec<String> {
        self.files
            .iter()
            .filter(|(_, p)| p.iter().any(Option::is_some))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Counts an operation.
    pub fn count(&mut self, kind: &'static str, acknowledged: bool) {
        let e = self.ops.entry(kind).or_default();
        if acknowledged {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_outcomes_widen_and_acknowledgements_settle() {
        let mut m = Model::default();
        assert_eq!(m.possible("/a"), [None].into_iter().collect());
        m.widen("/a", Some((1, 1)));
        assert_eq!(m.possible("/a").len(), 2);
        assert_eq!(m.maybe_present(), vec!["/a".to_string()]);
        m.set("/a", Some((2, 2)));
        assert_eq!(m.possible("/a"), [Some((2, 2))].into_iter().collect());
        m.set("/a", None);
        assert!(m.maybe_present().is_empty());
    }
}
