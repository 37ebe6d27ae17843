//! TFRecord framing: `u64 length | masked crc32c(length) | payload | masked crc32c(payload)`,
//! little-endian.

use std::io::{self, Read, Write};

/// CRC32C (Castagnoli) of `data`, rotated and offset as TFRecord prescribes.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

pub fn write_record(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = (payload.len() as u64).to_le_bytes();
    w.write_all(&len)?;
    w.write_all(&masked_crc32c(&len).to_le_bytes())?;
    w.write_all(payload)?;
    w.write_all(&masked_crc32c(payload).to_le_bytes())
}

/// Reads every record back, checking both checksums (for tests and tools). A record cut
/// off by the end of the file (a writer killed mid-record) ends the list, as in
/// TensorBoard's reader.
pub fn read_records(mut r: impl Read) -> io::Result<Vec<Vec<u8>>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut out = vec![];
    loop {
        let mut len = [0u8; 8];
        let mut crc = [0u8; 4];
        let mut payload = vec![];
        match read_one(&mut r, &mut len, &mut crc, &mut payload) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(out),
            Err(e) => return Err(e),
        }
        if u32::from_le_bytes(crc) != masked_crc32c(&payload) {
            return Err(bad("payload checksum mismatch"));
        }
        out.push(payload);
    }
}

/// One record's length (checked), payload and payload checksum.
fn read_one(
    r: &mut impl Read,
    len: &mut [u8; 8],
    crc: &mut [u8; 4],
    payload: &mut Vec<u8>,
) -> io::Result<()> {
    r.read_exact(len)?;
    r.read_exact(crc)?;
    if u32::from_le_bytes(*crc) != masked_crc32c(len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "length checksum mismatch",
        ));
    }
    payload.resize(u64::from_le_bytes(*len) as usize, 0);
    r.read_exact(payload)?;
    r.read_exact(crc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_vector_and_mask() {
        // CRC32C("123456789") = 0xE3069283 (the standard check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        let m = masked_crc32c(b"123456789");
        assert_eq!(m, 0xE306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8));
    }

    #[test]
    fn roundtrip_and_corruption_detected() {
        let mut buf = vec![];
        write_record(&mut buf, b"hello").unwrap();
        write_record(&mut buf, b"").unwrap();
        assert_eq!(buf.len(), 2 * 16 + 5);
        assert_eq!(
            read_records(&buf[..]).unwrap(),
            vec![b"hello".to_vec(), vec![]]
        );
        // Cut inside the second record: the first one is still read.
        assert_eq!(
            read_records(&buf[..buf.len() - 3]).unwrap(),
            vec![b"hello".to_vec()]
        );
        buf[13] ^= 1;
        assert!(read_records(&buf[..]).is_err());
    }
}
