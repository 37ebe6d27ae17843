//! `gen compare RUN_DIR...`: the figures of several evaluated runs in one table, and their
//! sample grids side by side.

use crate::cli::{CompareArgs, CompareFormat};
use anyhow::{bail, Context, Result};
use gen_core::model::PARAMS_PREFIX;
use gen_plot::plot::text;
use std::path::{Path, PathBuf};

mod sweep;

/// One evaluated run.
struct Row {
    name: String,
    dir: PathBuf,
    /// (column, text) for the fixed columns, then the figures.
    info: Vec<(&'static str, String)>,
    /// Seconds of training (see [`training_wall`]), where the event files tell.
    wall: Option<f64>,
    /// How eval.json's figures were measured (`None` for an older eval.json).
    conditions: Option<serde_json::Map<String, serde_json::Value>>,
    figures: serde_json::Map<String, serde_json::Value>,
}

/// Figures shown first, in this order (the rest follow alphabetically).
const LEADING: &[&str] = &[
    "loss/test",
    "nll/importance",
    "quality/fd",
    "quality/is",
    "quality/precision",
    "quality/recall",
    "quality/class_kl",
    "codes/1nn_test_accuracy",
    "codes/active_units",
];

/// Per-dimension series, too many for a terminal or a Markdown table (csv and json keep them).
fn per_dimension(name: &str) -> bool {
    name.starts_with("vae/kl_dim_")
}

pub fn run(args: CompareArgs) -> Result<()> {
    let sweeps = args
        .run_dirs
        .iter()
        .filter(|d| crate::sweep::manifest::is_sweep(d))
        .count();
    match sweeps {
        0 => {}
        n if n == args.run_dirs.len() => return sweep::run(&args),
        _ => bail!(
            "give run directories or sweep directories, not both (a sweep's table groups its seeds; its runs can be listed one by one as SWEEP_DIR/*/)"
        ),
    }
    let mut rows = vec![];
    let mut unevaluated = vec![];
    for dir in &args.run_dirs {
        match read_row(dir)? {
            Some(row) => rows.push(row),
            None => unevaluated.push(dir),
        }
    }
    if rows.is_empty() {
        let d = unevaluated[0].display();
        bail!("{d} has no eval.json: run `gen eval {d}` first");
    }
    for d in &unevaluated {
        eprintln!(
            "warning: {} has no eval.json and is left out (run `gen eval {}`)",
            d.display(),
            d.display()
        );
    }
    let wide = matches!(args.format, CompareFormat::Csv | CompareFormat::Json);
    let figures = figure_columns(rows.iter().map(|r| &r.figures), wide);
    let info_cols: Vec<&str> = rows[0].info.iter().map(|(c, _)| *c).collect();
    let header: Vec<String> = std::iter::once("run".to_string())
        .chain(info_cols.iter().map(|c| c.to_string()))
        .chain(figures.iter().cloned())
        .collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            std::iter::once(r.name.clone())
                .chain(r.info.iter().map(|(_, v)| v.clone()))
                .chain(figures.iter().map(|k| match r.figures.get(k) {
                    // csv keeps every digit eval.json holds, as json does.
                    Some(v) if wide => v.to_string(),
                    Some(v) => number(v),
                    None => String::new(),
                }))
                .collect()
        })
        .collect();
    match args.format {
        CompareFormat::Table | CompareFormat::Md | CompareFormat::Csv => {
            print_table(args.format, &header, &cells)
        }
        CompareFormat::Json => {
            let runs: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let mut m = serde_json::Map::new();
                    m.insert("run".into(), r.dir.display().to_string().into());
                    for (k, v) in &r.info {
                        m.insert(k.to_string(), v.clone().into());
                    }
                    m.insert("metrics".into(), r.figures.clone().into());
                    m.into()
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&runs)?);
        }
    }
    notes(&rows, wide, args.png.as_deref())
}

/// What follows every table: the per-dimension note, the conditions' warnings and the
/// pictures.
fn notes(rows: &[Row], wide: bool, png: Option<&Path>) -> Result<()> {
    if !wide
        && rows
            .iter()
            .any(|r| r.figures.keys().any(|k| per_dimension(k)))
    {
        eprintln!("(per-dimension figures such as vae/kl_dim_* are in --format csv and json)");
    }
    for w in condition_warnings(rows) {
        eprintln!("warning: {w}");
    }
    if let Some(png) = png {
        write_grids(rows, png)?;
        eprintln!("sample grids side by side: {}", png.display());
    }
    Ok(())
}

/// The figures any run reports, the leading ones first (per-dimension ones only when `wide`).
fn figure_columns<'a>(
    reported: impl IntoIterator<Item = &'a serde_json::Map<String, serde_json::Value>>,
    wide: bool,
) -> Vec<String> {
    let mut figures: Vec<String> = vec![];
    for f in reported {
        for k in f.keys() {
            if !figures.contains(k) && (wide || !per_dimension(k)) {
                figures.push(k.clone());
            }
        }
    }
    let rank = |k: &str| {
        LEADING
            .iter()
            .position(|l| *l == k)
            .unwrap_or(LEADING.len())
    };
    figures.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    figures
}

/// A table as aligned text, Markdown or CSV.
fn print_table(format: CompareFormat, header: &[String], cells: &[Vec<String>]) {
    match format {
        CompareFormat::Md => {
            println!("| {} |", header.join(" | "));
            println!("|{}", "---|".repeat(header.len()));
            for c in cells {
                println!("| {} |", c.join(" | "));
            }
        }
        CompareFormat::Csv => {
            let line = |c: &[String]| c.iter().map(|h| csv_field(h)).collect::<Vec<_>>().join(",");
            println!("{}", line(header));
            for c in cells {
                println!("{}", line(c));
            }
        }
        _ => print_aligned(header, cells),
    }
}

/// The run's row, `None` when it has no eval.json yet.
fn read_row(dir: &Path) -> Result<Option<Row>> {
    let eval_path = dir.join("eval.json");
    if !dir.join("config.yaml").is_file() {
        bail!("{} is not a run directory (no config.yaml)", dir.display());
    }
    let Ok(text) = std::fs::read_to_string(&eval_path) else {
        return Ok(None);
    };
    let eval: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", eval_path.display()))?;
    let config: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(dir.join("config.yaml"))
            .with_context(|| format!("reading {}", dir.join("config.yaml").display()))?,
    )
    .with_context(|| format!("{}: config.yaml", dir.display()))?;
    let text_of = |v: &serde_norway::Value| v.as_str().map(String::from).unwrap_or_default();
    let conditions = &eval["conditions"];
    let condition = |k: &str| {
        conditions[k]
            .as_u64()
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let mut figures = eval["metrics"].as_object().cloned().unwrap_or_default();
    // A closed-form fit reports its parameter count as a figure: one column, not two.
    let parameters = parameters(dir)
        .map(|n| n.to_string())
        .or_else(|| figures.remove("parameters").map(|v| number(&v)))
        .unwrap_or_default();
    let wall = training_wall(dir);
    let info = vec![
        ("family", text_of(&config["model"]["family"])),
        ("data", data_label(&config["data"])),
        ("K", condition("importance_samples")),
        ("quality n", condition("quality_samples")),
        (
            "epochs",
            eval["epoch"]
                .as_u64()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        ),
        ("train wall", wall.map(minutes).unwrap_or_default()),
        ("parameters", parameters),
    ];
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Some(Row {
        name,
        dir: dir.to_path_buf(),
        wall,
        info,
        conditions: conditions.as_object().cloned(),
        figures,
    }))
}

/// The data set's name, with the subsets a run trained and was tested on
/// (`mnist (train 2000, test 500)`), so that a subset run does not pass for a whole one.
fn data_label(data: &serde_norway::Value) -> String {
    let name = data["name"].as_str().unwrap_or_default();
    let subsets: Vec<String> = [("train", "train_subset"), ("test", "test_subset")]
        .iter()
        .filter_map(|(side, key)| data[*key].as_u64().map(|n| format!("{side} {n}")))
        .collect();
    match subsets.is_empty() {
        true => name.to_string(),
        false => format!("{name} ({})", subsets.join(", ")),
    }
}

/// A warning for each condition that differs between runs reporting the figures it
/// governs (K for the NLL, N for sample quality, the test examples for every figure), and
/// for runs evaluated before eval.json recorded its conditions.
fn condition_warnings(rows: &[Row]) -> Vec<String> {
    let mut out = vec![];
    let checks = [
        (
            "importance_samples",
            "nll/importance",
            "importance samples K",
        ),
        ("quality_samples", "quality/", "quality samples N"),
        ("test_examples", "", "test examples"),
    ];
    for (key, prefix, what) in checks {
        // (run, value, data set): test sets of different data sets differ anyway; within
        // one data set they must not.
        let values: Vec<(&str, u64, Option<&str>)> = rows
            .iter()
            .filter(|r| r.figures.keys().any(|k| k.starts_with(prefix)))
            .filter_map(|r| {
                let c = r.conditions.as_ref()?;
                Some((
                    r.name.as_str(),
                    c.get(key)?.as_u64()?,
                    c.get("data").and_then(|d| d.as_str()),
                ))
            })
            .collect();
        let differs = values.iter().any(|(_, v, d)| {
            values
                .iter()
                .any(|(_, w, e)| v != w && (key != "test_examples" || d == e))
        });
        if differs {
            let figures = match prefix {
                "" => "every figure".to_string(),
                p if p.ends_with('/') => format!("{p}*"),
                p => p.to_string(),
            };
            let listed: Vec<String> = values.iter().map(|(n, v, _)| format!("{n}: {v}")).collect();
            out.push(format!(
                "{figures} measured with different {what} ({}); those figures are not comparable",
                listed.join(", ")
            ));
        }
    }
    let unknown: Vec<&str> = rows
        .iter()
        .filter(|r| r.conditions.is_none())
        .map(|r| r.name.as_str())
        .collect();
    if !unknown.is_empty() && unknown.len() < rows.len() {
        out.push(format!(
            "{} evaluated before gen recorded how (K, N, test examples); run `gen eval` again to compare like with like",
            unknown.join(", ")
        ));
    }
    out
}

/// Seconds of training: the span of each top-level event file (one per `gen train`
/// session, so the time between a stop and a resume is not counted), summed.
fn training_wall(dir: &Path) -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let is_events = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents"));
        if is_events {
            if let Ok(Some((a, b))) = gen_tensorboard::wall_time_span(&path) {
                *total.get_or_insert(0.0) += b - a;
            }
        }
    }
    total
}

/// The trained parameters the checkpoint holds (`None` for closed-form fits, whose
/// checkpoints keep their estimates under other names; their eval reports `parameters`).
fn parameters(dir: &Path) -> Option<usize> {
    let loaded = crate::run::checkpoint::load(dir).ok()?;
    let n = loaded
        .tensors
        .iter()
        .filter(|(k, _)| k.starts_with(PARAMS_PREFIX))
        .map(|(_, t)| t.elem_count())
        .sum();
    (n > 0).then_some(n)
}

fn minutes(s: f64) -> String {
    format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
}

/// Four significant digits; whole numbers as they are.
fn number(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e9 => format!("{x}"),
        Some(x) if x.abs() >= 1000.0 => format!("{x:.1}"),
        Some(x) => {
            let digits = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
            format!("{x:.digits$}")
        }
        None => v.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn print_aligned(header: &[String], cells: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(header[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &[String]| {
        r.iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(header));
    for r in cells {
        println!("{}", line(r));
    }
}

/// The newest `samples-epoch-NNN.png` of a run, or a fit's `samples.png`/`fit.png`.
fn last_samples(dir: &Path) -> Option<PathBuf> {
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("samples-epoch-") && n.ends_with(".png")
            })
        })
        .collect();
    pngs.sort();
    pngs.pop().or_else(|| {
        ["samples.png", "fit.png"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
    })
}

/// The runs' sample grids in one row, each under its name, on white.
fn write_grids(rows: &[Row], out: &Path) -> Result<()> {
    const PAD: usize = 12;
    const SCALE: usize = 2;
    let label_h = text::HEIGHT * SCALE + PAD;
    let mut grids = vec![];
    for r in rows {
        let Some(path) = last_samples(&r.dir) else {
            bail!(
                "{} has no picture of samples (samples-epoch-*.png) to show",
                r.dir.display()
            );
        };
        let img = image::open(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .to_luma8();
        grids.push((r.name.clone(), img));
    }
    let cell_w = grids
        .iter()
        .map(|(n, g)| (g.width() as usize).max(text::width(n, SCALE)))
        .max()
        .unwrap_or(0);
    let grid_h = grids
        .iter()
        .map(|(_, g)| g.height() as usize)
        .max()
        .unwrap_or(0);
    let w = PAD + grids.len() * (cell_w + PAD);
    let h = PAD + label_h + grid_h + PAD;
    let mut canvas = vec![255u8; w * h];
    for (i, (name, g)) in grids.iter().enumerate() {
        let x0 = PAD + i * (cell_w + PAD);
        text::draw(&mut canvas, w, (x0, PAD), name, SCALE, 0);
        for (x, y, p) in g.enumerate_pixels() {
            canvas[(PAD + label_h + y as usize) * w + x0 + x as usize] = p.0[0];
        }
    }
    let png = gen_tensorboard::encode_png(w, h, 1, &canvas)?;
    std::fs::write(out, png).with_context(|| format!("writing {}", out.display()))
}
