//! The typed syntax tree of OData query options.

use serde::Serialize;

/// A primitive literal. Numbers keep their text (decoded), so printing reproduces them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Literal {
    Null,
    Boolean(bool),
    /// Integer, decimal or double as written (`42`, `-2.5`, `1e-101`, `INF`, `-INF`, `NaN`).
    Number(String),
    /// `'…'`, decoded, `''` unescaped.
    String(String),
    /// A JSON string `"…"`, decoded.
    JsonString(String),
    Guid(String),
    Date(String),
    DateTimeOffset(String),
    TimeOfDay(String),
    /// `duration'P…'`: the value between the quotes.
    Duration(String),
    /// `binary'…'`: the base64url text.
    Binary(String),
    /// `Ns.Type'Member'`.
    Enum {
        type_name: String,
        value: String,
    },
    /// `geography'SRID=…;Point(…)'` / `geometry'…'`: the value between the quotes, decoded.
    Geo {
        geography: bool,
        value: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Has,
    In,
    Add,
    Sub,
    Mul,
    Div,
    DivBy,
    Mod,
}

impl BinaryOp {
    pub fn keyword(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Has => "has",
            BinaryOp::In => "in",
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::DivBy => "divby",
            BinaryOp::Mod => "mod",
        }
    }

    /// Binding strength: higher binds tighter (OData 4.01 URL conventions §5.1.1.14).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Lt | BinaryOp::Le => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::DivBy | BinaryOp::Mod => 6,
            BinaryOp::Has | BinaryOp::In => 8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnaryOp {
    Neg,
    Not,
}

/// Precedence of unary operators (between multiplicative and `has`/`in`).
pub const UNARY_PRECEDENCE: u8 = 7;

/// One `/`-separated step of a path.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "segment", rename_all = "snake_case")]
pub enum Segment {
    /// A property, navigation property, type cast or range variable: `Name`, `Ns.Type`.
    Name { name: String },
    /// `$it`, `$this`, `$root`.
    Variable { name: String },
    /// `@Ns.Term` or `@Term#Qualifier`.
    Annotation { name: String },
    /// `Name(…)`: a function call (named arguments) or a key predicate.
    Call { name: String, args: Vec<Argument> },
    /// `$count`, optionally with `($filter=…;$search=…)`.
    Count { options: Option<Box<ExpandOptions>> },
    /// `$filter(expr)`.
    Filter { expr: Box<Expr> },
    /// A key predicate on the previous segment: `(1)` or `(ID='x')`.
    Key { args: Vec<Argument> },
    /// `any(…)` / `all(…)`; `any()` has neither variable nor predicate.
    Lambda {
        all: bool,
        variable: Option<String>,
        predicate: Option<Box<Expr>>,
    },
}

/// An argument of a call or key: positional or `name=value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Argument {
    pub name: Option<String>,
    pub value: Expr,
}

/// A `$filter`/`$orderby`/… expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expr {
    Literal {
        value: Literal,
    },
    /// `@name`
    Alias {
        name: String,
    },
    Path {
        segments: Vec<Segment>,
    },
    /// A canonical function: `contains(…)`, `year(…)`, `geo.distance(…)`; name in lower case.
    Function {
        name: String,
        args: Vec<Expr>,
    },
    /// `case(c1:v1, c2:v2, …)`
    Case {
        branches: Vec<(Expr, Expr)>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `( … )` kept so printing reproduces the grouping the client wrote.
    Group {
        inner: Box<Expr>,
    },
    /// `('a','b')`, only on the right of `in`.
    List {
        items: Vec<Literal>,
    },
    /// `[…]`
    Array {
        items: Vec<Expr>,
    },
    /// `{"name": …}`
    Object {
        members: Vec<(String, Expr)>,
    },
}

impl Expr {
    /// `left op right`.
    pub fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    /// Size of the tree: (nodes, depth) — what the policy's filter limits count.
    pub fn size(&self) -> (u32, u32) {
        let children: Vec<&Expr> = match self {
            Expr::Literal { .. } | Expr::Alias { .. } | Expr::List { .. } => vec![],
            Expr::Path { segments } => segments
                .iter()
                .flat_map(|s| match s {
                    Segment::Filter { expr } => vec![&**expr],
                    Segment::Lambda {
                        predicate: Some(p), ..
                    } => vec![&**p],
                    Segment::Call { args, .. } | Segment::Key { args } => {
                        args.iter().map(|a| &a.value).collect()
                    }
                    _ => vec![],
                })
                .collect(),
            Expr::Function { args, .. } => args.iter().collect(),
            Expr::Case { branches } => branches.iter().flat_map(|(c, v)| [c, v]).collect(),
            Expr::Unary { operand, .. } => vec![&**operand],
            Expr::Binary { left, right, .. } => vec![&**left, &**right],
            Expr::Group { inner } => vec![&**inner],
            Expr::Array { items } => items.iter().collect(),
            Expr::Object { members } => members.iter().map(|(_, v)| v).collect(),
        };
        children.iter().fold((1, 1), |(nodes, depth), child| {
            let (n, d) = child.size();
            (nodes.saturating_add(n), depth.max(d + 1))
        })
    }
}

/// `asc`/`desc` of an `$orderby` item; `None` when not written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderItem {
    pub expr: Expr,
    pub descending: Option<bool>,
}

/// A `$search` expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SearchExpr {
    Word {
        text: String,
    },
    Phrase {
        text: String,
    },
    Not {
        operand: Box<SearchExpr>,
    },
    And {
        left: Box<SearchExpr>,
        right: Box<SearchExpr>,
    },
    Or {
        left: Box<SearchExpr>,
        right: Box<SearchExpr>,
    },
    Group {
        inner: Box<SearchExpr>,
    },
}

/// One `$select` item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectItem {
    /// `*`, `Ns.*`, `Address/Street`, `@Core.Messages`, `Ns.Action(Param1,Param2)`…
    pub path: Vec<String>,
    /// Parameter names of an overloaded function, `Fn(A,B)`.
    pub parameters: Option<Vec<String>>,
    pub options: Option<Box<ExpandOptions>>,
}

/// What an `$expand` item names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpandTarget {
    /// A navigation path (`Items`, `Address/Country`, `*`, `@Ns.Term`).
    Path,
    /// `…/$ref`
    Ref,
    /// `…/$count`
    Count,
    /// `$value`
    Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpandItem {
    pub path: Vec<String>,
    pub target: ExpandTarget,
    pub options: Option<Box<ExpandOptions>>,
}

/// `$levels=n` or `$levels=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Levels {
    Max,
    Count(u32),
}

/// `$compute` item: `expr as Name`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComputeItem {
    pub expr: Expr,
    pub name: String,
}

/// Options nested in `$expand`/`$select` parentheses (and the top level shares the shape).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ExpandOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select: Option<Vec<SelectItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expand: Option<Vec<ExpandItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orderby: Option<Vec<OrderItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchExpr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub levels: Option<Levels>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute: Option<Vec<ComputeItem>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<(String, Expr)>,
}

/// `$inlinecount` (OData 2.0/3.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InlineCount {
    AllPages,
    None,
}

/// The query options of one request.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Query {
    /// Options that also nest inside `$expand`.
    #[serde(flatten)]
    pub options: ExpandOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inlinecount: Option<InlineCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skiptoken: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deltatoken: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schemaversion: Option<String>,
    /// `$apply`, passed through unparsed (the aggregation extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<String>,
    /// `$id`, passed through unparsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Custom options (no `$`), raw as sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<(String, Option<String>)>,
}
