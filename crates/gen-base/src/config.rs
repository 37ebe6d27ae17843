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
}

impl ConfigSource {
    pub fn new(origin: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        ConfigSource {
            origin: origin.into(),
            original: text.clone(),
            text,
            overrides: vec![],
        }
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
        let (path, hint) = explain_unknown(&msg, path);
        let location = if self.overrides.is_empty() {
            e.location().map(|l| (l.line(), l.column()))
        } else {
            None
        };
        let mut err = ConfigError::at(self, path, msg, hint);
        if location.is_some() {
            err.location = location;
        }
        err
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
        if let Some((p, raw)) = src
            .overrides
            .iter()
            .rev()
            .find(|(p, _)| self.path == *p || self.path.starts_with(&format!("{p}.")))
        {
            self.set_by = Some(format!("--set {p}={raw}"));
        } else if self.location.is_none() {
            self.location = locate(&src.original, &self.path);
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = &self.origin {
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
        if let Some(s) = &self.set_by {
            write!(f, " (from {s})")?;
        }
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
        assert!(e.message.contains("invalid"), "{}", e.message);
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
