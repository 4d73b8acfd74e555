//! Compiling an indicator into what the indexes hold: the index it goes in ([`IndexKind`]),
//! its key bytes (raw hash bytes, an IP network, a domain, a URL match key) and the entry
//! beside the key (id, expiry, scope, port, action, alert flag).

use crate::blocks::{domain_block, url_block};
use crate::fingerprint::Direction;
use crate::index::{KeyHashing, RecordValue, record_bytes};
use iocd_model::{Action, IndicatorType, IndicatorValue, Timestamp};
use std::net::IpAddr;
use std::sync::Arc;

/// The matching-relevant part of an indicator, as the engine's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineIndicator {
    pub id: i64,
    /// The parsed value; its variant is the indicator type.
    pub value: IndicatorValue,
    pub action: Action,
    /// Keys of the device groups the indicator applies to ([`crate::group_key`]s, or names
    /// where no registry is known); empty means all devices.
    pub groups: Vec<String>,
    pub expires: Option<Timestamp>,
    pub generate_alert: bool,
}

impl From<&iocd_model::Indicator> for EngineIndicator {
    fn from(indicator: &iocd_model::Indicator) -> Self {
        EngineIndicator {
            id: indicator.id,
            value: indicator.spec.value.clone(),
            action: indicator.spec.action,
            groups: scope_keys(&indicator.spec),
            expires: indicator.spec.expiration_time,
            generate_alert: indicator.spec.generate_alert,
        }
    }
}

/// The scope of a spec: its registered group ids when it has them (as the server writes
/// every scoped indicator), else its group names (indicators read from a file).
pub fn scope_keys(spec: &iocd_model::IndicatorSpec) -> Vec<String> {
    if spec.rbac_group_ids.is_empty() {
        spec.rbac_group_names.clone()
    } else {
        spec.rbac_group_ids
            .iter()
            .map(|id| crate::group_key(*id))
            .collect()
    }
}

/// Which of the eight indexes a key lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum IndexKind {
    Md5 = 0,
    Sha1,
    Sha256,
    Certificate,
    Ipv4,
    Ipv6,
    Domain,
    Url,
}

pub(crate) const INDEX_KINDS: [IndexKind; 8] = [
    IndexKind::Md5,
    IndexKind::Sha1,
    IndexKind::Sha256,
    IndexKind::Certificate,
    IndexKind::Ipv4,
    IndexKind::Ipv6,
    IndexKind::Domain,
    IndexKind::Url,
];

impl IndexKind {
    /// How the kind's [`KeyIndex`] fingerprints keys and places filter bits. A URL lookup
    /// asks for prefixes of one key, so URL keys are fingerprinted forward; a domain lookup
    /// asks for suffixes, so domain keys are fingerprinted backward. Both place their filter
    /// bits by the [`domain_block`] of their host, in the one filter the two indexes share:
    /// the keys a URL lookup asks for (its path prefixes, its host and the host's parents)
    /// then share their words' hashing and, mostly, one filter line.
    pub(crate) fn hashing(self) -> KeyHashing {
        match self {
            IndexKind::Url => KeyHashing {
                direction: Direction::Forward,
                block: Some(url_block),
            },
            IndexKind::Domain => KeyHashing {
                direction: Direction::Backward,
                block: Some(domain_block),
            },
            _ => KeyHashing::default(),
        }
    }

    /// Whether the kind's filter bits are in the set's shared network filter, which planning
    /// asks (the stages then start after it).
    pub(crate) fn filtered_in_planning(self) -> bool {
        matches!(self, IndexKind::Url | IndexKind::Domain)
    }

    pub(crate) fn indicator_type(self) -> IndicatorType {
        match self {
            IndexKind::Md5 => IndicatorType::FileMd5,
            IndexKind::Sha1 => IndicatorType::FileSha1,
            IndexKind::Sha256 => IndicatorType::FileSha256,
            IndexKind::Certificate => IndicatorType::CertificateThumbprint,
            IndexKind::Ipv4 | IndexKind::Ipv6 => IndicatorType::IpAddress,
            IndexKind::Domain => IndicatorType::DomainName,
            IndexKind::Url => IndicatorType::Url,
        }
    }
}

/// The per-indicator record the indexes hold beside each key: 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: i64,
    /// Expiry in 100 ns ticks; `i64::MAX` for none.
    pub(crate) expires: i64,
    /// Index into the set's scope table; 0 is "all devices".
    pub(crate) scope: u32,
    /// For URL indicators with an explicit port, that port; 0 matches any port.
    pub(crate) port: u16,
    pub(crate) action: Action,
    pub(crate) generate_alert: bool,
}

/// An entry in a [`KeyIndex`] record: its fields in order, little-endian, 24 bytes.
impl RecordValue for Entry {
    const LEN: usize = 24;

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&self.expires.to_le_bytes());
        out.extend_from_slice(&self.scope.to_le_bytes());
        out.extend_from_slice(&self.port.to_le_bytes());
        out.push(self.action as u8);
        out.push(u8::from(self.generate_alert));
    }

    #[inline]
    fn read(bytes: &[u8]) -> Entry {
        let [action, generate_alert] = record_bytes(bytes, 22);
        Entry {
            id: i64::from_le_bytes(record_bytes(bytes, 0)),
            expires: i64::from_le_bytes(record_bytes(bytes, 8)),
            scope: u32::from_le_bytes(record_bytes(bytes, 16)),
            port: u16::from_le_bytes(record_bytes(bytes, 20)),
            // Written from an `Action`, so always one.
            action: Action::ALL
                .get(usize::from(action))
                .copied()
                .unwrap_or(Action::Audit),
            generate_alert: generate_alert != 0,
        }
    }
}

/// An indicator turned into an index key, ready to build a set from (or to carry from one set
/// into the next when merging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledIndicator {
    pub(crate) kind: IndexKind,
    pub(crate) key: Box<[u8]>,
    pub(crate) entry: Entry,
    /// Lower-case, sorted, de-duplicated group names; empty for all devices.
    pub(crate) groups: Arc<[String]>,
}

impl CompiledIndicator {
    pub fn id(&self) -> i64 {
        self.entry.id
    }

    pub fn expires(&self) -> Option<Timestamp> {
        (self.entry.expires != i64::MAX).then(|| Timestamp::from_ticks(self.entry.expires))
    }
}

/// The key of an IP network: prefix length, then the masked address bytes (4 or 16).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpKey {
    bytes: [u8; 17],
    len: u8,
    pub(crate) kind: IndexKind,
}

impl IpKey {
    pub(crate) fn new(address: IpAddr, prefix_len: u8) -> IpKey {
        let mut bytes = [0u8; 17];
        bytes[0] = prefix_len;
        match address {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let masked = if prefix_len == 0 {
                    0
                } else {
                    bits & (u32::MAX << (32 - u32::from(prefix_len.min(32))))
                };
                bytes[1..5].copy_from_slice(&masked.to_be_bytes());
                IpKey {
                    bytes,
                    len: 5,
                    kind: IndexKind::Ipv4,
                }
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let masked = if prefix_len == 0 {
                    0
                } else {
                    bits & (u128::MAX << (128 - u32::from(prefix_len.min(128))))
                };
                bytes[1..17].copy_from_slice(&masked.to_be_bytes());
                IpKey {
                    bytes,
                    len: 17,
                    kind: IndexKind::Ipv6,
                }
            }
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

fn ip_key(address: IpAddr, prefix_len: u8) -> (IndexKind, Box<[u8]>) {
    let key = IpKey::new(address, prefix_len);
    (key.kind, key.as_bytes().into())
}

/// Compiles one indicator into its index key. `groups` are lower-cased so scope comparison
/// ignores case. Every parsed value has a key, so this cannot fail.
pub fn compile(indicator: &EngineIndicator) -> CompiledIndicator {
    let mut port = 0u16;
    let (kind, key): (IndexKind, Box<[u8]>) = match &indicator.value {
        IndicatorValue::FileMd5(bytes) => (IndexKind::Md5, bytes.as_slice().into()),
        IndicatorValue::FileSha1(bytes) => (IndexKind::Sha1, bytes.as_slice().into()),
        IndicatorValue::FileSha256(bytes) => (IndexKind::Sha256, bytes.as_slice().into()),
        IndicatorValue::CertificateThumbprint(thumbprint) => {
            (IndexKind::Certificate, thumbprint.as_bytes().into())
        }
        IndicatorValue::IpAddress(network) => ip_key(network.address, network.prefix_len_or_full()),
        IndicatorValue::DomainName(name) => (IndexKind::Domain, name.as_str().as_bytes().into()),
        IndicatorValue::Url(url) => {
            port = url.explicit_port().unwrap_or(0);
            (IndexKind::Url, url.match_key().as_bytes().into())
        }
    };
    let mut groups: Vec<String> = indicator.groups.iter().map(|g| g.to_lowercase()).collect();
    groups.sort_unstable();
    groups.dedup();
    CompiledIndicator {
        kind,
        key,
        entry: Entry {
            id: indicator.id,
            expires: indicator.expires.map_or(i64::MAX, Timestamp::ticks),
            scope: 0,
            port,
            action: indicator.action,
            generate_alert: indicator.generate_alert,
        },
        groups: groups.into(),
    }
}

/// `key` as an array of `N` bytes, if it has that length.
pub(crate) fn fixed<const N: usize>(key: &[u8]) -> Option<[u8; N]> {
    key.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_as_written() {
        let mut entries = vec![Entry {
            id: 0,
            expires: i64::MIN,
            scope: 0,
            port: 0,
            action: Action::Audit,
            generate_alert: false,
        }];
        for (n, &action) in Action::ALL.iter().enumerate() {
            entries.push(Entry {
                id: -(n as i64) * 0x0123_4567_89AB,
                expires: i64::MAX - n as i64,
                scope: u32::MAX - n as u32,
                port: 65_535 - n as u16,
                action,
                generate_alert: n % 2 == 0,
            });
        }
        for entry in entries {
            let mut bytes = vec![0xEE; 3];
            entry.write(&mut bytes);
            assert_eq!(bytes.len(), 3 + Entry::LEN);
            assert_eq!(Entry::read(&bytes[3..]), entry);
        }
    }
}
