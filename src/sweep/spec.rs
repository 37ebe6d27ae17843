//! What a sweep is: a base config, grid axes (dotted keys to lists of values), seeds,
//! overrides for every job and `gen eval`'s arguments; read from a sweep file
//! (`sweeps/*.yaml`) and/or the command line, and expanded to its jobs.

use anyhow::{bail, Context, Result};
use serde_norway::Value;
use std::path::{Path, PathBuf};

/// The key every seed sets.
pub const SEED_KEY: &str = "train.seed";

/// The keys a sweep file may hold.
const FILE_KEYS: &[&str] = &["config", "name", "grid", "seeds", "set", "eval"];

/// One axis of the grid: a dotted config key and its values as YAML text (`1e-4`, `[400, 400]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
    /// Where the axis was given, for errors: `sweeps/x.yaml:7` or `--grid ...`.
    pub origin: String,
}

/// A sweep before it has a directory.
#[derive(Debug)]
pub struct Spec {
    pub name: String,
    /// The base config: its path as given and its text.
    pub config: PathBuf,
    pub config_text: String,
    /// `key=value` overrides for every job (`set:` and `--set`), in order.
    pub sets: Vec<String>,
    /// The grid's axes, seeds last (as `train.seed`).
    pub axes: Vec<Axis>,
    /// `gen eval`'s arguments after the run directory; `None`: no evaluation.
    pub eval: Option<Vec<String>>,
}

/// One job: its number, its directory's name and its overrides (`key=value`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub job: usize,
    pub name: String,
    pub overrides: Vec<String>,
}

/// What the command line adds to (or is instead of) a sweep file.
pub struct CommandLine<'a> {
    pub grid: &'a [String],
    pub seeds: &'a [u64],
    pub sets: &'a [String],
    pub no_eval: bool,
}

impl Spec {
    /// A sweep from `file` (a sweep file, or a config to sweep with `--grid`/`--seeds`)
    /// and the command line.
    pub fn read(file: &Path, cli: &CommandLine) -> Result<Spec> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let origin = file.display().to_string();
        let doc: Value = serde_norway::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{origin}: {}",
                gen_base::config::in_user_words(&e.to_string())
            )
        })?;
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sweep".into());
        let mut spec = if is_sweep_file(&doc) {
            from_file(file, &origin, &text, &doc, stem)?
        } else {
            Spec {
                name: stem,
                config: file.to_path_buf(),
                config_text: text,
                sets: vec![],
                axes: vec![],
                eval: Some(vec![]),
            }
        };
        // The command line's axes replace the file's for the same key.
        let mut flags: Vec<Axis> = vec![];
        for g in cli.grid {
            let axis = parse_grid_flag(g)?;
            if flags.iter().any(|a| a.key == axis.key) {
                bail!("{}: `{}` is given by --grid twice", axis.origin, axis.key);
            }
            flags.push(axis);
        }
        for axis in flags {
            match spec.axes.iter_mut().find(|a| a.key == axis.key) {
                Some(a) => *a = axis,
                None => spec.axes.push(axis),
            }
        }
        if !cli.seeds.is_empty() {
            spec.axes.retain(|a| a.key != SEED_KEY);
            spec.axes.push(seed_axis(cli.seeds, "--seeds".into()));
        }
        spec.sets.extend(cli.sets.iter().cloned());
        if cli.no_eval {
            spec.eval = None;
        }
        // Seeds last, so that a grid point's seeds are neighbours.
        spec.axes.sort_by_key(|a| a.key == SEED_KEY);
        let mut seen = std::collections::HashSet::new();
        for a in &spec.axes {
            if !seen.insert(a.key.as_str()) {
                bail!("{}: `{}` is on the grid twice", a.origin, a.key);
            }
        }
        Ok(spec)
    }

    /// The cartesian product of the axes, first axis slowest, numbered from 0.
    pub fn jobs(&self) -> Vec<Job> {
        let mut combos: Vec<Vec<(usize, usize)>> = vec![vec![]];
        for (a, axis) in self.axes.iter().enumerate() {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    (0..axis.values.len()).map(move |v| {
                        let mut c = c.clone();
                        c.push((a, v));
                        c
                    })
                })
                .collect();
        }
        let width = (combos.len().max(1) - 1).to_string().len().max(2);
        let keys: Vec<&str> = self.axes.iter().map(|a| a.key.as_str()).collect();
        let labels = short_labels(&keys);
        combos
            .into_iter()
            .enumerate()
            .map(|(job, combo)| {
                let overrides: Vec<String> = combo
                    .iter()
                    .map(|&(a, v)| format!("{}={}", self.axes[a].key, self.axes[a].values[v]))
                    .collect();
                let mut name = format!("{job:0width$}");
                for &(a, v) in &combo {
                    name.push('-');
                    name.push_str(&labels[a]);
                    name.push('=');
                    name.push_str(&name_part(&self.axes[a].values[v]));
                }
                Job {
                    job,
                    name,
                    overrides,
                }
            })
            .collect()
    }
}

/// A sweep file has a `config:` key; a model config has `model:`.
fn is_sweep_file(doc: &Value) -> bool {
    doc.get("config").is_some() && doc.get("model").is_none()
}

fn from_file(file: &Path, origin: &str, text: &str, doc: &Value, stem: String) -> Result<Spec> {
    let map = doc.as_mapping().expect("checked by is_sweep_file");
    for k in map.keys() {
        let k = k.as_str().unwrap_or_default();
        if !FILE_KEYS.contains(&k) {
            let hint = match gen_base::config::closest(k, FILE_KEYS) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("a sweep file holds {}", FILE_KEYS.join(", ")),
            };
            bail!("{}: unknown key `{k}`; {hint}", at(origin, text, k));
        }
    }
    let config_rel = doc["config"].as_str().with_context(|| {
        format!(
            "{}: `config` is the path of a config file",
            at(origin, text, "config")
        )
    })?;
    // Relative to the sweep file, so that sweeps/ and configs/ travel together.
    let config = file.parent().unwrap_or(Path::new("")).join(config_rel);
    let config = normalize(&config);
    let config_text = std::fs::read_to_string(&config).with_context(|| {
        format!(
            "{}: cannot read the config {} (a path relative to the sweep file)",
            at(origin, text, "config"),
            config.display()
        )
    })?;
    let name = match doc.get("name") {
        None => stem,
        Some(v) => v
            .as_str()
            .filter(|s| !s.is_empty() && file_safe(s) == *s)
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "{}: `name` is a word for the sweep's directory (letters, digits, - _ .)",
                    at(origin, text, "name")
                )
            })?,
    };
    let mut axes = vec![];
    match doc.get("grid") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                let key = k.as_str().map(str::to_string).unwrap_or_else(|| flow(k));
                let where_ = at(origin, text, &key);
                let Value::Sequence(values) = v else {
                    bail!(
                        "{where_}: grid `{key}`: expected a list of values, written [a, b], got {}",
                        flow(v)
                    );
                };
                if values.is_empty() {
                    bail!("{where_}: grid `{key}` is an empty list, so the sweep would have no jobs; give it at least one value");
                }
                check_key(&key, &where_)?;
                axes.push(Axis {
                    key,
                    values: values.iter().map(flow).collect(),
                    origin: where_,
                });
            }
        }
        Some(v) => bail!(
            "{}: `grid` maps config keys to lists (model.latent: [2, 10]), got {}",
            at(origin, text, "grid"),
            flow(v)
        ),
    }
    match doc.get("seeds") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(s)) if !s.is_empty() => {
            let seeds: Option<Vec<u64>> = s.iter().map(Value::as_u64).collect();
            let seeds = seeds.with_context(|| {
                format!(
                    "{}: `seeds` are whole numbers >= 0, e.g. [0, 1, 2]",
                    at(origin, text, "seeds")
                )
            })?;
            axes.push(seed_axis(&seeds, at(origin, text, "seeds")));
        }
        Some(v) => bail!(
            "{}: `seeds` is a non-empty list of whole numbers, e.g. [0, 1, 2], got {}",
            at(origin, text, "seeds"),
            flow(v)
        ),
    }
    let mut sets = vec![];
    match doc.get("set") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                sets.push(format!(
                    "{}={}",
                    k.as_str().map(str::to_string).unwrap_or_else(|| flow(k)),
                    flow(v)
                ));
            }
        }
        Some(v) => bail!(
            "{}: `set` maps config keys to values for every job (data.train_subset: 2000), got {}",
            at(origin, text, "set"),
            flow(v)
        ),
    }
    let eval = match doc.get("eval") {
        None | Some(Value::Null) => Some(vec![]),
        Some(Value::Bool(false)) => None,
        Some(Value::Mapping(m)) => {
            let mut args = vec![];
            for (k, v) in m {
                let k = k.as_str().unwrap_or_default();
                args.push(format!("--{}", k.replace('_', "-")));
                match v {
                    Value::Bool(true) => {}
                    v => args.push(flow(v)),
                }
            }
            Some(args)
        }
        Some(v) => bail!(
            "{}: `eval` holds gen eval's options (importance_samples: 100, quality_samples: 0) or false, got {}",
            at(origin, text, "eval"),
            flow(v)
        ),
    };
    Ok(Spec {
        name,
        config,
        config_text,
        sets,
        axes,
        eval,
    })
}

fn seed_axis(seeds: &[u64], origin: String) -> Axis {
    Axis {
        key: SEED_KEY.into(),
        values: seeds.iter().map(|s| s.to_string()).collect(),
        origin,
    }
}

/// `--grid model.d_lr=1e-4,2e-4` (commas inside brackets belong to a value:
/// `model.hidden=[400,400],[200]`).
pub fn parse_grid_flag(flag: &str) -> Result<Axis> {
    let origin = format!("--grid {flag}");
    let Some((key, values)) = flag.split_once('=') else {
        bail!("{origin}: expected KEY=V1,V2,..., e.g. --grid train.optimizer.lr=1e-3,3e-4");
    };
    let key = key.trim().to_string();
    check_key(&key, &origin)?;
    let values = split_top_level(values);
    if values.iter().all(|v| v.is_empty()) {
        bail!("{origin}: no values; write --grid {key}=V1,V2");
    }
    if let Some(i) = values.iter().position(|v| v.is_empty()) {
        bail!("{origin}: value {} is empty", i + 1);
    }
    Ok(Axis {
        key,
        values,
        origin,
    })
}

fn check_key(key: &str, origin: &str) -> Result<()> {
    if key.is_empty() || key.split('.').any(str::is_empty) {
        bail!("{origin}: `{key}` is not a dotted config key (e.g. model.latent)");
    }
    Ok(())
}

/// Splits at commas outside brackets and braces.
fn split_top_level(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (vec![], String::new(), 0i32);
    for c in s.chars() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out
}

/// A YAML value on one line, as `--set` reads it back: `0.0001`, `[400, 400]`, `{a: 1}`.
pub fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(s) => format!("[{}]", s.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Mapping(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", flow(k), flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Tagged(t) => flow(&t.value),
    }
}

/// Grid keys as jobs' names and `gen compare`'s rows show them: the key's last part
/// (`d_lr`), or the whole key where two keys share a last part.
pub fn short_labels(keys: &[&str]) -> Vec<String> {
    let last = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
    keys.iter()
        .map(|k| {
            let l = last(k);
            match keys.iter().filter(|j| last(j) == l).count() {
                1 => l,
                _ => k.to_string(),
            }
        })
        .collect()
}

/// A value as a directory name: a mapping by its values (`{kind: vamp, components: 500}`
/// -> `vamp_500`), anything else as written, made file-safe.
fn name_part(value: &str) -> String {
    match serde_norway::from_str::<Value>(value) {
        Ok(Value::Mapping(m)) => file_safe(&m.values().map(flow).collect::<Vec<_>>().join("_")),
        _ => file_safe(value),
    }
}

/// Letters, digits and `. - _ + =` kept; anything else (`/`, spaces, brackets) becomes `_`.
pub fn file_safe(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '=');
        let c = if keep { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_matches('_').to_string()
}

/// `origin:line` of the first line that gives `key:`, else the origin alone.
fn at(origin: &str, text: &str, key: &str) -> String {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let t = t.trim_start_matches(['"', '\'']);
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start_matches(['"', '\'']).starts_with(':') {
                return format!("{origin}:{}", i + 1);
            }
        }
    }
    origin.to_string()
}

/// `sweeps/../configs/x.yaml` -> `configs/x.yaml`.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir
                if out
                    .components()
                    .next_back()
                    .is_some_and(|l| matches!(l, std::path::Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(axes: &[(&str, &[&str])]) -> Spec {
        Spec {
            name: "s".into(),
            config: "c.yaml".into(),
            config_text: String::new(),
            sets: vec![],
            axes: axes
                .iter()
                .map(|(k, v)| Axis {
                    key: k.to_string(),
                    values: v.iter().map(|s| s.to_string()).collect(),
                    origin: String::new(),
                })
                .collect(),
            eval: None,
        }
    }

    #[test]
    fn jobs_are_the_cartesian_product_first_axis_slowest() {
        let s = spec(&[
            ("model.latent", &["2", "3"]),
            ("train.optimizer.lr", &["1e-3", "2e-3"]),
            (SEED_KEY, &["0", "1"]),
        ]);
        let jobs = s.jobs();
        assert_eq!(jobs.len(), 8);
        assert_eq!(
            jobs[0].overrides,
            ["model.latent=2", "train.optimizer.lr=1e-3", "train.seed=0"]
        );
        assert_eq!(
            jobs[1].overrides,
            ["model.latent=2", "train.optimizer.lr=1e-3", "train.seed=1"]
        );
        assert_eq!(
            jobs[7].overrides,
            ["model.latent=3", "train.optimizer.lr=2e-3", "train.seed=1"]
        );
        assert_eq!(jobs[5].name, "05-latent=3-lr=1e-3-seed=1");
        // No axes: one job, the config as it is.
        assert_eq!(
            spec(&[]).jobs(),
            vec![Job {
                job: 0,
                name: "00".into(),
                overrides: vec![]
            }]
        );
    }

    #[test]
    fn shared_last_parts_keep_the_whole_key() {
        let s = spec(&[("model.lr", &["1"]), ("train.optimizer.lr", &["2"])]);
        assert_eq!(s.jobs()[0].name, "00-model.lr=1-train.optimizer.lr=2");
    }

    #[test]
    fn grid_flags_split_outside_brackets() {
        let a = parse_grid_flag("model.hidden=[400,400],[200]").unwrap();
        assert_eq!(a.values, ["[400,400]", "[200]"]);
        assert!(parse_grid_flag("model.latent").is_err());
        assert!(parse_grid_flag("model.latent=")
            .unwrap_err()
            .to_string()
            .contains("no values"));
        assert!(parse_grid_flag("model.latent=2,,3")
            .unwrap_err()
            .to_string()
            .contains("value 2 is empty"));
    }

    #[test]
    fn mappings_are_named_by_their_values() {
        assert_eq!(name_part("{kind: vamp, components: 500}"), "vamp_500");
        assert_eq!(name_part("[400, 400]"), "400_400");
        assert_eq!(name_part("1e-4"), "1e-4");
    }

    #[test]
    fn names_are_file_safe() {
        assert_eq!(file_safe("[400, 400]"), "400_400");
        assert_eq!(file_safe("a/b"), "a_b");
        assert_eq!(file_safe("1e-4"), "1e-4");
    }

    #[test]
    fn flow_writes_one_line_yaml() {
        let v: Value = serde_norway::from_str("[400, 400]").unwrap();
        assert_eq!(flow(&v), "[400, 400]");
        let v: Value = serde_norway::from_str("{kind: vamp, components: 10}").unwrap();
        assert_eq!(flow(&v), "{kind: vamp, components: 10}");
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            at(
                "f.yaml",
                "config: a\ngrid:\n  model.latent: []\n",
                "model.latent"
            ),
            "f.yaml:3"
        );
    }

    #[test]
    fn paths_normalize() {
        assert_eq!(
            normalize(Path::new("sweeps/../configs/x.yaml")),
            PathBuf::from("configs/x.yaml")
        );
        assert_eq!(
            normalize(Path::new("../configs/x.yaml")),
            PathBuf::from("../configs/x.yaml")
        );
    }
}
