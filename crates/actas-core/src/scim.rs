//! SCIM 2.0 users (RFC 7643, RFC 7644): what an identity provider sends to
//! `/scim/v2/Users` to provision and deprovision staff, read into plain
//! values, and the error bodies SCIM clients expect.
//!
//! The requests Okta and Microsoft Entra ID send are the measure: a user
//! created with `userName`, `name`, `displayName`, `emails`, `active` and
//! `externalId`; deactivated by `PATCH` (Okta: `{"op": "replace", "value":
//! {"active": false}}`; Entra: `{"op": "Replace", "path": "active", "value":
//! "False"}`) or by `PUT` of the whole user; looked up by `filter=userName
//! eq "..."`. Pure: the server stores and answers.

use serde_json::{Map, Value};

/// The User resource's schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// A list response's schema.
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// A PATCH request's schema.
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// An error response's schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM error (RFC 7644 §3.12): the HTTP status, the `scimType` where the
/// RFC names one, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ScimError {
    /// HTTP status.
    pub status: u16,
    /// `invalidFilter`, `invalidSyntax`, `invalidValue`, `uniqueness`,
    /// `mutability`, `noTarget`, `invalidPath`, `tooMany`.
    pub scim_type: Option<&'static str>,
    /// What is wrong, in plain words.
    pub detail: String,
}

impl ScimError {
    /// An error of this status, `scimType` and sentence.
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError { status, scim_type, detail: detail.into() }
    }

    fn bad(scim_type: &'static str, detail: impl Into<String>) -> ScimError {
        ScimError { status: 400, scim_type: Some(scim_type), detail: detail.into() }
    }

    /// The error body (`application/scim+json`); `status` is a string, as
    /// the RFC writes it.
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("schemas".into(), Value::from(vec![ERROR_SCHEMA]));
        m.insert("status".into(), Value::from(self.status.to_string()));
        if let Some(t) = self.scim_type {
            m.insert("scimType".into(), Value::from(t));
        }
        m.insert("detail".into(), Value::from(self.detail.clone()));
        Value::Object(m)
    }
}

/// The attributes of a user that actas keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUser {
    /// `userName`: what the provider names the staff member by (a login or
    /// an e-mail address). Unique, compared without case; it may change,
    /// while the resource's `id` (the staff login, the `userName` it was
    /// created with) never does.
    pub user_name: String,
    /// The name to show: `displayName`, else `name.formatted`, else given
    /// and family names, else `userName`.
    pub display_name: String,
    /// The primary (or first) e-mail address.
    pub email: Option<String>,
    /// `externalId`: the provider's own id.
    pub external_id: Option<String>,
    /// `active`: `false` disables the staff member.
    pub active: bool,
}

impl ScimUser {
    /// Reads a user from a `POST` or `PUT` body.
    pub fn from_resource(body: &Value) -> Result<ScimUser, ScimError> {
        let obj = body.as_object().ok_or_else(|| ScimError::bad("invalidSyntax", "the body is not a JSON object"))?;
        let get = |name: &str| attribute(obj, name);
        let user_name = match get("userName") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(_) => return Err(ScimError::bad("invalidValue", "userName must be a non-empty string")),
            None => return Err(ScimError::bad("invalidValue", "userName is required")),
        };
        let active = match get("active") {
            None | Some(Value::Null) => true,
            Some(v) => boolean(v).ok_or_else(|| ScimError::bad("invalidValue", "active must be true or false"))?,
        };
        let mut user = ScimUser { display_name: user_name.clone(), user_name, email: None, external_id: None, active };
        user.external_id = optional_text(get("externalId"), "externalId")?;
        user.email = primary_email(get("emails"))?;
        user.display_name = display_name(get("displayName"), get("name"))?.unwrap_or_else(|| user.user_name.clone());
        Ok(user)
    }

    /// Applies a `PATCH` body (RFC 7644 §3.5.2) as Okta and Entra write it:
    /// `replace`/`add` of `active`, `displayName`, `name...`, `externalId`,
    /// `emails...`, with a path or with the attributes as the value's
    /// members; ops and attribute names in any case, booleans also as the
    /// strings "True"/"False"; `remove` only clears what may be empty.
    pub fn apply_patch(&mut self, body: &Value) -> Result<(), ScimError> {
        let obj = body.as_object().ok_or_else(|| ScimError::bad("invalidSyntax", "the body is not a JSON object"))?;
        let schemas = attribute(obj, "schemas").and_then(Value::as_array);
        if !schemas.is_some_and(|s| s.iter().any(|v| v.as_str() == Some(PATCH_SCHEMA))) {
            return Err(ScimError::bad("invalidSyntax", format!("a PATCH body's schemas must include {PATCH_SCHEMA}")));
        }
        let ops = attribute(obj, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| ScimError::bad("invalidSyntax", "a PATCH body needs Operations"))?;
        let mut next = self.clone();
        for op in ops {
            let op_obj =
                op.as_object().ok_or_else(|| ScimError::bad("invalidSyntax", "an operation is not an object"))?;
            let verb = attribute(op_obj, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| ScimError::bad("invalidSyntax", "an operation has no op"))?;
            let path = attribute(op_obj, "path").and_then(Value::as_str).map(str::trim).filter(|p| !p.is_empty());
            let value = attribute(op_obj, "value");
            match (verb.as_str(), path) {
                ("add" | "replace", Some(path)) => {
                    let value = value
                        .ok_or_else(|| ScimError::bad("invalidValue", format!("{verb} of {path} has no value")))?;
                    next.set(path, value)?;
                }
                ("add" | "replace", None) => {
                    let members = value.and_then(Value::as_object).ok_or_else(|| {
                        ScimError::bad("invalidValue", format!("{verb} without a path needs an object value"))
                    })?;
                    for (name, v) in members {
                        next.set(name, v)?;
                    }
                }
                ("remove", Some(path)) => next.clear(path)?,
                ("remove", None) => return Err(ScimError::bad("noTarget", "remove needs a path")),
                (other, _) => return Err(ScimError::bad("invalidSyntax", format!("unknown op {other:?}"))),
            }
        }
        *self = next;
        Ok(())
    }

    /// Sets one attribute by its path.
    fn set(&mut self, path: &str, value: &Value) -> Result<(), ScimError> {
        let lower = path.to_ascii_lowercase();
        let lower = lower.strip_prefix(&format!("{}:", USER_SCHEMA.to_ascii_lowercase())).unwrap_or(&lower);
        match lower {
            "active" => {
                self.active =
                    boolean(value).ok_or_else(|| ScimError::bad("invalidValue", "active must be true or false"))?;
            }
            "username" => match value.as_str().map(str::trim) {
                Some(v) if !v.is_empty() => self.user_name = v.to_string(),
                _ => return Err(ScimError::bad("invalidValue", "userName must be a non-empty string")),
            },
            "displayname" => {
                self.display_name =
                    optional_text(Some(value), "displayName")?.unwrap_or_else(|| self.user_name.clone());
            }
            "name" => {
                if let Some(n) = display_name(None, Some(value))? {
                    self.display_name = n;
                }
            }
            "name.formatted" => {
                if let Some(n) = optional_text(Some(value), "name.formatted")? {
                    self.display_name = n;
                }
            }
            "externalid" => self.external_id = optional_text(Some(value), "externalId")?,
            "emails" => self.email = primary_email(Some(value))?,
            p if p.starts_with("emails[") => self.email = optional_text(Some(value), "emails")?.or(self.email.take()),
            // Attributes actas does not keep (the parts of a name, title,
            // locale, phone numbers, the enterprise extension, ...):
            // accepted and not stored.
            _ => {}
        }
        Ok(())
    }

    /// Clears one attribute by its path.
    fn clear(&mut self, path: &str) -> Result<(), ScimError> {
        match path.to_ascii_lowercase().as_str() {
            "externalid" => self.external_id = None,
            "emails" => self.email = None,
            "displayname" => self.display_name = self.user_name.clone(),
            "username" | "active" => {
                return Err(ScimError::bad("mutability", format!("{path} is required and cannot be removed")))
            }
            _ => {}
        }
        Ok(())
    }

    /// The User resource for the staff member whose login is `id`.
    pub fn to_resource(&self, id: &str, location: &str, created: &str, last_modified: &str) -> Value {
        let mut m = Map::new();
        m.insert("schemas".into(), Value::from(vec![USER_SCHEMA]));
        m.insert("id".into(), Value::from(id));
        if let Some(e) = &self.external_id {
            m.insert("externalId".into(), Value::from(e.clone()));
        }
        m.insert("userName".into(), Value::from(self.user_name.clone()));
        m.insert("displayName".into(), Value::from(self.display_name.clone()));
        m.insert("name".into(), serde_json::json!({ "formatted": self.display_name }));
        if let Some(e) = &self.email {
            m.insert("emails".into(), serde_json::json!([{ "value": e, "type": "work", "primary": true }]));
        }
        m.insert("active".into(), Value::from(self.active));
        m.insert(
            "meta".into(),
            serde_json::json!({
                "resourceType": "User",
                "created": created,
                "lastModified": last_modified,
                "location": location,
            }),
        );
        Value::Object(m)
    }
}

/// A member of a SCIM object by name, without case (RFC 7643 §2.1).
fn attribute<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// `true`, `false`, or Entra's `"True"` / `"False"`.
fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn optional_text(v: Option<&Value>, name: &str) -> Result<Option<String>, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Some(_) => Err(ScimError::bad("invalidValue", format!("{name} must be a string"))),
    }
}

/// `displayName`, else the `name` complex attribute's `formatted`, else
/// its given and family names.
fn display_name(display: Option<&Value>, name: Option<&Value>) -> Result<Option<String>, ScimError> {
    if let Some(d) = optional_text(display, "displayName")? {
        return Ok(Some(d));
    }
    let Some(name) = name.filter(|n| !n.is_null()) else { return Ok(None) };
    let obj = name.as_object().ok_or_else(|| ScimError::bad("invalidValue", "name must be an object"))?;
    if let Some(f) = optional_text(attribute(obj, "formatted"), "name.formatted")? {
        return Ok(Some(f));
    }
    let given = optional_text(attribute(obj, "givenName"), "name.givenName")?;
    let family = optional_text(attribute(obj, "familyName"), "name.familyName")?;
    let joined = [given, family].into_iter().flatten().collect::<Vec<_>>().join(" ");
    Ok(Some(joined).filter(|j| !j.is_empty()))
}

/// The primary e-mail of a multi-valued `emails`, else the first.
fn primary_email(v: Option<&Value>) -> Result<Option<String>, ScimError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ScimError::bad("invalidValue", "emails must be a list")),
    };
    let value_of =
        |item: &Value| item.as_object().and_then(|o| attribute(o, "value")).and_then(Value::as_str).map(str::to_string);
    let primary = items
        .iter()
        .find(|i| i.as_object().and_then(|o| attribute(o, "primary")).and_then(boolean) == Some(true))
        .or_else(|| items.first());
    Ok(primary.and_then(value_of))
}

/// A list's filter: the one form identity providers send to find a user
/// before creating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `userName eq "..."` (compared without case, as `userName` is).
    UserName(String),
    /// `externalId eq "..."` (compared exactly).
    ExternalId(String),
}

impl Filter {
    /// Parses `attribute eq "value"`; anything else is `invalidFilter`.
    pub fn parse(src: &str) -> Result<Filter, ScimError> {
        let invalid = || {
            ScimError::bad(
                "invalidFilter",
                format!("only userName eq \"...\" and externalId eq \"...\" are supported, not {src:?}"),
            )
        };
        let s = src.trim();
        let (attr, rest) = s.split_once(char::is_whitespace).ok_or_else(invalid)?;
        let (op, value) = rest.trim_start().split_once(char::is_whitespace).ok_or_else(invalid)?;
        if !op.eq_ignore_ascii_case("eq") {
            return Err(invalid());
        }
        let value: String = serde_json::from_str(value.trim()).map_err(|_| invalid())?;
        let attr = attr.to_ascii_lowercase();
        let attr = attr.strip_prefix(&format!("{}:", USER_SCHEMA.to_ascii_lowercase())).unwrap_or(&attr);
        match attr {
            "username" => Ok(Filter::UserName(value)),
            "externalid" => Ok(Filter::ExternalId(value)),
            _ => Err(invalid()),
        }
    }

    /// Whether a user passes.
    pub fn matches(&self, u: &ScimUser) -> bool {
        match self {
            Filter::UserName(v) => u.user_name.eq_ignore_ascii_case(v),
            Filter::ExternalId(v) => u.external_id.as_deref() == Some(v.as_str()),
        }
    }
}

/// A list response (RFC 7644 §3.4.2): one page of `resources` out of
/// `total`, from the 1-based `start_index`.
pub fn list_response(resources: Vec<Value>, total: usize, start_index: usize) -> Value {
    serde_json::json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// The service provider configuration's schema.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// A resource type's schema.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// A schema's own schema.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// The most users one list answers (`filter.maxResults`).
pub const MAX_RESULTS: usize = 200;

/// What this service provider supports (RFC 7643 §5), `base` being the
/// address of `/scim/v2`: `PATCH` and the `eq` filters, no bulk, sort,
/// ETags or password changes; a bearer token (an app key) authenticates.
pub fn service_provider_config(base: &str) -> Value {
    serde_json::json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The key of an actas app with the scim permission, sent as Authorization: Bearer <key>.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

/// The resource types served (RFC 7643 §6), as a list response: `User`.
pub fn resource_types(base: &str) -> Value {
    let user = serde_json::json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "A staff member of actas; the id is their login.",
        "schema": USER_SCHEMA,
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
    });
    list_response(vec![user], 1, 1)
}

/// The schemas served (RFC 7643 §7), as a list response: the attributes
/// of `User` that actas keeps. Others are accepted and not stored.
pub fn schemas(base: &str) -> Value {
    fn attr(name: &str, kind: &str, description: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(name));
        m.insert("type".into(), Value::from(kind));
        m.insert("multiValued".into(), Value::from(false));
        m.insert("description".into(), Value::from(description));
        m.insert("required".into(), Value::from(false));
        m.insert("caseExact".into(), Value::from(false));
        m.insert("mutability".into(), Value::from("readWrite"));
        m.insert("returned".into(), Value::from("default"));
        m.insert("uniqueness".into(), Value::from("none"));
        m
    }
    let with = |mut m: Map<String, Value>, changes: &[(&str, Value)]| {
        for (k, v) in changes {
            m.insert((*k).into(), v.clone());
        }
        Value::Object(m)
    };
    let user_name = with(
        attr(
            "userName",
            "string",
            "The name the identity provider knows the staff member by; lowercased when stored. The one they were \
             created with is their login, the resource's id, which stays when userName changes.",
        ),
        &[("required", true.into()), ("uniqueness", "server".into())],
    );
    let name = with(
        attr("name", "complex", "Their name; actas keeps the name shown (formatted, or given and family names)."),
        &[(
            "subAttributes",
            Value::from(vec![
                Value::Object(attr("formatted", "string", "The full name shown.")),
                Value::Object(attr("givenName", "string", "Given name.")),
                Value::Object(attr("familyName", "string", "Family name.")),
            ]),
        )],
    );
    let display_name = Value::Object(attr("displayName", "string", "The name shown in the console and the trail."));
    let emails = with(
        attr("emails", "complex", "E-mail addresses; actas keeps the primary one."),
        &[
            ("multiValued", true.into()),
            (
                "subAttributes",
                Value::from(vec![
                    Value::Object(attr("value", "string", "The address.")),
                    Value::Object(attr("type", "string", "work, home or other.")),
                    with(attr("primary", "boolean", "The address to use."), &[]),
                ]),
            ),
        ],
    );
    let active =
        Value::Object(attr("active", "boolean", "false disables the staff member and ends their live session."));
    let external_id = with(
        attr("externalId", "string", "The identity provider's own id for the staff member."),
        &[("caseExact", true.into())],
    );
    let user = serde_json::json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A staff member of actas.",
        "attributes": [user_name, name, display_name, emails, active, external_id],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}")},
    });
    list_response(vec![user], 1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Okta's create request, as its SCIM 2.0 guide shows it.
    fn okta_create() -> Value {
        json!({
            "schemas": [USER_SCHEMA],
            "userName": "maria@support.example",
            "name": {"givenName": "Maria", "familyName": "Lopez"},
            "emails": [{"primary": true, "value": "maria@support.example", "type": "work"}],
            "displayName": "Maria Lopez",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "password": "1mz050nq",
            "active": true
        })
    }

    /// Entra ID's create request, as its provisioning docs show it.
    fn entra_create() -> Value {
        json!({
            "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": []
        })
    }

    #[test]
    fn the_users_okta_and_entra_create_are_read() {
        let u = ScimUser::from_resource(&okta_create()).unwrap();
        assert_eq!(
            u,
            ScimUser {
                user_name: "maria@support.example".into(),
                display_name: "Maria Lopez".into(),
                email: Some("maria@support.example".into()),
                external_id: Some("00ujl29u0le5T6Aj10h7".into()),
                active: true,
            }
        );
        let u = ScimUser::from_resource(&entra_create()).unwrap();
        assert_eq!(u.display_name, "givenName familyName");
        assert_eq!(u.external_id.as_deref(), Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"));
        let r = u.to_resource(
            "test_user",
            "https://actas.example/scim/v2/Users/test_user",
            "2026-11-25T14:00:00Z",
            "2026-11-25T14:00:00Z",
        );
        assert_eq!(r["userName"], u.user_name.as_str());
        assert_eq!(r["id"], "test_user");
        assert_eq!(r["meta"]["resourceType"], "User");
        assert_eq!(r["active"], true);
        assert_eq!(ScimUser::from_resource(&r).unwrap(), u, "what is served reads back as itself");
    }

    #[test]
    fn okta_and_entra_deactivate_by_patch_each_in_their_own_form() {
        let mut u = ScimUser::from_resource(&okta_create()).unwrap();
        let okta = json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": {"active": false}}]});
        u.apply_patch(&okta).unwrap();
        assert!(!u.active);
        let entra =
            json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "Replace", "path": "active", "value": "True"}]});
        u.apply_patch(&entra).unwrap();
        assert!(u.active);
        let entra_rename = json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Add", "path": "displayName", "value": "Maria L."},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "m.lopez@support.example"},
            {"op": "Replace", "path": "name.familyName", "value": "Lopez"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Support"},
        ]});
        u.apply_patch(&entra_rename).unwrap();
        assert_eq!(u.email.as_deref(), Some("m.lopez@support.example"));
        let entra_user_name = json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Replace", "path": "userName", "value": " m.lopez@support.example "},
        ]});
        u.apply_patch(&entra_user_name).unwrap();
        assert_eq!(u.user_name, "m.lopez@support.example", "userName may change, trimmed");
        assert_eq!(u.display_name, "Maria L.", "a part of the name alone does not replace the name shown");
    }

    #[test]
    fn bad_patches_are_refused_whole_with_scim_errors() {
        let mut u = ScimUser::from_resource(&okta_create()).unwrap();
        let before = u.clone();
        let cases = [
            (json!({"Operations": []}), "invalidSyntax"),
            (json!({"schemas": [PATCH_SCHEMA]}), "invalidSyntax"),
            (json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "move", "path": "active"}]}), "invalidSyntax"),
            (
                json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": "maybe"}]}),
                "invalidValue",
            ),
            (
                json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "userName", "value": " "}]}),
                "invalidValue",
            ),
            (json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove", "path": "userName"}]}), "mutability"),
            (json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove"}]}), "noTarget"),
            (json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "remove", "path": "active"}]}), "mutability"),
            (json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "add", "path": "displayName"}]}), "invalidValue"),
            (json!({"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": "x"}]}), "invalidValue"),
            (
                json!({"schemas": [PATCH_SCHEMA], "Operations": [
                    {"op": "replace", "path": "active", "value": false},
                    {"op": "replace", "path": "active", "value": 7}
                ]}),
                "invalidValue",
            ),
        ];
        for (body, scim_type) in cases {
            let e = u.apply_patch(&body).unwrap_err();
            assert_eq!((e.status, e.scim_type), (400, Some(scim_type)), "{body}");
            assert_eq!(u, before, "nothing of a refused patch applies: {body}");
            let b = e.body();
            assert_eq!(b["schemas"][0], ERROR_SCHEMA);
            assert_eq!(b["status"], "400");
            assert_eq!(b["scimType"], scim_type);
        }
    }

    #[test]
    fn a_user_without_a_user_name_or_with_a_bad_active_is_refused() {
        for (body, says) in [
            (json!({"schemas": [USER_SCHEMA]}), "userName is required"),
            (json!({"userName": "  "}), "userName must be"),
            (json!({"userName": "a", "active": "sometimes"}), "active must be"),
            (json!({"userName": "a", "emails": "a@b"}), "emails must be a list"),
            (json!(["not", "an", "object"]), "not a JSON object"),
        ] {
            let e = ScimUser::from_resource(&body).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.detail.contains(says), "{body}: {e}");
        }
    }

    #[test]
    fn the_discovery_documents_say_what_is_served() {
        let base = "https://actas.example/scim/v2";
        let c = service_provider_config(base);
        assert_eq!(c["schemas"][0], SERVICE_PROVIDER_CONFIG_SCHEMA);
        assert_eq!((&c["patch"]["supported"], &c["filter"]["supported"]), (&json!(true), &json!(true)));
        assert_eq!(c["filter"]["maxResults"], MAX_RESULTS);
        for off in ["bulk", "sort", "etag", "changePassword"] {
            assert_eq!(c[off]["supported"], false, "{off}");
        }
        assert_eq!(c["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(c["meta"]["location"], format!("{base}/ServiceProviderConfig"));

        let t = resource_types(base);
        assert_eq!((&t["schemas"][0], &t["totalResults"]), (&json!(LIST_SCHEMA), &json!(1)));
        let user = &t["Resources"][0];
        assert_eq!(
            (&user["id"], &user["endpoint"], &user["schema"]),
            (&json!("User"), &json!("/Users"), &json!(USER_SCHEMA))
        );

        let s = schemas(base);
        let user = &s["Resources"][0];
        assert_eq!((&user["schemas"][0], &user["id"]), (&json!(SCHEMA_SCHEMA), &json!(USER_SCHEMA)));
        let names: Vec<&str> =
            user["attributes"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
        assert_eq!(names, ["userName", "name", "displayName", "emails", "active", "externalId"]);
        let user_name = &user["attributes"][0];
        assert_eq!((&user_name["required"], &user_name["uniqueness"]), (&json!(true), &json!("server")));
        for a in user["attributes"].as_array().unwrap() {
            for key in ["type", "multiValued", "required", "caseExact", "mutability", "returned", "uniqueness"] {
                assert!(a.get(key).is_some(), "{} has no {key}", a["name"]);
            }
        }
    }

    #[test]
    fn the_filters_providers_send_are_read_and_others_refused() {
        let u = ScimUser::from_resource(&okta_create()).unwrap();
        let f = Filter::parse("userName eq \"MARIA@support.example\"").unwrap();
        assert!(f.matches(&u), "userName compares without case");
        assert!(Filter::parse("username EQ \"maria@support.example\"").unwrap().matches(&u));
        assert!(Filter::parse("externalId eq \"00ujl29u0le5T6Aj10h7\"").unwrap().matches(&u));
        assert!(!Filter::parse("externalId eq \"00UJL29U0LE5T6AJ10H7\"").unwrap().matches(&u));
        for bad in ["userName sw \"m\"", "emails eq \"x\"", "userName eq maria", "userName eq", ""] {
            let e = Filter::parse(bad).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{bad}");
        }
        let list = list_response(vec![json!({"id": "a"})], 3, 1);
        assert_eq!(list["totalResults"], 3);
        assert_eq!(list["itemsPerPage"], 1);
        assert_eq!(list["Resources"][0]["id"], "a");
    }
}
