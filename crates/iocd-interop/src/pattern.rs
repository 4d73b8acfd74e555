//! A reader of STIX 2.1 patterns, for the part that maps to indicators: observation
//! expressions joined by `OR`, each a comparison or comparisons joined by `OR` (or by `AND`
//! when they name several hashes of one file), with `=` or `IN`, on the paths iocd has types
//! for. Everything else (`AND` or `FOLLOWEDBY` between observations, `AND` across objects,
//! qualifiers such as `WITHIN`, other operators, other paths) is refused with a reason.
//!
//! Hostile input is bounded: patterns longer than [`MAX_PATTERN_BYTES`] or nested deeper than
//! [`MAX_DEPTH`] are refused before or while parsing; the parser never loops without
//! consuming input.

use iocd_model::IndicatorType;

/// Longest pattern read.
pub const MAX_PATTERN_BYTES: usize = 64 * 1024;
/// Deepest nesting of brackets and parentheses.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,       // [
    Close,      // ]
    LeftParen,  // (
    RightParen, // )
    Comma,
    Word(String),   // keywords, object paths
    Text(String),   // '…'
    Number(String), // 12, 1.5
    Operator(String),
}

fn lex(pattern: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = pattern.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '[' | ']' | '(' | ')' | ',' => {
                chars.next();
                tokens.push(match c {
                    '[' => Token::Open,
                    ']' => Token::Close,
                    '(' => Token::LeftParen,
                    ')' => Token::RightParen,
                    _ => Token::Comma,
                });
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated string at {at}")),
                        Some((_, '\\')) => match chars.next() {
                            Some((_, escaped @ ('\\' | '\''))) => text.push(escaped),
                            _ => return Err(format!("bad escape in the string at {at}")),
                        },
                        Some((_, '\'')) => break,
                        Some((_, other)) => text.push(other),
                    }
                }
                tokens.push(Token::Text(text));
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let mut operator = c.to_string();
                if let Some(&(_, '=')) = chars.peek() {
                    chars.next();
                    operator.push('=');
                }
                if operator == "!" {
                    return Err(format!("unknown operator ! at {at}"));
                }
                tokens.push(Token::Operator(operator));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut number = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_ascii_digit() || d == '.' || d == '-' {
                        number.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Number(number));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                // A keyword, or an object path such as file:hashes.'SHA-256' (quoted steps
                // belong to the path).
                let mut word = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || matches!(d, '_' | '-' | ':' | '.' | '*') {
                        word.push(d);
                        chars.next();
                    } else if d == '\'' && word.ends_with('.') {
                        chars.next();
                        word.push('\'');
                        loop {
                            match chars.next() {
                                None => return Err(format!("unterminated path step at {at}")),
                                Some((_, '\'')) => break,
                                Some((_, step)) => word.push(step),
                            }
                        }
                        word.push('\'');
                    } else if d == '\'' && matches!(word.as_str(), "t" | "h" | "b") {
                        // A timestamp, hex or binary literal: t'…'.
                        word.clear();
                        chars.next();
                        for (_, inner) in chars.by_ref() {
                            if inner == '\'' {
                                break;
                            }
                        }
                        word.push_str("literal");
                        break;
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            other => return Err(format!("unexpected character {other:?} at {at}")),
        }
    }
    Ok(tokens)
}

/// A comparison expression inside `[…]`.
#[derive(Debug, Clone, PartialEq)]
enum Comparison {
    Test {
        path: String,
        negated: bool,
        operator: String,
        values: Vec<Token>,
    },
    And(Vec<Comparison>),
    Or(Vec<Comparison>),
}

/// An observation expression and what joins them.
#[derive(Debug, Clone, PartialEq)]
enum Observation {
    One(Comparison),
    Or(Vec<Observation>),
    /// `AND`, `FOLLOWEDBY` between observations, or a qualifier: what it was.
    Unsupported(String),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        if token.is_some() {
            self.at += 1;
        }
        token
    }

    fn keyword(&self) -> Option<String> {
        match self.peek() {
            Some(Token::Word(word)) => Some(word.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    /// pattern := observation (joiner observation)* ; joiner OR, AND, FOLLOWEDBY
    fn pattern(&mut self) -> Result<Observation, String> {
        let mut parts = vec![self.observation()?];
        let mut unsupported = None;
        while let Some(keyword) = self.keyword() {
            match keyword.as_str() {
                "OR" => {
                    self.next();
                    parts.push(self.observation()?);
                }
                "AND" | "FOLLOWEDBY" => {
                    self.next();
                    unsupported.get_or_insert(format!(
                        "{keyword} between observations (an indicator matches one value)"
                    ));
                    parts.push(self.observation()?);
                }
                _ => break,
            }
        }
        if let Some(reason) = unsupported {
            return Ok(Observation::Unsupported(reason));
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Observation::Or(parts)
        })
    }

    /// observation := '[' comparison ']' qualifier* | '(' pattern ')' qualifier*
    fn observation(&mut self) -> Result<Observation, String> {
        self.deeper()?;
        let observation = match self.next() {
            Some(Token::Open) => {
                let comparison = self.comparison_or()?;
                match self.next() {
                    Some(Token::Close) => Observation::One(comparison),
                    other => return Err(format!("expected ] but found {other:?}")),
                }
            }
            Some(Token::LeftParen) => {
                let inner = self.pattern()?;
                match self.next() {
                    Some(Token::RightParen) => inner,
                    other => return Err(format!("expected ) but found {other:?}")),
                }
            }
            other => return Err(format!("expected [ or ( but found {other:?}")),
        };
        self.depth -= 1;
        // Qualifiers: WITHIN n SECONDS, REPEATS n TIMES, START t'…' STOP t'…'.
        if let Some(keyword) = self.keyword()
            && matches!(keyword.as_str(), "WITHIN" | "REPEATS" | "START")
        {
            while let Some(Token::Word(_) | Token::Number(_) | Token::Text(_)) = self.peek() {
                if matches!(self.keyword().as_deref(), Some("OR" | "AND" | "FOLLOWEDBY")) {
                    break;
                }
                self.next();
            }
            return Ok(Observation::Unsupported(format!(
                "the {keyword} qualifier (iocd matches values, not sequences in time)"
            )));
        }
        Ok(observation)
    }

    fn comparison_or(&mut self) -> Result<Comparison, String> {
        let mut parts = vec![self.comparison_and()?];
        while self.keyword().as_deref() == Some("OR") {
            self.next();
            parts.push(self.comparison_and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Comparison::Or(parts)
        })
    }

    fn comparison_and(&mut self) -> Result<Comparison, String> {
        let mut parts = vec![self.comparison()?];
        while self.keyword().as_deref() == Some("AND") {
            self.next();
            parts.push(self.comparison()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Comparison::And(parts)
        })
    }

    fn comparison(&mut self) -> Result<Comparison, String> {
        if self.peek() == Some(&Token::LeftParen) {
            self.next();
            self.deeper()?;
            let inner = self.comparison_or()?;
            self.depth -= 1;
            return match self.next() {
                Some(Token::RightParen) => Ok(inner),
                other => Err(format!("expected ) but found {other:?}")),
            };
        }
        let path = match self.next() {
            Some(Token::Word(path)) if path.contains(':') => path,
            other => return Err(format!("expected an object path but found {other:?}")),
        };
        let mut negated = false;
        if self.keyword().as_deref() == Some("NOT") {
            self.next();
            negated = true;
        }
        let operator = match self.next() {
            Some(Token::Operator(operator)) => operator,
            Some(Token::Word(word)) => word.to_ascii_uppercase(),
            other => {
                return Err(format!(
                    "expected an operator after {path} but found {other:?}"
                ));
            }
        };
        let values = if operator == "IN" {
            match self.next() {
                Some(Token::LeftParen) => {}
                other => return Err(format!("expected ( after IN but found {other:?}")),
            }
            let mut values = Vec::new();
            loop {
                match self.next() {
                    Some(Token::RightParen) => break,
                    Some(Token::Comma) => {}
                    Some(value @ (Token::Text(_) | Token::Number(_) | Token::Word(_))) => {
                        values.push(value)
                    }
                    other => return Err(format!("unexpected {other:?} in the IN list")),
                }
            }
            values
        } else {
            match self.next() {
                Some(value @ (Token::Text(_) | Token::Number(_) | Token::Word(_))) => vec![value],
                other => {
                    return Err(format!(
                        "expected a value after {operator} but found {other:?}"
                    ));
                }
            }
        };
        Ok(Comparison::Test {
            path,
            negated,
            operator,
            values,
        })
    }
}

/// The indicator type of an object path, and the object it belongs to.
fn path_type(path: &str) -> Option<(&'static str, IndicatorType)> {
    let path = path.to_ascii_lowercase();
    let map = [
        ("file:hashes.'sha-256'", ("file", IndicatorType::FileSha256)),
        ("file:hashes.sha256", ("file", IndicatorType::FileSha256)),
        ("file:hashes.'sha-1'", ("file", IndicatorType::FileSha1)),
        ("file:hashes.sha1", ("file", IndicatorType::FileSha1)),
        ("file:hashes.md5", ("file", IndicatorType::FileMd5)),
        ("file:hashes.'md5'", ("file", IndicatorType::FileMd5)),
        ("ipv4-addr:value", ("ipv4-addr", IndicatorType::IpAddress)),
        ("ipv6-addr:value", ("ipv6-addr", IndicatorType::IpAddress)),
        (
            "domain-name:value",
            ("domain-name", IndicatorType::DomainName),
        ),
        ("url:value", ("url", IndicatorType::Url)),
        (
            "x509-certificate:hashes.'sha-1'",
            ("x509-certificate", IndicatorType::CertificateThumbprint),
        ),
        (
            "x509-certificate:hashes.'sha-256'",
            ("x509-certificate", IndicatorType::CertificateThumbprint),
        ),
    ];
    map.into_iter()
        .find(|(known, _)| *known == path)
        .map(|(_, found)| found)
}

/// The values of a comparison, each with its type and object.
fn comparison_values(
    comparison: &Comparison,
) -> Result<Vec<(&'static str, IndicatorType, String)>, String> {
    match comparison {
        Comparison::Or(parts) => {
            let mut values = Vec::new();
            for part in parts {
                values.extend(comparison_values(part)?);
            }
            Ok(values)
        }
        Comparison::And(parts) => {
            let mut values = Vec::new();
            for part in parts {
                values.extend(comparison_values(part)?);
            }
            // Several hashes of one file name the same file: each is an indicator of it.
            if values.iter().all(|(object, _, _)| *object == "file") {
                Ok(values)
            } else {
                Err("AND across objects or properties (an indicator matches one value)".into())
            }
        }
        Comparison::Test {
            path,
            negated,
            operator,
            values,
        } => {
            if *negated {
                return Err(format!("NOT {operator} on {path}"));
            }
            if operator != "=" && operator != "IN" {
                return Err(format!("the {operator} operator on {path} (only = and IN)"));
            }
            let (object, indicator_type) =
                path_type(path).ok_or_else(|| format!("the path {path} has no indicator type"))?;
            values
                .iter()
                .map(|value| match value {
                    Token::Text(text) => Ok((object, indicator_type, text.clone())),
                    other => Err(format!("{path} compared with {other:?}, not a string")),
                })
                .collect()
        }
    }
}

/// The indicator values a pattern stands for, or why it stands for none.
pub fn values(pattern: &str) -> Result<Vec<(IndicatorType, String)>, String> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!(
            "the pattern is longer than {MAX_PATTERN_BYTES} bytes"
        ));
    }
    let tokens = lex(pattern)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let observation = parser.pattern()?;
    if let Some(extra) = parser.peek() {
        return Err(format!("unexpected {extra:?} after the pattern"));
    }
    fn collect(
        observation: &Observation,
        out: &mut Vec<(IndicatorType, String)>,
    ) -> Result<(), String> {
        match observation {
            Observation::One(comparison) => {
                out.extend(
                    comparison_values(comparison)?
                        .into_iter()
                        .map(|(_, indicator_type, value)| (indicator_type, value)),
                );
                Ok(())
            }
            Observation::Or(parts) => parts.iter().try_for_each(|part| collect(part, out)),
            Observation::Unsupported(reason) => Err(reason.clone()),
        }
    }
    let mut out = Vec::new();
    collect(&observation, &mut out)?;
    Ok(out)
}

/// `value` as a string literal of a STIX pattern (quotes and backslashes escaped).
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    #[test]
    fn patterns_become_values_or_reasons() {
        let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let ok: Vec<(String, Vec<(IndicatorType, &str)>)> = vec![
            (format!("[file:hashes.'SHA-256' = '{sha}']"), vec![(FileSha256, sha)]),
            ("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']".into(), vec![(FileMd5, "d41d8cd98f00b204e9800998ecf8427e")]),
            ("[ipv4-addr:value = '198.51.100.0/24']".into(), vec![(IpAddress, "198.51.100.0/24")]),
            ("[ipv6-addr:value = '2001:db8::1']".into(), vec![(IpAddress, "2001:db8::1")]),
            ("[domain-name:value = 'a.example' OR domain-name:value = 'b.example']".into(),
                vec![(DomainName, "a.example"), (DomainName, "b.example")]),
            ("[url:value = 'http://x.example/it\\'s'] OR [domain-name:value = 'y.example']".into(),
                vec![(Url, "http://x.example/it's"), (DomainName, "y.example")]),
            ("[domain-name:value IN ('a.example', 'b.example')]".into(),
                vec![(DomainName, "a.example"), (DomainName, "b.example")]),
            ("[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']".into(),
                vec![(FileMd5, "d41d8cd98f00b204e9800998ecf8427e"), (FileSha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709")]),
            ("([domain-name:value = 'a.example'])".into(), vec![(DomainName, "a.example")]),
            ("[x509-certificate:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']".into(),
                vec![(CertificateThumbprint, "da39a3ee5e6b4b0d3255bfef95601890afd80709")]),
        ];
        for (pattern, expected) in ok {
            let expected: Vec<(IndicatorType, String)> = expected
                .into_iter()
                .map(|(t, v)| (t, v.to_owned()))
                .collect();
            assert_eq!(values(&pattern), Ok(expected), "{pattern}");
        }
        let refused = [
            (
                "[domain-name:value = 'a.example'] AND [url:value = 'http://b.example/']",
                "AND between observations",
            ),
            (
                "[domain-name:value = 'a.example'] FOLLOWEDBY [url:value = 'http://b/']",
                "FOLLOWEDBY",
            ),
            (
                "[domain-name:value = 'a.example'] WITHIN 300 SECONDS",
                "WITHIN",
            ),
            (
                "[network-traffic:dst_ref.value = '1.2.3.4' AND domain-name:value = 'x']",
                "has no indicator type",
            ),
            (
                "[domain-name:value = 'a.example' AND url:value = 'http://b/']",
                "AND across objects",
            ),
            ("[domain-name:value MATCHES '^a']", "MATCHES"),
            ("[domain-name:value != 'a.example']", "!="),
            ("[domain-name:value NOT = 'a.example']", "NOT"),
            ("[process:name = 'evil.exe']", "has no indicator type"),
            ("[domain-name:value = 'a.example'", "expected ]"),
            ("[domain-name:value = 'a.example]", "unterminated"),
            ("domain-name:value = 'a.example'", "expected [ or ("),
            ("[domain-name:value = 'a'] garbage", "unexpected"),
            ("", "expected [ or ("),
        ];
        for (pattern, reason) in refused {
            let error = values(pattern).expect_err(pattern);
            assert!(error.contains(reason), "{pattern}: {error}");
        }
    }

    #[test]
    fn hostile_patterns_are_refused_quickly() {
        let deep = format!(
            "{}[domain-name:value = 'a']{}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert!(values(&deep).unwrap_err().contains("nested deeper"));
        let long = format!("[domain-name:value = '{}']", "a".repeat(MAX_PATTERN_BYTES));
        assert!(values(&long).unwrap_err().contains("longer than"));
        // Every prefix of a valid pattern: an answer, never a panic.
        let pattern = "[file:hashes.'SHA-256' = 'ab' OR domain-name:value IN ('x', 'y')] OR ([url:value = 'h'])";
        for end in 0..=pattern.len() {
            let _ = values(&pattern[..end]);
        }
    }

    #[test]
    fn quoted_values_read_back_unchanged() {
        for value in ["plain", "it's", "back\\slash", "both \\' here"] {
            let pattern = format!("[url:value = {}]", quote(value));
            assert_eq!(
                values(&pattern),
                Ok(vec![(Url, value.to_owned())]),
                "{pattern}"
            );
        }
    }
}
