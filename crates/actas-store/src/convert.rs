//! Conversions between domain values and column values.
//!
//! Times are stored as microseconds since the Unix epoch (BIGINT on both
//! backends), lists as space-separated names, JSON as text: the same column
//! types on SQLite and PostgreSQL, so one SQL text serves both.

use actas_core::clock::format_ms;
use actas_core::model::Approver;
use actas_core::{Error, Timestamp};
use chrono::DateTime;

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn opt_micros(t: Option<Timestamp>) -> Option<i64> {
    t.map(micros)
}

pub(crate) fn time(v: i64) -> Result<Timestamp, Error> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(format!("time {v} out of range")))
}

pub(crate) fn opt_time(v: Option<i64>) -> Result<Option<Timestamp>, Error> {
    v.map(time).transpose()
}

pub(crate) fn audit_at(t: Timestamp) -> String {
    format_ms(t)
}

pub(crate) fn join(list: &[String]) -> String {
    list.join(" ")
}

pub(crate) fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Approvers as a JSON list of `[id, name]` pairs.
pub(crate) fn approvers_json(list: &[Approver]) -> String {
    let pairs: Vec<[&str; 2]> = list.iter().map(|a| [a.id.as_str(), a.name.as_str()]).collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

/// A ticket's tags as a JSON list.
pub(crate) fn tags_json(tags: &[String]) -> Result<String, Error> {
    serde_json::to_string(tags).map_err(|e| corrupt(format!("tags: {e}")))
}

/// A step-up's change as JSON.
pub(crate) fn stepup_json(s: Option<&actas_core::stepup::StepUp>) -> Result<Option<String>, Error> {
    s.map(|s| serde_json::to_string(s).map_err(|e| corrupt(format!("stepup: {e}")))).transpose()
}

/// A connector's mapping as JSON.
pub(crate) fn mapping_json(m: &actas_core::connector::Mapping) -> Result<String, Error> {
    serde_json::to_string(m).map_err(|e| corrupt(format!("mapping: {e}")))
}

pub(crate) fn approvers_from(s: &str) -> Result<Vec<Approver>, Error> {
    let pairs: Vec<[String; 2]> = serde_json::from_str(s).map_err(|e| corrupt(format!("approvers: {e}")))?;
    Ok(pairs.into_iter().map(|[id, name]| Approver { id, name }).collect())
}

/// A stored name read back as its enum.
pub(crate) fn parse<T: std::str::FromStr>(s: &str) -> Result<T, Error> {
    s.parse().map_err(|_| {
        corrupt(format!("unknown {} \"{s}\"", std::any::type_name::<T>().rsplit("::").next().unwrap_or("name")))
    })
}

pub(crate) fn minutes(v: i64) -> Result<u32, Error> {
    u32::try_from(v).map_err(|_| corrupt(format!("minutes {v} out of range")))
}

pub(crate) fn corrupt(msg: impl Into<String>) -> Error {
    Error::Internal(anyhow::anyhow!("stored data is not readable: {}", msg.into()))
}

/// Maps a database error: a broken rule becomes the given conflict, anything
/// else means the database cannot be used right now.
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    Error::Unavailable(anyhow::Error::new(e).context("database"))
}

pub(crate) fn unique_or(e: sqlx::Error, code: actas_core::Code, detail: &str) -> Error {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => Error::conflict(code, detail),
        _ => db_err(e),
    }
}
