//! Statuses in the health+json words, and how time turns them.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A service's status, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// Parses a stored word.
    pub fn from_db(s: &str) -> Self {
        match s {
            "pass" => Status::Pass,
            "warn" => Status::Warn,
            _ => Status::Fail,
        }
    }

    /// Maps a reporter's free-text status: pass/ok/up/healthy, warn/degraded,
    /// and fail/error/down/critical; anything else counts as alive (`pass`).
    pub fn from_report(status: &str, level: &str) -> Self {
        let s = status.to_ascii_lowercase();
        match s.as_str() {
            "warn" | "warning" | "degraded" => Status::Warn,
            "fail" | "failed" | "failure" | "error" | "down" | "critical" | "unhealthy" => Status::Fail,
            _ if level.eq_ignore_ascii_case("critical") => Status::Fail,
            _ => Status::Pass,
        }
    }
}

/// A service's status from its instances' (as Consul rolls up checks): all pass
/// → pass; some failing while another passes → warn (degraded, still serving);
/// otherwise the worst of them.
pub fn roll_up(instances: impl IntoIterator<Item = Status>) -> Status {
    let (mut any_pass, mut worst) = (false, Status::Pass);
    for s in instances {
        any_pass |= s == Status::Pass;
        worst = worst.max(s);
    }
    if worst == Status::Fail && any_pass {
        Status::Warn
    } else {
        worst
    }
}

/// How long a service may stay silent.
#[derive(Debug, Clone)]
pub struct TtlPolicy {
    pub default_ttl_secs: u64,
    pub grace_secs: u64,
    pub overrides: HashMap<String, u64>,
    /// Silence counts from here at the earliest: health_check's start, so an
    /// instance last heard before a restart gets its TTL and grace again.
    pub counted_from: DateTime<Utc>,
}

impl TtlPolicy {
    /// TTL of `service` in seconds.
    pub fn ttl_secs(&self, service: &str) -> u64 {
        self.overrides
            .get(service)
            .copied()
            .unwrap_or(self.default_ttl_secs)
    }

    /// Effective status at `now`: the reported one while fresh, `warn` past the
    /// TTL, `fail` past TTL + grace. Never better than what was reported.
    pub fn effective(
        &self,
        service: &str,
        reported: Status,
        last_seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Status, &'static str) {
        let silent = now - last_seen.max(self.counted_from);
        let ttl = Duration::seconds(i64::try_from(self.ttl_secs(service)).unwrap_or(i64::MAX / 2));
        let grace = Duration::seconds(i64::try_from(self.grace_secs).unwrap_or(i64::MAX / 2));
        if silent > ttl + grace {
            (Status::Fail, "no heartbeat within ttl + grace")
        } else if silent > ttl && reported < Status::Warn {
            (Status::Warn, "no heartbeat within ttl")
        } else {
            (reported, "reported")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_turns_warn_then_fail() {
        let p = TtlPolicy {
            default_ttl_secs: 10,
            grace_secs: 5,
            overrides: HashMap::from([("slow".into(), 100)]),
            counted_from: DateTime::<Utc>::MIN_UTC,
        };
        let t0 = Utc::now();
        let at = |s| t0 + Duration::seconds(s);
        assert_eq!(p.effective("a", Status::Pass, t0, at(10)).0, Status::Pass);
        assert_eq!(p.effective("a", Status::Pass, t0, at(11)).0, Status::Warn);
        assert_eq!(p.effective("a", Status::Pass, t0, at(16)).0, Status::Fail);
        assert_eq!(p.effective("a", Status::Fail, t0, at(1)).0, Status::Fail);
        assert_eq!(p.effective("slow", Status::Pass, t0, at(50)).0, Status::Pass);
    }

    #[test]
    fn silence_before_a_restart_counts_from_the_restart() {
        let t0 = Utc::now();
        let at = |s| t0 + Duration::seconds(s);
        let p = TtlPolicy {
            default_ttl_secs: 10,
            grace_secs: 5,
            overrides: HashMap::new(),
            counted_from: at(100),
        };
        assert_eq!(p.effective("a", Status::Pass, t0, at(101)).0, Status::Pass);
        assert_eq!(p.effective("a", Status::Pass, t0, at(111)).0, Status::Warn);
        assert_eq!(p.effective("a", Status::Pass, t0, at(116)).0, Status::Fail);
    }

    #[test]
    fn a_service_rolls_up_from_its_instances() {
        use Status::*;
        assert_eq!(roll_up([Pass, Pass]), Pass);
        assert_eq!(roll_up([Pass, Fail]), Warn, "one replica down: degraded");
        assert_eq!(roll_up([Pass, Warn]), Warn);
        assert_eq!(roll_up([Fail, Fail]), Fail);
        assert_eq!(roll_up([Warn, Fail]), Fail, "none passing");
        assert_eq!(roll_up([Fail]), Fail);
    }

    #[test]
    fn report_words_map_to_health_json_words() {
        assert_eq!(Status::from_report("OK", "info"), Status::Pass);
        assert_eq!(Status::from_report("degraded", "info"), Status::Warn);
        assert_eq!(Status::from_report("down", "error"), Status::Fail);
        assert_eq!(Status::from_report("whatever", "critical"), Status::Fail);
    }
}
