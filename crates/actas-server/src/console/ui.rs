//! The console's small shared pieces of markup: a moment in time, and the
//! badges that say where a request or a session stands and what an action
//! asks for. Every badge carries words and a colour (the words alone are
//! enough; the colour only helps the eye), styled by `assets/console.css`
//! (`.badge` and its state classes).

use actas_core::audit::EventType;
use actas_core::model::{EndReason, RequestStatus, SessionState};
use actas_core::policy::{Action, Approval};
use actas_core::Timestamp;
use chrono::{Datelike, SecondsFormat};
use maud::{html, Markup};

/// A moment, said the way a person reads it, relative to `now`, with its
/// clock time: `<time datetime="…">in 12 min · 14:03 UTC</time>`. The full
/// date and time is in the element's `title` and `datetime`.
pub(crate) fn moment(now: Timestamp, t: Timestamp) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(SecondsFormat::Secs, true)) title=(t.format("%Y-%m-%d %H:%M:%S UTC").to_string()) {
            (moment_words(now, t))
        }
    }
}

/// The words of [`moment`]: "just now", "3 min ago · 14:03 UTC",
/// "in 12 min · 14:03 UTC", "2 h ago · 14:03 UTC", "yesterday 14:03 UTC",
/// "Nov 28 14:03 UTC" (with the year when it is not this one's).
pub(crate) fn moment_words(now: Timestamp, t: Timestamp) -> String {
    let clock = t.format("%H:%M UTC").to_string();
    let secs = (t - now).num_seconds();
    let ago = secs <= 0;
    let abs = secs.unsigned_abs();
    let same_day = t.date_naive() == now.date_naive();
    if abs < 60 {
        return format!("just now · {clock}");
    }
    if abs < 3600 {
        let m = abs / 60;
        return if ago { format!("{m} min ago · {clock}") } else { format!("in {m} min · {clock}") };
    }
    if same_day {
        let h = abs / 3600;
        return if ago { format!("{h} h ago · {clock}") } else { format!("in {h} h · {clock}") };
    }
    if now.date_naive().pred_opt() == Some(t.date_naive()) {
        return format!("yesterday {clock}");
    }
    if now.date_naive().succ_opt() == Some(t.date_naive()) {
        return format!("tomorrow {clock}");
    }
    if t.year() == now.year() {
        format!("{} {clock}", t.format("%b %-d"))
    } else {
        format!("{} {clock}", t.format("%b %-d %Y"))
    }
}

/// A badge: `class` is one of the state classes of `console.css`.
pub(crate) fn badge(class: &str, words: &str) -> Markup {
    html! { span class={ "badge " (class) } { (words) } }
}

/// Where a request stands, in words and colour.
pub(crate) fn request_badge(status: RequestStatus) -> Markup {
    let (class, words) = match status {
        RequestStatus::Pending => ("waiting", "waiting for a lead"),
        RequestStatus::Approved => ("approved", "approved"),
        RequestStatus::Denied => ("denied", "denied"),
        RequestStatus::Withdrawn => ("withdrawn", "withdrawn"),
        RequestStatus::Expired => ("expired", "expired"),
        RequestStatus::Started => ("live", "started"),
        RequestStatus::Used => ("ended", "used"),
    };
    badge(class, words)
}

/// Whether a session is live or how it ended, in words and colour.
pub(crate) fn session_badge(state: SessionState, end: Option<EndReason>) -> Markup {
    let (class, words) = match (state, end) {
        (SessionState::Live, _) => ("live", "live"),
        (SessionState::Ended, Some(EndReason::Revoked)) => ("denied", "revoked"),
        (SessionState::Ended, Some(EndReason::Expired)) => ("expired", "expired"),
        (SessionState::Ended, Some(EndReason::IdleTimeout)) => ("expired", "ended: idle"),
        (SessionState::Ended, _) => ("ended", "ended"),
    };
    badge(class, words)
}

/// What an action asks for: a lead's approval (`risky`), never granted, or
/// a view of sensitive data. Nothing when it asks for nothing.
pub(crate) fn action_badges(action: &Action) -> Markup {
    html! {
        @match action.approval {
            Approval::Required => { " " (badge("risky", "needs a lead's approval")) }
            Approval::Forbidden => { " " (badge("denied", "never granted")) }
            Approval::None => {}
        }
        @if action.sensitive { " " (badge("sensitive", "sensitive")) }
    }
}

/// Whether an event stands out in the trail: `denial` for a refusal or a
/// denial.
pub(crate) fn event_class(kind: EventType) -> Option<&'static str> {
    matches!(
        kind,
        EventType::ActionDenied
            | EventType::RequestDenied
            | EventType::RequestRefused
            | EventType::ScopeDenied
            | EventType::StepupDenied
    )
    .then_some("denial")
}

/// What kind of thing happened, in a few plain words.
pub(crate) fn event_words(kind: EventType) -> &'static str {
    use EventType as T;
    match kind {
        T::TicketCreated => "ticket recorded",
        T::TicketUpdated => "ticket updated",
        T::RequestCreated => "access asked for",
        T::RequestRefused => "request refused",
        T::RequestApproved => "request approved",
        T::RequestDenied => "request denied",
        T::RequestWithdrawn => "request withdrawn",
        T::RequestExpired => "approval expired",
        T::SessionStarted => "session started",
        T::SessionEnded => "session ended",
        T::SessionExpired => "session timed out",
        T::SessionIdleTimeout => "session idled out",
        T::SessionRevoked => "session revoked",
        T::SessionTicketClosed => "ended: ticket closed",
        T::ScopeRequested => "more actions asked for",
        T::ScopeApproved => "more actions approved",
        T::ScopeDenied => "more actions denied",
        T::ScopeChanged => "scope changed",
        T::StepupRequested => "one change asked for",
        T::StepupApproved => "one change approved",
        T::StepupDenied => "one change denied",
        T::StepupUsed => "approved change made",
        T::ActionPerformed => "change made",
        T::ActionDenied => "action refused",
        T::RecordViewed => "record viewed",
        T::StaffCreated => "staff added",
        T::StaffDisabled => "staff disabled",
        T::StaffUpdated => "staff changed",
        T::StaffEnabled => "staff enabled",
        T::AppCreated => "app registered",
        T::AppUpdated => "app changed",
        T::PolicyLoaded => "policy loaded",
        T::KeyRotated => "keys rotated",
        T::CustomerNotified => "customer told",
        T::SessionEntered => "host app entered",
        T::GrantCreated => "customer allowed access",
        T::GrantRevoked => "customer withdrew access",
        T::SessionCustomerRevoked => "ended: customer withdrew",
        T::BreakglassStarted => "break-glass: no approval",
        T::SessionReviewed => "break-glass reviewed",
        T::WebhookCreated => "webhook added",
        T::WebhookPaused => "webhook paused",
        T::WebhookResumed => "webhook resumed",
        T::WebhookRemoved => "webhook removed",
    }
}

/// An event's kind as a badge: words, and the colour of what it means.
pub(crate) fn event_badge(kind: EventType) -> Markup {
    let class = match (event_class(kind), kind) {
        (Some(_), _) => "denied",
        (None, EventType::SessionStarted | EventType::SessionEntered) => "live",
        (None, EventType::RequestApproved | EventType::ScopeApproved | EventType::StepupApproved) => "approved",
        (None, EventType::RequestCreated | EventType::ScopeRequested | EventType::StepupRequested) => "waiting",
        (None, EventType::SessionRevoked | EventType::SessionCustomerRevoked | EventType::GrantRevoked) => "denied",
        (None, EventType::GrantCreated | EventType::SessionReviewed) => "approved",
        (None, EventType::BreakglassStarted) => "denied",
        (None, EventType::RecordViewed) => "sensitive",
        (None, EventType::SessionEnded | EventType::SessionExpired | EventType::SessionIdleTimeout) => "ended",
        (None, EventType::SessionTicketClosed | EventType::RequestWithdrawn | EventType::RequestExpired) => "ended",
        (None, _) => "neutral",
    };
    badge(class, event_words(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(d: u32, h: u32, m: u32, s: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, d, h, m, s).single().unwrap()
    }

    #[test]
    fn moments_read_like_a_person_says_them() {
        let now = at(30, 14, 3, 0);
        assert_eq!(moment_words(now, at(30, 14, 2, 40)), "just now · 14:02 UTC");
        assert_eq!(moment_words(now, at(30, 14, 0, 0)), "3 min ago · 14:00 UTC");
        assert_eq!(moment_words(now, at(30, 14, 15, 0)), "in 12 min · 14:15 UTC");
        assert_eq!(moment_words(now, at(30, 12, 0, 0)), "2 h ago · 12:00 UTC");
        assert_eq!(moment_words(now, at(29, 14, 3, 0)), "yesterday 14:03 UTC");
        assert_eq!(moment_words(now, at(28, 14, 3, 0)), "Nov 28 14:03 UTC");
        let m = moment(now, at(30, 14, 15, 0)).into_string();
        assert!(m.contains(r#"datetime="2026-11-30T14:15:00Z""#), "{m}");
        assert!(m.contains(r#"title="2026-11-30 14:15:00 UTC""#), "{m}");
    }

    #[test]
    fn badges_have_words_and_a_class() {
        let b = request_badge(RequestStatus::Pending).into_string();
        assert!(b.contains("badge waiting") && b.contains("waiting for a lead"), "{b}");
        let b = session_badge(SessionState::Ended, Some(EndReason::Revoked)).into_string();
        assert!(b.contains("revoked"), "{b}");
    }

    #[test]
    fn denials_stand_out_and_every_event_has_words() {
        use strum::VariantArray;
        for k in EventType::VARIANTS {
            assert!(!event_words(*k).is_empty());
        }
        assert_eq!(event_class(EventType::ActionDenied), Some("denial"));
        assert_eq!(event_class(EventType::RequestRefused), Some("denial"));
        assert_eq!(event_class(EventType::SessionStarted), None);
        assert!(event_badge(EventType::RequestDenied).into_string().contains("badge denied"));
    }
}
