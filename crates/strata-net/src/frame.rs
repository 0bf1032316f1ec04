//! Length-prefixed frames: `[u32 header length][bincode header][payload bytes...]`.
//!
//! The header says how many payload bytes follow (if any); the caller streams the payload in
//! bounded buffers. The data plane uses blocking sockets, a thread per connection: a chunk
//! transfer is long and sequential, and the kernel does the overlapping. The header size is
//! capped so a garbage peer cannot make a process allocate without bound.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{self, Read, Write};

/// Largest accepted header.
pub const MAX_HEADER: u32 = 1 << 20;

/// Writes one header (not flushed).
pub fn write_header<W: Write, H: Serialize>(w: &mut W, h: &H) -> io::Result<()> {
    let bytes = bincode::serialize(h).map_err(|e| io::Error::other(e.to_string()))?;
    w.write_all(&(bytes.len() as u32).to_le_bytes())?;
    w.write_all(&bytes)
}

/// Reads one header; `Ok(None)` at a clean end of stream.
pub fn read_header<R: Read, H: DeserializeOwned>(r: &mut R) -> io::Result<Option<H>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_HEADER {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame header of {len} bytes exceeds the {MAX_HEADER}-byte limit"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    bincode::deserialize(&buf)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_garbage_is_refused() {
        let mut buf = Vec::new();
        write_header(&mut buf, &("hello".to_string(), 42u64)).unwrap();
        let mut r = &buf[..];
        let h: Option<(String, u64)> = read_header(&mut r).unwrap();
        assert_eq!(h, Some(("hello".into(), 42)));
        let none: Option<(String, u64)> = read_header(&mut r).unwrap();
        assert!(none.is_none());
        let garbage = [0xffu8; 8];
        let err = read_header::<_, u64>(&mut &garbage[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    proptest::proptest! {
        /// Fuzz (data-safety issue): any bytes from the network decode to a header or an
        /// error; never a panic or an allocation beyond the frame limit.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let mut r = &bytes[..];
            let _ = read_header::<_, (String, Vec<String>, u64)>(&mut r);
            let mut r = &bytes[..];
            let _ = read_header::<_, Vec<Vec<u8>>>(&mut r);
        }

        /// A valid frame with a corrupted length field or payload byte is an error or a
        /// (different) value, never a panic.
        #[test]
        fn corrupted_frames_never_panic(s in ".{0,64}", n in proptest::num::u64::ANY, at in 0usize..80, flip in 1u8..=255) {
            let mut buf = Vec::new();
            write_header(&mut buf, &(s, vec!["a".to_string(); 3], n)).unwrap();
            let i = at % buf.len();
            buf[i] ^= flip;
            let mut r = &buf[..];
            let _ = read_header::<_, (String, Vec<String>, u64)>(&mut r);
        }
    }
}
