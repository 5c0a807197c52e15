//! The canonical printer: writes a [`Query`] back as a query string that parses to the same
//! tree (parse ∘ print ∘ parse = parse). Syntax is written plainly, whitespace as `%20`, and
//! text inside literals percent-encoded wherever it could be misread.

use super::ast::*;
use std::fmt::Write;

/// Characters written as they are inside literal text; everything else is `%XX`.
fn safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$()*,;:@/?=".contains(&b)
}

fn encode_into(out: &mut String, text: &str, keep: &[u8]) {
    for &b in text.as_bytes() {
        if safe(b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

const SP: &str = "%20";

/// A search word: only `searchChar`s stay plain (no `;`, parentheses or quotes); a quote may
/// follow the first character.
fn search_word(out: &mut String, text: &str) {
    for (i, &b) in text.as_bytes().iter().enumerate() {
        let plain =
            b.is_ascii_alphanumeric() || b"-._~!*+,:@/?$=".contains(&b) || (b == b'\'' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn literal(out: &mut String, l: &Literal) {
    match l {
        Literal::Null => out.push_str("null"),
        Literal::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Literal::Number(n) => encode_into(out, n, b""),
        Literal::String(s) => {
            out.push('\'');
            encode_into(out, &s.replace('\'', "''"), b"'");
            out.push('\'');
        }
        Literal::JsonString(s) => {
            out.push_str("%22");
            let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
            encode_into(out, &escaped, b"");
            out.push_str("%22");
        }
        Literal::Guid(g) | Literal::Date(g) => out.push_str(g),
        Literal::DateTimeOffset(t) | Literal::TimeOfDay(t) => encode_into(out, t, b""),
        Literal::Duration(d) => {
            let _ = write!(out, "duration'{d}'");
        }
        Literal::Binary(b) => {
            let _ = write!(out, "binary'{b}'");
        }
        Literal::Enum { type_name, value } => {
            out.push_str(type_name);
            out.push('\'');
            encode_into(out, value, b"");
            out.push('\'');
        }
        Literal::Geo { geography, value } => {
            out.push_str(if *geography {
                "geography'"
            } else {
                "geometry'"
            });
            encode_into(out, value, b"");
            out.push('\'');
        }
    }
}

fn args(out: &mut String, args: &[Argument]) {
    out.push('(');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(name) = &a.name {
            out.push_str(name);
            out.push('=');
        }
        expr(out, &a.value);
    }
    out.push(')');
}

fn segment(out: &mut String, s: &Segment) {
    match s {
        Segment::Name { name } | Segment::Variable { name } => out.push_str(name),
        Segment::Annotation { name } => {
            out.push('@');
            encode_into(out, name, b"");
        }
        Segment::Call { name, args: a } => {
            out.push_str(name);
            args(out, a);
        }
        Segment::Key { args: a } => args(out, a),
        Segment::Count { options } => {
            out.push_str("$count");
            if let Some(o) = options {
                out.push('(');
                nested(out, o);
                out.push(')');
            }
        }
        Segment::Filter { expr: e } => {
            out.push_str("$filter(");
            expr(out, e);
            out.push(')');
        }
        Segment::Lambda {
            all,
            variable,
            predicate,
        } => {
            out.push_str(if *all { "all(" } else { "any(" });
            if let (Some(v), Some(p)) = (variable, predicate) {
                out.push_str(v);
                out.push(':');
                expr(out, p);
            }
            out.push(')');
        }
    }
}

/// Writes an expression.
pub fn expr(out: &mut String, e: &Expr) {
    match e {
        Expr::Literal { value } => literal(out, value),
        Expr::Alias { name } => {
            out.push('@');
            out.push_str(name);
        }
        Expr::Path { segments } => {
            for (i, s) in segments.iter().enumerate() {
                if i > 0 && !matches!(s, Segment::Key { .. }) {
                    out.push('/');
                }
                segment(out, s);
            }
        }
        Expr::Function { name, args } => {
            out.push_str(name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                expr(out, a);
            }
            out.push(')');
        }
        Expr::Case { branches } => {
            out.push_str("case(");
            for (i, (c, v)) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                expr(out, c);
                out.push(':');
                expr(out, v);
            }
            out.push(')');
        }
        Expr::Unary { op, operand } => match op {
            UnaryOp::Neg => {
                let mut inner = String::new();
                expr(&mut inner, operand);
                out.push('-');
                // `-` directly before a number (or another `-`) would read as a negative literal.
                let fuses = inner.starts_with(|c: char| c.is_ascii_digit() || c == '-')
                    || inner.starts_with("%2B")
                    || inner.starts_with("INF")
                    || inner.starts_with("NaN");
                if fuses {
                    out.push_str(SP);
                }
                out.push_str(&inner);
            }
            UnaryOp::Not => {
                out.push_str("not");
                out.push_str(SP);
                expr(out, operand);
            }
        },
        Expr::Binary { op, left, right } => {
            expr(out, left);
            out.push_str(SP);
            out.push_str(op.keyword());
            out.push_str(SP);
            expr(out, right);
        }
        Expr::Group { inner } => {
            out.push('(');
            expr(out, inner);
            out.push(')');
        }
        Expr::List { items } => {
            out.push('(');
            for (i, l) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                literal(out, l);
            }
            out.push(')');
        }
        Expr::Array { items } => {
            out.push_str("%5B");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                expr(out, item);
            }
            out.push_str("%5D");
        }
        Expr::Object { members } => {
            out.push_str("%7B");
            for (i, (name, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                literal(out, &Literal::JsonString(name.clone()));
                out.push(':');
                expr(out, value);
            }
            out.push_str("%7D");
        }
    }
}

fn search(out: &mut String, s: &SearchExpr) {
    match s {
        SearchExpr::Word { text } => search_word(out, text),
        SearchExpr::Phrase { text } => {
            out.push_str("%22");
            if super::dialect::current().escaped_phrases() && text.contains(['"', '\\']) {
                let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
                encode_into(out, &escaped, b"");
            } else {
                encode_into(out, text, b"");
            }
            out.push_str("%22");
        }
        SearchExpr::Not { operand } => {
            out.push_str("NOT");
            out.push_str(SP);
            search(out, operand);
        }
        SearchExpr::And { left, right } => {
            search(out, left);
            out.push_str(SP);
            out.push_str("AND");
            out.push_str(SP);
            search(out, right);
        }
        SearchExpr::Or { left, right } => {
            search(out, left);
            out.push_str(SP);
            out.push_str("OR");
            out.push_str(SP);
            search(out, right);
        }
        SearchExpr::Group { inner } => {
            out.push('(');
            search(out, inner);
            out.push(')');
        }
    }
}

fn select_items(out: &mut String, items: &[SelectItem]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item.path.join("/").replace('#', "%23"));
        if let Some(params) = &item.parameters {
            let _ = write!(out, "({})", params.join(","));
        }
        if let Some(options) = &item.options {
            out.push('(');
            nested(out, options);
            out.push(')');
        }
    }
}

fn expand_items(out: &mut String, items: &[ExpandItem]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item.path.join("/").replace('#', "%23"));
        match item.target {
            ExpandTarget::Ref => out.push_str("/$ref"),
            ExpandTarget::Count => out.push_str("/$count"),
            ExpandTarget::Path | ExpandTarget::Value => {}
        }
        if let Some(options) = &item.options {
            out.push('(');
            nested(out, options);
            out.push(')');
        }
    }
}

/// The options shared by the top level (joined by `&`) and nested levels (joined by `;`).
fn options(o: &ExpandOptions) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = |name: &str, f: &dyn Fn(&mut String)| {
        let mut s = format!("{name}=");
        f(&mut s);
        parts.push(s);
    };
    if let Some(f) = &o.filter {
        part("$filter", &|s| expr(s, f));
    }
    if let Some(items) = &o.select {
        part("$select", &|s| select_items(s, items));
    }
    if let Some(items) = &o.expand {
        part("$expand", &|s| expand_items(s, items));
    }
    if let Some(items) = &o.orderby {
        part("$orderby", &|s| {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                expr(s, &item.expr);
                match item.descending {
                    Some(true) => s.push_str("%20desc"),
                    Some(false) => s.push_str("%20asc"),
                    None => {}
                }
            }
        });
    }
    if let Some(n) = o.top {
        part("$top", &|s| s.push_str(&n.to_string()));
    }
    if let Some(n) = o.skip {
        part("$skip", &|s| s.push_str(&n.to_string()));
    }
    if let Some(c) = o.count {
        part("$count", &|s| s.push_str(if c { "true" } else { "false" }));
    }
    if let Some(x) = &o.search {
        part("$search", &|s| search(s, x));
    }
    if let Some(l) = o.levels {
        part("$levels", &|s| match l {
            Levels::Max => s.push_str("max"),
            Levels::Count(n) => s.push_str(&n.to_string()),
        });
    }
    if let Some(items) = &o.compute {
        part("$compute", &|s| {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                expr(s, &item.expr);
                s.push_str("%20as%20");
                s.push_str(&item.name);
            }
        });
    }
    for (name, value) in &o.aliases {
        part(&format!("@{name}"), &|s| expr(s, value));
    }
    parts
}

fn nested(out: &mut String, o: &ExpandOptions) {
    out.push_str(&options(o).join(";"));
}

/// The whole query, canonically.
/// Prints `q` as the server of `dialect` reads it the same way (the phrases of `$search` are
/// the one place where that differs).
pub fn query_in(q: &Query, dialect: super::dialect::Dialect) -> String {
    super::dialect::within(dialect, || query(q))
}

pub fn query(q: &Query) -> String {
    let mut parts = options(&q.options);
    if let Some(c) = q.inlinecount {
        parts.push(format!(
            "$inlinecount={}",
            if c == InlineCount::AllPages {
                "allpages"
            } else {
                "none"
            }
        ));
    }
    let mut push = |name: &str, value: &Option<String>, encode: bool| {
        if let Some(v) = value {
            let mut s = format!("{name}=");
            if encode {
                encode_into(&mut s, v, b"");
            } else {
                s.push_str(v);
            }
            parts.push(s);
        }
    };
    push("$format", &q.format, true);
    push("$skiptoken", &q.skiptoken, false);
    push("$deltatoken", &q.deltatoken, false);
    push("$schemaversion", &q.schemaversion, false);
    push("$apply", &q.apply, false);
    push("$id", &q.id, false);
    if let Some(i) = q.index {
        parts.push(format!("$index={i}"));
    }
    for (name, value) in &q.custom {
        parts.push(match value {
            Some(v) => format!("{name}={v}"),
            None => name.clone(),
        });
    }
    parts.join("&")
}
