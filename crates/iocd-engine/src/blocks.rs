//! Domain blocks: the part of a host (its last two or three labels) that places the filter
//! bits of the host's domain keys and of its URLs' keys, so that one lookup's keys share a
//! filter line.

/// The part of a URL key its filter bits are placed by: the [`domain_block`] of its host.
pub(crate) fn url_block(key: &[u8]) -> &[u8] {
    let host_end = key
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(key.len());
    domain_block(&key[..host_end])
}

/// The part of a domain key its [`KeyIndex`] filter groups keys by: its last two labels, or
/// three when the second-to-last is three bytes or shorter (`bbc.co.uk`, `example.com.au`,
/// where the last two are a public suffix shared by too many names to group by); the key
/// itself when it has no more labels than that. It depends on the last labels only, so a
/// host and each parent at least as long as its block have the same block. Only speed
/// depends on the choice of labels.
pub(crate) fn domain_block(key: &[u8]) -> &[u8] {
    let mut label_end = key.len();
    for (labels, dot) in (1..).zip(crate::bytes::positions_rev(key, b'.')) {
        if ends_block(labels, label_end - dot - 1) {
            return &key[dot + 1..];
        }
        label_end = dot;
    }
    key
}

/// Whether the suffix of `labels` labels whose first (leftmost) label is `first_label_len`
/// bytes long is a domain block (see [`domain_block`]), none shorter having been.
#[inline]
pub(crate) fn ends_block(labels: usize, first_label_len: usize) -> bool {
    (labels == 2 && first_label_len > 3) || labels == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_blocks() {
        let cases = [
            ("", ""),
            ("localhost", "localhost"),
            ("com", "com"),
            ("example.com", "example.com"),
            ("www.example.com", "example.com"),
            ("a.b.www.example.com", "example.com"),
            ("co.uk", "co.uk"),
            ("bbc.co.uk", "bbc.co.uk"),
            ("news.bbc.co.uk", "bbc.co.uk"),
            ("cnn.com", "cnn.com"),
            ("www.cnn.com", "www.cnn.com"),
            ("x.www.cnn.com", "www.cnn.com"),
        ];
        for (key, block) in cases {
            assert_eq!(domain_block(key.as_bytes()), block.as_bytes(), "{key}");
        }
    }
}
