//! A small OData v4 `$filter` / `$orderby` parser for the indicator collection, producing an
//! AST that each storage backend renders to parameterised SQL. Field names are whitelisted and
//! literals are type-checked against the field, so no text from the query reaches SQL.
//!
//! Supported: `eq ne gt ge lt le`, `and or not`, parentheses, `startswith/endswith/contains`,
//! string, number, boolean, `null` and date-time literals, and
//! `rbacGroupNames/any(g: g eq 'X')` (likewise `rbacGroupIds`).

//!
//! - [`fields`]: the properties a query may name, per entity, with their kinds;
//! - [`lexer`] and [`filter`]: `$filter` text to a [`Filter`];
//! - [`order_by`]: `$orderby` text to [`OrderKey`]s.

mod fields;
mod filter;
mod lexer;
mod order_by;

pub use fields::{Entity, Field, FieldKind};
pub use filter::{MAX_FILTER_LEN, MAX_FILTER_TERMS, parse_filter, parse_filter_for};
pub use order_by::{MAX_ORDER_KEYS, parse_order_by, parse_order_by_for};

use iocd_model::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn sql(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFunction {
    StartsWith,
    EndsWith,
    Contains,
}

/// A literal after type-checking against its field.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Text(String),
    Integer(i64),
    Bool(bool),
    DateTime(Timestamp),
}

/// The subject of a comparison: a field of the indicator, or the element variable inside
/// `any()` over a collection field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Field(Field),
    Element(Field),
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        subject: Subject,
        op: CompareOp,
        value: Literal,
    },
    /// `field in (…)`, produced for legacy action names that stand for several actions.
    AnyOf {
        subject: Subject,
        values: Vec<Literal>,
    },
    Function {
        function: StringFunction,
        subject: Subject,
        value: String,
    },
    /// `collection/any(x: predicate)`; the predicate's subjects are `Subject::Element`.
    Any {
        collection: Field,
        predicate: Box<Filter>,
    },
}

/// One `$orderby` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    pub field: Field,
    pub descending: bool,
}

/// A malformed query; the message names the problem and, where useful, the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ODataError(pub String);

pub(crate) fn err<T>(message: impl Into<String>) -> Result<T, ODataError> {
    Err(ODataError(message.into()))
}
