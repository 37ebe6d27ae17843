//! Text sets as sequences of character ids: the five-character couplets of the Tang poems
//! (`tang-couplets`) and a user's own lines (`text`).
//!
//! The couplets come from the `chinese-poetry` database's `poet.tang.N.json` files (plain or
//! gzipped): every paragraph of two five-character lines, `秦川雄帝宅，函谷壯皇居。`, becomes
//! the ten characters without punctuation. A poem goes wholly to the test side when the
//! SHA-256 of its id falls in one twentieth of the range, so no poem is on both sides and the
//! split does not depend on file order.

use crate::error::DataError;
use gen_base::Vocabulary;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Characters of a couplet without its punctuation.
pub const COUPLET_LEN: usize = 10;
/// One poem in this many goes to the test side.
const TEST_ONE_IN: u64 = 20;
/// The sub-folders the poem files sit in (the npm package's, the upstream repository's).
const POEM_FOLDERS: &[&str] = &["quantangshi", "全唐诗", "."];

/// The examples of a text set, split.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corpus {
    pub train: Vec<String>,
    pub test: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Poem {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    paragraphs: Vec<String>,
}

/// The ten characters of a paragraph made of two five-character lines, if it is one.
pub fn couplet(paragraph: &str) -> Option<String> {
    let c: Vec<char> = paragraph.trim().chars().collect();
    let word = |s: &[char]| s.iter().all(|c| c.is_alphanumeric());
    let shape = c.len() == 12 && c[5] == '，' && c[11] == '。';
    (shape && word(&c[..5]) && word(&c[6..11])).then(|| c[..5].iter().chain(&c[6..11]).collect())
}

/// Whether a poem (by its id) is on the test side.
pub fn is_test_poem(id: &str) -> bool {
    let h = Sha256::digest(id.as_bytes());
    let v = u64::from_be_bytes(h[..8].try_into().expect("a SHA-256 has 32 bytes"));
    v % TEST_ONE_IN == 0
}

/// The folder holding `poet.tang.*.json` files under `dir`, if any.
fn poem_folder(dir: &Path) -> Option<PathBuf> {
    POEM_FOLDERS
        .iter()
        .map(|f| dir.join(f))
        .find(|d| !poem_files(d).is_empty())
}

/// `poet.tang.N.json` and `poet.tang.N.json.gz` in `dir`, in the order of N.
fn poem_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let n = name.strip_prefix("poet.tang.")?;
            let n = n
                .strip_suffix(".json")
                .or_else(|| n.strip_suffix(".json.gz"))?;
            Some((n.parse().ok()?, p))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// A file's bytes, gunzipped if its name ends in `.gz`.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = vec![];
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::corrupt(path, format!("not a readable gzip file: {e}")))?;
        return Ok(out);
    }
    Ok(raw)
}

/// The couplets of the first folder of `dirs` that holds the poem files; the error lists
/// every folder searched and the fix.
pub fn tang_couplets(dirs: &[PathBuf]) -> Result<Corpus, DataError> {
    let Some(folder) = dirs.iter().find_map(|d| poem_folder(d)) else {
        let mut s = String::from(
            "dataset `tang-couplets` not found. Looked for poet.tang.N.json files (or .json.gz) \
             in these folders and their quantangshi/ or 全唐诗/:\n",
        );
        for d in dirs {
            s += &format!("  - {}\n", d.display());
        }
        s += "Fix: point `--set data.dir=DIR` or GEN_DATA_DIR (which holds chinese-poetry/) at a \
              copy of the chinese-poetry database (github.com/chinese-poetry/chinese-poetry); \
              a clone of this repository ships it in data/chinese-poetry/.";
        return Err(DataError::Invalid(s));
    };
    let mut corpus = Corpus::default();
    for file in poem_files(&folder) {
        let bytes = read_maybe_gz(&file)?;
        let poems: Vec<Poem> = serde_json::from_slice(&bytes)
            .map_err(|e| DataError::corrupt(&file, format!("not a JSON array of poems: {e}")))?;
        for (i, poem) in poems.iter().enumerate() {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            let id = poem.id.clone().unwrap_or_else(|| format!("{name}#{i}"));
            let side = match is_test_poem(&id) {
                true => &mut corpus.test,
                false => &mut corpus.train,
            };
            side.extend(poem.paragraphs.iter().filter_map(|p| couplet(p)));
        }
    }
    if corpus.train.is_empty() || corpus.test.is_empty() {
        return Err(DataError::corrupt(
            &folder,
            "no five-character couplets found in the poem files",
        ));
    }
    Ok(corpus)
}

/// The non-empty lines of a UTF-8 file, one example each; errors name the file and line.
pub fn read_lines(path: &Path) -> Result<Vec<String>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let mut lines = vec![];
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(raw).map_err(|e| {
            DataError::corrupt(
                path,
                format!(
                    "line {}: not UTF-8 text (bad byte at column {}); save the file as UTF-8",
                    i + 1,
                    e.valid_up_to() + 1
                ),
            )
        })?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !line.trim().is_empty() {
            lines.push(line.to_string());
        }
    }
    if lines.is_empty() {
        return Err(DataError::corrupt(
            path,
            "no text: the file has no non-empty line",
        ));
    }
    Ok(lines)
}

/// Checks every example fits in `max_len` characters (unless `truncate`); the error names
/// the file and the first line too long.
pub fn check_lengths(
    path: &Path,
    lines: &[String],
    max_len: usize,
    truncate: bool,
) -> Result<(), DataError> {
    if truncate {
        return Ok(());
    }
    match lines.iter().position(|l| l.chars().count() > max_len) {
        None => Ok(()),
        Some(i) => Err(DataError::corrupt(
            path,
            format!(
                "example {} has {} characters, more than data.max_len = {max_len}; raise \
                 max_len or set `data.truncate: true` to cut long lines",
                i + 1,
                lines[i].chars().count()
            ),
        )),
    }
}

/// The vocabulary of the training side; a vocabulary of one character is an error (nothing
/// to model), naming `min_count`.
pub fn vocabulary(train: &[String], min_count: usize) -> Result<Vocabulary, DataError> {
    let vocab = Vocabulary::from_examples(train.iter().map(String::as_str), min_count);
    if vocab.chars().len() < 2 {
        return Err(DataError::Invalid(format!(
            "data.min_count: only {} character(s) occur at least {min_count} times in the \
             training text, so there is nothing to model; lower min_count or give more text",
            vocab.chars().len()
        )));
    }
    Ok(vocab)
}

/// Examples as rows of `len` ids (as `f32`, exact for any vocabulary under 2^24).
pub fn encode_rows(vocab: &Vocabulary, examples: &[String], len: usize, end: bool) -> Vec<f32> {
    examples
        .iter()
        .flat_map(|e| vocab.encode(e, len, end))
        .map(|id| id as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_couplet_is_two_lines_of_five_without_punctuation() {
        assert_eq!(
            couplet("秦川雄帝宅，函谷壯皇居。").as_deref(),
            Some("秦川雄帝宅函谷壯皇居")
        );
        assert_eq!(couplet("秦川雄帝宅，函谷壯皇居"), None);
        assert_eq!(couplet("秦川雄帝宅函，谷壯皇居。"), None);
        assert_eq!(
            couplet("秦川雄帝宅，函谷壯皇居。秦川雄帝宅，函谷壯皇居。"),
            None
        );
        assert_eq!(couplet("秦川雄帝，宅函谷壯皇居。"), None);
    }
}
