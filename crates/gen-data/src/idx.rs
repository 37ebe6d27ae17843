//! The IDX format of MNIST: big-endian header (magic `0x0000_08_NN` for unsigned bytes
//! in NN dimensions, then NN u32 sizes) followed by the raw bytes. Gzip is detected
//! by its magic number, whatever the file is called.

use crate::error::DataError;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// A decoded IDX array of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file (raw or gzipped).
pub fn read(path: &Path) -> Result<Idx, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::corrupt(path, format!("broken gzip stream ({e})")))?;
        out
    } else {
        raw
    };
    parse(&bytes).map_err(|what| DataError::corrupt(path, what))
}

/// The dimensions an IDX file's header promises, read without the data (for sizing a
/// load before it happens). A file whose header does not read is read whole, so its error
/// is the one [`read`] gives.
pub fn read_dims(path: &Path) -> Result<Vec<usize>, DataError> {
    let header = || -> std::io::Result<Option<Vec<usize>>> {
        use std::io::BufRead;
        let mut raw = std::io::BufReader::new(std::fs::File::open(path)?);
        let gz = raw.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let mut reader: Box<dyn Read> = if gz {
            Box::new(GzDecoder::new(raw))
        } else {
            Box::new(raw)
        };
        // The fixed part, then as many sizes as it declares (at most 255).
        let mut head = vec![0u8; 4];
        reader.read_exact(&mut head)?;
        let mut sizes = vec![0u8; 4 * head[3] as usize];
        reader.read_exact(&mut sizes)?;
        head.extend(sizes);
        Ok(parse_header(&head).ok().map(|(dims, _)| dims))
    };
    match header() {
        Ok(Some(dims)) => Ok(dims),
        _ => read(path).map(|idx| idx.dims),
    }
}

/// Parses IDX bytes; the error says what is wrong in words.
pub fn parse(bytes: &[u8]) -> Result<Idx, String> {
    let (dims, header) = parse_header(bytes)?;
    let want = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("dimensions overflow")?;
    let have = bytes.len() - header;
    if have != want {
        let shape = dims
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        let what = if have < want {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(format!(
            "{what}: the header promises {want} bytes of data ({shape}), the file has {have}"
        ));
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// The dimensions a header declares and the header's length in bytes.
fn parse_header(bytes: &[u8]) -> Result<(Vec<usize>, usize), String> {
    if bytes.len() < 4 {
        return Err(format!(
            "file is {} bytes, too short for an IDX header",
            bytes.len()
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] == 0 {
        return Err(format!(
            "bad magic number {magic} (0x{magic:08x}); expected an IDX file of unsigned bytes \
             (2051 for images, 2049 for labels)"
        ));
    }
    let nd = bytes[3] as usize;
    let header = 4 + 4 * nd;
    if bytes.len() < header {
        return Err(format!(
            "truncated header: {nd} dimensions need {header} bytes, file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    Ok((dims, header))
}

/// Serializes an IDX array (for tests and tools).
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend((*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let ok = encode(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            parse(&ok).unwrap(),
            Idx {
                dims: vec![2, 3],
                data: vec![1, 2, 3, 4, 5, 6]
            }
        );
        assert!(parse(&ok[..ok.len() - 1])
            .unwrap_err()
            .starts_with("truncated"));
        let mut extra = ok.clone();
        extra.push(0);
        assert!(parse(&extra).unwrap_err().starts_with("trailing"));
        let mut bad = ok.clone();
        bad[2] = 0x0d; // float data
        assert!(parse(&bad).unwrap_err().contains("bad magic"));
        assert!(parse(&[0, 0]).unwrap_err().contains("too short"));
        assert!(parse(&[0, 0, 8, 3, 0, 0])
            .unwrap_err()
            .contains("truncated header"));
    }

    #[test]
    fn reads_gzip_and_reports_broken_gzip() {
        use flate2::{write::GzEncoder, Compression};
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gz");
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&encode(&[2], &[7, 9])).unwrap();
        let gz = enc.finish().unwrap();
        std::fs::write(&p, &gz).unwrap();
        assert_eq!(read(&p).unwrap().data, vec![7, 9]);
        assert_eq!(read_dims(&p).unwrap(), vec![2]);
        let raw = dir.path().join("x.idx");
        std::fs::write(&raw, encode(&[1, 2, 3], &[0; 6])).unwrap();
        assert_eq!(read_dims(&raw).unwrap(), vec![1, 2, 3]);
        std::fs::write(&p, &gz[..gz.len() - 6]).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("gzip"), "{e}");
    }
}
