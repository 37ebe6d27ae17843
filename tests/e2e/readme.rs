//! The README and the book in docs/ against the code they document: the config reference
//! (docs/config.md) lists exactly the keys the loader accepts, with the defaults a run
//! resolves; the TensorBoard table (docs/runs.md) names every tag a run writes; the "Using
//! the results from Python" snippet runs on a real run; the own-data examples
//! (docs/data.md) train; and every link of every page points at something that exists.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use support::*;

/// A page of the README or the book (`README.md`, `docs/config.md`, ...), after a newline
/// so that a heading on its first line is found as any other.
fn page(path: &str) -> String {
    let text = std::fs::read_to_string(repo().join(path))
        .unwrap_or_else(|e| panic!("{path} does not read: {e}"));
    format!("\n{text}")
}

/// Every page: the README and the book's Markdown files.
fn pages() -> Vec<String> {
    let mut book: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ lists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    book.sort();
    std::iter::once("README.md".to_string())
        .chain(book)
        .collect()
}

/// The text under the first line starting with `heading`, up to the next heading of the
/// same or a higher level (headings inside code blocks do not count).
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|&c| c == '#').count();
    let at = text
        .find(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("no heading `{heading}` on the page"));
    let body = &text[at + 1..];
    let body = &body[body.find('\n').map_or(body.len(), |i| i + 1)..];
    let (mut pos, mut code) = (0, false);
    for line in body.split_inclusive('\n') {
        if line.starts_with("```") {
            code = !code;
        } else if !code && line.starts_with('#') {
            let l = line.chars().take_while(|&c| c == '#').count();
            if l <= level && line[l..].starts_with(' ') {
                return &body[..pos];
            }
        }
        pos += line.len();
    }
    body
}

/// Every table row of `text` below a header row, as trimmed cells (`\|` is a literal bar).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let is_header =
            line.starts_with('|') && lines.peek().is_some_and(|next| next.starts_with("|---"));
        if !is_header {
            continue;
        }
        lines.next();
        while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
            let row = row.replace("\\|", "\u{1}");
            let cells: Vec<String> = row
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace('\u{1}', "|"))
                .collect();
            rows.push(cells);
        }
    }
    rows
}

/// The `code spans` of a cell, in order.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// What a table of the README names: the code spans of each row's first cell (config keys,
/// TensorBoard tags).
fn documented_names(text: &str) -> BTreeSet<String> {
    table_rows(text)
        .iter()
        .flat_map(|r| code_spans(&r[0]))
        .collect()
}

/// Every family the binary registers.
fn families() -> Vec<&'static str> {
    gen::registry::names()
}

/// A config with as little in it as a family needs, on data it builds quickly for.
fn minimal(family: &str) -> String {
    let data = if family == "em" {
        "data:\n  name: ring\n  train_size: 400\n  test_size: 200\n"
    } else if family.starts_with("text") {
        "data:\n  name: tang-couplets\n"
    } else {
        "data:\n  name: mnist\n"
    };
    format!("model:\n  family: {family}\n{data}")
}

/// The keys the loader accepts at `path` (e.g. `model`, `train.optimizer`): what its error
/// for an unknown key there lists.
fn accepted_keys(family: &str, path: &str, dir: &Path) -> BTreeSet<String> {
    let mut doc: gen_core::yaml::Value = gen_core::yaml::from_str(&minimal(family)).unwrap();
    let mut at = &mut doc;
    for part in path.split('.') {
        let map = at.as_mapping_mut().unwrap();
        if !map.contains_key(part) {
            map.insert(part.into(), gen_core::yaml::Mapping::new().into());
        }
        at = map.get_mut(part).unwrap();
    }
    at.as_mapping_mut()
        .unwrap()
        .insert("zz_not_a_key".into(), 1.into());
    let file = dir.join(format!("{family}-{path}.yaml"));
    std::fs::write(&file, gen_core::yaml::to_string(&doc).unwrap()).unwrap();
    let out = gen(&[
        "train",
        file.to_str().unwrap(),
        "--runs",
        dir.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "an unknown key at {path} was accepted"
    );
    let listed = err
        .split("unknown field `zz_not_a_key`, expected ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of keys in: {err}"));
    let listed = listed.split(';').next().unwrap().lines().next().unwrap();
    code_spans(listed).into_iter().collect()
}

/// Compares the keys a section of the reference documents with the ones the loader accepts
/// at `path`, level by level: the top keys (`prior` for `prior.kind`), then each dotted
/// group's keys (`model.prior`, `train.optimizer`).
fn compare_keys(
    family: &str,
    path: &str,
    documented: &BTreeSet<String>,
    dir: &Path,
    problems: &mut Vec<String>,
) {
    let mut levels = vec![(
        path.to_string(),
        documented
            .iter()
            .map(|k| k.split('.').next().unwrap().to_string())
            .collect::<BTreeSet<_>>(),
    )];
    let groups: BTreeSet<&str> = documented
        .iter()
        .filter_map(|k| k.split_once('.').map(|(group, _)| group))
        .collect();
    for group in groups {
        let prefix = format!("{group}.");
        let keys = documented
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect();
        levels.push((format!("{path}.{group}"), keys));
    }
    for (at, documented) in levels {
        let accepted = accepted_keys(family, &at, dir);
        let missing: Vec<_> = accepted.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&accepted).collect();
        if !missing.is_empty() || !extra.is_empty() {
            problems.push(format!(
                "{at} ({family}): undocumented {missing:?}, documented but not accepted {extra:?}"
            ));
        }
    }
}

#[test]
fn config_reference_lists_exactly_the_keys_the_loader_accepts() {
    let reference = page("docs/config.md");
    let dir = tempfile::tempdir().unwrap();
    let mut problems = vec![];
    for family in families() {
        let heading = format!("## `model` (family `{family}`)");
        let keys = documented_names(section(&reference, &heading));
        compare_keys(family, "model", &keys, dir.path(), &mut problems);
    }
    for name in ["data", "train", "checkpoint", "log"] {
        let keys = documented_names(section(&reference, &format!("## `{name}`")));
        compare_keys("vae", name, &keys, dir.path(), &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `a.b.c` -> value for every leaf of a resolved config section.
fn flatten(
    prefix: &str,
    v: &gen_core::yaml::Value,
    out: &mut Vec<(String, gen_core::yaml::Value)>,
) {
    match v.as_mapping() {
        Some(m) => {
            for (k, v) in m {
                let k = k.as_str().unwrap();
                let key = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        None => out.push((prefix.to_string(), v.clone())),
    }
}

/// Whether a README default (YAML text) is the resolved value: numbers to 1e-12 relative.
fn same_value(doc: &gen_core::yaml::Value, resolved: &gen_core::yaml::Value) -> bool {
    use gen_core::yaml::Value;
    match (doc, resolved) {
        (Value::Sequence(a), Value::Sequence(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        (a, b) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * a.abs().max(b.abs()),
            _ => a == b,
        },
    }
}

#[test]
fn config_reference_defaults_are_what_a_run_resolves() {
    let reference = page("docs/config.md");
    let dir = tempfile::tempdir().unwrap();
    // What the minimal runs set themselves, so not defaults.
    let set_here = [
        "epochs",
        "train_subset",
        "test_subset",
        "train_size",
        "test_size",
    ];
    let mut problems = vec![];
    let mut checked = 0;
    for family in families() {
        let cfg = dir.path().join(format!("{family}.yaml"));
        std::fs::write(&cfg, minimal(family)).unwrap();
        let run = dir.path().join(family);
        let mut args = vec![
            "train",
            cfg.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
        ];
        if family != "em" {
            args.extend([
                "--set",
                "train.epochs=1",
                "--set",
                "data.train_subset=256",
                "--set",
                "data.test_subset=256",
            ]);
        }
        ok(&gen(&args));
        let resolved: gen_core::yaml::Value =
            gen_core::yaml::from_str(&std::fs::read_to_string(run.join("config.yaml")).unwrap())
                .unwrap();
        let mut leaves = vec![];
        flatten("", &resolved, &mut leaves);
        let mut sections = vec![(format!("## `model` (family `{family}`)"), "model")];
        if family == "vae" {
            for s in ["data", "train", "checkpoint", "log"] {
                sections.push((format!("## `{s}`"), s));
            }
        }
        for (heading, prefix) in sections {
            for row in table_rows(section(&reference, &heading)) {
                let keys = code_spans(&row[0]);
                let defaults = code_spans(&row[1]);
                if keys.len() != defaults.len() {
                    continue; // prose defaults: "by the data", "all", "—"
                }
                for (key, default) in keys.iter().zip(&defaults) {
                    if set_here.contains(&key.as_str()) || default.contains("optimizer.") {
                        continue;
                    }
                    let full = format!("{prefix}.{key}");
                    let Some((_, value)) = leaves.iter().find(|(k, _)| *k == full) else {
                        continue; // resolved only when it applies (e.g. `local_lr`)
                    };
                    let doc: gen_core::yaml::Value = gen_core::yaml::from_str(default)
                        .unwrap_or_else(|e| panic!("{full}: README default `{default}`: {e}"));
                    checked += 1;
                    if !same_value(&doc, value) {
                        problems.push(format!(
                            "{full} ({family}): README says `{default}`, a run resolves {value:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 60, "only {checked} defaults compared");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Whether `tag` is one the README's table names: exactly, by a `prefix/...`, or by a
/// `<placeholder>` standing for one path segment or more.
fn documented_tag(entries: &[String], tag: &str) -> bool {
    entries.iter().any(|e| {
        if let Some(prefix) = e.strip_suffix("...") {
            return tag.starts_with(prefix);
        }
        match (e.find('<'), e.find('>')) {
            (Some(a), Some(b)) => {
                tag.len() > a + (e.len() - b - 1)
                    && tag.starts_with(&e[..a])
                    && tag.ends_with(&e[b + 1..])
            }
            _ => e == tag,
        }
    })
}

/// A VAE run of configs/vae.yaml on a subset, the way the README's Python section makes
/// one, in `dir` (with configs/ beside it, as in a clone).
fn small_vae_run(dir: &Path, commands: &[Vec<String>]) {
    std::os::unix::fs::symlink(repo().join("configs"), dir.join("configs")).unwrap();
    let extra: &[(&str, &[&str])] = &[
        (
            "train",
            &[
                "--set",
                "train.epochs=1",
                "--set",
                "data.train_subset=2000",
                "--set",
                "data.test_subset=500",
            ],
        ),
        (
            "eval",
            &["--importance-samples", "10", "--quality-samples", "0"],
        ),
    ];
    for cmd in commands {
        assert_eq!(cmd[0], "gen", "{cmd:?}");
        let mut args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
        if let Some((_, more)) = extra.iter().find(|(c, _)| *c == args[0]) {
            args.extend_from_slice(more);
        }
        ok(&gen_in(dir, &args));
    }
}

/// The README's first commands, run exactly as written (from a directory with configs/
/// beside it, as in a clone), take under a minute on one core and give what the text
/// says a user should see.
#[test]
fn the_quick_starts_first_path_runs_as_written_in_under_a_minute() {
    let readme = page("README.md");
    let first = &code_blocks(section(&readme, "## Quick start"), "sh")[0];
    let commands: Vec<Vec<String>> = first
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(commands.len(), 3, "{first}");
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("configs"), tmp.path().join("configs")).unwrap();
    let started = std::time::Instant::now();
    let mut outputs = vec![];
    for cmd in &commands {
        assert_eq!(cmd[0], "gen", "{cmd:?}");
        let args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
        let o = gen_in(tmp.path(), &args);
        ok(&o);
        outputs.push(stdout(&o));
    }
    let wall = started.elapsed().as_secs_f64();
    assert!(wall < 60.0, "the first path took {wall:.1} s");
    let run = tmp.path().join("runs/first");
    let epochs = outputs[0]
        .lines()
        .filter(|l| l.starts_with("epoch "))
        .count();
    assert_eq!(epochs, 2, "{}", outputs[0]);
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let m = &eval["metrics"];
    let (loss, nll) = (
        m["loss/test"].as_f64().unwrap(),
        m["nll/importance"].as_f64().unwrap(),
    );
    // "about 160" and "about 152": within 10%, and the bound below the loss.
    assert!(
        (loss - 160.0).abs() < 16.0 && nll < loss && (nll - 152.0).abs() < 15.0,
        "{m}"
    );
    assert!(m["quality/fd"].as_f64().unwrap() < 1500.0, "{m}");
    assert_eq!(m["codes/active_units"], 20.0);
    let img = image::open(run.join("samples.png")).unwrap();
    assert!(img.width() >= 8 * 28 && img.height() >= 8 * 28);
}

/// The fenced blocks of `lang` in `text`.
fn code_blocks(text: &str, lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    text.split(&fence)
        .skip(1)
        .map(|b| b.split("```").next().unwrap().to_string())
        .collect()
}

#[test]
fn python_snippet_reads_a_real_run_and_the_tag_table_covers_it() {
    let text = page("docs/runs.md");
    let python_section = section(&text, "## Using the results from Python");
    let shell = code_blocks(python_section, "sh");
    assert_eq!(shell.len(), 1, "one sh block of gen commands");
    let commands: Vec<Vec<String>> = shell[0]
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    let snippet = code_blocks(python_section, "python");
    assert_eq!(snippet.len(), 1, "one python block");

    let dir = tempfile::tempdir().unwrap();
    small_vae_run(dir.path(), &commands);
    let run = dir.path().join("runs/my-vae");

    let python = python_with(&["safetensors", "numpy", "tensorboard"]);
    let out = Command::new(&python)
        .args(["-c", &snippet[0]])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the README's snippet failed:\n{printed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // configs/vae.yaml is 784-400-20; dense weights are (inputs, outputs).
    for line in [
        "encoder.0.weight (784, 400) float32",
        "encoder.mean.weight (400, 20) float32",
        "decoder.0.weight (20, 400) float32",
        "decoder.1.weight (400, 784) float32",
        "family vae epoch 1 step 16",
        "codes (500, 20) images (500, 28, 28) samples (1000, 784)",
    ] {
        assert!(printed.contains(line), "no `{line}` in:\n{printed}");
    }
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap();
    let loss = eval["metrics"]["loss/test"].as_f64().unwrap();
    let shown: f64 = printed
        .lines()
        .find_map(|l| l.strip_prefix("loss/test "))
        .expect("the snippet prints loss/test")
        .parse()
        .unwrap();
    assert_eq!(shown, loss);

    // Every tag of the run is in "What TensorBoard shows".
    let entries: Vec<String> = documented_names(section(&text, "## What TensorBoard shows"))
        .into_iter()
        .collect();
    let view = tensorboard_view(&run);
    let mut tags: Vec<String> = vec![];
    for kind in ["scalars", "images", "histograms"] {
        tags.extend(view[kind].as_object().unwrap().keys().cloned());
    }
    tags.extend(
        view["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .filter(|t| !t.starts_with("_hparams_")),
    );
    assert!(tags.len() > 10, "{tags:?}");
    let undocumented: Vec<&String> = tags
        .iter()
        .filter(|t| !documented_tag(&entries, t))
        .collect();
    assert!(
        undocumented.is_empty(),
        "tags the README's table does not name: {undocumented:?}"
    );
}

/// A float32 `.npy` of `rows` x `cols` (gen-data's own encoder).
fn write_npy(path: &Path, rows: usize, cols: usize, value: impl Fn(usize, usize) -> f32) {
    let data: Vec<f32> = (0..rows * cols)
        .map(|i| value(i / cols, i % cols))
        .collect();
    std::fs::write(path, gen_data::npy::encode_f32(rows, cols, &data)).unwrap();
}

/// IDX image and label files of `n` `side x side` images (a bar whose place is the label).
fn write_idx(dir: &Path, prefix: &str, n: usize, side: usize) {
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let mut pixels = Vec::with_capacity(n * side * side);
    for (i, &label) in labels.iter().enumerate() {
        for r in 0..side {
            for c in 0..side {
                let on = c * 10 / side == label as usize && r > side / 8;
                pixels.push(if on {
                    200 + (r % 50) as u8
                } else {
                    (i * 7 + r * c) as u8 % 20
                });
            }
        }
    }
    let (n, side) = (n as u32, side as u32);
    let images = idx(&[n, side, side], &pixels);
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
    std::fs::write(
        dir.join(format!("{prefix}-labels-idx1-ubyte")),
        idx(&[n], &labels),
    )
    .unwrap();
}

#[test]
fn own_data_examples_train_on_files_of_the_documented_shapes() {
    let text = page("docs/data.md");
    let configs = code_blocks(section(&text, "# Your own data"), "yaml");
    assert_eq!(configs.len(), 5, "the five example configs");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("my-data");
    std::fs::create_dir_all(data.join("images")).unwrap();
    // Three Gaussian blobs in 3-D; a regression y = 3 rooms + area / 10 - age / 5 + noise.
    let blob = |r: usize, c: usize| {
        let centre = [0.0, 4.0, -4.0][r % 3];
        centre + ((r * 31 + c * 17) % 23) as f32 / 23.0 - 0.5
    };
    write_npy(&data.join("train.npy"), 600, 3, blob);
    write_npy(&data.join("test.npy"), 150, 3, blob);
    let mut csv = String::from("# three blobs\nx,y,z\n");
    for r in 0..600 {
        csv += &format!("{},{},{}\n", blob(r, 0), blob(r, 1), blob(r, 2));
    }
    std::fs::write(data.join("train.csv"), csv).unwrap();
    let mut houses = String::from("rooms,area,age,price\n");
    for r in 0..200 {
        let (rooms, area, age) = (1 + r % 6, 40 + (r * 13) % 160, (r * 7) % 80);
        let noise = ((r * 37) % 11) as f64 / 10.0 - 0.5;
        let price = 3.0 * rooms as f64 + area as f64 / 10.0 - age as f64 / 5.0 + noise;
        houses += &format!("{rooms},{area},{age},{price}\n");
    }
    std::fs::write(data.join("houses.csv"), houses).unwrap();
    // Lines of text: made-up names.
    let names: String = (0..300)
        .map(|r| {
            format!(
                "{}{}{}\n",
                ["ka", "ri", "mo", "ten"][r % 4],
                ["la", "so", "n"][r % 3],
                ["", "a", "ro"][(r / 3) % 3]
            )
        })
        .collect();
    std::fs::write(data.join("lines.txt"), names).unwrap();
    // 16x16 images: a square size other than MNIST's, as the text allows for MLPs.
    write_idx(&data.join("images"), "train", 300, 16);
    write_idx(&data.join("images"), "t10k", 100, 16);

    for cfg in &configs {
        let name = cfg
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .and_then(|l| l.split(':').next())
            .expect("each example starts with `# NAME.yaml: ...`");
        std::fs::write(dir.path().join(name), cfg).unwrap();
        let family_em = cfg.contains("family: em");
        let mut args = vec!["train", name, "--run-dir"];
        let run = format!("runs/{name}");
        args.push(&run);
        if !family_em {
            args.extend(["--set", "train.epochs=2"]);
        }
        let out = gen_in(dir.path(), &args);
        ok(&out);
        let run = dir.path().join(&run);
        assert!(run.join("checkpoint.safetensors").is_file(), "{name}");
        let eval = gen_in(
            dir.path(),
            &[
                "eval",
                run.to_str().unwrap(),
                "--importance-samples",
                "10",
                "--quality-samples",
                "0",
            ],
        );
        ok(&eval);
    }
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings (headings inside code blocks do not count).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut code = false;
    let mut anchors = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            code = !code;
        } else if !code && line.starts_with('#') {
            anchors.insert(slug(line.trim_start_matches('#').trim()));
        }
    }
    anchors
}

#[test]
fn links_point_at_headings_and_files_that_exist() {
    let mut broken = vec![];
    for path in pages() {
        let text = page(&path);
        let here = Path::new(&path).parent().unwrap_or(Path::new(""));
        for part in text.split("](").skip(1) {
            let target = &part[..part.find(')').unwrap()];
            if target.starts_with("http") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let file = if file.is_empty() {
                path.clone()
            } else {
                here.join(file).to_string_lossy().into_owned()
            };
            let ok = repo().join(&file).exists()
                && (anchor.is_empty()
                    || !file.ends_with(".md")
                    || anchors(&page(&file)).contains(anchor));
            if !ok {
                broken.push(format!("{path}: {target}"));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:?}");
}
