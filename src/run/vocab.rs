//! A text run's `vocab.txt`: what its token ids mean, saved beside the checkpoint.
//!
//! The vocabulary is rebuilt from the training text every time a run is opened, so a run
//! opened on other text (another `data.dir`, edited files, another `min_count`) would
//! silently read its ids as other characters. The saved file catches that, and lets a user
//! decode the model's outputs without gen: line `i` is the token of id `i`.

use anyhow::{bail, Context, Result};
use gen_base::vocab::{Vocabulary, SPECIALS};
use gen_base::DataInfo;
use std::path::Path;

const FILE: &str = "vocab.txt";
const SPECIAL_NAMES: [&str; SPECIALS] = ["<pad>", "<unk>", "<end>"];

/// The file's text: the special tokens' names, then one character per line in id order.
pub fn render(vocab: &Vocabulary) -> String {
    let mut text = String::with_capacity(4 * vocab.len());
    for name in SPECIAL_NAMES {
        text.push_str(name);
        text.push('\n');
    }
    for &c in vocab.chars() {
        text.push(c);
        text.push('\n');
    }
    text
}

/// The characters a saved file lists (the special tokens' lines dropped).
fn parse(text: &str) -> Vec<char> {
    text.split('\n')
        .skip(SPECIALS)
        .filter_map(|line| line.chars().next())
        .collect()
}

/// Writes `vocab.txt` into a new text run's directory (nothing for other data).
pub fn save(dir: &Path, info: &DataInfo) -> Result<()> {
    let Some(vocab) = info.vocab() else {
        return Ok(());
    };
    let path = dir.join(FILE);
    std::fs::write(&path, render(vocab)).with_context(|| format!("writing {}", path.display()))
}

/// Checks that the data a run is opened on gives the vocabulary it was trained with (runs
/// saved before `vocab.txt` existed are not checked).
pub fn check(dir: &Path, info: &DataInfo) -> Result<()> {
    let Some(vocab) = info.vocab() else {
        return Ok(());
    };
    let path = dir.join(FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let saved = parse(&text);
    if saved == vocab.chars() {
        return Ok(());
    }
    let first = saved
        .iter()
        .zip(vocab.chars())
        .position(|(a, b)| a != b)
        .unwrap_or(saved.len().min(vocab.chars().len()));
    let at = |chars: &[char]| {
        chars
            .get(first)
            .map_or("nothing".to_string(), |c| format!("'{c}'"))
    };
    bail!(
        "{} lists {} ids, but the text this run's config names now gives {} (id {} is {} \
         in the run, {} now): the data changed since training (the files, data.dir, \
         data.train or min_count); point the run's config.yaml at the text it was trained on",
        path.display(),
        saved.len() + SPECIALS,
        vocab.len(),
        first + SPECIALS,
        at(&saved),
        at(vocab.chars())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_and_names_ids_by_line() {
        let v = Vocabulary::from_chars(vec!['山', ' ', '月']);
        let text = render(&v);
        assert_eq!(text.lines().nth(3), Some("山"));
        assert_eq!(text.lines().nth(4), Some(" "));
        assert_eq!(parse(&text), v.chars());
    }
}
