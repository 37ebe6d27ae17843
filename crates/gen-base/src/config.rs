//! Reading YAML config sections with errors a user can act on.
//!
//! Every section (`model`, `data`, `train`...) is deserialized straight from the user's
//! text, so an error carries the file, line and column, the dotted path of the key, and
//! for unknown keys or names the closest known spelling.

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer;
use std::fmt;
use std::marker::PhantomData;

/// The text of a config and where it came from.
#[derive(Clone, Debug)]
pub struct ConfigSource {
    /// A file name for messages, e.g. `configs/vae.yaml`.
    pub origin: String,
    /// The YAML text, with `--set` overrides applied.
    pub text: String,
    /// The user's original text, for locating keys when overrides rewrote `text`.
    pub original: String,
    /// `--set` overrides as (dotted path, raw value).
    pub overrides: Vec<(String, String)>,
    /// Key paths valid beside the ones the text holds (the defaults' keys), for suggesting
    /// the right section when a key is given in the wrong one.
    pub known_paths: Vec<String>,
}

impl ConfigSource {
    pub fn new(origin: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        ConfigSource {
            origin: origin.into(),
            original: text.clone(),
            text,
            overrides: vec![],
            known_paths: vec![],
        }
    }

    /// Adds key paths valid beside the text's own (see [`ConfigSource::known_paths`]).
    pub fn with_known_paths(mut self, paths: impl IntoIterator<Item = String>) -> Self {
        self.known_paths.extend(paths);
        self
    }

    /// Every dotted key path of the user's text and of [`ConfigSource::known_paths`].
    pub fn key_paths(&self) -> Vec<String> {
        let mut paths = self.known_paths.clone();
        paths.extend(self.given_paths());
        paths.sort();
        paths.dedup();
        paths
    }

    /// The dotted key paths the user's own text holds (no `--set`, no defaults).
    pub fn given_paths(&self) -> Vec<String> {
        serde_norway::from_str::<serde_norway::Value>(&self.original)
            .map(|doc| key_paths(&doc))
            .unwrap_or_default()
    }

    /// The `--set` (path, raw value) an error at `path` comes from: the one setting that
    /// key, a section above it, or a key below it (`--set optimizer.lr=..` fails at
    /// `optimizer`); the last one given wins.
    fn override_for(&self, path: &str) -> Option<&(String, String)> {
        self.overrides.iter().rev().find(|(p, _)| {
            path == p
                || path.starts_with(&format!("{p}."))
                || (!path.is_empty() && p.starts_with(&format!("{path}.")))
        })
    }

    /// Applies `key.path=value` overrides (the value is parsed as YAML).
    pub fn with_overrides(mut self, sets: &[String]) -> Result<Self, ConfigError> {
        if sets.is_empty() {
            return Ok(self);
        }
        let mut doc: serde_norway::Value = if self.text.trim().is_empty() {
            serde_norway::Value::Mapping(Default::default())
        } else {
            serde_norway::from_str(&self.text).map_err(|e| self.serde_error(e, String::new()))?
        };
        for s in sets {
            let Some((path, raw)) = s.split_once('=') else {
                return Err(ConfigError::bare(format!(
                    "--set {s}: expected KEY.PATH=VALUE, e.g. --set train.epochs=5"
                )));
            };
            let path = path.trim();
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Err(ConfigError::bare(format!(
                    "--set {s}: `{path}` is not a dotted key path"
                )));
            }
            let value: serde_norway::Value =
                serde_norway::from_str(raw).unwrap_or(serde_norway::Value::String(raw.to_string()));
            set_path(&mut doc, path, value)
                .map_err(|m| ConfigError::bare(format!("--set {s}: {m}")))?;
            self.overrides.push((path.to_string(), raw.to_string()));
        }
        self.text = serde_norway::to_string(&doc).map_err(|e| ConfigError::bare(e.to_string()))?;
        Ok(self)
    }

    /// Deserializes the top-level section `name` (which must be present).
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        self.optional_section(name)?.ok_or_else(|| {
            ConfigError::at(
                self,
                name.to_string(),
                format!("missing section `{name}`"),
                None,
            )
        })
    }

    /// Deserializes the top-level section `name`, or `None` when it is absent.
    pub fn optional_section<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, ConfigError> {
        self.check_not_blank()?;
        let de = serde_norway::Deserializer::from_str(&self.text);
        let mut track = serde_path_to_error::Track::new();
        let result = Section::<T> {
            name,
            _t: PhantomData,
        }
        .deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
        result.map_err(|e| self.serde_error(e, track.path().to_string()))
    }

    /// Deserializes the whole document (e.g. to check the top-level keys).
    pub fn whole<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.check_not_blank()?;
        let de = serde_norway::Deserializer::from_str(&self.text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            self.serde_error(e.into_inner(), path)
        })
    }

    /// An empty or comment-only document is its own error, not a type error.
    fn check_not_blank(&self) -> Result<(), ConfigError> {
        let blank = self
            .text
            .lines()
            .map(str::trim)
            .all(|l| l.is_empty() || l.starts_with('#'));
        if blank {
            return Err(ConfigError::whole(
                self,
                "the config is empty; see configs/vae.yaml for a complete example",
            ));
        }
        Ok(())
    }

    fn serde_error(&self, e: serde_norway::Error, path: String) -> ConfigError {
        let mut msg = e.to_string();
        if let Some(i) = msg.find(" at line ") {
            msg.truncate(i);
        }
        // serde_norway prefixes nested errors with its own path: drop it, we print ours.
        if let Some((prefix, rest)) = msg.split_once(": ") {
            if !prefix.contains(' ') && path.starts_with(prefix) {
                msg = rest.to_string();
            }
        }
        let path = if path == "." { String::new() } else { path };
        let (path, mut hint) = explain_unknown(&msg, path);
        if msg.starts_with("unknown field") && hint.is_none() {
            // `--set optimizer.lr=..` fails at `optimizer`; the whole key says more.
            let given = match self.override_for(&path) {
                Some((p, _)) if p.len() > path.len() => p,
                _ => &path,
            };
            hint = suggest_path(given, &self.key_paths()).map(|p| format!("did you mean `{p}`?"));
        }
        let location = if self.overrides.is_empty() {
            e.location().map(|l| (l.line(), l.column()))
        } else {
            None
        };
        if let Some(tab) = location.and_then(|(line, _)| self.tab_on(line)) {
            return ConfigError {
                location: Some((tab, 1)),
                ..ConfigError::whole(
                    self,
                    &format!(
                        "line {tab} is indented with a tab; YAML indents with spaces only \
                         (replace the tab with spaces)"
                    ),
                )
            };
        }
        let msg = in_user_words(&msg);
        let mut err = ConfigError::at(self, path, msg, hint);
        if location.is_some() {
            err.location = location;
        }
        if err.message.starts_with("expected a list") {
            if let Some((key, raw)) = self.override_for(&err.path) {
                err.hint = Some(list_override_hint(key, raw));
            }
        }
        err
    }

    /// The line with a tab in its indentation at or just before `line` (the YAML parser
    /// reports a tab where the token after it starts).
    fn tab_on(&self, line: usize) -> Option<usize> {
        let lines: Vec<&str> = self.text.lines().collect();
        (line.saturating_sub(1)..=line)
            .rev()
            .filter(|&l| l >= 1 && l <= lines.len())
            .find(|&l| {
                let text = lines[l - 1];
                text[..text.len() - text.trim_start().len()].contains('\t')
            })
    }
}

/// Sets `doc[a][b][c] = value`, creating maps on the way.
fn set_path(
    doc: &mut serde_norway::Value,
    path: &str,
    value: serde_norway::Value,
) -> Result<(), String> {
    use serde_norway::Value;
    let mut cur = doc;
    let segs: Vec<&str> = path.split('.').collect();
    for (i, seg) in segs.iter().enumerate() {
        let Value::Mapping(map) = cur else {
            return Err(format!("`{}` is not a section", segs[..i].join(".")));
        };
        let key = Value::String(seg.to_string());
        if i + 1 == segs.len() {
            map.insert(key, value);
            return Ok(());
        }
        cur = map
            .entry(key)
            .or_insert_with(|| Value::Mapping(Default::default()));
    }
    Ok(())
}

/// For "unknown field `x`, expected one of `a`, `b`" (or variant): the full path of the
/// bad key and a "did you mean" hint.
fn explain_unknown(msg: &str, path: String) -> (String, Option<String>) {
    let kind = if msg.starts_with("unknown field") {
        "key"
    } else if msg.starts_with("unknown variant") {
        "name"
    } else {
        return (path, None);
    };
    let ticks: Vec<&str> = msg.split('`').skip(1).step_by(2).collect();
    let Some((bad, known)) = ticks.split_first() else {
        return (path, None);
    };
    let full = if kind == "name" || path.ends_with(bad) {
        path
    } else if path.is_empty() {
        bad.to_string()
    } else {
        format!("{path}.{bad}")
    };
    // With no near spelling, the message's own "expected one of" list is the hint.
    let hint = match closest(bad, known) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None if known.is_empty() => Some(format!("no {kind}s are allowed here")),
        None => None,
    };
    (full, hint)
}

/// The known spelling nearest to `bad`, if it is near enough to be a typo.
pub fn closest<'a>(bad: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::normalized_damerau_levenshtein(bad, k), *k))
        .filter(|(s, _)| *s >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// For a key that is unknown where it was given (`optimizer.lr` at the top, `model.lr`),
/// the valid path it most likely meant: one ending in the same keys (`train.optimizer.lr`),
/// the longest such ending first.
pub fn suggest_path(bad: &str, known: &[String]) -> Option<String> {
    let bad_segs: Vec<&str> = bad.split('.').collect();
    let shared = |k: &str| {
        k.split('.')
            .rev()
            .zip(bad_segs.iter().rev())
            .take_while(|(a, b)| a == *b)
            .count()
    };
    known
        .iter()
        .filter(|k| k.as_str() != bad)
        .map(|k| (shared(k), k))
        .filter(|(n, _)| *n >= 1)
        .max_by_key(|(n, k)| (*n, std::cmp::Reverse(k.len())))
        .map(|(_, k)| k.clone())
}

/// Every dotted key path in a YAML document (`train`, `train.optimizer`,
/// `train.optimizer.lr`).
pub fn key_paths(doc: &serde_norway::Value) -> Vec<String> {
    let mut out = vec![];
    collect_paths(doc, "", &mut out);
    out
}

fn collect_paths(value: &serde_norway::Value, prefix: &str, out: &mut Vec<String>) {
    let serde_norway::Value::Mapping(map) = value else {
        return;
    };
    for (k, v) in map {
        let Some(k) = k.as_str() else { continue };
        let path = if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        };
        collect_paths(v, &path, out);
        out.push(path);
    }
}

/// serde's type names and phrasing ("invalid type: integer `-1`, expected usize") in a
/// user's words ("expected a whole number >= 0, got -1").
pub fn in_user_words(msg: &str) -> String {
    let Some((got, expected)) = msg.split_once(", expected ") else {
        return msg.to_string();
    };
    let Some(got) = got
        .strip_prefix("invalid type: ")
        .or_else(|| got.strip_prefix("invalid value: "))
    else {
        return msg.to_string();
    };
    let expected = match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number >= 0",
        "isize" | "i64" | "i32" => "a whole number",
        "f64" | "f32" => "a number (e.g. 0.001 or 1e-3)",
        "a boolean" => "true or false",
        "a sequence" => "a list, written [a, b]",
        "a string" => "a name or text",
        e if e.starts_with("struct ") || e == "a map" => "a section (keys indented under it)",
        e => e,
    };
    let got = match got.split_once(' ') {
        Some(("integer" | "floating", rest)) => rest
            .trim_start_matches("point ")
            .trim_matches('`')
            .to_string(),
        Some(("string", s)) => format!("the text {s}"),
        _ if got == "sequence" => "a list".to_string(),
        _ if got == "map" => "a section".to_string(),
        _ if got == "unit value" => "nothing (an empty value)".to_string(),
        _ if got.starts_with("boolean") => got
            .trim_start_matches("boolean ")
            .trim_matches('`')
            .to_string(),
        _ => got.to_string(),
    };
    format!("expected {expected}, got {got}")
}

/// For `--set KEY=a,b` where a list was expected: the same `--set` written as a list,
/// quoted so that no shell expands the brackets.
fn list_override_hint(key: &str, raw: &str) -> String {
    let items: Vec<&str> = raw
        .trim_matches(['[', ']'])
        .split([',', ' '])
        .filter(|s| !s.is_empty())
        .collect();
    format!(
        "write --set '{key}=[{}]' (quoted, so that the shell leaves the brackets alone)",
        items.join(", ")
    )
}

/// Finds the line and column of a dotted key path in block-style YAML.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let mut found = None;
    let mut parent_indent: isize = -1;
    let mut start = 0;
    let lines: Vec<&str> = text.lines().collect();
    'segments: for seg in path.split('.') {
        if seg.is_empty() || seg.chars().all(|c| c.is_ascii_digit()) {
            break;
        }
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = (line.len() - trimmed.len()) as isize;
            if indent <= parent_indent {
                break 'segments;
            }
            let key = trimmed.trim_start_matches("- ");
            let key = key
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            if key == seg && trimmed.contains(':') {
                found = Some((i + 1, indent as usize + 1));
                parent_indent = indent;
                start = i + 1;
                continue 'segments;
            }
        }
        break;
    }
    found
}

struct Section<'a, T> {
    name: &'a str,
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Section<'_, T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Section<'_, T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a mapping of sections (model, data, train, ...)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut out = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.name {
                out = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// A config problem: where (file, line, column, key path), what, and a hint.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    pub origin: Option<String>,
    pub path: String,
    pub location: Option<(usize, usize)>,
    /// The `--set` that provided the value, when one did.
    pub set_by: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

/// `path` (e.g. `model.beta`) must be a positive, finite number.
pub fn positive(path: &str, value: f64) -> Result<(), ConfigError> {
    if value > 0.0 && value.is_finite() {
        return Ok(());
    }
    Err(ConfigError::invalid(
        path,
        format!("must be a positive number, got {value}"),
    ))
}

/// `path` must be a finite number >= 0.
pub fn non_negative(path: &str, value: f64) -> Result<(), ConfigError> {
    if value >= 0.0 && value.is_finite() {
        return Ok(());
    }
    Err(ConfigError::invalid(
        path,
        format!("must be a finite number >= 0, got {value}"),
    ))
}

/// `path` must be a fraction in [0, 1) (`what` says of what, e.g. "of units dropped").
pub fn fraction(path: &str, value: f64, what: &str) -> Result<(), ConfigError> {
    if (0.0..1.0).contains(&value) {
        return Ok(());
    }
    Err(ConfigError::invalid(
        path,
        format!("must be in [0, 1) (the fraction {what}), got {value}"),
    ))
}

/// Checks the model's latent dimension and layer widths (`model.latent`, then each
/// `(key, widths)`): all at least 1, errors naming the key and the layer.
pub fn check_sizes(latent: usize, widths: &[(&str, &[usize])]) -> Result<(), ConfigError> {
    if latent == 0 {
        return Err(ConfigError::invalid(
            "model.latent",
            "the latent dimension must be at least 1",
        ));
    }
    for (key, ws) in widths {
        if let Some(i) = ws.iter().position(|&h| h == 0) {
            return Err(ConfigError::invalid(
                format!("model.{key}"),
                format!("layer {i} has width 0; every width must be at least 1"),
            ));
        }
    }
    Ok(())
}

impl ConfigError {
    /// An error with no file position (e.g. a malformed `--set`).
    pub fn bare(message: impl Into<String>) -> Self {
        ConfigError {
            origin: None,
            path: String::new(),
            location: None,
            set_by: None,
            message: message.into(),
            hint: None,
        }
    }

    /// An out-of-range or inconsistent value at `path`; [`ConfigError::locate_in`] adds the position.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            ..ConfigError::bare(message)
        }
    }

    fn whole(src: &ConfigSource, message: &str) -> Self {
        ConfigError {
            origin: Some(src.origin.clone()),
            ..ConfigError::bare(message)
        }
    }

    fn at(src: &ConfigSource, path: String, message: String, hint: Option<String>) -> Self {
        ConfigError {
            hint,
            ..ConfigError::invalid(path, message).locate_in(src)
        }
    }

    /// Fills in the file and position of this error's key path from `src`.
    pub fn locate_in(mut self, src: &ConfigSource) -> Self {
        self.origin = Some(src.origin.clone());
        if let Some((p, raw)) = src.override_for(&self.path) {
            self.set_by = Some(format!("--set {p}={raw}"));
        } else if self.location.is_none() {
            self.location = locate(&src.original, &self.path);
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A value from the command line is blamed there, not on a line of the file.
        if let Some(s) = &self.set_by {
            write!(f, "{s}: ")?;
        } else if let Some(o) = &self.origin {
            write!(f, "{o}")?;
            if let Some((l, c)) = self.location {
                write!(f, ":{l}:{c}")?;
            }
            write!(f, ": ")?;
        }
        if !self.path.is_empty() {
            write!(f, "`{}`: ", self.path)?;
        }
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Model {
        family: String,
        latent: usize,
        #[serde(default)]
        hidden: Vec<usize>,
    }

    const TEXT: &str = "# a comment\nmodel:\n  family: vae\n  latent: 20\ntrain:\n  epochs: 3\n";

    #[test]
    fn a_fraction_is_in_zero_to_one_with_one_left_out() {
        for ok in [0.0, 0.2, 0.999] {
            assert!(fraction("model.dropout", ok, "of units dropped").is_ok());
        }
        for bad in [1.0, -0.1, f64::NAN] {
            let e = fraction("model.dropout", bad, "of units dropped").unwrap_err();
            assert!(e.to_string().contains("model.dropout"), "{e}");
            assert!(e.to_string().contains("[0, 1)"), "{e}");
        }
    }

    #[test]
    fn reads_a_section_and_ignores_the_others() {
        let m: Model = ConfigSource::new("c.yaml", TEXT).section("model").unwrap();
        assert_eq!(m.latent, 20);
        let none: Option<Model> = ConfigSource::new("c.yaml", TEXT)
            .optional_section("absent")
            .unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn unknown_key_names_path_line_and_suggestion() {
        let text = "model:\n  family: vae\n  lattent: 20\n";
        let e = ConfigSource::new("c.yaml", text)
            .section::<Model>("model")
            .unwrap_err();
        assert_eq!(e.path, "model.lattent");
        assert_eq!(e.location.map(|l| l.0), Some(3));
        assert_eq!(e.hint.as_deref(), Some("did you mean `latent`?"), "{e:?}");
        let shown = e.to_string();
        assert!(shown.starts_with("c.yaml:3:"), "{shown}");
    }

    #[test]
    fn wrong_type_gives_line_and_column() {
        let text = "model:\n  family: vae\n  latent: twenty\n";
        let e = ConfigSource::new("c.yaml", text)
            .section::<Model>("model")
            .unwrap_err();
        assert_eq!(e.path, "model.latent");
        assert_eq!(e.location, Some((3, 11)));
        assert!(
            e.message.contains("expected a whole number"),
            "{}",
            e.message
        );
    }

    #[test]
    fn overrides_apply_and_are_blamed() {
        let src = ConfigSource::new("c.yaml", TEXT)
            .with_overrides(&["model.latent=oops".into(), "model.hidden=[1, 2]".into()])
            .unwrap();
        let e = src.section::<Model>("model").unwrap_err();
        assert_eq!(e.set_by.as_deref(), Some("--set model.latent=oops"));
        let src = ConfigSource::new("c.yaml", TEXT)
            .with_overrides(&["model.hidden=[1, 2]".into()])
            .unwrap();
        assert_eq!(src.section::<Model>("model").unwrap().hidden, vec![1, 2]);
        assert!(ConfigSource::new("c.yaml", TEXT)
            .with_overrides(&["nonsense".into()])
            .is_err());
    }

    #[test]
    fn serde_phrasing_becomes_a_users() {
        let cases = [
            (
                "invalid type: integer `-1`, expected usize",
                "expected a whole number >= 0, got -1",
            ),
            (
                "invalid value: integer `300`, expected u8",
                "expected a whole number >= 0, got 300",
            ),
            (
                "invalid type: string \"abc\", expected f64",
                "expected a number (e.g. 0.001 or 1e-3), got the text \"abc\"",
            ),
            (
                "invalid type: floating point `0.5`, expected usize",
                "expected a whole number >= 0, got 0.5",
            ),
            (
                "invalid type: sequence, expected f64",
                "expected a number (e.g. 0.001 or 1e-3), got a list",
            ),
            (
                "invalid type: boolean `true`, expected a sequence",
                "expected a list, written [a, b], got true",
            ),
            ("missing field `name`", "missing field `name`"),
        ];
        for (serde, ours) in cases {
            assert_eq!(in_user_words(serde), ours);
        }
    }

    #[test]
    fn a_key_in_the_wrong_section_finds_its_own() {
        let known: Vec<String> = [
            "train",
            "train.optimizer",
            "train.optimizer.lr",
            "model.local_lr",
            "model.latent",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            suggest_path("optimizer.lr", &known).as_deref(),
            Some("train.optimizer.lr")
        );
        assert_eq!(
            suggest_path("model.lr", &known).as_deref(),
            Some("train.optimizer.lr")
        );
        assert_eq!(
            suggest_path("train.latent", &known).as_deref(),
            Some("model.latent")
        );
        assert_eq!(suggest_path("train.nothing", &known), None);
        // The file's own keys count as known, beside the given defaults.
        let src = ConfigSource::new("c.yaml", TEXT)
            .with_known_paths(["train.optimizer.lr".to_string()])
            .with_overrides(&["train.latent=3".into()])
            .unwrap();
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Train {
            epochs: usize,
        }
        let e = src.section::<Train>("train").unwrap_err();
        assert_eq!(
            e.hint.as_deref(),
            Some("did you mean `model.latent`?"),
            "{e}"
        );
        assert!(e.to_string().starts_with("--set train.latent=3: "), "{e}");
    }

    #[test]
    fn a_tab_in_the_indentation_is_named() {
        let e = ConfigSource::new("c.yaml", "model:\n\tfamily: vae\n")
            .section::<Model>("model")
            .unwrap_err();
        assert_eq!(e.location, Some((2, 1)), "{e}");
        assert!(e.to_string().contains("indented with a tab"), "{e}");
    }

    #[test]
    fn locate_finds_nested_keys() {
        assert_eq!(locate(TEXT, "train.epochs"), Some((6, 3)));
        assert_eq!(locate(TEXT, "model.latent"), Some((4, 3)));
        assert_eq!(locate(TEXT, "model.epochs"), Some((2, 1))); // the deepest section found
        let e = ConfigError::invalid("train.epochs", "must be at least 1")
            .locate_in(&ConfigSource::new("c.yaml", TEXT));
        assert_eq!(
            e.to_string(),
            "c.yaml:6:3: `train.epochs`: must be at least 1"
        );
    }

    #[test]
    fn empty_and_broken_yaml_are_errors() {
        assert!(ConfigSource::new("c.yaml", "  \n")
            .section::<Model>("model")
            .unwrap_err()
            .message
            .contains("empty"));
        let e = ConfigSource::new("c.yaml", "model: [unclosed\n")
            .section::<Model>("model")
            .unwrap_err();
        assert!(e.location.is_some(), "{e}");
    }
}
