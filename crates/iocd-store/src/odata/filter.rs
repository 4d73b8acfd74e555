//! The `$filter` parser: tokens to a [`Filter`], with every field name whitelisted and every
//! literal checked against its field's kind, nested at most 64 deep.

use super::lexer::{Token, tokenize};
use super::{
    CompareOp, Entity, Field, FieldKind, Filter, Literal, ODataError, StringFunction, Subject, err,
};
use iocd_model::{Action, IndicatorType, LegacyAction, Severity, Timestamp};

/// Longest `$filter` accepted, and deepest nesting, so hostile queries stay cheap.
pub const MAX_FILTER_LEN: usize = 8192;
const MAX_DEPTH: usize = 64;

/// Most conditions (comparisons, function calls, `any()` tests) one `$filter` holds: each
/// becomes a term of the SQL, and chains of thousands reach the database's own limits.
pub const MAX_FILTER_TERMS: usize = 200;

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    depth: usize,
    /// Conditions read so far.
    terms: usize,
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
        terms: 0,
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
        if !matches!(self.peek(), Some(Token::LParen)) {
            self.terms += 1;
            if self.terms > MAX_FILTER_TERMS {
                return err(format!(
                    "$filter has more than {MAX_FILTER_TERMS} conditions"
                ));
            }
        }
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
    fn long_chains_of_conditions_are_refused() {
        let chain = |n: usize| {
            (0..n)
                .map(|i| format!("title eq '{i}'"))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        assert!(parse_filter(&chain(MAX_FILTER_TERMS)).is_ok());
        let error = parse_filter(&chain(MAX_FILTER_TERMS + 1)).expect_err("too many");
        assert!(error.0.contains("more than 200 conditions"), "{error}");
        let inside_any = format!(
            "rbacGroupNames/any(g: {})",
            (0..300)
                .map(|i| format!("g eq '{i}'"))
                .collect::<Vec<_>>()
                .join(" or ")
        );
        assert!(parse_filter(&inside_any).is_err());
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
}
