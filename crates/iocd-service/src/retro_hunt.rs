//! Retro-hunting: a newly written `historicalDetection` indicator is matched against the
//! sightings of its look-back period, and what it would have won raises alerts.

use crate::groups::TenantGroups;
use crate::sightings::{hex, reversed_host, sighting_observable};
use iocd_engine::Snapshot;
use iocd_model::{IndicatorSpec, IndicatorValue, Timestamp};
use iocd_store::UpsertOutcome;
use iocd_store::detections::{AlertHit, DetectionStore, Sighting, SightingKind, SightingQuery};
use serde_json::json;
use std::net::IpAddr;

/// Most past sightings one retro-hunt turns into alerts.
const RETRO_HUNT_LIMIT: usize = 10_000;

/// Matches the newly written `historicalDetection` specs (each with its outcome) against the
/// sightings of their look-back period (at most `retention_seconds`) and raises alerts for
/// what they win in `snapshot`, which already holds them. The write has committed, so a
/// failure here is logged, not returned. Returns how many alerts it raised.
pub(crate) fn hunt(
    detections: &dyn DetectionStore,
    snapshot: &Snapshot,
    groups: &TenantGroups,
    tenant: &str,
    written: &[(&IndicatorSpec, &UpsertOutcome)],
    retention_seconds: u64,
    now: Timestamp,
) -> u64 {
    let wanted: Vec<(i64, &IndicatorSpec)> = written
        .iter()
        .copied()
        .filter(|(spec, _)| spec.historical_detection)
        .filter_map(|(spec, outcome)| outcome.id().map(|id| (id, spec)))
        .collect();
    if wanted.is_empty() {
        return 0;
    }
    let mut hits = Vec::new();
    for (id, spec) in wanted {
        let look_back = spec.look_back_period.map_or(retention_seconds, |period| {
            period.seconds().min(retention_seconds)
        });
        let since = now.plus_seconds(-(look_back.min(i64::MAX as u64) as i64));
        let query = retro_hunt_query(&spec.value, since, RETRO_HUNT_LIMIT);
        match detections.find_sightings(tenant, &query) {
            Ok(found) => hits.extend(retro_hunt_hits(snapshot, groups, id, &found, now)),
            Err(error) => tracing::warn!(tenant, id, %error, "retro-hunt query failed"),
        }
    }
    match detections.record_hits(tenant, &hits, now) {
        Err(error) => {
            tracing::warn!(tenant, %error, "retro-hunt alerts could not be recorded");
            0
        }
        Ok(recorded) => {
            if !hits.is_empty() {
                tracing::info!(
                    tenant,
                    alerts = hits.len(),
                    "retro-hunt found past sightings"
                );
            }
            recorded.iter().flatten().filter(|r| r.created).count() as u64
        }
    }
}

/// The sighting query that finds everything an indicator of `value` would have matched.
pub fn retro_hunt_query(value: &IndicatorValue, since: Timestamp, limit: usize) -> SightingQuery {
    let mut query = SightingQuery {
        kind: SightingKind::Sha256,
        exact: Vec::new(),
        ranges: Vec::new(),
        since,
        limit,
    };
    match value {
        IndicatorValue::FileSha256(bytes) => query.exact.push(hex(bytes)),
        IndicatorValue::FileSha1(bytes) => {
            query.kind = SightingKind::Sha1;
            query.exact.push(hex(bytes));
        }
        IndicatorValue::FileMd5(bytes) => {
            query.kind = SightingKind::Md5;
            query.exact.push(hex(bytes));
        }
        IndicatorValue::CertificateThumbprint(thumbprint) => {
            query.kind = SightingKind::Certificate;
            query.exact.push(hex(thumbprint.as_bytes()));
        }
        IndicatorValue::IpAddress(network) => {
            query.kind = SightingKind::Ip;
            let (bits, width) = match network.address {
                IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), 32u32),
                IpAddr::V6(v6) => (u128::from(v6), 128u32),
            };
            let host_bits = width - u32::from(network.prefix_len_or_full()).min(width);
            let low = if host_bits == 128 {
                0
            } else {
                bits >> host_bits << host_bits
            };
            let high = if host_bits == 128 {
                u128::MAX
            } else {
                low | ((1u128 << host_bits) - 1)
            };
            // Keys are 32 hex digits, so `key <= high` is `key < high + "0"`.
            query
                .ranges
                .push((format!("{low:032x}"), format!("{high:032x}0")));
        }
        IndicatorValue::DomainName(name) => {
            query.kind = SightingKind::Domain;
            let reversed = reversed_host(name.as_str());
            query
                .ranges
                .push((format!("{reversed}."), format!("{reversed}/")));
            query.exact.push(reversed);
        }
        IndicatorValue::Url(url) => {
            query.kind = SightingKind::Url;
            let key = url.match_key();
            if url.query().is_none() {
                query.ranges.push((format!("{key}/"), format!("{key}0")));
                query.ranges.push((format!("{key}?"), format!("{key}@")));
            }
            query.exact.push(key.to_owned());
        }
    }
    query
}

/// The alert hits a retro-hunt for indicator `id` produces from `found`: a sighting counts
/// when, evaluated now with the current indicators, indicator `id` wins and raises an alert.
pub(crate) fn retro_hunt_hits(
    snapshot: &Snapshot,
    groups: &TenantGroups,
    id: i64,
    found: &[Sighting],
    now: Timestamp,
) -> Vec<AlertHit> {
    found
        .iter()
        .filter_map(|sighting| {
            let observable = sighting_observable(sighting)?;
            let device = groups.device_for(&sighting.device);
            let verdict = snapshot.evaluate(&observable, &device, now);
            (verdict.raises_alert() && verdict.winner().is_some_and(|w| w.id == id)).then(|| {
                AlertHit {
                    indicator_id: id,
                    device: sighting.device.clone(),
                    event_time: sighting.last_seen,
                    evidence: json!({
                        "source": "retro-hunt",
                        "kind": sighting.kind.as_str(),
                        "value": sighting.display,
                        "firstSeen": sighting.first_seen.to_mde_seconds(),
                        "lastSeen": sighting.last_seen.to_mde_seconds(),
                    }),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sightings::ip_key;

    #[test]
    fn ip_ranges_cover_exactly_the_network() {
        let network =
            IndicatorValue::parse(iocd_model::IndicatorType::IpAddress, "10.1.0.0/16", true)
                .unwrap();
        let query = retro_hunt_query(&network, Timestamp::from_ticks(0), 10);
        let (low, high) = &query.ranges[0];
        let inside = ip_key("10.1.255.255".parse().unwrap());
        let first = ip_key("10.1.0.0".parse().unwrap());
        let outside = ip_key("10.2.0.0".parse().unwrap());
        let below = ip_key("10.0.255.255".parse().unwrap());
        for (key, expected) in [
            (inside, true),
            (first, true),
            (outside, false),
            (below, false),
        ] {
            assert_eq!(&key >= low && &key < high, expected, "{key}");
        }
    }
}
