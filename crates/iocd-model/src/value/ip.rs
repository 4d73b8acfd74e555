//! IP indicator values: one address, or (an iocd extension) a CIDR network.

use crate::{ErrorCode, ValidationError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP indicator value: one address, or (extension) a CIDR network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    pub address: IpAddr,
    /// `None` for a single address.
    pub prefix_len: Option<u8>,
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.address {
            IpAddr::V4(v4) => write!(f, "{v4}")?,
            IpAddr::V6(v6) => {
                // MDE documents IPv6 with all eight groups; iocd stores that form.
                let groups = v6.segments().map(|g| format!("{g:x}"));
                f.write_str(&groups.join(":"))?;
            }
        }
        if let Some(len) = self.prefix_len {
            write!(f, "/{len}")?;
        }
        Ok(())
    }
}

/// Parses an IP indicator value. Accepts dotted-quad IPv4 and IPv6 in any standard notation
/// (compressed or not, IPv4-mapped addresses become IPv4). With `allow_cidr`, `addr/len` is a
/// network; host bits must be zero; `/32` and `/128` mean the address itself.
pub fn parse_ip_network(raw: &str, allow_cidr: bool) -> Result<IpNetwork, ValidationError> {
    let invalid = |why: &str| {
        ValidationError::new(
            ErrorCode::InvalidIpAddress,
            "indicatorValue",
            format!("IP address {raw} is invalid: {why}."),
        )
    };
    let (address_text, prefix_text) = match raw.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (raw, None),
    };
    let address: IpAddr = address_text
        .parse()
        .map_err(|_| invalid("not an IPv4 or IPv6 address"))?;
    let address = match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    let Some(prefix_text) = prefix_text else {
        return Ok(IpNetwork {
            address,
            prefix_len: None,
        });
    };
    if !allow_cidr {
        return Err(invalid("CIDR ranges are not supported in strict MDE mode"));
    }
    let max_len: u8 = if address.is_ipv4() { 32 } else { 128 };
    let prefix_len: u8 = prefix_text
        .parse()
        .ok()
        .filter(|len| *len <= max_len && prefix_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            invalid(&format!(
                "the prefix length must be a number from 0 to {max_len}"
            ))
        })?;
    if prefix_len == max_len {
        return Ok(IpNetwork {
            address,
            prefix_len: None,
        });
    }
    let network = mask(address, prefix_len);
    if network != address {
        return Err(invalid(&format!(
            "host bits are set; the network is {}",
            IpNetwork {
                address: network,
                prefix_len: Some(prefix_len)
            }
        )));
    }
    Ok(IpNetwork {
        address,
        prefix_len: Some(prefix_len),
    })
}

fn mask(address: IpAddr, prefix_len: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = if prefix_len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix_len))
            };
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = if prefix_len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix_len))
            };
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

impl IpNetwork {
    /// The prefix length, counting a single address as a full-length network (32 or 128).
    pub fn prefix_len_or_full(&self) -> u8 {
        self.prefix_len
            .unwrap_or(if self.address.is_ipv4() { 32 } else { 128 })
    }
}
