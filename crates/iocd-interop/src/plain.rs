//! Plain lists: one value per line (hashes, addresses and networks, domains, URLs), as
//! abuse.ch and others publish them. Blank lines and comment lines (`#`, `;`, `//`) are not
//! values; any other line that is no recognisable value is reported with its number.

use crate::{ImportBatch, ImportDefaults, ImportItem, recognise};

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
        match recognise(line) {
            Some(indicator_type) => {
                let submission = defaults.submission(
                    indicator_type,
                    line,
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
