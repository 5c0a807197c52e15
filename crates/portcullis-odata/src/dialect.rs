//! How the server behind a route reads a query. The strict dialect is the OASIS ABNF; the
//! others accept exactly the lenient forms their server accepts, so that the gateway answers
//! 400 only where the backend would, and polices what the backend will evaluate.
//!
//! Each lenient form parses to the same tree as its strict spelling, and the canonical printer
//! writes what the dialect's server reads the same way.
//!
//! - `olingo` (Apache Olingo 4, `SearchTokenizer` and `SearchParser`): a `$search` value may be
//!   surrounded by whitespace (the tokenizer trims it), and a phrase may escape `"` and `\` with
//!   `\` (`PHRASE_ESCAPE_CHAR`). Everything else is as strict as the ABNF (Olingo's
//!   `UriTokenizer` requires the end of the value and takes `,` without whitespace).
//! - `aspnet` (Microsoft.OData.Core, behind ASP.NET Core OData): the expression lexer skips
//!   whitespace between tokens, so lists (`$select`, `$expand`, `$orderby`, `$compute`, nested
//!   `;` options) take whitespace around their separators and values may start and end with
//!   whitespace; `in` lists take JSON-style `"…"` strings beside `'…'`; property names are
//!   matched without regard to case (ASP.NET Core OData resolves them case-insensitively by
//!   default), so allow-lists compare that way too.
//!
//! In every dialect, private fields are compared without regard to case (refusing more is
//! safe), and an option name that a server could trim or decode into a system option
//! (` $filter`, `+$filter`, `%20$filter`) is refused rather than passed on as a custom option.

use std::cell::Cell;

/// The server whose reading of queries a route follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Dialect {
    /// The OASIS ABNF, exactly.
    #[default]
    Strict,
    /// Apache Olingo 4.
    Olingo,
    /// Microsoft.OData.Core / ASP.NET Core OData.
    AspNet,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Strict, Dialect::Olingo, Dialect::AspNet];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Strict => "strict",
            Dialect::Olingo => "olingo",
            Dialect::AspNet => "aspnet",
        }
    }

    /// Whitespace around the separators of lists (`,`) and of nested options (`;`).
    pub fn spaced_lists(self) -> bool {
        self == Dialect::AspNet
    }

    /// Whitespace before and after an option's value (all options; `$search` also in Olingo).
    pub fn trims_value(self, search: bool) -> bool {
        self == Dialect::AspNet || (search && self == Dialect::Olingo)
    }

    /// `\"` and `\\` inside `$search` phrases.
    pub fn escaped_phrases(self) -> bool {
        self == Dialect::Olingo
    }

    /// `"…"` strings in `in (…)` lists.
    pub fn double_quoted_in_lists(self) -> bool {
        self == Dialect::AspNet
    }

    /// Property names match without regard to ASCII case.
    pub fn folds_names(self) -> bool {
        self == Dialect::AspNet
    }

    /// Whether two property names are the same name for this dialect's server.
    pub fn same_name(self, a: &str, b: &str) -> bool {
        if self.folds_names() {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }
}

thread_local! {
    static CURRENT: Cell<Dialect> = const { Cell::new(Dialect::Strict) };
}

/// The dialect the parser and printer on this thread follow (set by [`within`]).
pub fn current() -> Dialect {
    CURRENT.with(Cell::get)
}

/// Runs `f` with `dialect` in force for the parser and printer, then restores the previous
/// one. The grammar functions are plain nom parsers; the dialect reaches the few places that
/// differ this way instead of through every signature (as the nesting bound does).
pub fn within<T>(dialect: Dialect, f: impl FnOnce() -> T) -> T {
    struct Restore(Dialect);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(dialect)));
    f()
}
