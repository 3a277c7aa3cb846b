//! The policy: which actions exist, what each needs, and the session limits.
//!
//! A policy is one TOML file. [`Policy::parse`] refuses a bad file with the
//! line and the reason; a policy that parsed is internally consistent (every
//! name unique, `default <= max`, every approver role known), so the rest of
//! the code never re-checks it.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};
use toml::Spanned;

use crate::limits::{FIELD_NAME_CHARS, REASON_CHARS};
use crate::model::Role;

/// The policy shipped with actas, used when no file is given.
pub const DEFAULT_POLICY_TOML: &str = include_str!("default_policy.toml");

/// View or change.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ActionKind {
    /// Reads something.
    View,
    /// Rewrites something.
    Change,
}

impl ActionKind {
    /// Name as written in the policy.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What an action needs before it may be granted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Approval {
    /// Granted by policy.
    None,
    /// A person whose roles cover `approvers` must approve.
    Required,
    /// Never granted.
    Forbidden,
}

impl Approval {
    /// Name as written in the policy.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What an approved scope change does to the live session.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ScopeChange {
    /// The session's scope grows in place.
    Reapprove,
    /// The session ends and the agent starts a new one.
    NewSession,
}

impl ScopeChange {
    /// Name as written in the policy.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Which requests need a ticket that a ticket system sent (`[tickets]
/// require_system`), rather than one a staff member typed in.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    Display,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RequireSystem {
    /// Tickets typed in by hand are taken (and marked as such).
    #[default]
    Never,
    /// Requests with a change action need a ticket system's ticket.
    Changes,
    /// Every request needs a ticket system's ticket.
    Always,
}

impl RequireSystem {
    /// Name as written in the policy.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Rules about tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TicketRules {
    /// Which requests need a ticket from a ticket system.
    pub require_system: RequireSystem,
}

/// One action the host app may ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Dotted, stable name (`billing.update`).
    pub name: String,
    /// Plain words (`Change billing details`).
    pub label: String,
    /// View or change.
    pub kind: ActionKind,
    /// What granting it needs.
    pub approval: Approval,
    /// Roles that may approve it (empty unless `approval = "required"`).
    pub approvers: Vec<Role>,
    /// A view of sensitive data.
    pub sensitive: bool,
    /// Old and new values are never stored.
    pub redact: bool,
    /// When set, only values of these fields are stored (`store_values`);
    /// when absent, values of every field that does not look like a secret
    /// are. See [`Action::stores_value`].
    pub store_values: Option<Vec<String>>,
}

impl Action {
    /// Whether this action stores the old and new values of `field`. A
    /// value is stored only when all of these hold, in this order:
    ///
    /// 1. the action does not say `redact = true`;
    /// 2. the field's name does not look like a secret
    ///    ([`crate::redaction::secret_name`]), whatever the policy says;
    /// 3. when the action lists `store_values`, the field is on that list
    ///    (compared exactly). Without the list, every other field is stored.
    pub fn stores_value(&self, field: &str) -> bool {
        !self.redact
            && !crate::redaction::is_secret_name(field)
            && self.store_values.as_ref().is_none_or(|listed| listed.iter().any(|f| f == field))
    }
}

/// Session limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRules {
    /// Granted when a request names no duration.
    pub default_minutes: u32,
    /// Hard cap.
    pub max_minutes: u32,
    /// No activity for this long ends the session.
    pub idle_minutes: u32,
    /// An approved request must be started within this.
    pub approval_valid_minutes: u32,
    /// What an approved scope change does.
    pub scope_change: ScopeChange,
}

/// Rules for the written reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonRules {
    /// Minimum length in characters (after trimming).
    pub min_chars: usize,
    /// Phrases that are refused as the whole reason, compared folded.
    pub vague: Vec<String>,
}

/// A checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Session limits.
    pub session: SessionRules,
    /// Reason rules.
    pub reason: ReasonRules,
    /// Ticket rules.
    pub tickets: TicketRules,
    actions: Vec<Action>,
    index: BTreeMap<String, usize>,
    playbooks: Vec<Playbook>,
    /// `[breakglass]`: what staff with the `breakglass` role may start
    /// without a lead's approval; `None` turns break-glass off.
    pub breakglass: Option<BreakGlass>,
    /// `[oidc.roles]`: the identity provider's groups and the roles each
    /// gives.
    oidc_roles: BTreeMap<String, Vec<Role>>,
    digest: String,
}

/// A kind of case and the smallest access it needs: a ticket with one of
/// its tags suggests its actions and duration (`[[playbook]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playbook {
    /// Stable name, recorded with a request (`settings_not_saving`).
    pub name: String,
    /// Plain words ("Settings are not saving").
    pub label: String,
    /// Ticket tags that name the case, lowercase.
    pub match_tags: Vec<String>,
    /// The actions suggested, in policy order.
    pub actions: Vec<String>,
    /// The minutes suggested.
    pub minutes: u32,
}

/// `[breakglass]`: for an outage when no lead can be reached, the actions
/// a session may hold without approval, and for how long at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlass {
    /// The actions break-glass allows, in policy order.
    pub actions: Vec<String>,
    /// The longest a break-glass session lasts.
    pub max_minutes: u32,
}

/// A policy file that was refused: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    session: Option<RawSession>,
    reason: Option<RawReason>,
    #[serde(default)]
    action: Vec<Spanned<RawAction>>,
    #[serde(default)]
    playbook: Vec<Spanned<RawPlaybook>>,
    oidc: Option<RawOidc>,
    tickets: Option<RawTickets>,
    breakglass: Option<Spanned<RawBreakGlass>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreakGlass {
    actions: Spanned<Vec<String>>,
    max_minutes: Spanned<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTickets {
    #[serde(default)]
    require_system: RequireSystem,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    #[serde(default)]
    roles: BTreeMap<String, Spanned<RoleList>>,
}

/// A group's roles: one name or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum RoleList {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlaybook {
    name: Spanned<String>,
    label: Spanned<String>,
    match_tags: Spanned<Vec<String>>,
    actions: Spanned<Vec<String>>,
    minutes: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    default_minutes: Option<Spanned<u32>>,
    max_minutes: Option<Spanned<u32>>,
    idle_minutes: Option<Spanned<u32>>,
    approval_valid_minutes: Option<Spanned<u32>>,
    scope_change: Option<ScopeChange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReason {
    min_chars: Option<Spanned<usize>>,
    vague: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    name: Spanned<String>,
    label: Spanned<String>,
    kind: ActionKind,
    approval: Approval,
    approvers: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    redact: bool,
    store_values: Option<Spanned<Vec<Spanned<String>>>>,
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// What the TOML parser says is wrong; for the few errors it leaves
/// without words (a control character in a comment), the character it
/// stopped at.
fn toml_message(src: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    if !message.is_empty() {
        return message.to_string();
    }
    match e.span().and_then(|s| src.get(s.start..)).and_then(|rest| rest.chars().next()) {
        Some(c) => format!("not valid TOML: unexpected character {c:?}"),
        None => "not valid TOML".to_string(),
    }
}

impl Policy {
    /// The shipped default policy.
    pub fn shipped() -> Policy {
        // The shipped file is tested below; failing here is a build defect.
        #[allow(clippy::expect_used)]
        Policy::parse(DEFAULT_POLICY_TOML).expect("the shipped policy is valid")
    }

    /// Parses and checks a policy file.
    pub fn parse(src: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = toml::from_str(src).map_err(|e| PolicyError {
            line: e.span().map(|s| line_of(src, s.start)),
            message: toml_message(src, &e),
        })?;
        let err = |offset: usize, message: String| PolicyError { line: Some(line_of(src, offset)), message };

        let s = raw.session;
        let get = |f: Option<&Option<Spanned<u32>>>, default: u32| -> (u32, usize) {
            match f.and_then(|o| o.as_ref()) {
                Some(v) => (*v.get_ref(), v.span().start),
                None => (default, 0),
            }
        };
        let (default_minutes, dm_at) = get(s.as_ref().map(|s| &s.default_minutes), 15);
        let (max_minutes, max_at) = get(s.as_ref().map(|s| &s.max_minutes), 30);
        let (idle_minutes, idle_at) = get(s.as_ref().map(|s| &s.idle_minutes), 10);
        let (approval_valid_minutes, av_at) = get(s.as_ref().map(|s| &s.approval_valid_minutes), 10);
        let scope_change = s.as_ref().and_then(|s| s.scope_change).unwrap_or(ScopeChange::Reapprove);
        for (name, value, at) in [
            ("default_minutes", default_minutes, dm_at),
            ("max_minutes", max_minutes, max_at),
            ("idle_minutes", idle_minutes, idle_at),
            ("approval_valid_minutes", approval_valid_minutes, av_at),
        ] {
            if value == 0 {
                return Err(err(at, format!("session.{name} must be at least 1")));
            }
            if value > 24 * 60 {
                return Err(err(at, format!("session.{name} must be at most 1440 (one day)")));
            }
        }
        if max_minutes < default_minutes {
            return Err(err(
                max_at.max(dm_at),
                format!("session.max_minutes ({max_minutes}) is less than session.default_minutes ({default_minutes})"),
            ));
        }

        let (min_chars, vague) = match raw.reason {
            Some(r) => {
                let min = match r.min_chars {
                    Some(m) => {
                        if *m.get_ref() == 0 || *m.get_ref() > REASON_CHARS {
                            return Err(err(
                                m.span().start,
                                format!("reason.min_chars must be between 1 and {REASON_CHARS}"),
                            ));
                        }
                        *m.get_ref()
                    }
                    None => 20,
                };
                (min, r.vague.unwrap_or_default())
            }
            None => (20, Vec::new()),
        };

        let mut actions = Vec::with_capacity(raw.action.len());
        let mut index = BTreeMap::new();
        let mut first_line = BTreeMap::new();
        for spanned in raw.action {
            let at = spanned.span().start;
            let a = spanned.into_inner();
            let name_at = a.name.span().start;
            let name = a.name.into_inner();
            if !valid_action_name(&name) {
                return Err(err(
                    name_at,
                    format!("action name \"{name}\" must be dotted lowercase words, like \"billing.update\""),
                ));
            }
            if let Some(line) = first_line.get(&name) {
                return Err(err(name_at, format!("duplicate action name \"{name}\" (first defined on line {line})")));
            }
            first_line.insert(name.clone(), line_of(src, name_at));
            let label = a.label.get_ref().trim().to_string();
            if label.is_empty() {
                return Err(err(a.label.span().start, format!("action \"{name}\" needs a label in plain words")));
            }
            let approvers = match (a.approval, a.approvers) {
                (Approval::Required, None) => vec![Role::Lead],
                (Approval::Required, Some(list)) => {
                    let list_at = list.span().start;
                    if list.get_ref().is_empty() {
                        return Err(err(
                            list_at,
                            format!("action \"{name}\" requires approval but names no approvers"),
                        ));
                    }
                    let mut roles = Vec::new();
                    for r in list.into_inner() {
                        let role: Role = r.parse().map_err(|m| err(list_at, format!("action \"{name}\": {m}")))?;
                        if role == Role::Auditor {
                            return Err(err(
                                list_at,
                                format!("action \"{name}\": auditors read the trail and cannot approve"),
                            ));
                        }
                        if !roles.contains(&role) {
                            roles.push(role);
                        }
                    }
                    roles
                }
                (_, Some(list)) => {
                    return Err(err(
                        list.span().start,
                        format!("action \"{name}\" names approvers but its approval is \"{}\"", a.approval.as_str()),
                    ))
                }
                (_, None) => Vec::new(),
            };
            if a.sensitive && a.kind != ActionKind::View {
                return Err(err(at, format!("action \"{name}\": sensitive applies to view actions only")));
            }
            let store_values = match a.store_values {
                None => None,
                Some(list) => Some(check_store_values(&name, a.kind, a.redact, list, &err)?),
            };
            index.insert(name.clone(), actions.len());
            actions.push(Action {
                name,
                label,
                kind: a.kind,
                approval: a.approval,
                approvers,
                sensitive: a.sensitive,
                redact: a.redact,
                store_values,
            });
        }
        if actions.is_empty() {
            return Err(PolicyError { line: None, message: "the policy defines no [[action]]".into() });
        }
        let mut playbooks: Vec<Playbook> = Vec::with_capacity(raw.playbook.len());
        for spanned in raw.playbook {
            let p = spanned.into_inner();
            let name_at = p.name.span().start;
            let name = p.name.into_inner();
            if !valid_playbook_name(&name) {
                return Err(err(
                    name_at,
                    format!(
                        "playbook name \"{name}\" must be lowercase words joined by _, like \"settings_not_saving\""
                    ),
                ));
            }
            if playbooks.iter().any(|q| q.name == name) {
                return Err(err(name_at, format!("duplicate playbook name \"{name}\"")));
            }
            let label = p.label.get_ref().trim().to_string();
            if label.is_empty() {
                return Err(err(p.label.span().start, format!("playbook \"{name}\" needs a label in plain words")));
            }
            let tags_at = p.match_tags.span().start;
            let match_tags: Vec<String> =
                p.match_tags.into_inner().iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect();
            if match_tags.is_empty() {
                return Err(err(tags_at, format!("playbook \"{name}\" names no ticket tags in match_tags")));
            }
            let actions_at = p.actions.span().start;
            let wanted = p.actions.into_inner();
            if wanted.is_empty() {
                return Err(err(actions_at, format!("playbook \"{name}\" suggests no actions")));
            }
            if let Some(unknown) = wanted.iter().find(|a| !index.contains_key(a.as_str())) {
                return Err(err(actions_at, format!("playbook \"{name}\": unknown action \"{unknown}\"")));
            }
            let minutes = match p.minutes {
                Some(m) if *m.get_ref() == 0 || *m.get_ref() > max_minutes => {
                    return Err(err(
                        m.span().start,
                        format!(
                            "playbook \"{name}\": minutes must be between 1 and session.max_minutes ({max_minutes})"
                        ),
                    ));
                }
                Some(m) => m.into_inner(),
                None => default_minutes,
            };
            let actions = in_policy_order(&index, &wanted);
            playbooks.push(Playbook { name, label, match_tags, actions, minutes });
        }
        let breakglass = match raw.breakglass {
            None => None,
            Some(b) => {
                let b = b.into_inner();
                let at = b.actions.span().start;
                let wanted = b.actions.into_inner();
                if wanted.is_empty() {
                    return Err(err(
                        at,
                        "breakglass.actions lists no action; leave [breakglass] out to turn it off".into(),
                    ));
                }
                if let Some(unknown) = wanted.iter().find(|a| !index.contains_key(a.as_str())) {
                    return Err(err(at, format!("breakglass.actions: unknown action \"{unknown}\"")));
                }
                if let Some(f) = wanted.iter().find(|a| actions[index[a.as_str()]].approval == Approval::Forbidden) {
                    return Err(err(
                        at,
                        format!("breakglass.actions: \"{f}\" is forbidden to everyone, break-glass too"),
                    ));
                }
                let m = *b.max_minutes.get_ref();
                if m == 0 || m > max_minutes {
                    return Err(err(
                        b.max_minutes.span().start,
                        format!("breakglass.max_minutes must be between 1 and session.max_minutes ({max_minutes})"),
                    ));
                }
                Some(BreakGlass { actions: in_policy_order(&index, &wanted), max_minutes: m })
            }
        };
        let mut oidc_roles = BTreeMap::new();
        for (group, list) in raw.oidc.map(|o| o.roles).unwrap_or_default() {
            let list_at = list.span().start;
            let names = match list.into_inner() {
                RoleList::One(r) => vec![r],
                RoleList::Many(rs) => rs,
            };
            if group.trim().is_empty() {
                return Err(err(list_at, "oidc.roles: a group name is empty".into()));
            }
            if names.is_empty() {
                return Err(err(list_at, format!("oidc.roles: group \"{group}\" gives no role")));
            }
            let mut roles = Vec::new();
            for r in names {
                let role: Role = r.parse().map_err(|m| err(list_at, format!("oidc.roles: group \"{group}\": {m}")))?;
                if !roles.contains(&role) {
                    roles.push(role);
                }
            }
            oidc_roles.insert(group, roles);
        }
        Ok(Policy {
            session: SessionRules { default_minutes, max_minutes, idle_minutes, approval_valid_minutes, scope_change },
            reason: ReasonRules { min_chars, vague },
            tickets: TicketRules { require_system: raw.tickets.map(|t| t.require_system).unwrap_or_default() },
            actions,
            index,
            playbooks,
            breakglass,
            oidc_roles,
            digest: hex::encode(Sha256::digest(src.as_bytes())),
        })
    }

    /// Every action, in file order.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// One action by name.
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.index.get(name).map(|i| &self.actions[*i])
    }

    /// The plain label of an action (the name itself when unknown).
    pub fn label<'a>(&'a self, name: &'a str) -> &'a str {
        self.action(name).map(|a| a.label.as_str()).unwrap_or(name)
    }

    /// Labels of the given actions joined with ", ".
    pub fn labels(&self, names: &[String]) -> String {
        names.iter().map(|n| self.label(n)).collect::<Vec<_>>().join(", ")
    }

    /// Sorts action names into policy order and removes duplicates.
    pub fn ordered(&self, names: &[String]) -> Vec<String> {
        in_policy_order(&self.index, names)
    }

    /// Every playbook, in file order.
    pub fn playbooks(&self) -> &[Playbook] {
        &self.playbooks
    }

    /// One playbook by name.
    pub fn playbook(&self, name: &str) -> Option<&Playbook> {
        self.playbooks.iter().find(|p| p.name == name)
    }

    /// The playbook for a ticket's tags: the first, in file order, with a
    /// tag among them (tags compared without case).
    pub fn playbook_for(&self, tags: &[String]) -> Option<&Playbook> {
        let tags: Vec<String> = tags.iter().map(|t| t.trim().to_lowercase()).collect();
        self.playbooks.iter().find(|p| p.match_tags.iter().any(|m| tags.contains(m)))
    }

    /// The actions asked beyond what a playbook suggests, in policy order.
    pub fn beyond(&self, playbook: &Playbook, asked: &[String]) -> Vec<String> {
        self.ordered(asked).into_iter().filter(|a| !playbook.actions.contains(a)).collect()
    }

    /// The roles the identity provider's groups give, in the order of
    /// [`Role`]: none when no group is mapped (`[oidc.roles]`; group names
    /// compared exactly, as providers send them).
    pub fn roles_for_groups(&self, groups: &[String]) -> Vec<Role> {
        let mut roles: Vec<Role> = groups.iter().filter_map(|g| self.oidc_roles.get(g)).flatten().copied().collect();
        roles.sort_by_key(|r| *r as u8);
        roles.dedup();
        roles
    }

    /// Whether `[oidc.roles]` maps any group.
    pub fn maps_groups(&self) -> bool {
        !self.oidc_roles.is_empty()
    }

    /// SHA-256 of the file the policy came from, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// Checks an action's `store_values`: a change action that does not
/// redact, each entry a field name once, none that looks like a secret.
fn check_store_values(
    name: &str,
    kind: ActionKind,
    redact: bool,
    list: Spanned<Vec<Spanned<String>>>,
    err: &dyn Fn(usize, String) -> PolicyError,
) -> Result<Vec<String>, PolicyError> {
    let list_at = list.span().start;
    if kind != ActionKind::Change {
        return Err(err(list_at, format!("action \"{name}\": store_values applies to change actions only")));
    }
    if redact {
        return Err(err(
            list_at,
            format!("action \"{name}\": redact = true stores no values, so it cannot also list store_values"),
        ));
    }
    let mut fields: Vec<String> = Vec::new();
    for entry in list.into_inner() {
        let at = entry.span().start;
        let field = entry.into_inner();
        if field.is_empty()
            || field.chars().count() > FIELD_NAME_CHARS
            || field.chars().any(crate::limits::is_layout_char)
        {
            return Err(err(
                at,
                format!("action \"{name}\": store_values entries are field names of 1 to {FIELD_NAME_CHARS} characters on one line"),
            ));
        }
        if let Some(why) = crate::redaction::secret_name(&field) {
            return Err(err(
                at,
                format!(
                    "action \"{name}\": store_values lists \"{field}\", which looks like a secret ({why}); values of such fields are never stored"
                ),
            ));
        }
        if fields.contains(&field) {
            return Err(err(at, format!("action \"{name}\": store_values lists \"{field}\" twice")));
        }
        fields.push(field);
    }
    Ok(fields)
}

/// `names` without duplicates, in the order of the actions in `index`
/// (unknown names last).
fn in_policy_order(index: &BTreeMap<String, usize>, names: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut v: Vec<String> = names.iter().filter(|n| seen.insert(n.as_str())).cloned().collect();
    v.sort_by_key(|n| index.get(n).copied().unwrap_or(usize::MAX));
    v
}

/// `settings_not_saving`: lowercase ASCII words joined by `_`.
fn valid_playbook_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.split('_').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

fn valid_action_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 2
        && name.len() <= 64
        && parts.iter().all(|p| {
            let mut chars = p.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policy_has_every_action_of_the_spec() {
        let p = Policy::shipped();
        for n in ["account.view", "settings.view", "activity.view", "invoices.view", "plan.view"] {
            let a = p.action(n).unwrap();
            assert_eq!((a.kind, a.approval), (ActionKind::View, Approval::None), "{n}");
        }
        for n in [
            "settings.update",
            "sync.reset",
            "invoice_email.update",
            "billing.update",
            "refund.issue",
            "credit.issue",
            "record.delete",
            "record.restore",
            "bulk.edit",
            "owner.transfer",
            "email.change",
            "role.change",
            "security.update",
            "data.export",
            "password.reset",
            "mfa.reset",
        ] {
            let a = p.action(n).unwrap();
            assert_eq!((a.kind, a.approval), (ActionKind::Change, Approval::Required), "{n}");
            assert_eq!(a.approvers, vec![Role::Lead], "{n}");
            assert_eq!(a.redact, n == "password.reset" || n == "mfa.reset", "{n}");
        }
        let s = p.action("sensitive.view").unwrap();
        assert!(s.sensitive && s.kind == ActionKind::View && s.approval == Approval::Required);
        assert_eq!(p.session.default_minutes, 15);
        assert_eq!(p.session.max_minutes, 30);
        assert_eq!(p.session.idle_minutes, 10);
    }

    fn refused(src: &str) -> PolicyError {
        Policy::parse(src).unwrap_err()
    }

    const ONE: &str = "[[action]]\nname = \"a.view\"\nlabel = \"View A\"\nkind = \"view\"\napproval = \"none\"\n";

    #[test]
    fn unknown_key_is_refused_with_its_line() {
        let e = refused(&format!("[session]\ndefault_minutes = 15\ncolour = \"red\"\n{ONE}"));
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn a_toml_error_always_says_what_is_wrong() {
        // The TOML parser gives no words for a control character in a comment.
        let e = refused(&format!("# a comment \u{1}\n{ONE}"));
        assert_eq!(e.line, Some(1), "{e}");
        assert_eq!(e.message, "not valid TOML: unexpected character '\\u{1}'", "{e}");
        let e = refused(&format!("{ONE}kind = \"view\""));
        assert!(!e.message.is_empty(), "{e}");
    }

    #[test]
    fn bad_kind_and_approval_are_refused() {
        let e = refused(&ONE.replace("\"view\"\napproval", "\"peek\"\napproval"));
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("peek"), "{e}");
        let e = refused(&ONE.replace("\"none\"", "\"maybe\""));
        assert_eq!(e.line, Some(5), "{e}");
    }

    #[test]
    fn duplicate_names_are_refused_naming_both_lines() {
        let e = refused(&format!("{ONE}\n{ONE}"));
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.message.contains("first defined on line 2"), "{e}");
    }

    #[test]
    fn max_below_default_is_refused() {
        let e = refused(&format!("[session]\ndefault_minutes = 20\nmax_minutes = 10\n{ONE}"));
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("less than"), "{e}");
    }

    #[test]
    fn unknown_approver_role_and_misplaced_flags_are_refused() {
        let e = refused(&ONE.replace("\"none\"", "\"required\"\napprovers = [\"boss\"]"));
        assert!(e.message.contains("boss"), "{e}");
        let e = refused(&ONE.replace("\"none\"", "\"none\"\napprovers = [\"lead\"]"));
        assert!(e.message.contains("names approvers"), "{e}");
        let e = refused(&ONE.replace("\"view\"", "\"change\"").replace("\"none\"", "\"none\"\nsensitive = true"));
        assert!(e.message.contains("sensitive"), "{e}");
        let e = refused(&ONE.replace("a.view", "Billing"));
        assert!(e.message.contains("dotted"), "{e}");
        let e = refused("[session]\nmax_minutes = 30\n");
        assert!(e.message.contains("no [[action]]"), "{e}");
    }

    const CHANGE: &str =
        "[[action]]\nname = \"a.update\"\nlabel = \"Update A\"\nkind = \"change\"\napproval = \"none\"\n";

    #[test]
    fn store_values_lists_the_fields_whose_values_are_kept() {
        let p = Policy::parse(&format!("{CHANGE}store_values = [\"invoice_email\", \"tax_id\"]\n")).unwrap();
        assert_eq!(p.action("a.update").unwrap().store_values, Some(vec!["invoice_email".into(), "tax_id".into()]));
        let p = Policy::parse(&format!("{CHANGE}store_values = []\n")).unwrap();
        assert_eq!(p.action("a.update").unwrap().store_values, Some(vec![]));
        assert_eq!(Policy::parse(CHANGE).unwrap().action("a.update").unwrap().store_values, None);
    }

    #[test]
    fn store_values_refuses_secrets_misspellings_and_misplaced_lists_with_their_line() {
        // A secret-looking field, on its own line inside the list.
        let e = refused(&format!("{CHANGE}store_values = [\n  \"timezone\",\n  \"newPassword\",\n]\n"));
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.message.contains("\"newPassword\"") && e.message.contains("looks like a secret"), "{e}");
        let e = refused(&format!("{CHANGE}store_values = [\"x-api-key\"]\n"));
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("(api key)"), "{e}");
        // A misspelt key is an unknown key.
        let e = refused(&format!("{CHANGE}store_value = [\"timezone\"]\n"));
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("store_value"), "{e}");
        // Not a list of names.
        let e = refused(&format!("{CHANGE}store_values = \"timezone\"\n"));
        assert_eq!(e.line, Some(6), "{e}");
        let e = refused(&format!("{CHANGE}store_values = [\"timezone\", \"\"]\n"));
        assert!(e.message.contains("field names"), "{e}");
        let e = refused(&format!("{CHANGE}store_values = [\"plan\", \"plan\"]\n"));
        assert!(e.message.contains("twice"), "{e}");
        // Only change actions that store values at all.
        let e = refused(&format!("{ONE}store_values = [\"plan\"]\n"));
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("change actions only"), "{e}");
        let e = refused(&format!("{CHANGE}redact = true\nstore_values = [\"plan\"]\n"));
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("redact = true"), "{e}");
    }

    #[test]
    fn the_shipped_policy_lists_the_values_it_keeps() {
        let p = Policy::shipped();
        let listed = |n: &str| p.action(n).unwrap().store_values.clone();
        assert_eq!(listed("invoice_email.update"), Some(vec!["invoice_email".to_string()]));
        assert!(listed("settings.update").unwrap().contains(&"timezone".to_string()));
        assert!(listed("settings.update").unwrap().contains(&"tax_id".to_string()));
        assert!(listed("billing.update").unwrap().contains(&"plan".to_string()));
        assert_eq!(listed("password.reset"), None, "redacted: nothing to list");
        for a in p.actions() {
            for f in a.store_values.iter().flatten() {
                assert!(!crate::redaction::is_secret_name(f), "{}: {f}", a.name);
            }
        }
    }

    #[test]
    fn ordered_follows_the_file_and_drops_duplicates() {
        let p = Policy::shipped();
        let v = p.ordered(&["settings.update".into(), "settings.view".into(), "settings.update".into()]);
        assert_eq!(v, vec!["settings.view".to_string(), "settings.update".to_string()]);
    }

    #[test]
    fn the_shipped_playbooks_cover_the_seeds_cases_with_known_actions() {
        let p = Policy::shipped();
        let names: Vec<&str> = p.playbooks().iter().map(|b| b.name.as_str()).collect();
        assert_eq!(
            names,
            ["settings_not_saving", "invoice_page_wrong", "failed_sync", "cannot_update_subscription", "login_trouble"]
        );
        for b in p.playbooks() {
            assert!(b.actions.iter().all(|a| p.action(a).is_some()), "{}", b.name);
            assert!(b.minutes <= p.session.max_minutes, "{}", b.name);
            assert_eq!(p.ordered(&b.actions), b.actions, "{}: in policy order", b.name);
            // The smallest access: nothing that moves money, ownership,
            // logins or data out of the account.
            for risky in
                ["billing.update", "refund.issue", "owner.transfer", "password.reset", "mfa.reset", "data.export"]
            {
                assert!(!b.actions.iter().any(|a| a == risky), "{}: {risky}", b.name);
            }
        }
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            p.playbook_for(&tags(&["billing", "Settings_Not_Saving"])).map(|b| b.name.as_str()),
            Some("settings_not_saving")
        );
        assert_eq!(p.playbook_for(&tags(&["invoice"])).map(|b| b.name.as_str()), Some("invoice_page_wrong"));
        assert_eq!(p.playbook_for(&tags(&["vip"])), None);
        let b = p.playbook("settings_not_saving").unwrap();
        let asked = tags(&["settings.update", "billing.update", "settings.view"]);
        assert_eq!(p.beyond(b, &asked), vec!["billing.update".to_string()]);
    }

    #[test]
    fn a_playbook_that_breaks_a_rule_is_refused_on_its_line() {
        let base = "[[action]]\nname = \"settings.view\"\nlabel = \"View\"\nkind = \"view\"\napproval = \"none\"\n\n";
        let book = |body: &str| format!("{base}[[playbook]]\n{body}");
        let cases = [
            (
                "name = \"Bad Name\"\nlabel = \"x\"\nmatch_tags = [\"a\"]\nactions = [\"settings.view\"]\n",
                8,
                "lowercase words",
            ),
            ("name = \"a\"\nlabel = \" \"\nmatch_tags = [\"a\"]\nactions = [\"settings.view\"]\n", 9, "needs a label"),
            (
                "name = \"a\"\nlabel = \"x\"\nmatch_tags = [\" \"]\nactions = [\"settings.view\"]\n",
                10,
                "no ticket tags",
            ),
            ("name = \"a\"\nlabel = \"x\"\nmatch_tags = [\"a\"]\nactions = []\n", 11, "suggests no actions"),
            (
                "name = \"a\"\nlabel = \"x\"\nmatch_tags = [\"a\"]\nactions = [\"refund.issue\"]\n",
                11,
                "unknown action \"refund.issue\"",
            ),
            (
                "name = \"a\"\nlabel = \"x\"\nmatch_tags = [\"a\"]\nactions = [\"settings.view\"]\nminutes = 31\n",
                12,
                "between 1 and session.max_minutes (30)",
            ),
            (
                "name = \"a\"\nlabel = \"x\"\nmatch_tags = [\"a\"]\nactions = [\"settings.view\"]\ncolour = \"red\"\n",
                12,
                "unknown field",
            ),
        ];
        for (body, line, says) in cases {
            let e = refused(&book(body));
            assert_eq!(e.line, Some(line), "{body}: {e}");
            assert!(e.message.contains(says), "{body}: {e}");
        }
        let twice = format!(
            "{}[[playbook]]\nname = \"a\"\nlabel = \"y\"\nmatch_tags = [\"b\"]\nactions = [\"settings.view\"]\n",
            book("name = \"a\"\nlabel = \"x\"\nmatch_tags = [\"a\"]\nactions = [\"settings.view\"]\n")
        );
        let e = refused(&twice);
        assert!(e.message.contains("duplicate playbook name \"a\""), "{e}");
        assert_eq!(e.line, Some(13), "{e}");
        let ok = Policy::parse(&book(
            "name = \"a\"\nlabel = \"x\"\nmatch_tags = [\"A\"]\nactions = [\"settings.view\", \"settings.view\"]\n",
        ))
        .unwrap();
        let b = ok.playbook("a").unwrap();
        assert_eq!(
            (b.match_tags.clone(), b.actions.clone(), b.minutes),
            (vec!["a".to_string()], vec!["settings.view".to_string()], 15)
        );
    }

    #[test]
    fn break_glass_is_off_without_its_section_and_checked_on_its_line() {
        let base = "[[action]]\nname = \"settings.view\"\nlabel = \"View\"\nkind = \"view\"\napproval = \"none\"\n\n\
                    [[action]]\nname = \"data.wipe\"\nlabel = \"Wipe\"\nkind = \"change\"\napproval = \"forbidden\"\n\n";
        assert_eq!(Policy::parse(base).unwrap().breakglass, None);
        let glass = |body: &str| format!("{base}[breakglass]\n{body}");
        let cases = [
            ("actions = []\nmax_minutes = 10\n", 14, "lists no action"),
            ("actions = [\"refund.issue\"]\nmax_minutes = 10\n", 14, "unknown action \"refund.issue\""),
            ("actions = [\"data.wipe\"]\nmax_minutes = 10\n", 14, "forbidden to everyone"),
            ("actions = [\"settings.view\"]\nmax_minutes = 0\n", 15, "between 1 and session.max_minutes (30)"),
            ("actions = [\"settings.view\"]\nmax_minutes = 31\n", 15, "between 1 and session.max_minutes (30)"),
            ("actions = [\"settings.view\"]\n", 13, "missing field `max_minutes`"),
        ];
        for (body, line, says) in cases {
            let e = refused(&glass(body));
            assert_eq!(e.line, Some(line), "{body}: {e}");
            assert!(e.message.contains(says), "{body}: {e}");
        }
        let ok = Policy::parse(&glass("actions = [\"settings.view\"]\nmax_minutes = 10\n")).unwrap();
        assert_eq!(ok.breakglass, Some(BreakGlass { actions: vec!["settings.view".into()], max_minutes: 10 }));
        let shipped = Policy::shipped().breakglass.unwrap();
        assert!(shipped.max_minutes <= Policy::shipped().session.max_minutes);
        assert!(shipped.actions.iter().all(|a| Policy::shipped().action(a).is_some()));
    }

    #[test]
    fn the_providers_groups_give_the_roles_the_policy_maps() {
        let base = "[[action]]\nname = \"settings.view\"\nlabel = \"View\"\nkind = \"view\"\napproval = \"none\"\n\n";
        let p = Policy::parse(&format!(
            "{base}[oidc.roles]\n\"support-agents\" = \"agent\"\n\"support-leads\" = [\"lead\", \"agent\"]\nauditors = \"auditor\"\n"
        ))
        .unwrap();
        let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            p.roles_for_groups(&groups(&["support-leads", "support-agents", "everyone"])),
            vec![Role::Agent, Role::Lead]
        );
        assert_eq!(p.roles_for_groups(&groups(&["auditors"])), vec![Role::Auditor]);
        assert_eq!(
            p.roles_for_groups(&groups(&["Support-Agents", "everyone"])),
            Vec::<Role>::new(),
            "exact group names"
        );
        assert!(p.maps_groups() && !Policy::shipped().maps_groups());
        for (body, line, says) in [
            ("[oidc.roles]\nx = \"wizard\"\n", 8, "group \"x\""),
            ("[oidc.roles]\nx = []\n", 8, "gives no role"),
            ("[oidc.roles]\n\"\" = \"agent\"\n", 8, "group name is empty"),
            ("[oidc]\nclaim = \"groups\"\n", 8, "unknown field"),
        ] {
            let e = refused(&format!("{base}{body}"));
            assert_eq!(e.line, Some(line), "{body}: {e}");
            assert!(e.message.contains(says), "{body}: {e}");
        }
    }
}
