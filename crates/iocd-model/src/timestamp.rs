//! UTC instants with MDE's precision (100 ns ticks) and its textual formats.

use std::fmt;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// An instant in UTC, stored as 100-nanosecond ticks since the Unix epoch (the precision of
/// MDE's `creationTimeDateTimeUtc`). Ordering is chronological.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

const TICKS_PER_SECOND: i64 = 10_000_000;

impl Timestamp {
    pub const fn from_ticks(ticks: i64) -> Self {
        Timestamp(ticks)
    }

    pub const fn ticks(self) -> i64 {
        self.0
    }

    pub fn from_unix_seconds(seconds: i64) -> Self {
        Timestamp(seconds.saturating_mul(TICKS_PER_SECOND))
    }

    pub fn from_offset_date_time(value: OffsetDateTime) -> Self {
        let nanos = value.unix_timestamp_nanos();
        Timestamp(i64::try_from(nanos.div_euclid(100)).unwrap_or(i64::MAX))
    }

    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 100)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// This instant with the sub-second part removed (expiry works at second granularity).
    pub fn truncated_to_second(self) -> Self {
        Timestamp(self.0.div_euclid(TICKS_PER_SECOND) * TICKS_PER_SECOND)
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(TICKS_PER_SECOND)
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Timestamp(
            self.0
                .saturating_add(seconds.saturating_mul(TICKS_PER_SECOND)),
        )
    }

    /// `2021-08-17T08:57:46.1460707Z`: seven fractional digits, as MDE writes creation times.
    pub fn to_mde_precise(self) -> String {
        let dt = self.to_offset_date_time();
        let ticks = self.0.rem_euclid(TICKS_PER_SECOND);
        format!("{}.{ticks:07}Z", format_seconds(dt))
    }

    /// `2021-08-18T08:57:45Z`: whole seconds, as MDE writes expiration times.
    pub fn to_mde_seconds(self) -> String {
        format!("{}Z", format_seconds(self.to_offset_date_time()))
    }

    /// Parses ISO 8601 / RFC 3339 date-times as MDE clients send them:
    /// `2020-12-12T00:00:00Z`, `2018-09-16T12:11:06.2446367Z`, `…+02:00`, a date alone
    /// (`2018-08-01` or `2018-08-01Z`, meaning midnight UTC), or a date-time without zone (UTC).
    /// Fractions beyond 100 ns are truncated. Instants outside the years 0001 to 9999 (UTC)
    /// are refused, since they could not be written back in the same form.
    pub fn parse(text: &str) -> Option<Self> {
        let parsed = Self::parse_any_year(text)?;
        (Self::EARLIEST..=Self::LATEST)
            .contains(&parsed)
            .then_some(parsed)
    }

    /// 0001-01-01T00:00:00Z, the earliest instant [`Timestamp::parse`] accepts.
    pub const EARLIEST: Timestamp = Timestamp(-621_355_968_000_000_000);
    /// 9999-12-31T23:59:59.9999999Z, the latest instant [`Timestamp::parse`] accepts.
    pub const LATEST: Timestamp = Timestamp(2_534_023_007_999_999_999);

    fn parse_any_year(text: &str) -> Option<Self> {
        let text = text.trim();
        // Every accepted form is ASCII; checking first makes every byte offset below a
        // character boundary.
        if !text.is_ascii() {
            return None;
        }
        let bytes = text.as_bytes();
        if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year: i32 = digits(&text[0..4])?.try_into().ok()?;
        let month = Month::try_from(u8::try_from(digits(&text[5..7])?).ok()?).ok()?;
        let day = u8::try_from(digits(&text[8..10])?).ok()?;
        let date = Date::from_calendar_date(year, month, day).ok()?;
        let rest = &text[10..];
        if rest.is_empty() || rest.eq_ignore_ascii_case("z") {
            return Some(Self::from_offset_date_time(
                PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc(),
            ));
        }
        let rest = rest.strip_prefix(['T', 't', ' '])?;
        if rest.len() < 8 || rest.as_bytes()[2] != b':' || rest.as_bytes()[5] != b':' {
            return None;
        }
        let hour = u8::try_from(digits(&rest[0..2])?).ok()?;
        let minute = u8::try_from(digits(&rest[3..5])?).ok()?;
        let second = u8::try_from(digits(&rest[6..8])?).ok()?;
        let mut rest = &rest[8..];
        let mut sub_ticks: i64 = 0;
        if let Some(fraction) = rest.strip_prefix('.') {
            let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 {
                return None;
            }
            let kept = &fraction[..len.min(7)];
            sub_ticks = digits(kept)? * 10_i64.pow(7 - kept.len() as u32);
            rest = &fraction[len..];
        }
        let offset = if rest.is_empty() || rest.eq_ignore_ascii_case("z") {
            UtcOffset::UTC
        } else {
            let sign: i8 = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let zone = &rest[1..];
            let (h, m) = match zone.len() {
                5 if zone.as_bytes()[2] == b':' => (&zone[0..2], &zone[3..5]),
                4 => (&zone[0..2], &zone[2..4]),
                2 => (&zone[0..2], "00"),
                _ => return None,
            };
            let h = i8::try_from(digits(h)?).ok()?;
            let m = i8::try_from(digits(m)?).ok()?;
            UtcOffset::from_hms(sign * h, sign * m, 0).ok()?
        };
        let time = Time::from_hms(hour, minute, second).ok()?;
        let dt = PrimitiveDateTime::new(date, time).assume_offset(offset);
        let whole = Self::from_offset_date_time(dt);
        Some(Timestamp(whole.0.checked_add(sub_ticks)?))
    }
}

fn format_seconds(dt: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_mde_precise())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepted_range_is_the_four_digit_years() {
        assert_eq!(
            Timestamp::EARLIEST.to_mde_precise(),
            "0001-01-01T00:00:00.0000000Z"
        );
        assert_eq!(
            Timestamp::LATEST.to_mde_precise(),
            "9999-12-31T23:59:59.9999999Z"
        );
        for (text, accepted) in [
            ("0001-01-01T00:00:00Z", true),
            ("9999-12-31T23:59:59.9999999Z", true),
            // Past the last year once the offset is applied.
            ("9999-12-31T23:59:59-23:59", false),
            // Before the first year once the offset is applied.
            ("0001-01-01T00:00:00+01:00", false),
            ("0000-06-01", false),
        ] {
            assert_eq!(Timestamp::parse(text).is_some(), accepted, "{text}");
        }
    }

    #[test]
    fn parses_the_forms_mde_clients_send() {
        let cases: &[(&str, Option<&str>)] = &[
            ("2020-12-12T00:00:00Z", Some("2020-12-12T00:00:00.0000000Z")),
            (
                "2018-09-16T12:11:06.2446367Z",
                Some("2018-09-16T12:11:06.2446367Z"),
            ),
            (
                "2018-09-16T12:11:06.244636789Z",
                Some("2018-09-16T12:11:06.2446367Z"),
            ),
            (
                "2018-09-16T12:11:06.5Z",
                Some("2018-09-16T12:11:06.5000000Z"),
            ),
            (
                "2021-08-18T10:57:45+02:00",
                Some("2021-08-18T08:57:45.0000000Z"),
            ),
            (
                "2021-08-18T10:57:45+0200",
                Some("2021-08-18T08:57:45.0000000Z"),
            ),
            ("2021-08-18T08:57:45", Some("2021-08-18T08:57:45.0000000Z")),
            ("2018-08-01Z", Some("2018-08-01T00:00:00.0000000Z")),
            ("2018-08-01", Some("2018-08-01T00:00:00.0000000Z")),
            ("2018-13-01", None),
            ("2018-02-30T00:00:00Z", None),
            ("2018-02-10T25:00:00Z", None),
            ("2018-02-10T10:00:00.Z", None),
            ("yesterday", None),
            ("", None),
            ("2018-02-10T10:00:00Q", None),
            // Non-ASCII text where digits belong was once sliced inside a character.
            ("2024-01-€", None),
            ("2024-01-0€", None),
            ("2018-02-10T10:00:0€", None),
            ("2018-02-10T10:00:00+0€", None),
            ("2018-02-10T10:00:00.5€", None),
        ];
        for (input, expected) in cases {
            let parsed = Timestamp::parse(input).map(|t| t.to_mde_precise());
            assert_eq!(parsed.as_deref(), *expected, "input {input:?}");
        }
    }

    #[test]
    fn formats_expiry_in_whole_seconds() {
        let t = Timestamp::parse("2021-08-18T08:57:45.999Z").unwrap();
        assert_eq!(t.to_mde_seconds(), "2021-08-18T08:57:45Z");
        assert_eq!(
            t.truncated_to_second().to_mde_precise(),
            "2021-08-18T08:57:45.0000000Z"
        );
        let before_epoch = Timestamp::parse("1969-12-31T23:59:59.5Z").unwrap();
        assert_eq!(
            before_epoch.to_mde_precise(),
            "1969-12-31T23:59:59.5000000Z"
        );
    }
}
