//! Loading the config file: TOML → [`Config`] → validated [`crate::gateway::Gateway`].
//!
//! Errors always name the file, the line and the key, and `portcullis check` prints every
//! problem at once instead of stopping at the first.

pub mod duration;
pub mod model;

pub use model::Config;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

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

    /// The config file's text.
    pub fn text(&self) -> &'a str {
        self.text
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

    pub fn problem(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigProblem {
        let (line, column) = self.position(span);
        ConfigProblem {
            line,
            column,
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Reads and parses a config file (syntax and types only; see [`crate::gateway::Gateway::build`]
/// for the checks that need the whole file).
pub fn read(path: &Path) -> Result<(Config, String), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        problems: vec![ConfigProblem {
            line: 0,
            column: 0,
            key: String::new(),
            message: format!("cannot read the config file: {e}"),
        }],
    })?;
    let config = parse_file(path, &text)?;
    Ok((config, text))
}

/// Parses the text of the config file at `path`; the error names the file.
pub fn parse_file(path: &Path, text: &str) -> Result<Config, ConfigError> {
    parse(text).map_err(|problem| ConfigError {
        file: path.to_path_buf(),
        problems: vec![problem],
    })
}

/// Parses config text; the error names the line and the offending key.
pub fn parse(text: &str) -> Result<Config, ConfigProblem> {
    toml::from_str::<Config>(text).map_err(|e| {
        let map = SourceMap::new(text);
        let span = e.span().unwrap_or(0..0);
        let key = text
            .get(span.clone())
            .and_then(|s| s.lines().next())
            .map(|s| s.trim().chars().take(60).collect::<String>())
            .unwrap_or_default();
        let (line, column) = map.position(&span);
        ConfigProblem {
            line,
            column,
            key,
            message: e.message().trim().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = "[server]\nthreads = 1\nthreadz = 2\n";
        let problem = parse(text).unwrap_err();
        assert_eq!(problem.line, 3);
        assert_eq!(problem.key, "threadz");
        assert!(
            problem.message.contains("unknown field"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn wrong_type_names_line() {
        let text = "[server]\nthreads = \"many\"\n";
        let problem = parse(text).unwrap_err();
        assert_eq!(problem.line, 2);
        assert!(
            problem.message.contains("invalid type"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn bad_duration_is_reported_with_its_reason() {
        let text = "[server]\ngrace_period = \"5 weeks\"\n";
        let problem = parse(text).unwrap_err();
        assert_eq!(problem.line, 2);
        assert!(
            problem.message.contains("unknown unit"),
            "{}",
            problem.message
        );
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
