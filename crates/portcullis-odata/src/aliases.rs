//! Parameter aliases (`$filter=Name eq @p&@p='Bob'`) replaced by the expressions they stand
//! for, so that limits and field rules see what the upstream will evaluate. An alias is
//! checked and counted exactly like its value written in its place: `$orderby=@p&@p=name`
//! orders by `name`, and a filter of 120 terms is 120 terms whether written out or behind `@p`.
//!
//! Substitution is bounded: aliases that refer to aliases nest at most [`MAX_NESTING`] deep
//! (which also ends cycles such as `@a=@b&@b=@a`), and all substitutions together add at most
//! [`MAX_INLINED_NODES`] nodes (`@a=@b and @b`, `@b=@c and @c`… would double at each step).

use super::ast::*;

/// How deep aliases may refer to aliases.
pub const MAX_NESTING: u32 = 8;

/// How many expression nodes the substitutions of one query may add.
pub const MAX_INLINED_NODES: u32 = 10_000;

/// Why a query's aliases could not be substituted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasError {
    /// Aliases refer to aliases too deep, or in a cycle.
    TooDeep,
    /// The substituted query would be too large.
    TooLarge,
}

impl AliasError {
    pub fn message(self) -> &'static str {
        match self {
            AliasError::TooDeep => "parameter aliases refer to each other too deep or in a cycle",
            AliasError::TooLarge => "parameter aliases expand to too large a query",
        }
    }
}

/// Whether a raw query may use aliases at all (so the common query skips the copy).
pub fn may_have_aliases(raw: &str) -> bool {
    raw.contains('@') || raw.contains("%40")
}

/// Replaces every alias reference in `options` (and in the options nested in it) by its value.
/// References to undefined aliases stay: they name nothing.
pub fn inline(options: &mut ExpandOptions) -> Result<(), AliasError> {
    let mut inliner = Inliner { added: 0 };
    inliner.options(options, &[])
}

/// The aliases in scope: a nested option list's own, then those of the levels around it.
type Scope<'s> = [&'s [(String, Expr)]];

struct Inliner {
    added: u32,
}

impl Inliner {
    fn options(&mut self, o: &mut ExpandOptions, outer: &Scope<'_>) -> Result<(), AliasError> {
        let own = std::mem::take(&mut o.aliases);
        let mut scope: Vec<&[(String, Expr)]> = Vec::with_capacity(outer.len() + 1);
        scope.push(&own);
        scope.extend_from_slice(outer);
        let result = self.options_in(o, &scope);
        o.aliases = own;
        result
    }

    fn options_in(&mut self, o: &mut ExpandOptions, scope: &Scope<'_>) -> Result<(), AliasError> {
        if let Some(filter) = &mut o.filter {
            self.expr(filter, scope, 0)?;
        }
        for item in o.orderby.iter_mut().flatten() {
            self.expr(&mut item.expr, scope, 0)?;
        }
        for item in o.compute.iter_mut().flatten() {
            self.expr(&mut item.expr, scope, 0)?;
        }
        for nested in o
            .select
            .iter_mut()
            .flatten()
            .filter_map(|i| i.options.as_mut())
        {
            self.options(nested, scope)?;
        }
        for nested in o
            .expand
            .iter_mut()
            .flatten()
            .filter_map(|i| i.options.as_mut())
        {
            self.options(nested, scope)?;
        }
        Ok(())
    }

    fn expr(&mut self, e: &mut Expr, scope: &Scope<'_>, nesting: u32) -> Result<(), AliasError> {
        match e {
            Expr::Alias { name } => {
                let Some(value) = lookup(scope, name) else {
                    return Ok(());
                };
                if nesting >= MAX_NESTING {
                    return Err(AliasError::TooDeep);
                }
                self.added = self.added.saturating_add(value.size().0);
                if self.added > MAX_INLINED_NODES {
                    return Err(AliasError::TooLarge);
                }
                let mut value = value.clone();
                self.expr(&mut value, scope, nesting + 1)?;
                *e = value;
            }
            Expr::Literal { .. } | Expr::List { .. } => {}
            Expr::Path { segments } => {
                for segment in segments {
                    self.segment(segment, scope, nesting)?;
                }
            }
            Expr::Function { args, .. } => {
                for arg in args {
                    self.expr(arg, scope, nesting)?;
                }
            }
            Expr::Case { branches } => {
                for (condition, value) in branches {
                    self.expr(condition, scope, nesting)?;
                    self.expr(value, scope, nesting)?;
                }
            }
            Expr::Unary { operand, .. } => self.expr(operand, scope, nesting)?,
            Expr::Binary { left, right, .. } => {
                self.expr(left, scope, nesting)?;
                self.expr(right, scope, nesting)?;
            }
            Expr::Group { inner } => self.expr(inner, scope, nesting)?,
            Expr::Array { items } => {
                for item in items {
                    self.expr(item, scope, nesting)?;
                }
            }
            Expr::Object { members } => {
                for (_, value) in members {
                    self.expr(value, scope, nesting)?;
                }
            }
        }
        Ok(())
    }

    fn segment(
        &mut self,
        s: &mut Segment,
        scope: &Scope<'_>,
        nesting: u32,
    ) -> Result<(), AliasError> {
        match s {
            Segment::Filter { expr } => self.expr(expr, scope, nesting),
            Segment::Lambda {
                predicate: Some(p), ..
            } => self.expr(p, scope, nesting),
            Segment::Call { args, .. } | Segment::Key { args } => {
                for arg in args {
                    self.expr(&mut arg.value, scope, nesting)?;
                }
                Ok(())
            }
            Segment::Count { options: Some(o) } => self.options(o, scope),
            _ => Ok(()),
        }
    }
}

fn lookup<'s>(scope: &Scope<'s>, name: &str) -> Option<&'s Expr> {
    scope
        .iter()
        .find_map(|level| level.iter().find(|(n, _)| n == name).map(|(_, e)| e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{parse_query, ParseOptions};
    use crate::print;

    fn inlined(raw: &str) -> Result<String, AliasError> {
        let mut query = parse_query(raw, ParseOptions::default()).unwrap();
        inline(&mut query.options)?;
        query.options.aliases.clear();
        Ok(print::query(&query).replace("%20", " "))
    }

    #[test]
    fn aliases_become_their_values_wherever_they_are_used() {
        assert_eq!(
            inlined("$filter=name eq @p&@p='Bob'").unwrap(),
            "$filter=name eq 'Bob'"
        );
        assert_eq!(inlined("$orderby=@p&@p=name").unwrap(), "$orderby=name");
        assert_eq!(
            inlined("$expand=Friends($filter=@p eq 1)&@p=secret").unwrap(),
            "$expand=Friends($filter=secret eq 1)"
        );
        assert_eq!(
            inlined("$filter=@a&@a=@b and x&@b=y").unwrap(),
            "$filter=y and x"
        );
        assert_eq!(
            inlined("$filter=@undefined eq 1").unwrap(),
            "$filter=@undefined eq 1"
        );
    }

    #[test]
    fn cycles_and_blow_ups_are_refused() {
        assert_eq!(
            inlined("$filter=@a eq 1&@a=@b&@b=@a"),
            Err(AliasError::TooDeep)
        );
        // Each alias doubles the one before it: 2^7 copies of a 40-node value.
        let mut raw = String::from("$filter=@a0");
        for i in 0..7 {
            raw.push_str(&format!("&@a{i}=@a{} and @a{}", i + 1, i + 1));
        }
        let big = vec!["x eq 1"; 20].join(" and ");
        raw.push_str(&format!("&@a7={big}"));
        assert_eq!(inlined(&raw), Err(AliasError::TooLarge));
    }
}
