//! Downloads into the cache, verified: each file goes to `<name>.part`, is checked
//! against its pinned SHA-256, and only then renamed into place. A mismatch deletes the
//! partial file, so the cache never holds a bad copy.

use crate::error::DataError;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// One of the four files: its stem, IDX rank tag and the SHA-256 of the official `.gz`.
#[derive(Clone, Copy, Debug)]
pub struct Part {
    pub stem: &'static str,
    pub rank: &'static str,
    pub gz_sha256: &'static str,
}

impl Part {
    pub fn gz_name(&self) -> String {
        format!("{}-{}-ubyte.gz", self.stem, self.rank)
    }

    /// Accepted spellings: `-idx3-ubyte` and `.idx3-ubyte`, gzipped or raw.
    pub(crate) fn candidates(&self) -> [String; 4] {
        let (s, r) = (self.stem, self.rank);
        [
            format!("{s}-{r}-ubyte.gz"),
            format!("{s}-{r}-ubyte"),
            format!("{s}.{r}-ubyte.gz"),
            format!("{s}.{r}-ubyte"),
        ]
    }
}

/// SHA-256 of a byte slice, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Tries each mirror in turn until all four files are in `cache`; on failure returns
/// every (url, reason) tried.
pub fn fetch_all(
    mirrors: &[String],
    parts: &[Part; 4],
    cache: &Path,
) -> Result<(), Vec<(String, String)>> {
    let mut tried = vec![];
    if mirrors.is_empty() {
        return Err(tried);
    }
    if let Err(e) = std::fs::create_dir_all(cache) {
        tried.push((
            cache.display().to_string(),
            format!("cannot create the cache directory: {e}"),
        ));
        return Err(tried);
    }
    'mirrors: for base in mirrors {
        for part in parts {
            let dest = cache.join(part.gz_name());
            if dest.is_file() {
                continue;
            }
            let url = format!("{}/{}", base.trim_end_matches('/'), part.gz_name());
            eprintln!("downloading {url}");
            if let Err(e) = fetch_verified(&url, &dest, part.gz_sha256) {
                tried.push((url, e.to_string()));
                continue 'mirrors;
            }
        }
        return Ok(());
    }
    Err(tried)
}

/// Downloads `url` to `dest` through `dest.part`, keeping it only if its SHA-256 matches.
pub fn fetch_verified(url: &str, dest: &Path, sha256: &str) -> Result<(), DataError> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .build(),
    );
    let mut resp = agent
        .get(url)
        .call()
        .map_err(|e| DataError::Invalid(e.to_string()))?;
    let mut body = vec![];
    resp.body_mut()
        .as_reader()
        .read_to_end(&mut body)
        .map_err(|e| DataError::Invalid(format!("reading the response: {e}")))?;
    let got = sha256_hex(&body);
    if got != sha256 {
        return Err(DataError::Checksum {
            expected: sha256.into(),
            got,
        });
    }
    let part = dest.with_extension("gz.part");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&part)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&part, dest)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&part);
        DataError::io(dest, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
