//! `gen compare SWEEP_DIR...`: one row per grid point, its seeds' figures as mean ± sd
//! (the sample standard deviation, n - 1) with n, the number of evaluated seeds.

use super::{figure_columns, minutes, notes, number, print_table, read_row, Row};
use crate::cli::{CompareArgs, CompareFormat};
use crate::sweep::manifest::{self, Manifest};
use anyhow::{bail, Result};
use std::path::PathBuf;

/// A grid point: the jobs of one sweep that differ only in their seed.
struct Group {
    /// `latent=2 lr=0.001`, for the table.
    label: String,
    point: Vec<(String, String)>,
    rows: Vec<Row>,
}

/// Mean, sample standard deviation (`None` for one value) and count.
pub fn mean_sd(values: &[f64]) -> (f64, Option<f64>, usize) {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = (n > 1).then(|| {
        let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        (ss / (n - 1) as f64).sqrt()
    });
    (mean, sd, n)
}

pub fn run(args: &CompareArgs) -> Result<()> {
    let mut groups: Vec<Group> = vec![];
    let mut unevaluated: Vec<PathBuf> = vec![];
    let several = args.run_dirs.len() > 1;
    for dir in &args.run_dirs {
        let m = Manifest::read(dir)?;
        let keys: Vec<&str> = m.grid.iter().map(|(k, _)| k.as_str()).collect();
        let labels: std::collections::HashMap<&str, String> = keys
            .iter()
            .copied()
            .zip(crate::sweep::spec::short_labels(&keys))
            .collect();
        let first = groups.len();
        for job in &m.jobs {
            let run = manifest::run_dir(dir, job);
            let row = match run.join("config.yaml").is_file() {
                true => read_row(&run)?,
                false => None,
            };
            let Some(row) = row else {
                unevaluated.push(run);
                continue;
            };
            let point: Vec<(String, String)> = Manifest::point(job)
                .iter()
                .filter_map(|o| {
                    o.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect();
            match groups[first..].iter_mut().find(|g| g.point == point) {
                Some(g) => g.rows.push(row),
                None => {
                    let mut label: Vec<String> = point
                        .iter()
                        .map(|(k, v)| format!("{}={v}", labels.get(k.as_str()).unwrap_or(k)))
                        .collect();
                    if label.is_empty() {
                        label.push("(base config)".into());
                    }
                    if several {
                        label.insert(0, m.name.clone());
                    }
                    groups.push(Group {
                        label: label.join(" "),
                        point,
                        rows: vec![row],
                    });
                }
            }
        }
    }
    for d in &unevaluated {
        eprintln!(
            "warning: {} has no eval.json and is left out (gen sweep --status tells why)",
            d.display()
        );
    }
    if groups.is_empty() {
        bail!(
            "no job of the sweep has an eval.json yet: see gen sweep --status {}",
            args.run_dirs[0].display()
        );
    }
    let wide = matches!(args.format, CompareFormat::Csv | CompareFormat::Json);
    let figures = figure_columns(
        groups.iter().flat_map(|g| &g.rows).map(|r| &r.figures),
        wide,
    );
    let stats = |g: &Group, k: &str| {
        let v: Vec<f64> = g
            .rows
            .iter()
            .filter_map(|r| r.figures.get(k).and_then(|v| v.as_f64()))
            .collect();
        (!v.is_empty()).then(|| mean_sd(&v))
    };
    // Fixed columns from the first run of each point; the train wall is the seeds' mean.
    let info_cols: Vec<&str> = groups[0].rows[0].info.iter().map(|(c, _)| *c).collect();
    let info = |g: &Group| -> Vec<String> {
        let walls: Vec<f64> = g.rows.iter().filter_map(|r| r.wall).collect();
        g.rows[0]
            .info
            .iter()
            .map(|(c, v)| match *c {
                "train wall" if !walls.is_empty() => minutes(mean_sd(&walls).0),
                _ => v.clone(),
            })
            .collect()
    };
    match args.format {
        CompareFormat::Json => {
            let out: Vec<serde_json::Value> = groups
                .iter()
                .map(|g| {
                    let mut metrics = serde_json::Map::new();
                    for k in &figures {
                        if let Some((mean, sd, n)) = stats(g, k) {
                            metrics.insert(
                                k.clone(),
                                serde_json::json!({"mean": mean, "sd": sd, "n": n}),
                            );
                        }
                    }
                    let point: serde_json::Map<String, serde_json::Value> = g
                        .point
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone().into()))
                        .collect();
                    let mut m = serde_json::Map::new();
                    m.insert("point".into(), point.into());
                    m.insert("n".into(), g.rows.len().into());
                    m.insert(
                        "runs".into(),
                        g.rows
                            .iter()
                            .map(|r| r.dir.display().to_string())
                            .collect::<Vec<_>>()
                            .into(),
                    );
                    for (c, v) in info_cols.iter().zip(info(g)) {
                        m.insert(c.to_string(), v.into());
                    }
                    m.insert("metrics".into(), metrics.into());
                    m.into()
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        format => {
            let mut header: Vec<String> = vec!["grid point".into(), "n".into()];
            header.extend(info_cols.iter().map(|c| c.to_string()));
            for k in &figures {
                header.push(k.clone());
                if format == CompareFormat::Csv {
                    header.push(format!("{k} sd"));
                }
            }
            let cells: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    let mut c = vec![g.label.clone(), g.rows.len().to_string()];
                    c.extend(info(g));
                    for k in &figures {
                        let s = stats(g, k);
                        if format == CompareFormat::Csv {
                            c.push(s.map(|s| s.0.to_string()).unwrap_or_default());
                            c.push(
                                s.and_then(|s| s.1)
                                    .map(|sd| sd.to_string())
                                    .unwrap_or_default(),
                            );
                        } else {
                            c.push(match s {
                                Some((m, Some(sd), _)) => {
                                    format!("{} ± {}", number(&m.into()), number(&sd.into()))
                                }
                                Some((m, None, _)) => number(&m.into()),
                                None => String::new(),
                            });
                        }
                    }
                    c
                })
                .collect();
            print_table(format, &header, &cells);
        }
    }
    // Pictures and warnings as for runs: one grid per point (its first seed's).
    let firsts: Vec<Row> = groups
        .into_iter()
        .map(|mut g| {
            let mut r = g.rows.swap_remove(0);
            r.name = g.label;
            r
        })
        .collect();
    notes(&firsts, wide, args.png.as_deref())
}

#[cfg(test)]
mod tests {
    #[test]
    fn mean_and_sample_sd_by_hand() {
        let (m, sd, n) = super::mean_sd(&[1.0, 2.0, 4.0]);
        assert!((m - 7.0 / 3.0).abs() < 1e-12);
        // ((4/3)^2 + (1/3)^2 + (5/3)^2) / 2 = 42/18
        assert!((sd.unwrap() - (42.0f64 / 18.0).sqrt()).abs() < 1e-12);
        assert_eq!(n, 3);
        assert_eq!(super::mean_sd(&[5.0]), (5.0, None, 1));
    }
}
