//! Shared pieces of the iocd benchmarks: a deterministic random generator and the realistic
//! data sets built from the pymispwarninglists lists that `scripts/bench-data` extracts, and
//! the release server as a child process (`server`), and load from `wrk` (`wrk`).

pub mod database;
pub mod server;
pub mod wrk;

/// The number after the command-line flag `name`, or `default` when the flag is absent.
pub fn arg(name: &str, default: u64) -> Result<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .context("missing value")?
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

use anyhow::{Context, Result};
use iocd_engine::EngineIndicator;
use iocd_model::{Action, CanonicalUrl, IndicatorType, IndicatorValue, parse_ip_network};
use std::path::Path;

/// A small deterministic generator (xorshift64*), so every run uses the same data.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn hex(&mut self, chars: usize) -> String {
        let mut out = String::with_capacity(chars);
        while out.len() < chars {
            out.push_str(&format!("{:016x}", self.next_u64()));
        }
        out.truncate(chars);
        out
    }

    /// A path of one to three lower-case segments.
    pub fn path(&mut self) -> String {
        let segments = 1 + self.below(3);
        let mut path = String::new();
        for _ in 0..segments {
            path.push('/');
            let len = 3 + self.below(8);
            for _ in 0..len {
                path.push((b'a' + self.below(26) as u8) as char);
            }
        }
        path
    }
}

/// The real lists extracted by `scripts/bench-data`.
#[derive(Debug)]
pub struct RealData {
    pub domains: Vec<String>,
    pub origins: Vec<String>,
    pub hashes: Vec<String>,
    pub cidrs: Vec<String>,
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}; run scripts/bench-data first",
            path.display()
        )
    })?;
    Ok(text.lines().map(str::to_owned).collect())
}

impl RealData {
    pub fn load(dir: &Path) -> Result<RealData> {
        Ok(RealData {
            domains: read_lines(&dir.join("domains.txt"))?,
            origins: read_lines(&dir.join("origins.txt"))?,
            hashes: read_lines(&dir.join("hashes.txt"))?,
            cidrs: read_lines(&dir.join("cidrs.txt"))?
                .into_iter()
                .filter_map(|c| parse_ip_network(&c, true).ok().map(|ip| ip.to_string()))
                .collect(),
        })
    }
}

/// The share of each kind in generated indicator sets, in percent.
pub const MIX: [(IndicatorType, usize); 6] = [
    (IndicatorType::FileSha256, 20),
    (IndicatorType::FileSha1, 10),
    (IndicatorType::FileMd5, 10),
    (IndicatorType::DomainName, 25),
    (IndicatorType::Url, 25),
    (IndicatorType::IpAddress, 10),
];

/// Builds `count` indicators in the [`MIX`] proportions: real values first (Tranco domains,
/// real hashes, real CIDR ranges, Chrome UX origins with random paths), then synthetic ones
/// (random hashes, subdomains of real domains, random IPv4 addresses) to reach the count.
/// Values the model's validation refuses are left out, so the set may be a little smaller.
pub fn indicator_set(data: &RealData, count: usize, rng: &mut Rng) -> Vec<EngineIndicator> {
    let mut out = Vec::with_capacity(count);
    let mut real_hashes = data.hashes.iter();
    for (indicator_type, percent) in MIX {
        let wanted = count * percent / 100;
        for n in 0..wanted {
            let value = match indicator_type {
                IndicatorType::FileSha256 | IndicatorType::FileSha1 | IndicatorType::FileMd5 => {
                    let len = match indicator_type {
                        IndicatorType::FileSha256 => 64,
                        IndicatorType::FileSha1 => 40,
                        _ => 32,
                    };
                    match real_hashes.by_ref().find(|h| h.len() == len) {
                        Some(real) => real.clone(),
                        None => rng.hex(len),
                    }
                }
                IndicatorType::DomainName => {
                    let base = &data.domains[n % data.domains.len()];
                    match n / data.domains.len() {
                        0 => base.clone(),
                        round => format!("s{round}.{base}"),
                    }
                }
                IndicatorType::Url => {
                    let host = &data.origins[rng.below(data.origins.len())];
                    let raw = format!("https://{host}{}", rng.path());
                    match CanonicalUrl::parse(&raw) {
                        Ok(url) => url.to_string(),
                        Err(_) => format!("https://example.com/{n}"),
                    }
                }
                IndicatorType::IpAddress => match data.cidrs.get(n) {
                    Some(cidr) => cidr.clone(),
                    None => {
                        let bits = rng.next_u64() as u32;
                        std::net::Ipv4Addr::from(bits).to_string()
                    }
                },
                IndicatorType::CertificateThumbprint => rng.hex(40),
            };
            // Real lists hold a few values MDE's rules refuse (`_wildcard_.example`): skip them.
            let Ok(value) = IndicatorValue::parse(indicator_type, &value, true) else {
                continue;
            };
            let action = match (indicator_type.is_file_like(), rng.below(10)) {
                (_, 0) => Action::Allowed,
                (_, 1) => Action::Audit,
                (true, 2..=5) => Action::BlockAndRemediate,
                (false, 2) => Action::Warn,
                _ => Action::Block,
            };
            out.push(EngineIndicator {
                id: out.len() as i64 + 1,
                value,
                action,
                groups: if rng.below(20) == 0 {
                    vec![format!("group-{}", rng.below(8))]
                } else {
                    Vec::new()
                },
                expires: None,
                generate_alert: action == Action::Audit || rng.below(4) == 0,
            });
        }
    }
    out
}
