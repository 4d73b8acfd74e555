//! A small OData v4 `$filter` / `$orderby` parser for the indicator collection, producing an
//! AST that each storage backend renders to parameterised SQL. Field names are whitelisted and
//! literals are type-checked against the field, so no text from the query reaches SQL.
//!
//! Supported: `eq ne gt ge lt le`, `and or not`, parentheses, `startswith/endswith/contains`,
//! string, number, boolean, `null` and date-time literals, and
//! `rbacGroupNames/any(g: g eq 'X')` (likewise `rbacGroupIds`).

use iocd_model::{Action, IndicatorType, LegacyAction, Severity, Timestamp};
use std::fmt;

/// A field of the indicator entity that may appear in `$filter` or `$orderby`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Application,
    CreatedByDisplayName,
    ExpirationTime,
    GenerateAlert,
    Title,
    Description,
    RbacGroupNames,
    RbacGroupIds,
    IndicatorValue,
    IndicatorType,
    CreationTimeDateTimeUtc,
    LastUpdateTime,
    LastUpdatedBy,
    CreatedBy,
    Action,
    Severity,
    Category,
    ExternalId,
    // Alert properties (MDE alert entity names, plus iocd's indicator link).
    Status,
    Classification,
    AssignedTo,
    DetectionSource,
    AlertCategory,
    AlertCreationTime,
    FirstEventTime,
    LastEventTime,
    MachineId,
    ComputerDnsName,
    MachineGroup,
    IndicatorId,
    EventCount,
}

/// Which entity a query ranges over; each has its own filterable properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Entity {
    #[default]
    Indicator,
    Alert,
}

/// The type of a field, which decides which literals and operators it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Enum,
    DateTime,
    Bool,
    Integer,
    TextCollection,
    IntegerCollection,
}

const FIELDS: &[(&str, Field, FieldKind)] = &[
    ("id", Field::Id, FieldKind::Integer),
    ("application", Field::Application, FieldKind::Text),
    (
        "createdByDisplayName",
        Field::CreatedByDisplayName,
        FieldKind::Text,
    ),
    ("expirationTime", Field::ExpirationTime, FieldKind::DateTime),
    ("generateAlert", Field::GenerateAlert, FieldKind::Bool),
    ("title", Field::Title, FieldKind::Text),
    ("description", Field::Description, FieldKind::Text),
    (
        "rbacGroupNames",
        Field::RbacGroupNames,
        FieldKind::TextCollection,
    ),
    (
        "rbacGroupIds",
        Field::RbacGroupIds,
        FieldKind::IntegerCollection,
    ),
    ("indicatorValue", Field::IndicatorValue, FieldKind::Text),
    ("indicatorType", Field::IndicatorType, FieldKind::Enum),
    (
        "creationTimeDateTimeUtc",
        Field::CreationTimeDateTimeUtc,
        FieldKind::DateTime,
    ),
    ("lastUpdateTime", Field::LastUpdateTime, FieldKind::DateTime),
    ("lastUpdatedBy", Field::LastUpdatedBy, FieldKind::Text),
    ("createdBy", Field::CreatedBy, FieldKind::Text),
    ("action", Field::Action, FieldKind::Enum),
    ("severity", Field::Severity, FieldKind::Enum),
    ("category", Field::Category, FieldKind::Integer),
    ("externalId", Field::ExternalId, FieldKind::Text),
];

const ALERT_FIELDS: &[(&str, Field, FieldKind)] = &[
    ("id", Field::Id, FieldKind::Integer),
    ("title", Field::Title, FieldKind::Text),
    ("description", Field::Description, FieldKind::Text),
    ("severity", Field::Severity, FieldKind::Enum),
    ("status", Field::Status, FieldKind::Enum),
    ("classification", Field::Classification, FieldKind::Enum),
    ("assignedTo", Field::AssignedTo, FieldKind::Text),
    ("detectionSource", Field::DetectionSource, FieldKind::Enum),
    ("category", Field::AlertCategory, FieldKind::Text),
    (
        "alertCreationTime",
        Field::AlertCreationTime,
        FieldKind::DateTime,
    ),
    ("firstEventTime", Field::FirstEventTime, FieldKind::DateTime),
    ("lastEventTime", Field::LastEventTime, FieldKind::DateTime),
    ("lastUpdateTime", Field::LastUpdateTime, FieldKind::DateTime),
    ("machineId", Field::MachineId, FieldKind::Text),
    ("computerDnsName", Field::ComputerDnsName, FieldKind::Text),
    ("machineGroup", Field::MachineGroup, FieldKind::Text),
    ("indicatorId", Field::IndicatorId, FieldKind::Integer),
    ("indicatorValue", Field::IndicatorValue, FieldKind::Text),
    ("indicatorType", Field::IndicatorType, FieldKind::Enum),
    ("action", Field::Action, FieldKind::Enum),
    ("eventCount", Field::EventCount, FieldKind::Integer),
];

impl Entity {
    fn fields(self) -> &'static [(&'static str, Field, FieldKind)] {
        match self {
            Entity::Indicator => FIELDS,
            Entity::Alert => ALERT_FIELDS,
        }
    }
}

impl Field {
    /// Looks up an indicator property by its wire name.
    pub fn parse(name: &str) -> Option<Field> {
        Field::parse_in(Entity::Indicator, name)
    }

    /// Looks up a property of `entity` by its wire name.
    pub fn parse_in(entity: Entity, name: &str) -> Option<Field> {
        entity
            .fields()
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, f, _)| *f)
    }

    pub fn name(self) -> &'static str {
        FIELDS
            .iter()
            .chain(ALERT_FIELDS)
            .find(|(_, f, _)| *f == self)
            .map_or("?", |(n, _, _)| n)
    }

    /// The field's type (a field shared by both entities has the same type in each).
    pub fn kind(self) -> FieldKind {
        FIELDS
            .iter()
            .chain(ALERT_FIELDS)
            .find(|(_, f, _)| *f == self)
            .map_or(FieldKind::Text, |(_, _, k)| *k)
    }

    fn names(entity: Entity) -> String {
        entity
            .fields()
            .iter()
            .map(|(n, _, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

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

fn err<T>(message: impl Into<String>) -> Result<T, ODataError> {
    Err(ODataError(message.into()))
}

/// Longest `$filter` accepted, and deepest nesting, so hostile queries stay cheap.
pub const MAX_FILTER_LEN: usize = 8192;
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Number(i64),
    DateTime(Timestamp),
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "{s}"),
            Token::Str(s) => write!(f, "'{s}'"),
            Token::Number(n) => write!(f, "{n}"),
            Token::DateTime(t) => write!(f, "{}", t.to_mde_seconds()),
            Token::LParen => f.write_str("("),
            Token::RParen => f.write_str(")"),
            Token::Comma => f.write_str(","),
            Token::Slash => f.write_str("/"),
            Token::Colon => f.write_str(":"),
        }
    }
}

fn tokenize(input: &str) -> Result<Vec<Token>, ODataError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push(Token::LParen);
                i += 1;
            }
            ')' => {
                tokens.push(Token::RParen);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            '/' => {
                tokens.push(Token::Slash);
                i += 1;
            }
            ':' => {
                tokens.push(Token::Colon);
                i += 1;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return err(format!(
                                "unterminated string literal starting at position {}",
                                tokens.len()
                            ));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(text));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], ':' | '.' | '-' | '+'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                if let Ok(n) = text.parse::<i64>() {
                    tokens.push(Token::Number(n));
                } else if let Some(t) = Timestamp::parse(&text) {
                    tokens.push(Token::DateTime(t));
                } else {
                    return err(format!(
                        "'{text}' is neither a number nor a date-time literal"
                    ));
                }
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                // The first character is taken whatever it is (`$` starts an identifier but
                // does not continue one), so the lexer always moves on.
                i += 1;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.'))
                {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return err(format!("unexpected character '{other}' in $filter")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    depth: usize,
    /// Inside `any()`: the lambda variable and the collection it ranges over.
    lambda: Option<(String, Field)>,
    entity: Entity,
}

/// Parses a `$filter` expression over indicators.
pub fn parse_filter(input: &str) -> Result<Filter, ODataError> {
    parse_filter_for(Entity::Indicator, input)
}

/// Parses a `$filter` expression over `entity`.
pub fn parse_filter_for(entity: Entity, input: &str) -> Result<Filter, ODataError> {
    if input.len() > MAX_FILTER_LEN {
        return err(format!(
            "$filter is longer than {MAX_FILTER_LEN} characters"
        ));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return err("$filter is empty");
    }
    let mut parser = Parser {
        tokens,
        position: 0,
        depth: 0,
        lambda: None,
        entity,
    };
    let filter = parser.parse_or()?;
    if let Some(token) = parser.peek() {
        return err(format!("unexpected '{token}' after a complete expression"));
    }
    Ok(filter)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(s)) if s.eq_ignore_ascii_case(keyword))
    }

    fn expect(&mut self, expected: Token) -> Result<(), ODataError> {
        match self.next() {
            Some(token) if token == expected => Ok(()),
            Some(token) => err(format!("expected '{expected}' but found '{token}'")),
            None => err(format!("expected '{expected}' but the expression ended")),
        }
    }

    fn parse_or(&mut self) -> Result<Filter, ODataError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("$filter is nested too deeply");
        }
        let mut left = self.parse_and()?;
        while self.peek_keyword("or") {
            self.position += 1;
            let right = self.parse_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Filter, ODataError> {
        let mut left = self.parse_unary()?;
        while self.peek_keyword("and") {
            self.position += 1;
            let right = self.parse_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Filter, ODataError> {
        if self.peek_keyword("not") {
            self.position += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return err("$filter is nested too deeply");
            }
            let inner = self.parse_unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Filter, ODataError> {
        match self.next() {
            Some(Token::LParen) => {
                let inner = self.parse_or()?;
                self.expect(Token::RParen)?;
                Ok(inner)
            }
            Some(Token::Ident(name)) => {
                if self.peek() == Some(&Token::LParen) {
                    return self.parse_function(&name);
                }
                let subject = self.resolve_subject(&name)?;
                if let Subject::Field(field) = subject
                    && matches!(
                        field.kind(),
                        FieldKind::TextCollection | FieldKind::IntegerCollection
                    )
                {
                    return self.parse_any(field);
                }
                self.parse_comparison(subject)
            }
            Some(token) => err(format!(
                "expected a field name, 'not' or '(' but found '{token}'"
            )),
            None => err("the expression ended where a condition was expected"),
        }
    }

    fn resolve_subject(&self, name: &str) -> Result<Subject, ODataError> {
        if let Some((variable, collection)) = &self.lambda
            && name == variable
        {
            return Ok(Subject::Element(*collection));
        }
        match Field::parse_in(self.entity, name) {
            Some(field) => Ok(Subject::Field(field)),
            None => err(format!(
                "unknown or non-filterable property '{name}'; filterable properties: {}",
                Field::names(self.entity)
            )),
        }
    }

    fn parse_any(&mut self, collection: Field) -> Result<Filter, ODataError> {
        let usage = || {
            format!(
                "use {}/any(g: g eq 'value') to filter on a collection",
                collection.name()
            )
        };
        if self.next() != Some(Token::Slash) {
            return err(usage());
        }
        match self.next() {
            Some(Token::Ident(word)) if word == "any" => {}
            _ => return err(usage()),
        }
        self.expect(Token::LParen)?;
        let Some(Token::Ident(variable)) = self.next() else {
            return err(usage());
        };
        self.expect(Token::Colon)?;
        if self.lambda.is_some() {
            return err("nested any() is not supported");
        }
        self.lambda = Some((variable, collection));
        let predicate = self.parse_or();
        self.lambda = None;
        let predicate = predicate?;
        self.expect(Token::RParen)?;
        Ok(Filter::Any {
            collection,
            predicate: Box::new(predicate),
        })
    }

    fn parse_function(&mut self, name: &str) -> Result<Filter, ODataError> {
        let function = match name.to_ascii_lowercase().as_str() {
            "startswith" => StringFunction::StartsWith,
            "endswith" => StringFunction::EndsWith,
            "contains" => StringFunction::Contains,
            _ => {
                return err(format!(
                    "unsupported function '{name}'; supported: startswith, endswith, contains"
                ));
            }
        };
        self.expect(Token::LParen)?;
        let subject = match self.next() {
            Some(Token::Ident(field)) => self.resolve_subject(&field)?,
            _ => return err(format!("{name}() takes a property name first")),
        };
        let kind = subject_kind(subject);
        if !matches!(
            kind,
            FieldKind::Text | FieldKind::Enum | FieldKind::TextCollection
        ) {
            return err(format!(
                "{name}() applies to text properties, not to {}",
                subject_name(subject)
            ));
        }
        self.expect(Token::Comma)?;
        let Some(Token::Str(value)) = self.next() else {
            return err(format!("{name}() takes a quoted string second"));
        };
        self.expect(Token::RParen)?;
        Ok(Filter::Function {
            function,
            subject,
            value,
        })
    }

    fn parse_comparison(&mut self, subject: Subject) -> Result<Filter, ODataError> {
        let op = match self.next() {
            Some(Token::Ident(op)) => match op.to_ascii_lowercase().as_str() {
                "eq" => CompareOp::Eq,
                "ne" => CompareOp::Ne,
                "gt" => CompareOp::Gt,
                "ge" => CompareOp::Ge,
                "lt" => CompareOp::Lt,
                "le" => CompareOp::Le,
                _ => {
                    return err(format!(
                        "unknown operator '{op}'; use eq, ne, gt, ge, lt or le"
                    ));
                }
            },
            Some(token) => {
                return err(format!(
                    "expected an operator after {} but found '{token}'",
                    subject_name(subject)
                ));
            }
            None => {
                return err(format!(
                    "expected an operator after {}",
                    subject_name(subject)
                ));
            }
        };
        let Some(token) = self.next() else {
            return err(format!(
                "expected a value after {} {op:?}",
                subject_name(subject)
            ));
        };
        typed_comparison(subject, op, token)
    }
}

fn subject_kind(subject: Subject) -> FieldKind {
    match subject {
        Subject::Field(field) => field.kind(),
        Subject::Element(field) if field.kind() == FieldKind::IntegerCollection => {
            FieldKind::Integer
        }
        Subject::Element(_) => FieldKind::Text,
    }
}

fn subject_name(subject: Subject) -> String {
    match subject {
        Subject::Field(field) => field.name().to_owned(),
        Subject::Element(field) => format!("an element of {}", field.name()),
    }
}

fn typed_comparison(subject: Subject, op: CompareOp, token: Token) -> Result<Filter, ODataError> {
    let name = subject_name(subject);
    let mismatch = |expected: &str| {
        err(format!(
            "{name} is compared with {expected}, not with {token}"
        ))
    };
    let is_null = matches!(&token, Token::Ident(s) if s == "null");
    if is_null {
        if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return err("null can only be compared with eq or ne");
        }
        return Ok(Filter::Compare {
            subject,
            op,
            value: Literal::Null,
        });
    }
    let value = match subject_kind(subject) {
        FieldKind::Text => match &token {
            Token::Str(s) => Literal::Text(s.clone()),
            _ => return mismatch("a quoted string"),
        },
        FieldKind::Enum => {
            let Token::Str(text) = &token else {
                return mismatch("a quoted string");
            };
            let Subject::Field(field) = subject else {
                return mismatch("a quoted string");
            };
            if field == Field::Action
                && let Some(legacy) = LegacyAction::parse(text)
            {
                return Ok(legacy_action_filter(legacy, op));
            }
            let canonical = match field {
                Field::IndicatorType => IndicatorType::parse(text).map(IndicatorType::as_str),
                Field::Action => Action::parse(text).map(Action::as_str),
                Field::Status => crate::detections::AlertStatus::parse(text).map(|v| v.as_str()),
                Field::Classification => {
                    crate::detections::AlertClassification::parse(text).map(|v| v.as_str())
                }
                Field::DetectionSource => text
                    .eq_ignore_ascii_case("CustomerTI")
                    .then_some("CustomerTI"),
                _ => Severity::parse(text).map(Severity::as_str),
            };
            match canonical {
                Some(value) => Literal::Text(value.to_owned()),
                None => return err(format!("'{text}' is not a valid value of {name}")),
            }
        }
        FieldKind::DateTime => match &token {
            Token::DateTime(t) => Literal::DateTime(*t),
            Token::Str(s) => match Timestamp::parse(s) {
                Some(t) => Literal::DateTime(t),
                None => return mismatch("a date-time such as 2024-01-31T00:00:00Z"),
            },
            _ => return mismatch("a date-time such as 2024-01-31T00:00:00Z"),
        },
        FieldKind::Bool => match &token {
            Token::Ident(s) if s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Token::Ident(s) if s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return mismatch("true or false"),
        },
        FieldKind::Integer => match &token {
            Token::Number(n) => Literal::Integer(*n),
            Token::Str(s) => match s.parse() {
                Ok(n) => Literal::Integer(n),
                Err(_) => return mismatch("a whole number"),
            },
            _ => return mismatch("a whole number"),
        },
        FieldKind::TextCollection | FieldKind::IntegerCollection => {
            return err(format!(
                "use {name}/any(g: g eq 'value') to filter on a collection"
            ));
        }
    };
    Ok(Filter::Compare { subject, op, value })
}

/// `action eq 'AlertAndBlock'` (the example in MDE's docs) matches what iocd stored for that
/// legacy name: a block-type action with `generateAlert` on. `Alert` matches `Audit`.
fn legacy_action_filter(legacy: LegacyAction, op: CompareOp) -> Filter {
    let action = Subject::Field(Field::Action);
    let positive = match legacy {
        LegacyAction::Alert => Filter::Compare {
            subject: action,
            op: CompareOp::Eq,
            value: Literal::Text("Audit".into()),
        },
        LegacyAction::AlertAndBlock => Filter::And(
            Box::new(Filter::AnyOf {
                subject: action,
                values: vec![
                    Literal::Text("BlockAndRemediate".into()),
                    Literal::Text("Block".into()),
                ],
            }),
            Box::new(Filter::Compare {
                subject: Subject::Field(Field::GenerateAlert),
                op: CompareOp::Eq,
                value: Literal::Bool(true),
            }),
        ),
    };
    if op == CompareOp::Ne {
        Filter::Not(Box::new(positive))
    } else {
        positive
    }
}

/// Parses `$orderby` over indicators: comma-separated `field [asc|desc]`.
pub fn parse_order_by(input: &str) -> Result<Vec<OrderKey>, ODataError> {
    parse_order_by_for(Entity::Indicator, input)
}

/// Parses `$orderby` over `entity`.
pub fn parse_order_by_for(entity: Entity, input: &str) -> Result<Vec<OrderKey>, ODataError> {
    let mut keys = Vec::new();
    for part in input.split(',') {
        let mut words = part.split_whitespace();
        let Some(name) = words.next() else {
            return err("$orderby has an empty item");
        };
        let field = Field::parse_in(entity, name)
            .ok_or_else(|| ODataError(format!("cannot order by unknown property '{name}'")))?;
        if matches!(
            field.kind(),
            FieldKind::TextCollection | FieldKind::IntegerCollection
        ) {
            return err(format!("cannot order by the collection {name}"));
        }
        let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return err(format!(
                    "expected asc or desc after {name}, found '{other}'"
                ));
            }
        };
        if words.next().is_some() {
            return err(format!(
                "unexpected text after '{}' in $orderby",
                part.trim()
            ));
        }
        keys.push(OrderKey { field, descending });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_and_observed_queries() {
        let ok = [
            "action eq 'AlertAndBlock'",
            "indicatorType eq 'Url' and contains(title,'x')",
            "contains(indicatorValue,'evil') and indicatorType eq 'DomainName'",
            "startswith(title,'C2') or endswith(title,'x')",
            "creationTimeDateTimeUtc ge 2019-11-22T00:00:00Z",
            "creationTimeDateTimeUtc lt 2018-08-01Z",
            "expirationTime eq null",
            "not (severity eq 'High')",
            "generateAlert eq true",
            "rbacGroupNames/any(g: g eq 'Finance')",
            "rbacGroupIds/any(x: x eq 12 or x eq 13)",
            "rbacGroupNames/any(g: startswith(g, 'Fin'))",
            "(action eq 'Block' or action eq 'Warn') and createdBy eq 'abc'",
            "title eq 'O''Brien'",
            "category eq 1",
            "id gt '10'",
        ];
        for query in ok {
            assert!(
                parse_filter(query).is_ok(),
                "{query}: {:?}",
                parse_filter(query)
            );
        }
    }

    #[test]
    fn refuses_malformed_queries_with_a_reason() {
        let bad = [
            ("", "empty"),
            ("action eq", "expected a value"),
            ("action eq 'Nuke'", "not a valid value"),
            ("nosuchfield eq 'x'", "unknown or non-filterable"),
            ("title eq 3", "quoted string"),
            ("generateAlert eq 'yes'", "true or false"),
            ("creationTimeDateTimeUtc gt 'soon'", "date-time"),
            ("title eq 'x' and", "ended"),
            ("title eq 'x')", "unexpected"),
            ("(title eq 'x'", "expected ')'"),
            ("title eq 'unterminated", "unterminated"),
            ("rbacGroupNames eq 'x'", "any("),
            ("length(title) eq 3", "unsupported function"),
            ("title gt null", "null"),
            ("title like 'x'", "unknown operator"),
            ("title eq 'x' # y", "unexpected character"),
        ];
        for (query, reason) in bad {
            let error = parse_filter(query).expect_err(query);
            assert!(error.0.contains(reason), "{query}: {error}");
        }
    }

    #[test]
    fn every_character_moves_the_lexer_on() {
        // A lone `$` once started an identifier that took no characters, so the lexer pushed
        // empty tokens forever (issue 15's critical finding).
        for query in [
            "$",
            "$$",
            "title eq 'x' and $",
            "$filter eq 'x'",
            "a$b eq 'x'",
        ] {
            assert!(parse_filter(query).is_err(), "{query}");
        }
        // Random strings over the characters the lexer treats specially: each ends, and no
        // more tokens than characters come out.
        let alphabet: Vec<char> = "$_.'() ,/:-+09aZéx€\t".chars().collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            let mut query = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for _ in 0..(state % 24) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                query.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            if let Ok(tokens) = tokenize(&query) {
                assert!(tokens.len() <= query.chars().count(), "{query:?}");
            }
            let _ = parse_filter(&query);
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let query = format!("{}title eq 'x'{}", "(".repeat(500), ")".repeat(500));
        assert!(parse_filter(&query).is_err());
        let query = format!("{}title eq 'x'", "not ".repeat(500));
        assert!(parse_filter(&query).is_err());
    }

    #[test]
    fn enum_literals_are_canonicalised() {
        assert_eq!(
            parse_filter("severity eq 'high'").unwrap(),
            Filter::Compare {
                subject: Subject::Field(Field::Severity),
                op: CompareOp::Eq,
                value: Literal::Text("High".into())
            }
        );
    }

    #[test]
    fn order_by() {
        let keys = parse_order_by("severity desc, id").unwrap();
        assert_eq!(
            keys,
            vec![
                OrderKey {
                    field: Field::Severity,
                    descending: true
                },
                OrderKey {
                    field: Field::Id,
                    descending: false
                }
            ]
        );
        assert!(parse_order_by("rbacGroupNames").is_err());
        assert!(parse_order_by("title sideways").is_err());
        assert!(parse_order_by("nosuch").is_err());
    }
}
