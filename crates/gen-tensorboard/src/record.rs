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

/// Reads every record back, checking both checksums (for tests and tools).
pub fn read_records(mut r: impl Read) -> io::Result<Vec<Vec<u8>>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut out = vec![];
    loop {
        let mut len = [0u8; 8];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(out),
            Err(e) => return Err(e),
        }
        let mut crc = [0u8; 4];
        r.read_exact(&mut crc)?;
        if u32::from_le_bytes(crc) != masked_crc32c(&len) {
            return Err(bad("length checksum mismatch"));
        }
        let mut payload = vec![0u8; u64::from_le_bytes(len) as usize];
        r.read_exact(&mut payload)?;
        r.read_exact(&mut crc)?;
        if u32::from_le_bytes(crc) != masked_crc32c(&payload) {
            return Err(bad("payload checksum mismatch"));
        }
        out.push(payload);
    }
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
        buf[13] ^= 1;
        assert!(read_records(&buf[..]).is_err());
    }
}
