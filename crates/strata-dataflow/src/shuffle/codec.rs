//! Record streams on disk: records encoded back to back with `bincode` (variable-length
//! integers), counted by the writer, so a segment is `(offset, length, count)` and needs no
//! per-record framing. The reader never trusts a length prefix beyond the bytes left in its
//! segment, so a corrupt file is an error, never a huge allocation.

use bincode::Options;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::marker::PhantomData;

/// A writer that counts bytes.
pub struct CountingWriter<W> {
    inner: W,
    /// Bytes written so far.
    pub pos: u64,
}

impl<W: Write> CountingWriter<W> {
    /// Wraps `inner`, counting from `pos`.
    pub fn new(inner: W, pos: u64) -> Self {
        CountingWriter { inner, pos }
    }
    /// The wrapped writer.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for CountingWriter<W> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.pos += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Appends one record.
#[inline]
pub fn write_record<W: Write, T: Serialize>(w: &mut W, rec: &T) -> io::Result<()> {
    bincode::DefaultOptions::new()
        .serialize_into(w, rec)
        .map_err(|e| match *e {
            bincode::ErrorKind::Io(io) => io,
            other => io::Error::other(other.to_string()),
        })
}

/// A file writer with a large buffer, counting bytes from 0.
pub fn file_writer(file: std::fs::File) -> CountingWriter<BufWriter<std::fs::File>> {
    CountingWriter::new(BufWriter::with_capacity(1 << 20, file), 0)
}

/// A reader that counts bytes.
pub struct CountingReader<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for CountingReader<R> {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    #[inline]
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf)?;
        self.pos += buf.len() as u64;
        Ok(())
    }
}

/// Reads `count` records of type `T`, `bytes` long in all, from a reader.
pub struct RecordReader<R, T> {
    reader: CountingReader<R>,
    remaining: u64,
    bytes: u64,
    _t: PhantomData<fn() -> T>,
}

impl<R: Read, T: DeserializeOwned> RecordReader<BufReader<R>, T> {
    /// Reads `count` records spanning `bytes` bytes from `inner` (buffered here).
    pub fn new(inner: R, count: u64, bytes: u64) -> Self {
        RecordReader {
            reader: CountingReader {
                inner: BufReader::with_capacity(256 << 10, inner),
                pos: 0,
            },
            remaining: count,
            bytes,
            _t: PhantomData,
        }
    }
}

impl<R: Read, T: DeserializeOwned> RecordReader<R, T> {
    /// The next record; `Err` if the stream is truncated or corrupt.
    pub fn next_record(&mut self) -> Option<io::Result<T>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let left = self.bytes.saturating_sub(self.reader.pos);
        let opts = bincode::DefaultOptions::new().with_limit(left);
        Some(
            opts.deserialize_from(&mut self.reader)
                .map_err(|e| match *e {
                    bincode::ErrorKind::Io(io) => io,
                    other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut w = CountingWriter::new(Vec::new(), 0);
        for i in 0..100u64 {
            write_record(&mut w, &(format!("k{i}"), i)).unwrap();
        }
        assert_eq!(w.pos as usize, w.inner.len());
        let bytes = w.into_inner();
        let mut r: RecordReader<_, (String, u64)> =
            RecordReader::new(&bytes[..], 100, bytes.len() as u64);
        let mut n = 0;
        while let Some(rec) = r.next_record() {
            assert_eq!(rec.unwrap().1, n);
            n += 1;
        }
        assert_eq!(n, 100);
        let mut truncated: RecordReader<_, (String, u64)> = RecordReader::new(&bytes[..3], 2, 3);
        assert!(truncated.next_record().unwrap().is_err());
        // A corrupt length prefix is an error, not a giant allocation.
        let mut w = CountingWriter::new(Vec::new(), 0);
        write_record(&mut w, &u64::MAX).unwrap();
        let junk = w.inner;
        let mut r: RecordReader<_, String> = RecordReader::new(&junk[..], 1, junk.len() as u64);
        assert!(r.next_record().unwrap().is_err());
    }

    proptest::proptest! {
        /// Fuzz (data-safety issue): a shuffle segment of arbitrary bytes yields records or
        /// errors, never a panic or a huge allocation.
        #[test]
        fn arbitrary_segments_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..4096),
            count in 0u64..64,
        ) {
            let mut r: RecordReader<_, (String, Vec<u64>)> =
                RecordReader::new(&bytes[..], count, bytes.len() as u64);
            while let Some(rec) = r.next_record() {
                if rec.is_err() {
                    break;
                }
            }
        }
    }
}
