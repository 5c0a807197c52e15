//! Loading the config file: TOML → [`Config`] → validated [`crate::gateway::Gateway`].
//!
//! Errors always name the file, the line and the key, and `portcullis check` prints every
//! problem at once instead of stopping at the first.

pub mod duration;
pub mod issuer;
pub mod model;
pub mod paths;
pub mod secret;
pub mod token_service;

pub use model::Config;

use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue, Deserializer, ValueDeserializer};
use toml::Spanned;

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// 1-based; 0 when the problem has no position (e.g. the file cannot be read).
    pub line: usize,
    pub column: usize,
    /// The key the problem is about, e.g. `routes[2].upstream`.
    pub key: String,
    pub message: String,
}

/// Every problem found in one config file.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if p.line > 0 {
                write!(f, ":{}:{}", p.line, p.column)?;
            }
            if p.key.is_empty() {
                write!(f, ": {}", p.message)?;
            } else {
                write!(f, ": {}: {}", p.key, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Turns byte offsets of the source text into line/column positions.
pub struct SourceMap<'a> {
    text: &'a str,
}

impl<'a> SourceMap<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { text }
    }

    /// 1-based (line, column) of a byte offset; (0, 0) for an empty span (a default value).
    pub fn position(&self, span: &Range<usize>) -> (usize, usize) {
        if span.start == 0 && span.end == 0 {
            return (0, 0);
        }
        let start = span.start.min(self.text.len());
        let before = &self.text.as_bytes()[..start];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        (line, start - line_start + 1)
    }

    /// The full key path of what stands at `span`, as a problem names it: the table headers
    /// above it (arrays of tables with their index, `routes[2].auth`) and the `key = …` of its
    /// line (or of the line a multi-line value starts on). Empty where the text names no key.
    pub fn key_path(&self, span: &Range<usize>) -> String {
        let start = span.start.min(self.text.len());
        let mut table = String::new();
        let mut arrays: std::collections::HashMap<String, usize> = Default::default();
        let mut key = "";
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            if offset > start {
                break;
            }
            offset += line.len();
            let trimmed = line.trim();
            if let Some(name) = trimmed
                .strip_prefix("[[")
                .and_then(|r| r.split("]]").next())
            {
                let name = name.trim().to_string();
                *arrays.entry(name.clone()).or_insert(0) += 1;
                table = indexed(&name, &arrays);
                key = "";
            } else if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.split(']').next()) {
                table = indexed(name.trim(), &arrays);
                key = "";
            } else if let Some((left, _)) = trimmed.split_once('=') {
                let left = left.trim().trim_matches('"');
                if is_bare_key(left) {
                    key = left;
                }
            }
        }
        match (table.is_empty(), key.is_empty()) {
            (_, true) => table,
            (true, false) => key.to_string(),
            (false, false) => format!("{table}.{key}"),
        }
    }

    pub fn problem(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        message: impl fmt::Display,
    ) -> ConfigProblem {
        let (line, column) = self.position(span);
        ConfigProblem {
            line,
            column,
            key: key.into(),
            message: message.to_string(),
        }
    }
}

/// `a.b.c` with the index of the current element after each array of tables among its
/// prefixes (`routes.auth` → `routes[1].auth`).
fn indexed(name: &str, arrays: &std::collections::HashMap<String, usize>) -> String {
    let mut path = String::new();
    let mut prefix = String::new();
    for (i, part) in name.split('.').map(str::trim).enumerate() {
        if i > 0 {
            path.push('.');
            prefix.push('.');
        }
        path.push_str(part);
        prefix.push_str(part);
        if let Some(count) = arrays.get(&prefix) {
            path.push_str(&format!("[{}]", count - 1));
        }
    }
    path
}

fn is_bare_key(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The text of a config file, or the problem of reading it.
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        problems: vec![ConfigProblem {
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the config file: {e}"),
        }],
    })
}

/// Parses the text of the config file at `path`; the error names the file. Relative paths
/// in it are anchored beside it ([`paths`]).
pub fn parse_file(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut config = parse(text).map_err(|problems| ConfigError {
        file: path.to_path_buf(),
        problems,
    })?;
    anchor_beside(&mut config, path);
    Ok(config)
}

/// Anchors the relative paths of `config` in the directory of the file at `path`.
pub fn anchor_beside(config: &mut Config, path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        paths::anchor(config, dir);
    }
}

/// Parses config text; each problem names its line and key path. Syntax stops at the first
/// problem; after that every top-level table, every route and every issuer is read apart, so
/// one broken part does not hide another.
pub fn parse(text: &str) -> Result<Config, Vec<ConfigProblem>> {
    match parse_partial(text) {
        (Some(config), problems) if problems.is_empty() => Ok(config),
        (_, problems) => Err(problems),
    }
}

/// Like [`parse`], but keeps what could be read: the config without its broken routes and
/// issuers (named in [`Config::unread`]), so that `check` can also report the problems of the
/// rest. `None` when a top-level table or the syntax is broken.
pub fn parse_partial(text: &str) -> (Option<Config>, Vec<ConfigProblem>) {
    let map = SourceMap::new(text);
    let problem = |e: toml::de::Error| problem_of(e, &map);
    let mut document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(e) => return (None, vec![problem(e)]),
    };
    // Read apart: `[[routes]]` one by one, `[issuers]` by kind (see `issuer`).
    let routes = document.get_mut().remove("routes");
    let issuers = document.get_mut().remove("issuers");
    let mut problems = Vec::new();
    let config = Config::deserialize(Deserializer::from(document.clone()))
        .map_err(|whole| {
            let by_section = section_problems(document, &map);
            problems.extend(if by_section.is_empty() {
                vec![problem(whole)]
            } else {
                by_section
            });
        })
        .ok();
    let (routes, broken_routes) = match routes {
        Some(routes) => read_routes(routes, &map),
        None => (Vec::new(), Vec::new()),
    };
    let (issuers, unread_issuers, broken_issuers) = match issuers {
        Some(issuers) => issuer::read_issuers(issuers, &map),
        None => Default::default(),
    };
    let unread = model::Unread {
        routes: !broken_routes.is_empty(),
        issuers: unread_issuers,
    };
    problems.extend(broken_routes);
    problems.extend(broken_issuers);
    problems.sort_by_key(|p| (p.line, p.column));
    let config = config.map(|mut config| {
        config.routes = routes;
        config.issuers = issuers;
        config.unread = unread;
        config
    });
    (config, problems)
}

/// A serde problem at its line, under its key path.
fn problem_of(e: toml::de::Error, map: &SourceMap) -> ConfigProblem {
    let span = e.span().unwrap_or(0..0);
    map.problem(&span, map.key_path(&span), e.message().trim())
}

/// The problems of each top-level table read alone (the whole file stopped at the first).
fn section_problems(document: Spanned<DeTable<'_>>, map: &SourceMap) -> Vec<ConfigProblem> {
    let span = document.span();
    document
        .into_inner()
        .into_iter()
        .filter_map(|(key, value)| {
            let mut alone = DeTable::new();
            alone.insert(key, value);
            Config::deserialize(Deserializer::from(Spanned::new(span.clone(), alone)))
                .err()
                .map(|e| problem_of(e, map))
        })
        .collect()
}

/// `[[routes]]`, each read alone: the good ones, and one problem per broken one.
fn read_routes(
    value: Spanned<DeValue<'_>>,
    map: &SourceMap,
) -> (Vec<Spanned<model::RouteConfig>>, Vec<ConfigProblem>) {
    let span = value.span();
    let DeValue::Array(routes) = value.into_inner() else {
        let problem = map.problem(&span, "routes", "must be an array of [[routes]] tables");
        return (Vec::new(), vec![problem]);
    };
    let mut read = Vec::new();
    let mut problems = Vec::new();
    for route in routes {
        match Spanned::<model::RouteConfig>::deserialize(ValueDeserializer::from(route)) {
            Ok(route) => read.push(route),
            Err(e) => problems.push(problem_of(e, map)),
        }
    }
    (read, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(text: &str) -> ConfigProblem {
        let mut problems = parse(text).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems.remove(0)
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = "[server]\nthreads = 1\nthreadz = 2\n";
        let problem = parse_one(text);
        assert_eq!(problem.line, 3);
        assert_eq!(problem.key, "server.threadz");
        assert!(
            problem.message.contains("unknown field"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn wrong_type_names_line() {
        let text = "[server]\nthreads = \"many\"\n";
        let problem = parse_one(text);
        assert_eq!(problem.line, 2);
        assert_eq!(problem.key, "server.threads");
        assert!(
            problem.message.contains("invalid type"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn bad_duration_is_reported_with_its_reason() {
        let text = "[server]\ngrace_period = \"5 weeks\"\n";
        let problem = parse_one(text);
        assert_eq!(problem.line, 2);
        assert!(
            problem.message.contains("unknown unit"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn every_broken_part_is_reported_at_once_under_its_key_path() {
        let text = "[server]\nthreads = \"many\"\n\n[[routes]]\npath = \"/a\"\nupstream = \"u\"\n\
                    \n[[routes]]\npath = \"/b\"\nupstream = \"u\"\nmethods = [\"GET\", 7]\n\
                    [routes.auth]\nlevel = \"root\"\n\n[log]\nformat = \"xml\"\n";
        let problems = parse(text).unwrap_err();
        let seen: Vec<(&str, usize)> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert_eq!(
            seen,
            [
                ("server.threads", 2),
                ("routes[1].auth.level", 13),
                ("log.format", 16),
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn a_key_path_counts_arrays_of_tables() {
        let text = "top = 1\n[[routes]]\na = 1\n[[routes]]\n[routes.auth]\nlevel = 2\n\
                    methods = [\n  \"GET\",\n]\n";
        let map = SourceMap::new(text);
        let at = |needle: &str| {
            let start = text.find(needle).unwrap();
            map.key_path(&(start..start + needle.len()))
        };
        assert_eq!(at("1\n[[routes]]\na"), "top");
        assert_eq!(at("a = 1"), "routes[0].a");
        assert_eq!(at("level = 2"), "routes[1].auth.level");
        assert_eq!(at("\"GET\""), "routes[1].auth.methods");
    }

    #[test]
    fn display_lists_every_problem_with_file_and_position() {
        let err = ConfigError {
            file: PathBuf::from("gw.toml"),
            problems: vec![
                ConfigProblem {
                    line: 3,
                    column: 1,
                    key: "routes[0].upstream".into(),
                    message: "no such upstream".into(),
                },
                ConfigProblem {
                    line: 0,
                    column: 0,
                    key: String::new(),
                    message: "no listeners".into(),
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "gw.toml:3:1: routes[0].upstream: no such upstream\ngw.toml: no listeners"
        );
    }
}
