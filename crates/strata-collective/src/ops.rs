//! The collective algorithms. Each is written once over the communicator's chunked
//! send/receive; ranks are renumbered relative to the root where one is named.
//!
//! - broadcast: binomial tree, chunk by chunk (a rank forwards chunk `c` to its children as
//!   soon as it has it, so a large buffer streams down the tree);
//! - reduce: binomial tree toward the root, children reduced in a fixed order;
//! - all-reduce: tree (reduce to rank 0, then broadcast) for small buffers, ring
//!   (reduce-scatter, then all-gather) for large ones: each of the `n-1` steps of each phase
//!   moves one `1/n` segment to the right neighbour while reducing the one from the left;
//! - reduce-scatter, all-gather: the ring's two phases on their own;
//! - gather, scatter: direct to and from the root, with lengths;
//! - barrier: a one-element tree all-reduce.
//!
//! Every algorithm reduces in an order fixed by the world size, so the same inputs give the
//! same bits on every run and on every rank.

use std::ops::Range;

use crate::comm::{Communicator, Op};
use crate::elem::{Elem, ReduceOp};
use crate::{CollectiveError, Result};

/// `len` elements split into `n` near-equal segments (the first `len % n` one longer).
pub fn segments(len: usize, n: usize) -> Vec<Range<usize>> {
    let (base, extra) = (len / n, len % n);
    let mut at = 0;
    (0..n)
        .map(|i| {
            let l = base + usize::from(i < extra);
            let r = at..at + l;
            at += l;
            r
        })
        .collect()
}

fn lowbit(v: usize) -> usize {
    v & v.wrapping_neg()
}

impl Communicator {
    fn check_root(&self, root: usize, op: Op) -> Result<()> {
        if root >= self.size() {
            return Err(CollectiveError::Usage(format!(
                "{}: root {root} is outside a world of {} ranks",
                op.name(),
                self.size()
            )));
        }
        Ok(())
    }

    /// Binomial-tree children of relative rank `vr`, in increasing distance.
    fn children(&self, vr: usize) -> Vec<usize> {
        let n = self.size();
        let limit = if vr == 0 {
            n.next_power_of_two()
        } else {
            lowbit(vr)
        };
        let mut out = Vec::new();
        let mut k = 1;
        while k < limit {
            if vr + k < n {
                out.push(vr + k);
            }
            k <<= 1;
        }
        out
    }

    /// Copies `root`'s `buf` into every rank's `buf` (same length everywhere).
    pub fn broadcast<T: Elem>(&mut self, root: usize, buf: &mut [T]) -> Result<()> {
        self.check_root(root, Op::Broadcast)?;
        let seq = self.next_seq();
        self.tree_broadcast(root, buf, Op::Broadcast, seq)
    }

    fn tree_broadcast<T: Elem>(&self, root: usize, buf: &mut [T], op: Op, seq: u64) -> Result<()> {
        let n = self.size();
        let abs = |vr: usize| (vr + root) % n;
        let vr = (self.rank() + n - root) % n;
        let children = self.children(vr);
        let ce = self.chunk_elems::<T>();
        let total = std::mem::size_of_val(buf) as u64;
        for piece in buf.chunks_mut(ce) {
            if vr != 0 {
                self.recv_slice(abs(vr - lowbit(vr)), op, seq, piece, None, total)?;
            }
            for &c in &children {
                self.send_slice(abs(c), op, seq, piece, total)?;
            }
        }
        Ok(())
    }

    /// Reduces every rank's `buf` into `root`'s `buf`. Other ranks' buffers are unchanged.
    pub fn reduce<T: Elem>(&mut self, root: usize, buf: &mut [T], op: ReduceOp) -> Result<()> {
        self.check_root(root, Op::Reduce)?;
        let seq = self.next_seq();
        if self.rank() == root {
            self.tree_reduce(root, buf, op, Op::Reduce, seq)
        } else {
            let mut scratch = buf.to_vec();
            self.tree_reduce(root, &mut scratch, op, Op::Reduce, seq)
        }
    }

    fn tree_reduce<T: Elem>(
        &self,
        root: usize,
        buf: &mut [T],
        rop: ReduceOp,
        op: Op,
        seq: u64,
    ) -> Result<()> {
        let n = self.size();
        let abs = |vr: usize| (vr + root) % n;
        let vr = (self.rank() + n - root) % n;
        let children = self.children(vr);
        let ce = self.chunk_elems::<T>();
        let total = std::mem::size_of_val(buf) as u64;
        for piece in buf.chunks_mut(ce) {
            for &c in &children {
                self.recv_slice(abs(c), op, seq, piece, Some(rop), total)?;
            }
            if vr != 0 {
                self.send_slice(abs(vr - lowbit(vr)), op, seq, piece, total)?;
            }
        }
        Ok(())
    }

    /// Reduces `buf` across ranks and leaves the result in every rank's `buf`: a binomial
    /// tree below [`crate::Config::ring_threshold_bytes`], the ring at or above it.
    pub fn all_reduce<T: Elem>(&mut self, buf: &mut [T], op: ReduceOp) -> Result<()> {
        if std::mem::size_of_val(buf) >= self.cfg.ring_threshold_bytes {
            self.all_reduce_ring(buf, op)
        } else {
            self.all_reduce_tree(buf, op)
        }
    }

    /// All-reduce by reduce-to-rank-0 then broadcast (latency: 2 log n hops).
    pub fn all_reduce_tree<T: Elem>(&mut self, buf: &mut [T], op: ReduceOp) -> Result<()> {
        let seq = self.next_seq();
        self.tree_reduce(0, buf, op, Op::AllReduce, seq)?;
        self.tree_broadcast(0, buf, Op::AllReduce, seq)
    }

    /// All-reduce on the ring (bandwidth-optimal: each rank sends and receives 2(n-1)/n of
    /// the buffer).
    pub fn all_reduce_ring<T: Elem>(&mut self, buf: &mut [T], op: ReduceOp) -> Result<()> {
        let seq = self.next_seq();
        let segs = segments(buf.len(), self.size());
        self.ring_reduce_scatter(buf, &segs, op, Op::AllReduce, seq)?;
        self.ring_all_gather(buf, &segs, Op::AllReduce, seq)
    }

    /// After this, segment `r` of `buf` (see [`segments`]) holds the reduction on rank `r`.
    fn ring_reduce_scatter<T: Elem>(
        &self,
        buf: &mut [T],
        segs: &[Range<usize>],
        rop: ReduceOp,
        op: Op,
        seq: u64,
    ) -> Result<()> {
        let (n, r) = (self.size(), self.rank());
        let (right, left) = ((r + 1) % n, (r + n - 1) % n);
        let total = std::mem::size_of_val(buf) as u64;
        for s in 0..n.saturating_sub(1) {
            let send = segs[(r + 2 * n - s - 1) % n].clone();
            let recv = segs[(r + 2 * n - s - 2) % n].clone();
            self.send_slice(right, op, seq, &buf[send], total)?;
            self.recv_slice(left, op, seq, &mut buf[recv], Some(rop), total)?;
        }
        Ok(())
    }

    /// Given segment `r` complete on rank `r`, completes every segment on every rank.
    fn ring_all_gather<T: Elem>(
        &self,
        buf: &mut [T],
        segs: &[Range<usize>],
        op: Op,
        seq: u64,
    ) -> Result<()> {
        let (n, r) = (self.size(), self.rank());
        let (right, left) = ((r + 1) % n, (r + n - 1) % n);
        let total = std::mem::size_of_val(buf) as u64;
        for s in 0..n.saturating_sub(1) {
            let send = segs[(r + n - s) % n].clone();
            let recv = segs[(r + 2 * n - s - 1) % n].clone();
            self.send_slice(right, op, seq, &buf[send], total)?;
            self.recv_slice(left, op, seq, &mut buf[recv], None, total)?;
        }
        Ok(())
    }

    /// Reduces `buf` across ranks and returns this rank's segment of the result (segment
    /// `rank` of [`segments`]`(buf.len(), size)`). `buf` is used as scratch.
    pub fn reduce_scatter<T: Elem>(&mut self, buf: &mut [T], op: ReduceOp) -> Result<Vec<T>> {
        let seq = self.next_seq();
        let segs = segments(buf.len(), self.size());
        self.ring_reduce_scatter(buf, &segs, op, Op::ReduceScatter, seq)?;
        Ok(buf[segs[self.rank()].clone()].to_vec())
    }

    /// Concatenates every rank's `mine` (equal lengths) in rank order, on every rank.
    pub fn all_gather<T: Elem>(&mut self, mine: &[T]) -> Result<Vec<T>> {
        let seq = self.next_seq();
        let (n, m) = (self.size(), mine.len());
        let mut out = vec![T::zeroed(); n * m];
        let segs: Vec<Range<usize>> = (0..n).map(|i| i * m..(i + 1) * m).collect();
        out[segs[self.rank()].clone()].copy_from_slice(mine);
        self.ring_all_gather(&mut out, &segs, Op::AllGather, seq)?;
        Ok(out)
    }

    /// Collects every rank's `mine` (any lengths) at `root`, in rank order; `None` elsewhere.
    pub fn gather<T: Elem>(&mut self, root: usize, mine: &[T]) -> Result<Option<Vec<Vec<T>>>> {
        self.check_root(root, Op::Gather)?;
        let seq = self.next_seq();
        if self.rank() != root {
            self.send_slice(root, Op::Gather, seq, &[mine.len() as u64], 8)?;
            self.send_slice(
                root,
                Op::Gather,
                seq,
                mine,
                std::mem::size_of_val(mine) as u64,
            )?;
            return Ok(None);
        }
        let mut out = Vec::with_capacity(self.size());
        for r in 0..self.size() {
            if r == root {
                out.push(mine.to_vec());
                continue;
            }
            let mut len = [0u64];
            self.recv_slice(r, Op::Gather, seq, &mut len, None, 8)?;
            let mut v = vec![T::zeroed(); len[0] as usize];
            let bytes = std::mem::size_of_val(&v[..]) as u64;
            self.recv_slice(r, Op::Gather, seq, &mut v, None, bytes)?;
            out.push(v);
        }
        Ok(Some(out))
    }

    /// Sends `parts[r]` from `root` to each rank `r`; returns this rank's part. `parts` is
    /// read on the root only (one part per rank).
    pub fn scatter<T: Elem>(&mut self, root: usize, parts: Option<&[Vec<T>]>) -> Result<Vec<T>> {
        self.check_root(root, Op::Scatter)?;
        let seq = self.next_seq();
        if self.rank() == root {
            let parts = parts.ok_or_else(|| {
                CollectiveError::Usage("scatter: the root must pass the parts".into())
            })?;
            if parts.len() != self.size() {
                return Err(CollectiveError::Usage(format!(
                    "scatter: {} parts for {} ranks",
                    parts.len(),
                    self.size()
                )));
            }
            for (r, p) in parts.iter().enumerate() {
                if r != root {
                    self.send_slice(r, Op::Scatter, seq, &[p.len() as u64], 8)?;
                    self.send_slice(r, Op::Scatter, seq, p, std::mem::size_of_val(&p[..]) as u64)?;
                }
            }
            return Ok(parts[root].clone());
        }
        let mut len = [0u64];
        self.recv_slice(root, Op::Scatter, seq, &mut len, None, 8)?;
        let mut v = vec![T::zeroed(); len[0] as usize];
        let bytes = std::mem::size_of_val(&v[..]) as u64;
        self.recv_slice(root, Op::Scatter, seq, &mut v, None, bytes)?;
        Ok(v)
    }

    /// Returns once every rank has called it.
    pub fn barrier(&mut self) -> Result<()> {
        let seq = self.next_seq();
        let mut one = [1u64];
        self.tree_reduce(0, &mut one, ReduceOp::Sum, Op::Barrier, seq)?;
        self.tree_broadcast(0, &mut one, Op::Barrier, seq)
    }
}
