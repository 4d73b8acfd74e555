//! Request quotas per (tenant, application, operation), counted in calendar minutes and
//! hours as MDE describes them, answered with 429 and `Retry-After` when exceeded.

use crate::config::{Quota, RateLimits};
use std::collections::HashMap;
use std::sync::Mutex;

/// The API operations that have their own quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    List,
    Submit,
    Import,
    Delete,
    BatchDelete,
    Bulk,
    /// `POST /api/match`.
    Match,
    /// `POST /api/events`.
    Events,
    /// `GET`/`PATCH /api/alerts`.
    Alerts,
    /// The token endpoint, per client id.
    Token,
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    start: i64,
    count: u32,
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    minute: Window,
    hour: Window,
}

/// Counts requests; cheap enough to sit in front of every API call.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    usage: Mutex<HashMap<(String, String, Operation), Usage>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter {
            limits,
            usage: Mutex::new(HashMap::new()),
        }
    }

    fn quota(&self, operation: Operation) -> Quota {
        match operation {
            Operation::List => self.limits.list,
            Operation::Submit => self.limits.submit,
            Operation::Import => self.limits.import,
            Operation::Delete => self.limits.delete,
            Operation::BatchDelete => self.limits.batch_delete,
            Operation::Bulk => self.limits.bulk,
            Operation::Match => self.limits.matching,
            Operation::Events => self.limits.events,
            Operation::Alerts => self.limits.alerts,
            Operation::Token => self.limits.token,
        }
    }

    /// Counts one request at `now_unix`; `Err(seconds)` tells how long to wait when over quota
    /// (the rejected request is not counted).
    pub fn check(
        &self,
        tenant: &str,
        app: &str,
        operation: Operation,
        now_unix: i64,
    ) -> Result<(), u64> {
        let quota = self.quota(operation);
        if quota.per_minute.is_none() && quota.per_hour.is_none() {
            return Ok(());
        }
        let mut usage_map = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        if usage_map.len() > 100_000 {
            // Forget idle callers so the map stays bounded.
            usage_map.retain(|_, usage| usage.hour.start >= now_unix - 3600);
        }
        let usage = usage_map
            .entry((tenant.to_owned(), app.to_owned(), operation))
            .or_default();
        let minute_start = now_unix - now_unix.rem_euclid(60);
        let hour_start = now_unix - now_unix.rem_euclid(3600);
        if usage.minute.start != minute_start {
            usage.minute = Window {
                start: minute_start,
                count: 0,
            };
        }
        if usage.hour.start != hour_start {
            usage.hour = Window {
                start: hour_start,
                count: 0,
            };
        }
        let mut wait = 0;
        if quota
            .per_minute
            .is_some_and(|max| usage.minute.count >= max)
        {
            wait = (minute_start + 60 - now_unix) as u64;
        }
        if quota.per_hour.is_some_and(|max| usage.hour.count >= max) {
            wait = wait.max((hour_start + 3600 - now_unix) as u64);
        }
        if wait > 0 {
            return Err(wait);
        }
        usage.minute.count += 1;
        usage.hour.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mde_import_quota_is_thirty_per_minute_per_app() {
        let limiter = RateLimiter::new(RateLimits::mde());
        let start = 28_333_334 * 60 + 40; // 40 s into a minute
        for _ in 0..30 {
            assert_eq!(limiter.check("t", "a", Operation::Import, start), Ok(()));
        }
        assert_eq!(
            limiter.check("t", "a", Operation::Import, start + 5),
            Err(15)
        );
        assert_eq!(
            limiter.check("t", "other-app", Operation::Import, start),
            Ok(())
        );
        assert_eq!(limiter.check("t", "a", Operation::List, start), Ok(()));
        assert_eq!(
            limiter.check("t", "a", Operation::Import, start + 20),
            Ok(()),
            "a new minute"
        );
    }

    #[test]
    fn hourly_quota_applies_across_minutes() {
        let limiter = RateLimiter::new(RateLimits::mde());
        let hour = 1_699_999_200; // start of an hour
        let mut allowed = 0;
        for minute in 0..20 {
            for _ in 0..100 {
                if limiter
                    .check("t", "a", Operation::List, hour + minute * 60)
                    .is_ok()
                {
                    allowed += 1;
                }
            }
        }
        assert_eq!(allowed, 1500);
        assert_eq!(
            limiter.check("t", "a", Operation::List, hour + 1200),
            Err(2400)
        );
    }
}
