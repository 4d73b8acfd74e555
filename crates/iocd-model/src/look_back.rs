//! `lookBackPeriod`: how far back a `historicalDetection` indicator hunts past sightings.
//! MDE documents no type for it (decision 0010); iocd reads three spellings and writes one.

use std::fmt;

/// A look-back duration in whole seconds, from zero to ten years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookBackPeriod {
    seconds: u32,
}

/// Ten years, the longest period accepted.
const MAX_SECONDS: u64 = 3650 * 86_400;

impl LookBackPeriod {
    /// `None` beyond ten years.
    pub fn from_seconds(seconds: u64) -> Option<LookBackPeriod> {
        let seconds = u32::try_from(seconds).ok()?;
        (u64::from(seconds) <= MAX_SECONDS).then_some(LookBackPeriod { seconds })
    }

    pub fn seconds(self) -> u64 {
        u64::from(self.seconds)
    }

    /// Reads a JSON value: a number of days, or text in one of the spellings of
    /// [`LookBackPeriod::parse`]. `None` for anything else.
    pub fn from_json(value: &serde_json::Value) -> Option<LookBackPeriod> {
        match value {
            serde_json::Value::Number(days) => days_to_period(days.as_f64()?),
            serde_json::Value::String(text) => LookBackPeriod::parse(text),
            _ => None,
        }
    }

    /// Reads an ISO 8601 duration (`P30D`, `PT12H`, `P1DT6H30M`, `P2W`; no years or
    /// months, whose length varies), a .NET time span (`30.00:00:00`, `12:00:00`) or a
    /// number of days (`7`, `0.5`). Surrounding white space is ignored.
    pub fn parse(text: &str) -> Option<LookBackPeriod> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix(['P', 'p']) {
            return parse_iso(rest);
        }
        if text.contains(':') {
            return parse_time_span(text);
        }
        days_to_period(parse_decimal(text)?)
    }
}

/// A plain decimal number: digits with at most one `.`, no sign, exponent, `inf` or `NaN`.
fn parse_decimal(text: &str) -> Option<f64> {
    let digits_and_dot = text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1
        && text.bytes().any(|b| b.is_ascii_digit());
    digits_and_dot.then(|| text.parse().ok()).flatten()
}

fn days_to_period(days: f64) -> Option<LookBackPeriod> {
    seconds_to_period(days * 86_400.0)
}

fn seconds_to_period(seconds: f64) -> Option<LookBackPeriod> {
    if !seconds.is_finite() || seconds < 0.0 || seconds > MAX_SECONDS as f64 {
        return None;
    }
    LookBackPeriod::from_seconds(seconds as u64)
}

/// The part of an ISO 8601 duration after its `P`.
fn parse_iso(rest: &str) -> Option<LookBackPeriod> {
    let mut seconds = 0.0;
    let mut number = String::new();
    let mut in_time = false;
    let mut any_unit = false;
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            '0'..='9' | '.' => number.push(c),
            'T' if !in_time && number.is_empty() => in_time = true,
            unit => {
                let n = parse_decimal(&number)?;
                number.clear();
                let factor = match (unit, in_time) {
                    ('W', false) => 7.0 * 86_400.0,
                    ('D', false) => 86_400.0,
                    ('H', true) => 3_600.0,
                    ('M', true) => 60.0,
                    ('S', true) => 1.0,
                    _ => return None,
                };
                seconds += n * factor;
                any_unit = true;
            }
        }
    }
    if !number.is_empty() || !any_unit {
        return None;
    }
    seconds_to_period(seconds)
}

/// A .NET time span: `[days.]hours:minutes:seconds[.fraction]`.
fn parse_time_span(text: &str) -> Option<LookBackPeriod> {
    let (days, clock) = match text.split_once(':') {
        Some((head, _)) if head.contains('.') => {
            let (days, _) = head.split_once('.')?;
            (parse_whole(days)?, &text[days.len() + 1..])
        }
        _ => (0, text),
    };
    let mut parts = clock.split(':');
    let (Some(hours), Some(minutes), Some(seconds), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (hours, minutes) = (parse_whole(hours)?, parse_whole(minutes)?);
    let seconds = parse_decimal(seconds)?;
    if minutes >= 60 || seconds >= 60.0 {
        return None;
    }
    seconds_to_period(
        days as f64 * 86_400.0 + hours as f64 * 3_600.0 + minutes as f64 * 60.0 + seconds,
    )
}

fn parse_whole(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The ISO 8601 form: `P30D`, `PT12H`, `P1DT6H30M`, `PT0S`.
impl fmt::Display for LookBackPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.seconds;
        if total == 0 {
            return f.write_str("PT0S");
        }
        let (days, rest) = (total / 86_400, total % 86_400);
        let (hours, minutes, seconds) = (rest / 3_600, rest % 3_600 / 60, rest % 60);
        f.write_str("P")?;
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if rest > 0 {
            f.write_str("T")?;
            for (amount, unit) in [(hours, 'H'), (minutes, 'M'), (seconds, 'S')] {
                if amount > 0 {
                    write!(f, "{amount}{unit}")?;
                }
            }
        }
        Ok(())
    }
}

impl serde::Serialize for LookBackPeriod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn spellings_of_durations() {
        let cases: &[(Value, Option<u64>, &str)] = &[
            (json!("P30D"), Some(30 * 86_400), "P30D"),
            (json!("PT12H"), Some(12 * 3_600), "PT12H"),
            (
                json!("P1DT6H30M"),
                Some(86_400 + 6 * 3_600 + 1_800),
                "P1DT6H30M",
            ),
            (json!("p1dt1s"), Some(86_401), "P1DT1S"),
            (json!("P2W"), Some(14 * 86_400), "P14D"),
            (json!("PT0S"), Some(0), "PT0S"),
            (json!("30.00:00:00"), Some(30 * 86_400), "P30D"),
            (json!("12:00:00"), Some(12 * 3_600), "PT12H"),
            (json!("1.02:03:04.5"), Some(86_400 + 7_384), "P1DT2H3M4S"),
            (json!(7), Some(7 * 86_400), "P7D"),
            (json!(0.5), Some(43_200), "PT12H"),
            (json!(" 7 "), Some(7 * 86_400), "P7D"),
            (json!("3650"), Some(3650 * 86_400), "P3650D"),
        ];
        for (value, seconds, shown) in cases {
            let period = LookBackPeriod::from_json(value);
            assert_eq!(period.map(LookBackPeriod::seconds), *seconds, "{value}");
            assert_eq!(period.map(|p| p.to_string()).as_deref(), Some(*shown));
            // What iocd writes, it reads back the same.
            let again = period.and_then(|p| LookBackPeriod::parse(&p.to_string()));
            assert_eq!(again, period, "{value}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        let refused = [
            json!("soon"),
            json!("P1X"),
            json!("P"),
            json!("PT"),
            json!("P1M"),
            json!("P1Y"),
            json!("PT1D"),
            json!("P5"),
            json!("1:00"),
            json!("1:60:00"),
            json!("a.01:00:00"),
            json!("-7"),
            json!(-7),
            json!("inf"),
            json!("NaN"),
            json!("1e3"),
            json!("3651"),
            json!(1e300),
            json!("P99999999999D"),
            json!(true),
            json!(null),
            json!(["P1D"]),
            json!(""),
            json!("€"),
            json!("P1D€"),
        ];
        for value in refused {
            assert_eq!(LookBackPeriod::from_json(&value), None, "{value}");
        }
    }

    #[test]
    fn random_text_never_panics() {
        let alphabet: Vec<char> = "PTDHMSW0123456789.:- €pt".chars().collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 16) as usize;
            let text: String = (0..len)
                .map(|i| alphabet[((state >> (i * 4)) % alphabet.len() as u64) as usize])
                .collect();
            if let Some(period) = LookBackPeriod::parse(&text) {
                assert!(period.seconds() <= MAX_SECONDS, "{text:?}");
            }
        }
    }
}
