//! NumPy `.npy` files holding a 2-D float32 or float64 array (format versions 1-3).
//!
//! Layout: the magic `\x93NUMPY`, a version, a header length (u16 in version 1, u32
//! after), a Python dict literal such as `{'descr': '<f8', 'fortran_order': False,
//! 'shape': (100, 2), }`, then the raw little-endian values.

use crate::error::DataError;
use std::path::Path;

/// A 2-D array read from a `.npy` file, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Array2 {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
    /// Column names, from a `.csv` header (empty otherwise).
    pub names: Vec<String>,
}

const MAGIC: &[u8] = b"\x93NUMPY";

pub fn read(path: &Path) -> Result<Array2, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse(&bytes).map_err(|what| DataError::corrupt(path, what))
}

/// Parses the bytes of a `.npy` file; the error says what is wrong with them.
pub fn parse(bytes: &[u8]) -> Result<Array2, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a NumPy .npy file (the magic bytes \\x93NUMPY are missing)".into());
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => {
            return Err(format!(
                ".npy format version {major} is not supported (1-3 are)"
            ))
        }
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or("the header is cut short (file truncated?)")?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| "the header is not text".to_string())?;
    let descr = dict_value(header, "descr").ok_or("the header has no 'descr'")?;
    let fortran = dict_value(header, "fortran_order").ok_or("the header has no 'fortran_order'")?;
    let shape = dict_value(header, "shape").ok_or("the header has no 'shape'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let width = match descr {
        "<f4" => 4,
        "<f8" => 8,
        other => {
            return Err(format!(
                "dtype `{other}` is not supported: save the array as float32 or float64 (little-endian), \
                 e.g. np.save(path, x.astype(np.float64))"
            ))
        }
    };
    let fortran = match fortran.trim() {
        "True" => true,
        "False" => false,
        other => return Err(format!("'fortran_order' is `{other}`, not True or False")),
    };
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad shape entry `{s}`"))
        })
        .collect::<Result<_, _>>()?;
    let (rows, cols) = match dims[..] {
        [r, c] => (r, c),
        _ => {
            return Err(format!(
                "expected a 2-D array (points x dimensions), found shape {dims:?}"
            ))
        }
    };
    let count = rows
        .checked_mul(cols)
        .ok_or_else(|| format!("shape {rows}x{cols} is too large"))?;
    let body = &bytes[end..];
    let need = count.saturating_mul(width);
    if body.len() != need {
        return Err(format!(
            "the header says {rows}x{cols} {} ({need} bytes of values), but the file holds {} — truncated or not a plain array",
            if width == 4 { "float32" } else { "float64" },
            body.len()
        ));
    }
    let values: Vec<f64> = if width == 4 {
        body.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            .collect()
    } else {
        body.chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect()
    };
    let data = if fortran {
        let mut d = vec![0.0; count];
        for c in 0..cols {
            for r in 0..rows {
                d[r * cols + c] = values[c * rows + r];
            }
        }
        d
    } else {
        values
    };
    Ok(Array2 {
        rows,
        cols,
        data,
        names: vec![],
    })
}

/// The raw text of `key`'s value in a Python dict literal (tuples kept whole).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[at + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

/// The magic, version 1 and the header of a `.npy` file, padded so the values start on a
/// 64-byte boundary.
fn header_bytes(descr: &str, fortran: bool, shape: &str) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// Encodes a row-major float32 array as a version-1 `.npy` file.
pub fn encode_f32(rows: usize, cols: usize, data: &[f32]) -> Vec<u8> {
    let mut out = header_bytes("<f4", false, &format!("({rows}, {cols})"));
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Encodes a row-major float64 array as a version-1 `.npy` file (for tests and tools).
pub fn encode_f64(rows: usize, cols: usize, data: &[f64]) -> Vec<u8> {
    let mut out = header_bytes("<f8", false, &format!("({rows}, {cols})"));
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_f32() {
        let a = parse(&encode_f32(2, 2, &[0.5, -1.0, 3.0, 4.25])).unwrap();
        assert_eq!((a.rows, a.cols, a.data), (2, 2, vec![0.5, -1.0, 3.0, 4.25]));
    }

    #[test]
    fn round_trip_f64() {
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let a = parse(&encode_f64(3, 2, &data)).unwrap();
        assert_eq!((a.rows, a.cols), (3, 2));
        assert_eq!(a.data, data);
    }

    /// A float32 array in Fortran order (as `np.save` writes `np.asfortranarray(a)`).
    #[test]
    fn float32_fortran_order_is_transposed() {
        let mut b = header_bytes("<f4", true, "(2, 2)");
        for v in [1.0f32, 3.0, 2.0, 4.0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(parse(&b).unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let good = encode_f64(3, 2, &[0.0; 6]);
        assert!(parse(b"hello world").unwrap_err().contains("magic"));
        assert!(parse(&good[..good.len() - 8])
            .unwrap_err()
            .contains("truncated"));
        let mut one_d = header_bytes("<f8", false, "(6,)");
        one_d.extend([0u8; 48]);
        assert!(parse(&one_d).unwrap_err().contains("2-D"));
        let mut ints = header_bytes("<i8", false, "(3, 2)");
        ints.extend([0u8; 48]);
        assert!(parse(&ints).unwrap_err().contains("float32 or float64"));
    }
}
