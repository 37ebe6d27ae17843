//! A config key written as a flag (`gen train configs/vae.yaml --epochs 1`): clap would say
//! "unexpected argument" and suggest `-- --epochs`; the user meant `--set train.epochs=1`.

/// The message for an unknown `--flag` of a command that takes `--set`, or `None` when the
/// flag does not name a config key.
pub fn config_key_as_flag(args: &[String], flag: &str) -> Option<String> {
    let command = args.get(1)?;
    if command != "train" {
        return None;
    }
    // clap names the flag without its `=VALUE`; the value is inline or the next argument.
    let name = flag
        .trim_start_matches('-')
        .split('=')
        .next()
        .unwrap_or_default();
    let key = name.replace('-', "_");
    let paths = crate::run::config::default_key_paths();
    let path = paths
        .iter()
        .find(|p| p.rsplit('.').next() == Some(key.as_str()))?;
    let at = args
        .iter()
        .position(|a| a == flag || a.starts_with(&format!("{flag}=")));
    let value = at.and_then(|at| match args[at].split_once('=') {
        Some((_, v)) => Some(v.to_string()),
        None => args.get(at + 1).filter(|v| !v.starts_with('-')).cloned(),
    });
    Some(format!(
        "`gen {command}` has no flag {flag}; config values are set with --set KEY=VALUE: \
         --set {path}={}",
        value.unwrap_or_else(|| "VALUE".into())
    ))
}
