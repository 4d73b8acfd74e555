//! Parsing of human durations such as `90m` or `30d` for `--ttl`.

use anyhow::{Result, bail};

/// Parses `N` followed by `s`, `m`, `h` or `d` (a bare number is seconds).
pub(crate) fn parse_seconds(text: &str) -> Result<i64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(index) => text.split_at(index),
        None => (text, "s"),
    };
    let Ok(value) = number.parse::<i64>() else {
        bail!("invalid duration {text:?}: expected a number with s, m, h or d, like 12h");
    };
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("invalid duration {text:?}: the unit must be s, m, h or d"),
    };
    if value <= 0 {
        bail!("invalid duration {text:?}: it must be positive");
    }
    Ok(value.saturating_mul(factor))
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn durations() {
        assert_eq!(parse_seconds("3600").unwrap(), 3600);
        assert_eq!(parse_seconds("90m").unwrap(), 5400);
        assert_eq!(parse_seconds("12h").unwrap(), 43_200);
        assert_eq!(parse_seconds("30d").unwrap(), 2_592_000);
        for bad in ["", "h", "5w", "-5m", "0s", "1.5h"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
