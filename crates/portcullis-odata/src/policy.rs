//! Per-route OData policy: limits that keep queries cheap, and field rules that keep private
//! data to the principals allowed to see it.
//!
//! Only what a query *asks for* is policed: a private field may not be selected, filtered,
//! ordered or expanded by a principal below the configured level (filtering on a field leaks
//! it as surely as selecting it). What an upstream returns without `$select` is the upstream's
//! business; `$select=*` is treated like no `$select`. `$expand=*` asks for every navigation
//! property, private ones included, so it counts as naming each of them. Parameter aliases are
//! policed as the expressions they stand for ([`super::aliases`]).

use super::aliases;
use super::ast::*;
use super::error::ODataError;
use super::options::{parse_query, ParseOptions};
use portcullis_core::principal::{Level, Principal};
use serde::Serialize;

/// How the upstream receives the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Forwarding {
    /// As the client wrote it (plus an injected default `$top`).
    #[default]
    AsSent,
    /// Printed canonically from the parsed tree.
    Canonical,
}

/// Who may touch private fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateAccess {
    pub level: Level,
    /// Holding this scope also grants access.
    pub scope: Option<String>,
}

impl Default for PrivateAccess {
    fn default() -> Self {
        Self {
            level: Level::Verified,
            scope: None,
        }
    }
}

/// A route's OData rules.
#[derive(Debug, Clone)]
pub struct ODataPolicy {
    pub parse: ParseOptions,
    pub max_query_len: usize,
    pub max_top: Option<u64>,
    /// Larger `$top` is lowered to `max_top` instead of refused.
    pub clamp_top: bool,
    /// `$top` added when the client sent none.
    pub default_top: Option<u64>,
    pub max_skip: Option<u64>,
    pub max_expand_depth: u32,
    pub max_expand_items: u32,
    pub max_filter_nodes: u32,
    pub max_filter_depth: u32,
    pub allow_search: bool,
    pub allow_apply: bool,
    pub private_fields: Vec<String>,
    pub private_access: PrivateAccess,
    pub select_allow: Option<Vec<String>>,
    pub orderby_allow: Option<Vec<String>>,
    pub expand_allow: Option<Vec<String>>,
    pub forwarding: Forwarding,
}

impl Default for ODataPolicy {
    fn default() -> Self {
        Self {
            parse: ParseOptions::default(),
            max_query_len: 4096,
            max_top: None,
            clamp_top: false,
            default_top: None,
            max_skip: None,
            max_expand_depth: 3,
            max_expand_items: 20,
            max_filter_nodes: 100,
            max_filter_depth: 20,
            allow_search: true,
            allow_apply: false,
            private_fields: Vec::new(),
            private_access: PrivateAccess::default(),
            select_allow: None,
            orderby_allow: None,
            expand_allow: None,
            forwarding: Forwarding::AsSent,
        }
    }
}

/// Why a query was refused. Serializes to the JSON body of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    #[serde(skip)]
    pub status: u16,
    pub error: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub option: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl Refusal {
    fn invalid(e: ODataError) -> Self {
        Self {
            status: 400,
            error: "invalid_odata",
            option: e.option,
            position: Some(e.position),
            field: None,
            message: e.message,
        }
    }

    fn limit(option: &str, message: String) -> Self {
        Self {
            status: 400,
            error: "odata_limit",
            option: option.to_string(),
            position: None,
            field: None,
            message,
        }
    }

    fn field(status: u16, error: &'static str, option: &str, field: &str, message: &str) -> Self {
        Self {
            status,
            error,
            option: option.to_string(),
            position: None,
            field: Some(field.to_string()),
            message: message.to_string(),
        }
    }

    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain data serializes")
    }

    /// The gateway's answer: the status and this refusal as the JSON body (it names the
    /// option, the position and the field, so a client can fix its query).
    pub fn answer(&self) -> portcullis_core::answer::Answer {
        portcullis_core::answer::Answer::json(self.status, self.body())
    }
}

/// Visits every property name an expression refers to.
fn expr_names<'e>(e: &'e Expr, out: &mut Vec<&'e str>) {
    match e {
        Expr::Literal { .. } | Expr::Alias { .. } | Expr::List { .. } => {}
        Expr::Path { segments } => segments.iter().for_each(|s| segment_names(s, out)),
        Expr::Function { args, .. } => args.iter().for_each(|a| expr_names(a, out)),
        Expr::Case { branches } => branches.iter().for_each(|(c, v)| {
            expr_names(c, out);
            expr_names(v, out);
        }),
        Expr::Unary { operand, .. } => expr_names(operand, out),
        Expr::Binary { left, right, .. } => {
            expr_names(left, out);
            expr_names(right, out);
        }
        Expr::Group { inner } => expr_names(inner, out),
        Expr::Array { items } => items.iter().for_each(|i| expr_names(i, out)),
        Expr::Object { members } => members.iter().for_each(|(_, v)| expr_names(v, out)),
    }
}

fn segment_names<'e>(s: &'e Segment, out: &mut Vec<&'e str>) {
    match s {
        Segment::Name { name } | Segment::Call { name, .. } => out.push(name),
        Segment::Filter { expr } => expr_names(expr, out),
        Segment::Lambda {
            predicate: Some(p), ..
        } => expr_names(p, out),
        Segment::Count { options: Some(o) } => {
            if let Some(f) = &o.filter {
                expr_names(f, out);
            }
        }
        _ => {}
    }
    if let Segment::Call { args, .. } | Segment::Key { args } = s {
        args.iter().for_each(|a| expr_names(&a.value, out));
    }
}

/// One field reference and the option it came from.
struct FieldUse<'q> {
    option: &'static str,
    name: &'q str,
}

fn collect_uses<'q>(o: &'q ExpandOptions, uses: &mut Vec<FieldUse<'q>>) {
    fn add<'q>(uses: &mut Vec<FieldUse<'q>>, option: &'static str, names: Vec<&'q str>) {
        uses.extend(names.into_iter().map(|name| FieldUse { option, name }));
    }
    let mut names = Vec::new();
    if let Some(f) = &o.filter {
        expr_names(f, &mut names);
    }
    add(uses, "$filter", std::mem::take(&mut names));
    // An alias's value names fields even where no option uses it: the backend may still read it.
    for (_, value) in &o.aliases {
        expr_names(value, &mut names);
    }
    add(uses, "parameter alias", std::mem::take(&mut names));
    for item in o.orderby.iter().flatten() {
        expr_names(&item.expr, &mut names);
    }
    add(uses, "$orderby", std::mem::take(&mut names));
    for item in o.compute.iter().flatten() {
        expr_names(&item.expr, &mut names);
    }
    add(uses, "$compute", std::mem::take(&mut names));
    for item in o.select.iter().flatten() {
        add(
            uses,
            "$select",
            item.path.iter().map(String::as_str).collect(),
        );
        if let Some(nested) = &item.options {
            collect_uses(nested, uses);
        }
    }
    for item in o.expand.iter().flatten() {
        add(
            uses,
            "$expand",
            item.path.iter().map(String::as_str).collect(),
        );
        if let Some(nested) = &item.options {
            collect_uses(nested, uses);
        }
    }
}

impl ODataPolicy {
    /// Whether a use touches a private field: one named in any case (a backend may match names
    /// case-insensitively), an alias definition that names one, or `$expand=*`, which expands
    /// every navigation property.
    fn is_private(&self, used: &FieldUse<'_>) -> bool {
        (used.option == "$expand" && used.name == "*")
            || self
                .private_fields
                .iter()
                .any(|p| p.eq_ignore_ascii_case(used.name))
    }

    fn may_see_private(&self, principal: &Principal) -> bool {
        principal.level() >= self.private_access.level
            || self.private_access.scope.as_ref().is_some_and(|scope| {
                principal
                    .identity()
                    .is_some_and(|id| id.scopes.iter().any(|s| s == scope))
            })
    }

    fn check_limits(&self, o: &ExpandOptions, depth: u32, items: &mut u32) -> Result<(), Refusal> {
        if let Some(top) = o.top {
            if self.max_top.is_some_and(|max| top > max) && !(self.clamp_top && depth == 0) {
                return Err(Refusal::limit(
                    "$top",
                    format!("$top may be at most {}", self.max_top.unwrap_or(0)),
                ));
            }
        }
        if let (Some(skip), Some(max)) = (o.skip, self.max_skip) {
            if skip > max {
                return Err(Refusal::limit(
                    "$skip",
                    format!("$skip may be at most {max}"),
                ));
            }
        }
        if let Some(filter) = &o.filter {
            let (nodes, nesting) = filter.size();
            if nodes > self.max_filter_nodes {
                return Err(Refusal::limit(
                    "$filter",
                    format!("$filter may have at most {} nodes", self.max_filter_nodes),
                ));
            }
            if nesting > self.max_filter_depth {
                return Err(Refusal::limit(
                    "$filter",
                    format!("$filter may nest at most {} deep", self.max_filter_depth),
                ));
            }
        }
        if o.search.is_some() && !self.allow_search {
            return Err(Refusal::limit(
                "$search",
                "$search is not allowed here".into(),
            ));
        }
        if let Some(expand) = &o.expand {
            for item in expand {
                *items += 1;
                if *items > self.max_expand_items {
                    return Err(Refusal::limit(
                        "$expand",
                        format!("at most {} expanded items", self.max_expand_items),
                    ));
                }
                let levels = match item.options.as_ref().and_then(|o| o.levels) {
                    Some(Levels::Max) => u32::MAX,
                    Some(Levels::Count(n)) => n,
                    None => 1,
                };
                let reached = depth.saturating_add(levels);
                if reached > self.max_expand_depth {
                    return Err(Refusal::limit(
                        "$expand",
                        format!("$expand may nest at most {} deep", self.max_expand_depth),
                    ));
                }
                if let Some(nested) = &item.options {
                    self.check_limits(nested, reached, items)?;
                }
            }
        }
        if let Some(select) = &o.select {
            for item in select {
                if let Some(nested) = &item.options {
                    self.check_limits(nested, depth, items)?;
                }
            }
        }
        Ok(())
    }

    /// Allow-lists compare names as the dialect's server resolves them (without regard to case
    /// for OData.NET), so a listed field is not refused for its spelling.
    fn check_allow_lists(&self, o: &ExpandOptions) -> Result<(), Refusal> {
        let dialect = self.parse.dialect;
        let check = |option: &str,
                     allow: &Option<Vec<String>>,
                     mut used: &mut dyn Iterator<Item = &str>|
         -> Result<(), Refusal> {
            let Some(allow) = allow else { return Ok(()) };
            // `$select=*` is no `$select`; `$expand=*` expands what the list leaves out.
            let everything_ok = option == "$select";
            let allowed = |n: &str| {
                (everything_ok && n == "*") || allow.iter().any(|a| dialect.same_name(a, n))
            };
            match (&mut used).find(|n| !allowed(n)) {
                Some(name) => Err(Refusal::field(
                    400,
                    "invalid_odata",
                    option,
                    name,
                    "this field may not be used here",
                )),
                None => Ok(()),
            }
        };
        fn first(path: &[String]) -> Option<&str> {
            path.first().map(String::as_str)
        }
        check(
            "$select",
            &self.select_allow,
            &mut o.select.iter().flatten().filter_map(|i| first(&i.path)),
        )?;
        check(
            "$expand",
            &self.expand_allow,
            &mut o.expand.iter().flatten().filter_map(|i| first(&i.path)),
        )?;
        let mut ordered = Vec::new();
        for item in o.orderby.iter().flatten() {
            let mut names = Vec::new();
            expr_names(&item.expr, &mut names);
            ordered.extend(names.into_iter().take(1));
        }
        check("$orderby", &self.orderby_allow, &mut ordered.into_iter())
    }

    /// Checks a request's raw query (without `?`, credentials already removed) for
    /// `principal`. `Ok(Some(q))`: forward `q` instead of what was sent.
    pub fn check(&self, raw: &str, principal: &Principal) -> Result<Option<String>, Refusal> {
        if raw.len() > self.max_query_len {
            return Err(Refusal {
                status: 414,
                error: "odata_limit",
                option: String::new(),
                position: Some(self.max_query_len),
                field: None,
                message: format!("the query may be at most {} bytes", self.max_query_len),
            });
        }
        let mut query = parse_query(raw, self.parse).map_err(Refusal::invalid)?;
        if query.apply.is_some() && !self.allow_apply {
            return Err(Refusal::limit(
                "$apply",
                "$apply is not allowed here".into(),
            ));
        }
        // Policed as evaluated: aliases replaced by their values. What is forwarded is still
        // the query as parsed (or sent).
        let inlined;
        let policed = if aliases::may_have_aliases(raw) {
            let mut copy = query.options.clone();
            aliases::inline(&mut copy)
                .map_err(|e| Refusal::limit("$filter", e.message().into()))?;
            inlined = copy;
            &inlined
        } else {
            &query.options
        };
        self.check_limits(policed, 0, &mut 0)?;
        self.check_allow_lists(policed)?;
        if !self.private_fields.is_empty() && !self.may_see_private(principal) {
            let mut uses = Vec::new();
            collect_uses(policed, &mut uses);
            if let Some(used) = uses.iter().find(|u| self.is_private(u)) {
                return Err(Refusal::field(
                    403,
                    "forbidden_field",
                    used.option,
                    used.name,
                    "this field needs a stronger authentication level",
                ));
            }
        }
        let mut rewritten = false;
        if let (Some(top), Some(max)) = (query.options.top, self.max_top) {
            if self.clamp_top && top > max {
                query.options.top = Some(max);
                rewritten = true;
            }
        }
        if query.options.top.is_none() {
            if let Some(default) = self.default_top {
                query.options.top = Some(default);
                if self.forwarding == Forwarding::AsSent {
                    let joiner = if raw.is_empty() { "" } else { "&" };
                    return Ok(Some(format!("{raw}{joiner}$top={default}")));
                }
                rewritten = true;
            }
        }
        if self.forwarding == Forwarding::Canonical || rewritten {
            return Ok(Some(super::print::query_in(&query, self.parse.dialect)));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::principal::Identity;
    use std::sync::Arc;

    fn principal(level: Level, scopes: &[&str]) -> Principal {
        Principal::authenticated(Identity {
            issuer: Arc::from("t"),
            subject: "u".into(),
            tenant: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            level,
            audiences: vec![],
            expires_at: None,
            not_before: None,
            leeway: 0,
            token_id: None,
            claimed_subject: None,
        })
    }

    fn policy() -> ODataPolicy {
        ODataPolicy {
            max_top: Some(100),
            max_skip: Some(1000),
            max_expand_depth: 2,
            private_fields: vec!["name".into(), "friends".into(), "rewards".into()],
            private_access: PrivateAccess {
                level: Level::Verified,
                scope: Some("profile:private".into()),
            },
            ..ODataPolicy::default()
        }
    }

    #[test]
    fn private_fields_need_verified_or_the_scope() {
        let p = policy();
        let identified = principal(Level::Identified, &[]);
        for q in [
            "$select=id,name",
            "$filter=name%20eq%20'x'",
            "$orderby=rewards%20desc",
            "$expand=friends",
            "$filter=friends/any(f:f/id%20eq%201)",
            "$expand=items($select=name)",
        ] {
            let r = p.check(q, &identified).unwrap_err();
            assert_eq!((r.status, r.error), (403, "forbidden_field"), "{q}");
            assert!(r.field.is_some());
        }
        assert_eq!(
            p.check("$select=id,name", &principal(Level::Verified, &[])),
            Ok(None)
        );
        assert_eq!(
            p.check(
                "$select=name",
                &principal(Level::Identified, &["profile:private"])
            ),
            Ok(None)
        );
        assert_eq!(p.check("$select=*", &identified), Ok(None));
    }

    #[test]
    fn expanding_everything_names_every_private_field() {
        let p = policy();
        let identified = principal(Level::Identified, &[]);
        for q in [
            "$expand=*",
            "$expand=*($levels=2)",
            "$expand=*/$ref",
            "$expand=items($expand=*)",
            "$select=NAME",
            "$orderby=Rewards",
        ] {
            let r = p.check(q, &identified).unwrap_err();
            assert_eq!((r.status, r.error), (403, "forbidden_field"), "{q}");
        }
        assert_eq!(
            p.check("$expand=*", &principal(Level::Verified, &[])),
            Ok(None)
        );
        let mut listed = policy();
        listed.expand_allow = Some(vec!["items".into()]);
        let r = listed
            .check("$expand=*", &principal(Level::Verified, &[]))
            .unwrap_err();
        assert_eq!((r.status, r.field.as_deref()), (400, Some("*")));
    }

    #[test]
    fn aliases_are_policed_as_the_expressions_they_stand_for() {
        let p = policy();
        let identified = principal(Level::Identified, &[]);
        for q in [
            "$filter=@p%20eq%20'Bob'&@p=name",
            "$orderby=@p&@p=name",
            "$expand=items($filter=@p%20eq%201)&@p=rewards",
            "$filter=id%20eq%20@a&@a=@b&@b=friends/$count",
            "$filter=id%20eq%201&@unused=name",
        ] {
            let r = p.check(q, &identified).unwrap_err();
            assert_eq!((r.status, r.error), (403, "forbidden_field"), "{q}");
        }
        let v = principal(Level::Verified, &[]);
        let terms = vec!["a%20eq%201"; 120].join("%20and%20");
        let direct = p.check(&format!("$filter={terms}"), &v).unwrap_err();
        let aliased = p.check(&format!("$filter=@p&@p={terms}"), &v).unwrap_err();
        assert_eq!(direct.option, "$filter");
        assert_eq!(aliased, direct, "the same refusal either way");
        let cycle = p.check("$filter=@a&@a=@b&@b=@a", &v).unwrap_err();
        assert_eq!((cycle.status, cycle.error), (400, "odata_limit"));
        assert_eq!(
            p.check("$filter=id%20eq%20@p&@p=3", &identified),
            Ok(None),
            "aliases of literals are fine, and forwarded as sent"
        );
    }

    #[test]
    fn limits_refuse_or_clamp() {
        let mut p = policy();
        let v = principal(Level::Verified, &[]);
        assert_eq!(p.check("$top=500", &v).unwrap_err().option, "$top");
        assert_eq!(p.check("$skip=5000", &v).unwrap_err().option, "$skip");
        assert_eq!(
            p.check("$expand=a($expand=b($expand=c))", &v)
                .unwrap_err()
                .option,
            "$expand"
        );
        assert_eq!(
            p.check("$expand=a($levels=max)", &v).unwrap_err().option,
            "$expand"
        );
        assert_eq!(
            p.check("$expand=a($top=500)", &v).unwrap_err().option,
            "$top"
        );
        p.clamp_top = true;
        assert_eq!(p.check("$top=500", &v), Ok(Some("$top=100".into())));
        p.default_top = Some(20);
        assert_eq!(
            p.check("$filter=id%20gt%201", &v),
            Ok(Some("$filter=id%20gt%201&$top=20".into()))
        );
        let long = format!(
            "$filter={}",
            "a%20eq%201%20and%20".repeat(60) + "b%20eq%202"
        );
        assert_eq!(p.check(&long, &v).unwrap_err().option, "$filter");
    }

    #[test]
    fn syntax_errors_carry_option_and_position() {
        let r = policy()
            .check(
                "$top=1&$filter=Price%20eq",
                &principal(Level::Verified, &[]),
            )
            .unwrap_err();
        assert_eq!(
            (r.status, r.error, r.position),
            (400, "invalid_odata", Some(25))
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body()).unwrap();
        assert_eq!(body["option"], "$filter");
    }

    #[test]
    fn allow_lists_name_the_field() {
        let mut p = policy();
        p.select_allow = Some(vec!["id".into(), "age".into()]);
        p.orderby_allow = Some(vec!["age".into()]);
        let v = principal(Level::Verified, &[]);
        assert_eq!(p.check("$select=id,age,*", &v), Ok(None));
        let r = p.check("$select=id,email", &v).unwrap_err();
        assert_eq!((r.status, r.field.as_deref()), (400, Some("email")));
        let r = p.check("$orderby=id%20desc", &v).unwrap_err();
        assert_eq!(
            (r.option.as_str(), r.field.as_deref()),
            ("$orderby", Some("id"))
        );
    }

    #[test]
    fn canonical_forwarding_rewrites() {
        let mut p = policy();
        p.forwarding = Forwarding::Canonical;
        let v = principal(Level::Verified, &[]);
        assert_eq!(
            p.check("%24top=5&$filter=Price%20GT%205", &v),
            Ok(Some("$filter=Price%20gt%205&$top=5".into()))
        );
    }
}
