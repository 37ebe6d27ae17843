//! Text figures that need no model: character n-gram baselines (the unigram and an
//! interpolated Kneser-Ney model, Chen and Goodman 1999), and how new and how varied
//! samples are.

use std::collections::{HashMap, HashSet};

/// An interpolated Kneser-Ney model of order `n` over ids `0..vocab`: the highest order on
/// raw counts, the lower ones on continuation counts (in how many contexts a word follows),
/// each discounted by Ney's `D = n1 / (n1 + 2 n2)` and interpolated down to the uniform
/// distribution, so every id has a probability and each context's sum to 1. Order 1 is the
/// (smoothed) unigram model. A sequence is read after `n - 1` start symbols.
pub struct KneserNey {
    order: usize,
    vocab: usize,
    /// Per order k (index k - 1): counts of (context of k - 1, word).
    counts: Vec<HashMap<Vec<u32>, f64>>,
    /// Per order: each context's total count and number of distinct following words.
    contexts: Vec<HashMap<Vec<u32>, (f64, f64)>>,
    discounts: Vec<f64>,
}

/// The start symbol, outside the vocabulary.
const START: u32 = u32::MAX;

impl KneserNey {
    /// Counts the n-grams of `sequences` (ids below `vocab`).
    pub fn fit(sequences: &[Vec<u32>], order: usize, vocab: usize) -> Self {
        let order = order.max(1);
        let mut raw: HashMap<Vec<u32>, f64> = HashMap::new();
        for seq in sequences {
            let padded: Vec<u32> = std::iter::repeat_n(START, order - 1)
                .chain(seq.iter().copied())
                .collect();
            for w in padded.windows(order) {
                *raw.entry(w.to_vec()).or_default() += 1.0;
            }
        }
        let mut counts = vec![HashMap::new(); order];
        // Lower orders count the distinct words before each k-gram (its continuations).
        let mut above: Vec<Vec<u32>> = raw.keys().cloned().collect();
        counts[order - 1] = raw;
        for k in (1..order).rev() {
            let mut cont: HashMap<Vec<u32>, f64> = HashMap::new();
            for gram in &above {
                *cont.entry(gram[1..].to_vec()).or_default() += 1.0;
            }
            above = cont.keys().cloned().collect();
            counts[k - 1] = cont;
        }
        let mut contexts = vec![HashMap::new(); order];
        let mut discounts = vec![0.5; order];
        for (k, table) in counts.iter().enumerate() {
            let (mut n1, mut n2) = (0.0, 0.0);
            for (gram, &c) in table {
                let e: &mut (f64, f64) = contexts[k].entry(gram[..k].to_vec()).or_default();
                e.0 += c;
                e.1 += 1.0;
                n1 += (c == 1.0) as u8 as f64;
                n2 += (c == 2.0) as u8 as f64;
            }
            if n1 > 0.0 {
                discounts[k] = (n1 / (n1 + 2.0 * n2)).clamp(0.05, 0.95);
            }
        }
        KneserNey {
            order,
            vocab,
            counts,
            contexts,
            discounts,
        }
    }

    pub fn order(&self) -> usize {
        self.order
    }

    /// `P(w | context)` with `context` the last `order - 1` ids (start symbols where the
    /// sequence is shorter).
    pub fn prob(&self, context: &[u32], w: u32) -> f64 {
        let mut p = 1.0 / self.vocab as f64;
        for k in 1..=self.order {
            let ctx = &context[context.len() + 1 - k..];
            let Some(&(total, types)) = self.contexts[k - 1].get(ctx) else {
                continue; // an unseen context passes the lower order on
            };
            let mut gram = ctx.to_vec();
            gram.push(w);
            let c = self.counts[k - 1].get(&gram).copied().unwrap_or(0.0);
            let d = self.discounts[k - 1];
            p = (c - d).max(0.0) / total + d * types / total * p;
        }
        p
    }

    /// `-log P(sequence)` in nats, every id of `seq` predicted from the ones before.
    pub fn nll(&self, seq: &[u32]) -> f64 {
        let padded: Vec<u32> = std::iter::repeat_n(START, self.order - 1)
            .chain(seq.iter().copied())
            .collect();
        padded
            .windows(self.order)
            .map(|w| -self.prob(&w[..self.order - 1], w[self.order - 1]).ln())
            .sum()
    }
}

/// The share of `samples` not among `known`.
pub fn novelty(samples: &[String], known: &HashSet<&str>) -> f64 {
    let new = samples
        .iter()
        .filter(|s| !known.contains(s.as_str()))
        .count();
    new as f64 / samples.len().max(1) as f64
}

/// Distinct character n-grams over all n-grams in `samples` (Li et al.'s distinct-n).
pub fn distinct_n(samples: &[String], n: usize) -> f64 {
    let (mut seen, mut total) = (HashSet::new(), 0usize);
    for s in samples {
        let c: Vec<char> = s.chars().collect();
        for w in c.windows(n) {
            seen.insert(w.to_vec());
            total += 1;
        }
    }
    seen.len() as f64 / total.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<Vec<u32>> {
        vec![
            vec![3, 4, 5, 3, 4],
            vec![4, 4, 5, 2],
            vec![3, 5, 5, 5, 4, 2],
            vec![6],
        ]
    }

    /// Every context, seen or not, gives a distribution over the whole vocabulary.
    #[test]
    fn probabilities_sum_to_one_over_the_vocabulary() {
        let vocab = 8;
        for order in 1..=4 {
            let m = KneserNey::fit(&corpus(), order, vocab);
            let contexts: Vec<Vec<u32>> = vec![
                vec![START; 3],
                vec![3, 4, 5],
                vec![5, 5, 5],
                vec![7, 7, 7], // never seen
                vec![START, START, 3],
            ];
            for ctx in contexts {
                let ctx = &ctx[3 - (order - 1)..];
                let total: f64 = (0..vocab as u32).map(|w| m.prob(ctx, w)).sum();
                assert!(
                    (total - 1.0).abs() < 1e-12,
                    "order {order} {ctx:?}: {total}"
                );
                assert!((0..vocab as u32).all(|w| m.prob(ctx, w) > 0.0));
            }
        }
    }

    /// By hand, order 1: continuation counts are the raw unigram counts here. Counts: 2:2,
    /// 3:3, 4:5, 5:5, 6:1 (total 16, 5 types); n1 = 1, n2 = 1, D = 1/3. P(4) = (5 - 1/3)/16
    /// + (1/3)(5/16)(1/8).
    #[test]
    fn the_unigram_by_hand() {
        let m = KneserNey::fit(&corpus(), 1, 8);
        let d = 1.0 / 3.0;
        let want = (5.0 - d) / 16.0 + d * 5.0 / 16.0 / 8.0;
        assert!((m.prob(&[], 4) - want).abs() < 1e-15);
        assert!((m.prob(&[], 7) - d * 5.0 / 16.0 / 8.0).abs() < 1e-15);
    }

    #[test]
    fn novelty_and_distinct_n() {
        let known: HashSet<&str> = ["ab", "cd"].into_iter().collect();
        let s = vec!["ab".to_string(), "xy".to_string()];
        assert_eq!(novelty(&s, &known), 0.5);
        assert_eq!(distinct_n(&["aaa".to_string()], 1), 1.0 / 3.0);
    }
}
