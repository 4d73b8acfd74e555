//! OData `$filter` and `$orderby`, parsed and then run against a real SQLite store holding a
//! few indicators, for both entities (indicators and alerts).

use super::{refused, text};
use crate::{Checker, Target, Verdict};
use iocd_model::{IndicatorSubmission, Timestamp, ValidationOptions, validate_submission};
use iocd_store::detections::DetectionStore;
use iocd_store::odata::{Entity, parse_filter_for, parse_order_by_for};
use iocd_store::{
    Actor, IndicatorReader, IndicatorStore, ListQuery, SqliteStore, Visibility, WriteContext,
};

pub(super) const FILTER: Target = Target {
    name: "odata-filter",
    about: "$filter over indicators and alerts: no panic, refusals with a message, and every filter the parser accepts runs on SQLite without a database error",
    seeds: &[
        b"indicatorValue eq 'evil.example'",
        b"action eq 'Block' and (severity ne 'Low' or generateAlert eq true)",
        b"expirationTime gt 2024-01-01T00:00:00Z and not startswith(title,'x')",
        b"rbacGroupNames/any(g: g eq 'servers') or contains(tolower(description),'a''b')",
        b"id in (1,2,3) and creationTimeDateTimeUtc le '2030-01-01'",
        b"status eq 'New' and eventCount ge 2 and machineGroup eq null",
    ],
    dictionary: &[
        "id",
        "application",
        "createdByDisplayName",
        "expirationTime",
        "generateAlert",
        "title",
        "description",
        "rbacGroupNames",
        "rbacGroupIds",
        "indicatorValue",
        "indicatorType",
        "creationTimeDateTimeUtc",
        "lastUpdateTime",
        "lastUpdatedBy",
        "createdBy",
        "action",
        "severity",
        "category",
        "externalId",
        "status",
        "classification",
        "assignedTo",
        "detectionSource",
        "alertCreationTime",
        "firstEventTime",
        "lastEventTime",
        "machineId",
        "computerDnsName",
        "machineGroup",
        "indicatorId",
        "eventCount",
        " eq ",
        " ne ",
        " gt ",
        " ge ",
        " lt ",
        " le ",
        " in ",
        " and ",
        " or ",
        "not ",
        "(",
        ")",
        "'",
        "''",
        ",",
        "/",
        "any(",
        "all(",
        "g:",
        " g ",
        "startswith(",
        "endswith(",
        "contains(",
        "tolower(",
        "toupper(",
        "null",
        "true",
        "false",
        "$",
        "$it",
        "@",
        "-",
        "2024-01-01T00:00:00Z",
        "'2024-13-45'",
        "1.5",
        "1e10",
        "Block",
        "High",
        "FileSha256",
    ],
    max_len: 1024,
    grammar: Some(super::grammar::filter),
    make: make_filter,
};

pub(super) const ORDER_BY: Target = Target {
    name: "odata-orderby",
    about: "$orderby over indicators and alerts: no panic, refusals with a message, and every order the parser accepts runs on SQLite",
    seeds: &[
        b"id",
        b"severity desc,creationTimeDateTimeUtc asc",
        b"title,indicatorValue desc,expirationTime",
        b"eventCount desc, lastEventTime",
    ],
    dictionary: &[
        "id",
        "application",
        "createdByDisplayName",
        "expirationTime",
        "generateAlert",
        "title",
        "description",
        "rbacGroupNames",
        "rbacGroupIds",
        "indicatorValue",
        "indicatorType",
        "creationTimeDateTimeUtc",
        "lastUpdateTime",
        "lastUpdatedBy",
        "createdBy",
        "action",
        "severity",
        "category",
        "externalId",
        "status",
        "classification",
        "assignedTo",
        "detectionSource",
        "alertCreationTime",
        "firstEventTime",
        "lastEventTime",
        "machineId",
        "computerDnsName",
        "machineGroup",
        "indicatorId",
        "eventCount",
        ",",
        " asc",
        " desc",
        " ",
        "/",
        "(",
        ")",
        "'",
    ],
    max_len: 512,
    grammar: Some(super::grammar::order_by),
    make: make_order_by,
};

/// A store in a temporary directory with a few indicators of tenant `t`.
struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    now: Timestamp,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(&dir.path().join("fuzz.db")).expect("a new SQLite store");
        let now = Timestamp::from_unix_seconds(1_760_000_000);
        let options = ValidationOptions::json(now, false);
        let rows = [
            r#"{"indicatorValue":"evil.example","indicatorType":"DomainName","action":"Block","title":"a","description":"d","severity":"High","rbacGroupNames":["servers"]}"#,
            r#"{"indicatorValue":"203.0.113.0/24","indicatorType":"IpAddress","action":"Audit","generateAlert":true,"title":"b","description":"d","expirationTime":"2030-01-01T00:00:00Z"}"#,
            r#"{"indicatorValue":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","indicatorType":"FileSha256","action":"Allowed","title":"c","description":"d","category":"Malware"}"#,
        ];
        let specs: Vec<_> = rows
            .iter()
            .map(|row| {
                let submission: IndicatorSubmission =
                    serde_json::from_str(row).expect("a fixture row");
                validate_submission(&submission, &options).expect("a valid fixture row")
            })
            .collect();
        let actor = Actor {
            id: "fuzz".into(),
            display_name: "fuzz".into(),
            source: "PublicApi".into(),
        };
        let context = WriteContext {
            now,
            visibility: Visibility::All,
            max_active: None,
        };
        store
            .upsert_batch("t", &actor, &specs, &context)
            .expect("the fixture rows are stored");
        Fixture {
            _dir: dir,
            store,
            now,
        }
    }

    /// Runs `query` over both entities; a database error is a broken contract.
    fn run(&self, query: &ListQuery, entity: Entity) -> Result<(), String> {
        let result = match entity {
            Entity::Indicator => self
                .store
                .list("t", query, &Visibility::All, self.now)
                .map(drop),
            Entity::Alert => self.store.list_alerts("t", query).map(drop),
        };
        result.map_err(|error| format!("an accepted query failed in the store: {error}"))
    }
}

fn make_filter() -> Checker {
    let fixture = Fixture::new();
    Box::new(move |input: &[u8]| {
        let raw = text(input);
        let mut accepted = false;
        for entity in [Entity::Indicator, Entity::Alert] {
            match parse_filter_for(entity, &raw) {
                Ok(filter) => {
                    accepted = true;
                    let query = ListQuery {
                        filter: Some(filter),
                        top: 10,
                        count: true,
                        ..ListQuery::default()
                    };
                    fixture.run(&query, entity)?;
                }
                Err(error) => {
                    refused(&error.0, "a $filter")?;
                }
            }
        }
        Ok(if accepted {
            Verdict::Accepted
        } else {
            Verdict::Refused
        })
    })
}

fn make_order_by() -> Checker {
    let fixture = Fixture::new();
    Box::new(move |input: &[u8]| {
        let raw = text(input);
        let mut accepted = false;
        for entity in [Entity::Indicator, Entity::Alert] {
            match parse_order_by_for(entity, &raw) {
                Ok(order_by) => {
                    accepted = true;
                    let query = ListQuery {
                        order_by,
                        top: 10,
                        ..ListQuery::default()
                    };
                    fixture.run(&query, entity)?;
                }
                Err(error) => {
                    refused(&error.0, "an $orderby")?;
                }
            }
        }
        Ok(if accepted {
            Verdict::Accepted
        } else {
            Verdict::Refused
        })
    })
}
