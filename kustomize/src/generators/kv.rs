//! Key/value sources of a generator: env files, literals and files, read and
//! validated the way kustomize's `api/kv` loader does.

use super::{GeneratorArgs, GeneratorError};
use crate::Loader;

/// A value before it is placed in `data` or `binaryData`.
pub(super) type Pairs = Vec<(String, Vec<u8>)>;

/// All pairs of a generator in kustomize's order: env files, then literals,
/// then files. Repeated keys are an error.
pub(super) fn load(
    args: &GeneratorArgs,
    loader: &Loader,
    label: &str,
) -> Result<Pairs, GeneratorError> {
    let mut pairs: Pairs = Vec::new();
    let env_files = args
        .envs
        .iter()
        .chain(std::iter::once(&args.env).filter(|e| !e.is_empty()));
    for path in env_files {
        let bytes = read(loader, path, label)?;
        pairs.extend(
            parse_env_file(&bytes).map_err(|reason| GeneratorError::Invalid {
                generator: label.to_string(),
                reason: format!("env file {}: {reason}", loader.display(path).display()),
            })?,
        );
    }
    for literal in &args.literals {
        let (k, v) = parse_literal(literal).map_err(|reason| GeneratorError::Invalid {
            generator: label.to_string(),
            reason,
        })?;
        pairs.push((k, v.into_bytes()));
    }
    for source in &args.files {
        let (key, path) = parse_file_source(source).map_err(|reason| GeneratorError::Invalid {
            generator: label.to_string(),
            reason,
        })?;
        pairs.push((key, read(loader, &path, label)?));
    }
    let mut seen = std::collections::HashSet::new();
    for (key, _) in &pairs {
        if let Err(reason) = check_data_key(key) {
            return Err(GeneratorError::Invalid {
                generator: label.to_string(),
                reason,
            });
        }
        if !seen.insert(key.as_str()) {
            return Err(GeneratorError::Invalid {
                generator: label.to_string(),
                reason: format!("key '{key}' appears more than once"),
            });
        }
    }
    Ok(pairs)
}

fn read(loader: &Loader, path: &str, label: &str) -> Result<Vec<u8>, GeneratorError> {
    loader.read(path).map_err(|e| GeneratorError::Load {
        generator: label.to_string(),
        source: Box::new(e),
    })
}

/// `key=value`; surrounding matching quotes on the value are dropped.
fn parse_literal(source: &str) -> Result<(String, String), String> {
    match source.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), remove_quotes(v).to_string())),
        _ => Err(format!(
            "invalid literal source '{source}', expected key=value"
        )),
    }
}

fn remove_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// `path` (key = file name) or `key=path`.
fn parse_file_source(source: &str) -> Result<(String, String), String> {
    match source.matches('=').count() {
        0 => {
            let key = source.rsplit('/').find(|s| !s.is_empty()).unwrap_or(source);
            Ok((key.to_string(), source.to_string()))
        }
        1 if source.starts_with('=') => Err(format!(
            "missing key name for file path '{}' in source '{source}'",
            &source[1..]
        )),
        1 if source.ends_with('=') => Err(format!(
            "missing file path for key name '{}' in source '{source}'",
            &source[..source.len() - 1]
        )),
        1 => {
            let (k, p) = source.split_once('=').unwrap_or((source, ""));
            Ok((k.to_string(), p.to_string()))
        }
        _ => Err(format!(
            "source '{source}': key name or file path contains '='"
        )),
    }
}

/// Env file lines: `KEY=value` (value verbatim, quotes kept), `KEY` alone
/// (empty value), blank lines and `#` comments skipped, a UTF-8 BOM dropped.
fn parse_env_file(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for (n, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line =
            std::str::from_utf8(raw).map_err(|_| format!("line {} is not valid UTF-8", n + 1))?;
        let line = if n == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        check_env_name(key).map_err(|e| format!("line {}: {e}", n + 1))?;
        out.push((key.to_string(), value.as_bytes().to_vec()));
    }
    Ok(out)
}

fn check_env_name(key: &str) -> Result<(), String> {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '-' | '.' | '_'));
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
        Ok(())
    } else {
        Err(format!(
            "'{key}' is not a valid environment variable name (letters, digits, '-', '.', '_'; not starting with a digit)"
        ))
    }
}

fn check_data_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && !key.starts_with("..")
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{key}' is not a valid data key (letters, digits, '-', '.', '_'; at most 253 characters)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_keeps_equals_signs_in_the_value() {
        assert_eq!(parse_literal("a=b=c").unwrap(), ("a".into(), "b=c".into()));
    }

    #[test]
    fn literal_drops_matching_quotes_only() {
        assert_eq!(parse_literal("a='x'").unwrap().1, "x");
        assert_eq!(parse_literal("a=\"x'").unwrap().1, "\"x'");
    }

    #[test]
    fn literal_without_key_is_rejected() {
        assert!(parse_literal("=x").is_err());
        assert!(parse_literal("novalue").is_err());
    }

    #[test]
    fn file_source_renames_with_key_equals_path() {
        assert_eq!(
            parse_file_source("k=dir/f.txt").unwrap(),
            ("k".into(), "dir/f.txt".into())
        );
        assert_eq!(
            parse_file_source("dir/f.txt").unwrap(),
            ("f.txt".into(), "dir/f.txt".into())
        );
        assert!(parse_file_source("=f").is_err());
        assert!(parse_file_source("a=b=c").is_err());
    }

    #[test]
    fn env_file_keeps_quotes_and_skips_comments() {
        let pairs = parse_env_file(b"\xef\xbb\xbfA=1\n  # c\n\nB\nC=\"q\"\nD=x=y\r\n").unwrap();
        let text: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(
            text,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "".into()),
                ("C".into(), "\"q\"".into()),
                ("D".into(), "x=y".into()),
            ]
        );
    }

    #[test]
    fn env_file_rejects_bad_names_with_the_line() {
        let err = parse_env_file(b"OK=1\n1BAD=2\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }

    #[test]
    fn data_keys_must_be_valid() {
        assert!(check_data_key("a.b-c_d").is_ok());
        assert!(check_data_key("a/b").is_err());
        assert!(check_data_key("..x").is_err());
    }
}
