//! A character vocabulary: what a text model's token ids mean.
//!
//! Ids 0, 1, 2 are the padding, unknown and end tokens; the characters follow in order of
//! falling count on the training side (ties by code point), so the same corpus always gives
//! the same ids.

use std::collections::HashMap;

/// Padding after the end of a short example (not predicted, not counted).
pub const PAD: u32 = 0;
/// A character outside the vocabulary (seen fewer than `min_count` times in training).
pub const UNK: u32 = 1;
/// The end of an example shorter than the longest (predicted like a character).
pub const END: u32 = 2;
/// How many ids the special tokens take.
pub const SPECIALS: usize = 3;

/// How an unknown character is written back as text.
pub const UNK_CHAR: char = '□';

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocabulary {
    /// The characters, id `SPECIALS + i` for `chars[i]`.
    chars: Vec<char>,
    ids: HashMap<char, u32>,
}

impl Vocabulary {
    /// The characters seen at least `min_count` times in `examples`, most frequent first.
    pub fn from_examples<'a>(
        examples: impl IntoIterator<Item = &'a str>,
        min_count: usize,
    ) -> Self {
        let mut counts: HashMap<char, usize> = HashMap::new();
        for e in examples {
            for c in e.chars() {
                *counts.entry(c).or_default() += 1;
            }
        }
        let mut kept: Vec<(char, usize)> = counts
            .into_iter()
            .filter(|&(_, n)| n >= min_count.max(1))
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Self::from_chars(kept.into_iter().map(|(c, _)| c).collect())
    }

    /// A vocabulary of exactly these characters, in this order (a saved run's).
    pub fn from_chars(chars: Vec<char>) -> Self {
        let ids = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, (SPECIALS + i) as u32))
            .collect();
        Vocabulary { chars, ids }
    }

    /// Ids in all, the special tokens included: the width of a model's output.
    pub fn len(&self) -> usize {
        SPECIALS + self.chars.len()
    }

    /// Never true: the special tokens are always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The characters in id order (without the special tokens).
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of a character, [`UNK`] if it is not in the vocabulary.
    pub fn id(&self, c: char) -> u32 {
        self.ids.get(&c).copied().unwrap_or(UNK)
    }

    /// `text` as `len` ids: its characters, then [`END`] if `end` and there is room, then
    /// [`PAD`]. Characters past `len` are dropped (the caller decides whether that is
    /// allowed).
    pub fn encode(&self, text: &str, len: usize, end: bool) -> Vec<u32> {
        let mut ids: Vec<u32> = text.chars().take(len).map(|c| self.id(c)).collect();
        if end && ids.len() < len {
            ids.push(END);
        }
        ids.resize(len, PAD);
        ids
    }

    /// [`Vocabulary::decode`] of a row as batches and samples carry it (ids as floats).
    pub fn decode_row(&self, row: &[f32]) -> String {
        self.decode(&row.iter().map(|&v| v as u32).collect::<Vec<_>>())
    }

    /// The text of ids up to the first [`END`] or [`PAD`]; unknown ids as [`UNK_CHAR`].
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .take_while(|&&i| i != END && i != PAD)
            .map(|&i| match (i as usize).checked_sub(SPECIALS) {
                Some(k) if k < self.chars.len() => self.chars[k],
                _ => UNK_CHAR,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_counts_and_text_round_trips() {
        let v = Vocabulary::from_examples(["abca", "cab", "zz c"], 2);
        // a 3, b 2, c 3, z 2, ' ' 1: kept a, c (3, by code point), then b, z (2).
        assert_eq!(v.chars(), &['a', 'c', 'b', 'z']);
        assert_eq!(v.len(), SPECIALS + 4);
        assert_eq!(v.id('a'), 3);
        assert_eq!(v.id(' '), UNK);
        let ids = v.encode("cab", 5, true);
        assert_eq!(ids, vec![4, 3, 5, END, PAD]);
        assert_eq!(v.decode(&ids), "cab");
        assert_eq!(v.decode_row(&[4.0, 3.0, 5.0, 2.0, 0.0]), "cab");
        assert_eq!(v.decode(&v.encode("a b", 3, false)), "a□b");
        assert_eq!(v.encode("abcab", 3, true), vec![3, 5, 4]);
        assert_eq!(Vocabulary::from_chars(v.chars().to_vec()), v);
    }
}
