//! Property test: the engine (base set plus live overlay) against a deliberately naive
//! reference that scans every indicator with plain string and integer logic and applies the
//! same policy. Random indicators and observables are drawn from small pools so that matches,
//! near-misses and conflicts are frequent. `IOCD_PROPERTY_CASES` sets the number of rounds.

use iocd_engine::{
    Candidate, Change, Device, EngineIndicator, LiveMatcher, MatchSet, Observable, ObservableKind,
    compile, decide, policy::specificity,
};
use iocd_model::{
    Action, CanonicalUrl, IndicatorType, IndicatorValue, Timestamp, parse_ip_network,
};
use std::net::IpAddr;

/// SplitMix64: small, deterministic, good enough to draw test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const HOSTS: &[&str] = &[
    "localhost",
    "com",
    "co.uk",
    "bbc.co.uk",
    "news.bbc.co.uk",
    "cnn.com",
    "www.cnn.com",
    "very-long-host-label.example.org",
    "a.b.c.d.e.very-long-host-label.example.org",
    "a.com",
    "b.a.com",
    "c.b.a.com",
    "ab.com",
    "x.org",
    "10.1.2.3",
];
const PATHS: &[&str] = &[
    "/",
    "/p",
    "/p/",
    "/p/q",
    "/p/q/r",
    "/pq",
    "/P",
    "/p/q?x=1",
    "/p?x=1",
    "/p?x=2",
    "/long-segment",
    "/long-segment/and-more/",
    "/long-segment/and-more/x?q=long-query-value",
];
const PORTS: &[&str] = &["", "", "", ":8080", ":443", ":80"];
const SCHEMES: &[&str] = &["http", "https"];
const IPS: &[&str] = &[
    "10.1.2.3",
    "10.1.2.4",
    "10.1.0.0/16",
    "10.0.0.0/8",
    "10.1.2.0/24",
    "0.0.0.0/0",
    "2001:db8::1",
    "2001:db8::/32",
    "2001:db8:1::/48",
    "::ffff:10.1.2.3",
];
const GROUPS: &[&str] = &["g1", "g2", "G1", "g3"];

struct Pools {
    files: Vec<[String; 4]>,
}

fn hex(rng: &mut Rng, bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rng.next() as u8))
        .collect()
}

fn url(rng: &mut Rng) -> String {
    format!(
        "{}://{}{}{}",
        rng.pick(SCHEMES),
        rng.pick(HOSTS),
        rng.pick(PORTS),
        rng.pick(PATHS)
    )
}

fn random_indicator(rng: &mut Rng, pools: &Pools, id: i64, now: Timestamp) -> EngineIndicator {
    let (indicator_type, value) = match rng.below(7) {
        0..=1 => {
            let file = rng.pick(&pools.files).clone();
            let which = rng.below(4);
            let t = [
                IndicatorType::FileSha256,
                IndicatorType::FileSha1,
                IndicatorType::FileMd5,
                IndicatorType::CertificateThumbprint,
            ][which];
            (t, file[which].clone())
        }
        2 => {
            let raw = rng.pick(IPS);
            let value = parse_ip_network(raw, true).unwrap().to_string();
            (IndicatorType::IpAddress, value)
        }
        3..=4 => {
            let host = *rng.pick(HOSTS);
            // Domain indicators have two labels or more (the model refuses fewer).
            let host = if host.starts_with("10.") || !host.contains('.') {
                "a.com"
            } else {
                host
            };
            (IndicatorType::DomainName, host.to_owned())
        }
        _ => {
            let value = CanonicalUrl::parse(&url(rng)).unwrap().to_string();
            (IndicatorType::Url, value)
        }
    };
    let groups = match rng.below(4) {
        0 => vec![rng.pick(GROUPS).to_string()],
        1 => vec![rng.pick(GROUPS).to_string(), rng.pick(GROUPS).to_string()],
        _ => Vec::new(),
    };
    let expires = match rng.below(5) {
        0 => Some(now.plus_seconds(rng.below(3) as i64 - 1)),
        1 => Some(now.plus_seconds(3600)),
        _ => None,
    };
    EngineIndicator {
        id,
        value: IndicatorValue::parse(indicator_type, &value, true).expect("a valid value"),
        action: *rng.pick(Action::ALL),
        groups,
        expires,
        generate_alert: rng.chance(50),
    }
}

/// An observable as its wire kind and text, or a whole file.
enum Seen {
    One(ObservableKind, String),
    File([Option<String>; 4]),
}

fn random_observable(rng: &mut Rng, pools: &Pools) -> Seen {
    match rng.below(5) {
        0 => {
            let file = rng.pick(&pools.files).clone();
            Seen::File(file.map(|h| rng.chance(60).then_some(h)))
        }
        1 => {
            let raw = *rng.pick(&[
                "10.1.2.3",
                "10.1.2.4",
                "10.1.9.9",
                "10.200.0.1",
                "11.0.0.1",
                "2001:db8::1",
                "2001:db8:1::7",
                "2001:db9::1",
                "::ffff:10.1.2.3",
            ]);
            Seen::One(ObservableKind::IpAddress, raw.to_owned())
        }
        2 => {
            let host = rng.pick(HOSTS);
            let host = if rng.chance(20) {
                host.to_uppercase()
            } else {
                host.to_string()
            };
            Seen::One(ObservableKind::DomainName, host)
        }
        _ => Seen::One(ObservableKind::Url, url(rng)),
    }
}

fn to_observable(seen: &Seen) -> Observable {
    match seen {
        Seen::One(kind, text) => Observable::parse(*kind, text).expect("observable parses"),
        Seen::File(hashes) => {
            let mut file = iocd_engine::FileHashes::default();
            if let Some(h) = &hashes[0] {
                file.sha256 = Some(iocd_engine::observable::parse_hex("sha256", h).unwrap());
            }
            if let Some(h) = &hashes[1] {
                file.sha1 = Some(iocd_engine::observable::parse_hex("sha1", h).unwrap());
            }
            if let Some(h) = &hashes[2] {
                file.md5 = Some(iocd_engine::observable::parse_hex("md5", h).unwrap());
            }
            if let Some(h) = &hashes[3] {
                file.certificate = Some(iocd_engine::observable::parse_thumbprint(h).unwrap());
            }
            Observable::File(file)
        }
    }
}

/// The naive reference: does `indicator` match what was seen, and how specifically?
fn naive_match(indicator: &EngineIndicator, seen: &Seen) -> Option<u32> {
    match seen {
        Seen::File(hashes) => {
            let slot = match indicator.value.indicator_type() {
                IndicatorType::FileSha256 => 0,
                IndicatorType::FileSha1 => 1,
                IndicatorType::FileMd5 => 2,
                IndicatorType::CertificateThumbprint => 3,
                _ => return None,
            };
            hashes[slot]
                .as_ref()
                .filter(|h| h.eq_ignore_ascii_case(&indicator.value.to_string()))
                .map(|_| 0)
        }
        Seen::One(ObservableKind::IpAddress, text) => naive_ip(indicator, &naive_parse_ip(text)),
        Seen::One(ObservableKind::DomainName, text) => naive_host(indicator, &text.to_lowercase()),
        Seen::One(ObservableKind::Url, text) => {
            let seen = url::Url::parse(CanonicalUrl::parse(text).unwrap().as_str()).unwrap();
            let host = seen.host_str().unwrap().trim_matches(['[', ']']).to_owned();
            if indicator.value.indicator_type() == IndicatorType::Url {
                let wanted = url::Url::parse(&indicator.value.to_string()).unwrap();
                let wanted_host = wanted.host_str().unwrap().trim_matches(['[', ']']);
                if wanted_host != host {
                    return None;
                }
                if let Some(port) = wanted.port()
                    && seen.port_or_known_default() != Some(port)
                {
                    return None;
                }
                let wanted_path = wanted.path().trim_end_matches('/');
                let seen_path = seen.path().trim_end_matches('/');
                return match wanted.query() {
                    Some(query) => (seen_path == wanted_path && seen.query() == Some(query))
                        .then(|| specificity::url(wanted_path.len() + 1 + query.len())),
                    None => (seen_path == wanted_path
                        || seen_path.starts_with(&format!("{wanted_path}/")))
                    .then(|| specificity::url(wanted_path.len())),
                };
            }
            match host.parse::<IpAddr>() {
                Ok(ip) => naive_ip(indicator, &ip),
                Err(_) => naive_host(indicator, &host),
            }
        }
        Seen::One(..) => None,
    }
}

fn naive_parse_ip(text: &str) -> IpAddr {
    match text.parse::<IpAddr>().unwrap() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    }
}

fn naive_ip(indicator: &EngineIndicator, seen: &IpAddr) -> Option<u32> {
    if indicator.value.indicator_type() != IndicatorType::IpAddress {
        return None;
    }
    let network = parse_ip_network(&indicator.value.to_string(), true).unwrap();
    let (seen_bits, net_bits, width) = match (seen, network.address) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(*a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(*a), u128::from(b), 128),
        _ => return None,
    };
    let len = network.prefix_len.unwrap_or(width);
    // Compare the top `len` bits one by one.
    let same = (0..len).all(|bit| {
        let shift = u32::from(width - 1 - bit);
        (seen_bits >> shift) & 1 == (net_bits >> shift) & 1
    });
    same.then(|| specificity::ip(len))
}

fn naive_host(indicator: &EngineIndicator, host: &str) -> Option<u32> {
    if indicator.value.indicator_type() != IndicatorType::DomainName {
        return None;
    }
    let domain = &indicator.value.to_string();
    (host == domain || host.ends_with(&format!(".{domain}")))
        .then(|| specificity::domain(domain.split('.').count()))
}

fn naive_verdict(
    indicators: &[EngineIndicator],
    seen: &Seen,
    groups: &[&str],
    now: Timestamp,
) -> iocd_engine::Verdict {
    let candidates = indicators
        .iter()
        .filter(|i| i.expires.is_none_or(|e| e > now))
        .filter_map(|i| {
            let scoped = !i.groups.is_empty();
            let covered = i
                .groups
                .iter()
                .any(|g| groups.iter().any(|d| d.eq_ignore_ascii_case(g)));
            if scoped && !covered {
                return None;
            }
            naive_match(i, seen).map(|specificity| Candidate {
                id: i.id,
                indicator_type: i.value.indicator_type(),
                action: i.action,
                scoped,
                specificity,
                generate_alert: i.generate_alert,
            })
        })
        .collect();
    decide(candidates)
}

#[test]
fn engine_agrees_with_naive_scan() {
    let rounds: u64 = std::env::var("IOCD_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let now = Timestamp::from_unix_seconds(1_800_000_000);
    let mut matched_total = 0;
    for seed in 0..rounds {
        let mut rng = Rng(seed);
        let pools = Pools {
            files: (0..3)
                .map(|_| {
                    [
                        hex(&mut rng, 32),
                        hex(&mut rng, 20),
                        hex(&mut rng, 16),
                        hex(&mut rng, 20),
                    ]
                })
                .collect(),
        };
        // Final state: `current`. Engine state: a base of some, then live changes.
        let count = 1 + rng.below(30);
        let mut current: Vec<EngineIndicator> = (0..count)
            .map(|i| random_indicator(&mut rng, &pools, i as i64 + 1, now))
            .collect();
        let base_count = rng.below(count + 1);
        let base: Vec<_> = current[..base_count].iter().map(compile).collect();
        let mut live = LiveMatcher::new(MatchSet::build(base));
        let mut changes: Vec<Change> = current[base_count..]
            .iter()
            .map(|i| Change::Upsert(compile(i)))
            .collect();
        // Updates and removals of existing ids.
        for _ in 0..rng.below(6) {
            let victim = rng.below(current.len());
            if rng.chance(50) {
                let id = current[victim].id;
                changes.push(Change::Remove(id));
                current.remove(victim);
                if current.is_empty() {
                    break;
                }
            } else {
                let replacement = random_indicator(&mut rng, &pools, current[victim].id, now);
                changes.push(Change::Upsert(compile(&replacement)));
                current[victim] = replacement;
            }
        }
        // Apply in random small batches (exercising chunk combination); maybe take a merge
        // plan part-way and install it after later batches arrived.
        let mut plan = None;
        let plan_at = rng.below(changes.len() + 2);
        let mut applied = 0;
        let mut pending = changes.into_iter().peekable();
        while pending.peek().is_some() {
            if applied >= plan_at && plan.is_none() {
                plan = Some(live.merge_plan());
            }
            let batch: Vec<Change> = pending.by_ref().take(1 + rng.below(3)).collect();
            applied += batch.len();
            live.apply(batch);
        }
        if let Some(plan) = plan {
            live.install(plan.build(now));
        } else if rng.chance(30) {
            let plan = live.merge_plan();
            live.install(plan.build(now));
        }
        let snapshot = live.snapshot();

        // Each observable alone, then all of them in one batch of mixed kinds and devices.
        let mut batch = Vec::new();
        for _ in 0..40 {
            let seen = random_observable(&mut rng, &pools);
            let groups: Vec<&str> = match rng.below(3) {
                0 => vec![],
                1 => vec![*rng.pick(GROUPS)],
                _ => vec![*rng.pick(GROUPS), *rng.pick(GROUPS)],
            };
            let expected = naive_verdict(&current, &seen, &groups, now);
            let observable = to_observable(&seen);
            let device = Device::new(&groups);
            let got = snapshot.evaluate(&observable, &device, now);
            matched_total += usize::from(!expected.matched.is_empty());
            assert_eq!(
                got, expected,
                "seed {seed}: engine and naive scan disagree for groups {groups:?}"
            );
            batch.push((observable, device, expected));
        }
        let items: Vec<(&Observable, &Device)> = batch.iter().map(|(o, d, _)| (o, d)).collect();
        let mut verdicts = Vec::new();
        snapshot.evaluate_batch(&items, now, &mut verdicts);
        assert_eq!(
            verdicts.len(),
            batch.len(),
            "seed {seed}: one verdict per item"
        );
        for (position, (verdict, (_, _, expected))) in verdicts.iter().zip(&batch).enumerate() {
            assert_eq!(
                verdict, expected,
                "seed {seed}: batched lookup {position} disagrees with the naive scan"
            );
        }
    }
    assert!(
        matched_total > rounds as usize * 5,
        "the pools produce matches ({matched_total})"
    );
}
