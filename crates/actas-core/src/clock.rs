//! Time as a dependency.
//!
//! Rules never read the wall clock: the edge reads a [`Clock`] once per
//! request and passes `now` down, so tests can move time with
//! [`ManualClock::advance`] instead of sleeping.

use std::sync::Mutex;

use chrono::{DateTime, Duration, DurationRound, Utc};

/// A point in time, UTC.
pub type Timestamp = DateTime<Utc>;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time, truncated to microseconds (the stores' precision).
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    fn now(&self) -> Timestamp {
        micros(Utc::now())
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(Mutex::new(micros(start)))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = micros(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Truncates a time to whole microseconds.
pub fn micros(t: Timestamp) -> Timestamp {
    t.duration_trunc(Duration::microseconds(1)).unwrap_or(t)
}

/// Truncates a time to whole milliseconds (the audit trail's precision).
pub fn millis(t: Timestamp) -> Timestamp {
    t.duration_trunc(Duration::milliseconds(1)).unwrap_or(t)
}

/// Formats a time the way the audit trail stores it: `2026-11-25T14:03:00.123Z`.
pub fn format_ms(t: Timestamp) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Minutes as a [`Duration`].
pub fn minutes(m: u32) -> Duration {
    Duration::minutes(i64::from(m))
}

/// A time as `YYYY-MM-DDTHH:MM:SS.mmmZ` in JSON, like every time in the
/// trail (`#[serde(with = "crate::clock::millis_text")]`).
pub mod millis_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Timestamp;

    /// Writes the time.
    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::clock::format_ms(*t))
    }

    /// Reads it back.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::parse_from_rfc3339("2026-11-25T14:00:00Z").unwrap().with_timezone(&Utc);
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(minutes(31));
        assert_eq!(format_ms(clock.now()), "2026-11-25T14:31:00.000Z");
    }
}
