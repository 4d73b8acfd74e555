//! Timestamps as clients write them (`expirationTime`, `$filter` literals, event times).

use super::text;
use crate::{Checker, Target, Verdict};
use iocd_model::Timestamp;

pub(super) const TARGET: Target = Target {
    name: "timestamp",
    about: "Timestamp::parse: no panic, and what it accepts prints back to the same instant",
    seeds: &[
        b"2024-01-31T23:59:59Z",
        b"2018-09-16T12:11:06.2446367Z",
        b"2020-02-29T00:00:00+02:00",
        b"2021-08-01",
        b"2021-08-01z",
        b"2021-08-01 10:11:12.1234567891-0530",
        b"0001-01-01T00:00:00+14",
        b"9999-12-31T23:59:59.9999999-23:59",
    ],
    dictionary: &[
        "T", "Z", "z", "t", " ", "-", "+", ":", ".", "00", "59", "60", "99", "12", "13", "02-29",
        "9999", "0000", "+14:00", "-23:59", "+2400",
    ],
    max_len: 96,
    grammar: Some(super::grammar::timestamp),
    make,
};

fn make() -> Checker {
    Box::new(|input: &[u8]| {
        let Some(instant) = Timestamp::parse(&text(input)) else {
            return Ok(Verdict::Refused);
        };
        // Every accepted instant prints in forms that parse back to it.
        let precise = instant.to_mde_precise();
        if Timestamp::parse(&precise) != Some(instant) {
            return Err(format!("{precise} does not parse back to {instant:?}"));
        }
        let seconds = instant.to_mde_seconds();
        if Timestamp::parse(&seconds) != Some(instant.truncated_to_second()) {
            return Err(format!("{seconds} does not parse back to the whole second"));
        }
        Ok(Verdict::Accepted)
    })
}
