//! `gen eval`'s figures for text runs: the n-gram baselines gen computes on the same split
//! (the unigram and interpolated Kneser-Ney models of orders 2 to 4), per-character
//! perplexity, and how new, how varied and how natural the model's samples are.

use anyhow::Result;
use gen_base::vocab::{END, PAD};
use gen_core::{Model, Rng};
use gen_data::{Dataset, Split};
use gen_metrics::text::{distinct_n, novelty, KneserNey};
use std::collections::HashSet;

/// Samples drawn for the sample figures.
pub const SAMPLES: usize = 2_000;
/// The n-gram model samples are scored by (the order with the best test figure here).
const SCORER: usize = 3;
/// Noise of the samples (fixed, so `gen eval` is repeatable).
const SEED: u64 = 0x7E47;

/// Each example's ids up to its padding (the end token kept: it is predicted too).
fn sequences(split: &Split) -> Vec<Vec<u32>> {
    (0..split.n)
        .map(|i| {
            split
                .row(i)
                .iter()
                .map(|&v| v as u32)
                .take_while(|&t| t != PAD)
                .collect()
        })
        .collect()
}

/// Mean nats per sequence and per predicted id under `model`.
fn score(model: &KneserNey, seqs: &[Vec<u32>]) -> (f64, f64) {
    let total: f64 = seqs.iter().map(|s| model.nll(s)).sum();
    let ids: usize = seqs.iter().map(Vec::len).sum();
    (total / seqs.len().max(1) as f64, total / ids.max(1) as f64)
}

/// The figures, given the rows so far (`nll/per_char` becomes `text/perplexity`).
pub fn rows(
    model: &dyn Model,
    data: &Dataset,
    so_far: &[(String, f64)],
) -> Result<Vec<(String, f64)>> {
    let Some(vocab) = data.info.vocab() else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    if let Some((_, v)) = so_far.iter().find(|(k, _)| k == "nll/per_char") {
        out.push(("text/perplexity".to_string(), v.exp()));
    }
    let (train, test) = (sequences(&data.train), sequences(&data.test));
    let mut scorer = None;
    for order in 1..=4 {
        let ngram = KneserNey::fit(&train, order, vocab.len());
        let (nll, per_char) = score(&ngram, &test);
        let name = match order {
            1 => "unigram".to_string(),
            n => format!("kn{n}"),
        };
        out.push((format!("baseline/{name}/nll"), nll));
        out.push((format!("baseline/{name}/nll_per_char"), per_char));
        if order == SCORER {
            scorer = Some(ngram);
        }
    }
    let mut rng = Rng::new(SEED);
    let mut drawn = vec![];
    while drawn.len() < SAMPLES {
        let Some(x) = model.sample((SAMPLES - drawn.len()).min(500), &mut rng)? else {
            return Ok(out);
        };
        let rows: Vec<Vec<f32>> = x.to_dtype(candle_core::DType::F32)?.to_vec2()?;
        drawn.extend(
            rows.into_iter()
                .map(|r| r.into_iter().map(|v| v as u32).collect::<Vec<u32>>()),
        );
    }
    let lines: Vec<String> = drawn.iter().map(|ids| vocab.decode(ids)).collect();
    let train_lines: Vec<String> = train.iter().map(|ids| vocab.decode(ids)).collect();
    let known: HashSet<&str> = train_lines.iter().map(String::as_str).collect();
    out.push(("text/novel_samples".to_string(), novelty(&lines, &known)));
    if data.info.name == "tang-couplets" {
        // Each five-character line of a couplet on its own.
        let halves = |ls: &[String]| -> Vec<String> {
            ls.iter()
                .flat_map(|l| {
                    let c: Vec<char> = l.chars().collect();
                    let mid = c.len() / 2;
                    [c[..mid].iter().collect(), c[mid..].iter().collect()]
                })
                .collect()
        };
        let train_halves = halves(&train_lines);
        let known: HashSet<&str> = train_halves.iter().map(String::as_str).collect();
        out.push((
            "text/novel_lines".to_string(),
            novelty(&halves(&lines), &known),
        ));
    }
    out.push(("text/distinct_1".to_string(), distinct_n(&lines, 1)));
    out.push(("text/distinct_2".to_string(), distinct_n(&lines, 2)));
    if let Some(ngram) = &scorer {
        // Samples scored as text: up to their end token, as the test set is.
        let seqs: Vec<Vec<u32>> = drawn
            .iter()
            .map(|ids| {
                let end = ids
                    .iter()
                    .position(|&t| t == END)
                    .map_or(ids.len(), |p| p + 1);
                ids[..end]
                    .iter()
                    .copied()
                    .take_while(|&t| t != PAD)
                    .collect()
            })
            .collect();
        out.push((
            format!("text/samples_kn{SCORER}_nll_per_char"),
            score(ngram, &seqs).1,
        ));
    }
    Ok(out)
}
