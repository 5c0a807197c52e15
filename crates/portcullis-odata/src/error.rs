//! Parse errors: which option, where (byte offset in the raw query), and what was expected.

use nom::error::{ContextError, ErrorKind as NomKind, ParseError};
use std::fmt;

/// The parser's internal error: where it stopped and what it wanted there. Of two
/// alternatives, the one that got further wins, so the position is the furthest the input
/// could be read (what the OASIS test cases' `FailAt` means).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PErr<'a> {
    pub input: &'a str,
    pub expected: &'static str,
}

pub type PResult<'a, T> = nom::IResult<&'a str, T, PErr<'a>>;

impl<'a> PErr<'a> {
    pub fn new(input: &'a str, expected: &'static str) -> Self {
        Self { input, expected }
    }

    /// A recoverable failure (lets `alt` try the next branch).
    pub fn fail<T>(input: &'a str, expected: &'static str) -> PResult<'a, T> {
        Err(nom::Err::Error(Self::new(input, expected)))
    }

    /// A committed failure (no other branch can succeed: report this one).
    pub fn cut<T>(input: &'a str, expected: &'static str) -> PResult<'a, T> {
        Err(nom::Err::Failure(Self::new(input, expected)))
    }
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, kind: NomKind) -> Self {
        let expected = match kind {
            NomKind::Digit => "a digit",
            NomKind::Tag => "a keyword or symbol",
            NomKind::Eof => "the end of the value",
            _ => "valid syntax",
        };
        Self { input, expected }
    }

    fn append(_input: &'a str, _kind: NomKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        if other.input.len() < self.input.len() {
            other
        } else {
            self
        }
    }
}

impl<'a> ContextError<&'a str> for PErr<'a> {
    fn add_context(input: &'a str, context: &'static str, other: Self) -> Self {
        // Name what was expected where the labelled construct began, unless an inner part
        // already got further.
        if other.input.len() >= input.len() {
            Self {
                input,
                expected: context,
            }
        } else {
            other
        }
    }
}

/// What kind of problem a query has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Syntax,
    UnknownOption,
    DuplicateOption,
    BadValue,
    /// Too deep or too large for the parser's own bounds.
    TooComplex,
}

/// A query that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ODataError {
    /// The option as written (`$filter`, `$top`, …), or empty for the query as a whole.
    pub option: String,
    /// Byte offset in the raw query string.
    pub position: usize,
    pub kind: ErrorKind,
    /// What was expected, or what is wrong; never a copy of the input.
    pub message: String,
}

impl fmt::Display for ODataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.option.is_empty() {
            write!(f, "{} at {}", self.message, self.position)
        } else {
            write!(f, "{}: {} at {}", self.option, self.message, self.position)
        }
    }
}

impl std::error::Error for ODataError {}
