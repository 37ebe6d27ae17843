//! Data errors, each saying what was wrong and how to fix it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}", not_found(.name, .searched, .tried))]
    NotFound {
        name: String,
        searched: Vec<PathBuf>,
        /// (url, why it failed)
        tried: Vec<(String, String)>,
    },
    #[error("{path}: {what}")]
    Corrupt { path: PathBuf, what: String },
    /// A download whose bytes do not match the pinned hash (listed after its URL).
    #[error("checksum mismatch: expected sha256 {expected}, got {got}; the file was discarded")]
    Checksum { expected: String, got: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn not_found(name: &str, searched: &[PathBuf], tried: &[(String, String)]) -> String {
    let mut s = format!("dataset `{name}` not found. Looked for its four IDX files in:\n");
    for p in searched {
        s += &format!("  - {}\n", p.display());
    }
    if tried.is_empty() {
        s += "No download was attempted (no mirrors configured).\n";
    } else {
        s += "Download failed from:\n";
        for (u, why) in tried {
            s += &format!("  - {u}: {why}\n");
        }
    }
    s += "Fix: put the files (e.g. train-images-idx3-ubyte.gz) in one of those directories, \
          or point to them with `--set data.dir=DIR` or the GEN_DATA_DIR environment variable \
          (which holds one folder per dataset, e.g. $GEN_DATA_DIR/";
    s += name;
    s += "/).";
    s
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn corrupt(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        DataError::Corrupt {
            path: path.into(),
            what: what.into(),
        }
    }
}
