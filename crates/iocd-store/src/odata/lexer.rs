//! The `$filter` lexer: text to tokens (names, quoted strings, numbers, date-times and
//! punctuation). Every character it takes moves it on, so it always ends.

use super::{ODataError, err};
use iocd_model::Timestamp;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
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

pub(super) fn tokenize(input: &str) -> Result<Vec<Token>, ODataError> {
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
