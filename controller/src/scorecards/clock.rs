//! The time scorecards are evaluated at, and the day their snapshots belong to.
//!
//! Production reads the system clock. Tests (and demos of trends) point the controller at a file
//! with `--scorecards-clock-file`: while the file holds an RFC 3339 timestamp, that is "now"
//! for rule evaluation (`now` in CEL, `evaluatedAt`) and for the snapshot day; changing the file
//! moves time, so three "days" of snapshots take seconds. Sweeps and debouncing keep using the
//! monotonic clock, so a frozen file never stalls the controller.

use std::path::PathBuf;

use jiff::Timestamp;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock read from a file holding an RFC 3339 timestamp (test-only). A missing, empty or
/// unparsable file falls back to the system clock, and says so once per distinct content, so
/// a typo shows up in the log instead of silently freezing time.
#[derive(Debug)]
pub struct FileClock {
    path: PathBuf,
    last_problem: std::sync::Mutex<Option<String>>,
}

impl FileClock {
    pub fn new(path: PathBuf) -> Self {
        FileClock {
            path,
            last_problem: std::sync::Mutex::new(None),
        }
    }

    fn read(&self) -> Result<Timestamp, String> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        let text = text.trim();
        text.parse::<Timestamp>().map_err(|e| {
            format!(
                "{} holds {text:?}, not an RFC 3339 timestamp: {e}",
                self.path.display()
            )
        })
    }
}

impl Clock for FileClock {
    fn now(&self) -> Timestamp {
        match self.read() {
            Ok(t) => t,
            Err(problem) => {
                if let Ok(mut last) = self.last_problem.lock()
                    && last.as_deref() != Some(problem.as_str())
                {
                    tracing::warn!(%problem, "scorecards clock file unusable; using the system clock");
                    *last = Some(problem);
                }
                Timestamp::now()
            }
        }
    }
}

/// The UTC day of `t`, `YYYY-MM-DD` (the snapshot's `spec.date`).
pub fn day_of(t: Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .strftime("%Y-%m-%d")
        .to_string()
}

/// Whether the snapshot date `date` (`YYYY-MM-DD`) is older than `retention_days` days before
/// `today`: with a retention of 3 days and today 2026-03-04, 2026-03-01 is expired and
/// 2026-03-02 is kept (today and the two days before it). A date that does not parse is never
/// expired: deleting what cannot be read would lose data.
pub fn expired(date: &str, today: &str, retention_days: u32) -> bool {
    let (Ok(d), Ok(t)) = (
        date.parse::<jiff::civil::Date>(),
        today.parse::<jiff::civil::Date>(),
    ) else {
        return false;
    };
    let Ok(span) = d.until(t) else {
        return false;
    };
    i64::from(span.get_days()) >= i64::from(retention_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_retention_counts_today() {
        let t: Timestamp = "2026-03-01T23:30:00-02:00".parse().unwrap();
        assert_eq!(day_of(t), "2026-03-02");
        assert!(!expired("2026-03-04", "2026-03-04", 3));
        assert!(!expired("2026-03-02", "2026-03-04", 3));
        assert!(expired("2026-03-01", "2026-03-04", 3));
        assert!(expired("2025-01-01", "2026-03-04", 400));
        assert!(!expired("2025-03-01", "2026-03-04", 400));
        assert!(!expired("garbage", "2026-03-04", 1));
    }

    #[test]
    fn file_clock_reads_the_file_and_falls_back_to_the_system_clock() {
        let dir = std::env::temp_dir().join(format!("nexus-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("now");
        let clock = FileClock::new(path.clone());
        let before = Timestamp::now();
        assert!(clock.now() >= before, "missing file: system clock");
        std::fs::write(&path, "2026-03-01T12:00:00Z\n").unwrap();
        assert_eq!(clock.now().to_string(), "2026-03-01T12:00:00Z");
        std::fs::write(&path, "tomorrow").unwrap();
        assert!(clock.now() >= before);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
