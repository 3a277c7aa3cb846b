//! The bounds of every input, checked once per input type before an
//! operation reads or writes anything.
//!
//! Each wire type that carries free text or a list into the service layer
//! implements [`Validate`] with the limits of [`actas_core::limits`]; the
//! operations call it first, so the API and the console (which builds the
//! same wire types from its forms) refuse the same things the same way:
//! `400` with `too-long`, `too-many` or `invalid-characters`, and nothing
//! audited. Rules of the policy (reason length and vagueness, known
//! actions, durations) are checked later and refusals there are audited
//! where the SPEC says so; by then every field is small.

use actas_api as api;
use actas_core::limits::{self, check_count, check_line, check_text, check_value};
use actas_core::Code;
use actas_core::{Error, Result};

/// Checks the bounds of one input.
pub trait Validate {
    /// `Ok` when every field is within its bounds.
    fn validate(&self) -> Result<()>;
}

fn action_list(field: &str, actions: &[String]) -> Result<()> {
    check_count(field, actions.len(), limits::ACTIONS_PER_LIST)?;
    for a in actions {
        check_line(field, a, limits::ACTION_NAME_CHARS)?;
    }
    Ok(())
}

/// A decision, denial or revocation note.
pub fn note(note: Option<&str>) -> Result<()> {
    match note {
        Some(n) => check_text("note", n, limits::NOTE_CHARS),
        None => Ok(()),
    }
}

impl Validate for api::NewTicket {
    fn validate(&self) -> Result<()> {
        check_line("ref", &self.reference, limits::ID_CHARS)?;
        check_line("account_id", &self.account_id, limits::ID_CHARS)?;
        if let Some(n) = &self.account_name {
            check_line("account_name", n, limits::ACCOUNT_NAME_CHARS)?;
        }
        check_line("subject", &self.subject, limits::SUBJECT_CHARS)?;
        if let Some(u) = &self.url {
            check_line("url", u, limits::URL_CHARS)?;
        }
        if let Some(a) = &self.assignee {
            check_line("assignee", a, limits::ASSIGNEE_CHARS)?;
        }
        if let Some(tags) = &self.tags {
            check_count("tags", tags.len(), limits::TAGS_PER_TICKET)?;
            for t in tags {
                check_line("tags", t, limits::TAG_CHARS)?;
            }
        }
        Ok(())
    }
}

impl Validate for api::NewRequest {
    fn validate(&self) -> Result<()> {
        check_line("ticket", &self.ticket, limits::ID_CHARS)?;
        if let Some(a) = &self.account_id {
            check_line("account_id", a, limits::ID_CHARS)?;
        }
        check_text("reason", &self.reason, limits::REASON_CHARS)?;
        action_list("actions", &self.actions)
    }
}

impl Validate for api::Approve {
    fn validate(&self) -> Result<()> {
        if let Some(a) = &self.actions {
            action_list("actions", a)?;
        }
        note(self.note.as_deref())
    }
}

impl Validate for api::Note {
    fn validate(&self) -> Result<()> {
        note(self.note.as_deref())
    }
}

impl Validate for api::ScopeChange {
    fn validate(&self) -> Result<()> {
        action_list("actions", &self.actions)?;
        check_text("reason", &self.reason, limits::REASON_CHARS)
    }
}

/// The host app named when starting a session (`StartSession.app`).
pub fn app(app: Option<&str>) -> Result<()> {
    match app {
        Some(a) => check_line("app", a, limits::ID_CHARS),
        None => Ok(()),
    }
}

/// A one-time entry code (`EntryExchange.code`).
pub fn entry_code(code: &str) -> Result<()> {
    check_line("code", code, limits::ID_CHARS)
}

impl Validate for api::AuthorizeRequest {
    fn validate(&self) -> Result<()> {
        if self.action.is_empty() {
            return Err(Error::bad_request("action", "name the action the agent is about to do"));
        }
        check_line("action", &self.action, limits::ACTION_NAME_CHARS)?;
        target(self.target.as_ref())?;
        changes(self.changes.as_deref())
    }
}

impl Validate for api::NewStepUp {
    fn validate(&self) -> Result<()> {
        if self.action.is_empty() {
            return Err(Error::bad_request("action", "name the one action the change needs"));
        }
        check_line("action", &self.action, limits::ACTION_NAME_CHARS)?;
        target(self.target.as_ref())?;
        changes(self.changes.as_deref())?;
        check_text("reason", &self.reason, limits::REASON_CHARS)
    }
}

/// What an action acts on (`target`).
fn target(t: Option<&api::Target>) -> Result<()> {
    if let Some(t) = t {
        for (field, v) in [("target.account_id", &t.account_id), ("target.type", &t.kind), ("target.id", &t.id)] {
            if let Some(v) = v {
                check_line(field, v, limits::ID_CHARS)?;
            }
        }
    }
    Ok(())
}

/// The fields an action changes (`changes`), and their values together.
fn changes(changes: Option<&[api::Change]>) -> Result<()> {
    let Some(changes) = changes else { return Ok(()) };
    check_count("changes", changes.len(), limits::CHANGES_PER_CALL)?;
    let mut total = 0;
    for c in changes {
        if c.field.is_empty() {
            return Err(Error::bad_request("changes.field", "name the field that changes"));
        }
        check_line("changes.field", &c.field, limits::FIELD_NAME_CHARS)?;
        for (field, v) in [("changes.old", &c.old), ("changes.new", &c.new)] {
            if let Some(v) = v {
                check_value(field, v, limits::VALUE_CHARS)?;
                total += v.chars().count();
            }
        }
    }
    if total > limits::VALUES_PER_CALL_CHARS {
        return Err(Error::bad_input(
            Code::TooLong,
            "changes",
            format!(
                "The changes' values are {total} characters long together; at most {} are accepted in one call.",
                limits::VALUES_PER_CALL_CHARS
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<()>) -> (&'static str, String) {
        match r {
            Err(Error::BadRequest { code, field, .. }) => (code.as_str(), field),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn every_bounded_field_refuses_one_character_over_its_limit() {
        fn at(n: usize) -> String {
            "x".repeat(n)
        }
        let ticket = || api::NewTicket {
            reference: "48192".into(),
            account_id: "acct_42".into(),
            account_name: Some("Acme Corp".into()),
            subject: "Tax settings".into(),
            url: Some("https://desk.example/48192".into()),
            status: None,
            assignee: Some("maria@support.example".into()),
            tags: Some(vec!["billing".into()]),
        };
        ticket().validate().unwrap();
        let mut t = ticket();
        t.reference = at(limits::ID_CHARS);
        t.account_id = at(limits::ID_CHARS);
        t.account_name = Some(at(limits::ACCOUNT_NAME_CHARS));
        t.subject = at(limits::SUBJECT_CHARS);
        t.url = Some(at(limits::URL_CHARS));
        t.assignee = Some(at(limits::ASSIGNEE_CHARS));
        t.tags = Some(vec![at(limits::TAG_CHARS); limits::TAGS_PER_TICKET]);
        t.validate().unwrap();
        type Edit = fn(&mut api::NewTicket);
        let cases: [(&str, Edit); 7] = [
            ("ref", |t| t.reference = at(limits::ID_CHARS + 1)),
            ("account_id", |t| t.account_id = at(limits::ID_CHARS + 1)),
            ("account_name", |t| t.account_name = Some(at(limits::ACCOUNT_NAME_CHARS + 1))),
            ("subject", |t| t.subject = at(limits::SUBJECT_CHARS + 1)),
            ("url", |t| t.url = Some(at(limits::URL_CHARS + 1))),
            ("assignee", |t| t.assignee = Some(at(limits::ASSIGNEE_CHARS + 1))),
            ("tags", |t| t.tags = Some(vec![at(limits::TAG_CHARS + 1)])),
        ];
        for (field, change) in cases {
            let mut t = ticket();
            change(&mut t);
            assert_eq!(code(t.validate()), ("too-long", field.to_string()));
        }
        let mut t = ticket();
        t.subject = "Tax\n2026-11-25T14:00:00.000Z  Sam Lee approved".into();
        assert_eq!(code(t.validate()), ("invalid-characters", "subject".to_string()));
        let mut t = ticket();
        t.tags = Some(vec!["billing\nforged".into()]);
        assert_eq!(code(t.validate()), ("invalid-characters", "tags".to_string()));
        let mut t = ticket();
        t.tags = Some(vec!["billing".into(); limits::TAGS_PER_TICKET + 1]);
        assert_eq!(code(t.validate()), ("too-many", "tags".to_string()));

        let many = vec!["settings.view".to_string(); limits::ACTIONS_PER_LIST + 1];
        let r =
            api::NewRequest { ticket: "48192".into(), reason: "r".into(), actions: many.clone(), ..Default::default() };
        assert_eq!(code(r.validate()), ("too-many", "actions".to_string()));
        let s = api::ScopeChange { actions: vec![at(limits::ACTION_NAME_CHARS + 1)], reason: "r".into() };
        assert_eq!(code(s.validate()), ("too-long", "actions".to_string()));
        let a = api::Approve { note: Some(at(limits::NOTE_CHARS + 1)), ..Default::default() };
        assert_eq!(code(a.validate()), ("too-long", "note".to_string()));
        let a = api::Approve { actions: Some(many), ..Default::default() };
        assert_eq!(code(a.validate()), ("too-many", "actions".to_string()));

        let change = |field: &str, new: &str| api::Change { field: field.into(), old: None, new: Some(new.into()) };
        let authorize = |changes: Vec<api::Change>| api::AuthorizeRequest {
            token: "t".into(),
            action: "settings.update".into(),
            target: None,
            changes: Some(changes),
        };
        authorize(vec![change("timezone", "\u{1b}[2J any value \n goes")]).validate().unwrap();
        assert_eq!(
            code(authorize(vec![change(&at(limits::FIELD_NAME_CHARS + 1), "v")]).validate()),
            ("too-long", "changes.field".to_string())
        );
        assert_eq!(
            code(authorize(vec![change("f", &at(limits::VALUE_CHARS + 1))]).validate()),
            ("too-long", "changes.new".to_string())
        );
        assert_eq!(
            code(authorize(vec![change("f", "a\0b")]).validate()),
            ("invalid-characters", "changes.new".to_string())
        );
        assert_eq!(
            code(authorize(vec![change("f", "v"); limits::CHANGES_PER_CALL + 1]).validate()),
            ("too-many", "changes".to_string())
        );
        let big = vec![change("f", &at(limits::VALUE_CHARS)); 11];
        assert_eq!(code(authorize(big).validate()), ("too-long", "changes".to_string()));
    }
}
