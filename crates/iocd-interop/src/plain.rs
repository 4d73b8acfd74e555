//! Plain lists: one value per line (hashes, addresses and networks, domains, URLs), as
//! abuse.ch and others publish them, or CSV lines (abuse.ch's CSV exports), of which the first
//! field that is a recognisable value is taken. Blank lines and comment lines (`#`, `;`, `//`)
//! are not values; any other line that holds no recognisable value is reported with its
//! number.

use crate::{ImportBatch, ImportDefaults, ImportItem, recognise};
use iocd_model::IndicatorType;

/// The value a line holds: the line itself, or the first field of a CSV line that is one.
fn value_of(line: &str) -> Option<(IndicatorType, &str)> {
    if let Some(indicator_type) = recognise(line) {
        return Some((indicator_type, line));
    }
    if !line.contains(',') {
        return None;
    }
    line.split(',')
        .map(|field| field.trim().trim_matches('"').trim())
        .find_map(|field| recognise(field).map(|t| (t, field)))
}

/// Reads a plain list; `source` names it in titles and descriptions.
pub fn read(text: &str, source: &str, defaults: &ImportDefaults) -> ImportBatch {
    let mut batch = ImportBatch::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with("//")
        {
            continue;
        }
        let origin = format!("line {}", n + 1);
        match value_of(line) {
            Some((indicator_type, value)) => {
                let submission = defaults.submission(
                    indicator_type,
                    value,
                    source,
                    &format!("listed in {source}"),
                );
                batch.items.push(ImportItem { origin, submission });
            }
            None => batch.problem(
                origin,
                format!("{line:?} is not a hash, an IP address or network, a domain or a URL"),
            ),
        }
    }
    batch
}
