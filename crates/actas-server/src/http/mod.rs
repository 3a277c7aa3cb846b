//! The HTTP surface: the router, its layers, and the OpenAPI document.
//!
//! A request flows: trace span → CORS (registered origins only; preflights
//! are answered here) → body limit → route → extractors (caller, body,
//! query; each failure a problem document) → a `service` operation → a wire
//! view from `views`, or an [`error::ApiError`]. The staff console
//! (`crate::console`, HTML) is merged at `/` beside `/api/v1`.

pub mod connections;
mod cors;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod request_id;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::routing::{delete, get, post, put};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::routes::{
    accounts, audit, authorize, banner, connectors, meta, metrics, notices, requests, scim, sessions, tickets, webhooks,
};
use crate::AppState;
use error::ApiError;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "actas",
        description = "Support impersonation with tickets, reasons, approvals, banners and a tamper-evident audit trail."
    ),
    paths(
        tickets::create,
        tickets::get,
        connectors::zendesk,
        connectors::jira,
        requests::create,
        requests::list,
        requests::get,
        requests::approve,
        requests::deny,
        requests::withdraw,
        requests::start,
        sessions::get,
        sessions::end,
        sessions::revoke,
        sessions::review,
        sessions::scope,
        sessions::stepup,
        sessions::heartbeat,
        sessions::entry,
        sessions::exchange,
        sessions::timeline,
        sessions::feed,
        authorize::authorize,
        notices::list,
        notices::delivered,
        accounts::access_log,
        accounts::grant,
        accounts::revoke,
        accounts::grants,
        accounts::set_consent,
        webhooks::list,
        webhooks::deliveries,
        webhooks::replay,
        webhooks::resume,
        webhooks::remove,
        audit::list,
        audit::verify,
        audit::keys,
        metrics::support,
        metrics::prometheus,
        meta::healthz,
        meta::jwks,
        scim::service_provider_config,
        scim::resource_types,
        scim::schemas,
        scim::list_users,
        scim::get_user,
        scim::create_user,
        scim::replace_user,
        scim::patch_user,
        scim::delete_user,
    ),
    modifiers(&Problems)
)]
struct ApiDoc;

/// Every failure is an `application/problem+json` document, and every
/// operation can answer the failures any call can meet: a malformed body or
/// query (400), no or bad credentials (401), not for this caller (403), an
/// unknown id (404), a body over the limit (413), the database out of reach
/// (503). Operations add their own (409, 422) in their annotations.
struct Problems;

impl utoipa::Modify for Problems {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        const JSON: &str = "application/json";
        const PROBLEM: &str = "application/problem+json";
        let problem = |what: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(PROBLEM, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
                    .build(),
            )
        };
        let common = [
            ("400", "Malformed body or query"),
            ("401", "No or bad credentials"),
            ("403", "Not allowed for this caller"),
            ("404", "Not found"),
            ("413", "Body too large"),
            ("503", "The database cannot be reached or written"),
        ];
        // SCIM answers its failures as SCIM error bodies, not problems.
        let scim_error = |what: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(format!("{what} (a SCIM error)"))
                    .content(
                        crate::routes::scim::SCIM_JSON,
                        ContentBuilder::new().schema(Some(utoipa::openapi::schema::Object::new())).build(),
                    )
                    .build(),
            )
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let scim = path.starts_with("/scim/");
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                if scim {
                    for &(status, what) in &common {
                        op.responses.responses.entry(status.to_string()).or_insert_with(|| scim_error(what));
                    }
                    continue;
                }
                let public = op.operation_id.as_deref().is_some_and(|id| matches!(id, "healthz" | "jwks"));
                for (status, r) in op.responses.responses.iter_mut() {
                    if status.starts_with(['4', '5']) {
                        if let RefOr::T(resp) = r {
                            if let Some(c) = resp.content.shift_remove(JSON) {
                                resp.content.insert(PROBLEM.to_string(), c);
                            }
                        }
                    }
                }
                let wanted: &[(&str, &str)] = if public { &common[5..] } else { &common };
                for (status, what) in wanted {
                    op.responses.responses.entry(status.to_string()).or_insert_with(|| problem(what));
                }
            }
        }
    }
}

/// The OpenAPI document of this build.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Every route.
pub fn router(state: AppState) -> Router {
    let doc = Arc::new(openapi());
    let api = Router::new()
        .route("/openapi.json", get(move || meta::openapi(doc.clone())))
        .route("/tickets", post(tickets::create))
        .route("/tickets/{ref}", get(tickets::get))
        .route("/connectors/zendesk/{app_id}", post(connectors::zendesk))
        .route("/connectors/jira/{app_id}", post(connectors::jira))
        .route("/requests", post(requests::create).get(requests::list))
        .route("/requests/{id}", get(requests::get))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/deny", post(requests::deny))
        .route("/requests/{id}/withdraw", post(requests::withdraw))
        .route("/requests/{id}/start", post(requests::start))
        .route("/sessions/feed", get(sessions::feed))
        .route("/sessions/{id}", get(sessions::get))
        .route("/sessions/{id}/end", post(sessions::end))
        .route("/sessions/{id}/revoke", post(sessions::revoke))
        .route("/sessions/{id}/review", post(sessions::review))
        .route("/sessions/{id}/scope", post(sessions::scope))
        .route("/sessions/{id}/stepup", post(sessions::stepup))
        .route("/sessions/{id}/heartbeat", post(sessions::heartbeat))
        .route("/sessions/{id}/timeline", get(sessions::timeline))
        .route("/sessions/{id}/entry", post(sessions::entry))
        .route("/entry", post(sessions::exchange))
        .route("/authorize", post(authorize::authorize))
        .route("/notices", get(notices::list))
        .route("/notices/{id}/delivered", post(notices::delivered))
        .route("/accounts/{id}/access-log", get(accounts::access_log))
        .route("/accounts/{id}/grants", get(accounts::grants).post(accounts::grant).delete(accounts::revoke))
        .route("/accounts/{id}/consent", put(accounts::set_consent))
        .route("/webhooks", get(webhooks::list))
        .route("/webhooks/{id}", delete(webhooks::remove))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/deliveries/{delivery_id}/replay", post(webhooks::replay))
        .route("/webhooks/{id}/resume", post(webhooks::resume))
        .route("/audit", get(audit::list))
        .route("/audit/verify", get(audit::verify))
        .route("/audit/keys", get(audit::keys))
        .route("/metrics/support", get(metrics::support))
        // Answers carry tokens, codes and customer data: never cached anywhere.
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    // Served over HTTPS (behind a proxy that ends TLS): browsers must never
    // fall back to plain HTTP, where the console cookie and the banner's
    // calls could be read or changed on the way.
    let https = state.ctx.base_url.starts_with("https://");
    let hsts = https.then(|| {
        SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        )
    });
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route("/banner.js", get(banner::script))
        .route("/metrics", get(metrics::prometheus))
        .nest("/api/v1", api)
        .nest("/scim/v2", scim::router())
        .merge(crate::console::router())
        .fallback(crate::console::not_found)
        .method_not_allowed_fallback(|| async { ApiError::BadMethod })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors::layer(state.ctx.clone()))
        .layer(tower::util::option_layer(hsts))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(request_id::tag))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use actas_core::limits::*;
    use actas_core::VariantArray;
    use serde_json::Value;

    fn names<T: VariantArray + serde::Serialize>() -> Vec<Value> {
        T::VARIANTS.iter().map(|v| serde_json::to_value(v).unwrap()).collect()
    }

    /// Each enum's schema lists exactly the names serde sends for it.
    #[test]
    fn every_enum_schema_lists_the_names_that_are_sent() {
        use actas_api::*;
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let mut reasons = vec![Value::from("ok")];
        reasons.extend(names::<Refusal>());
        let cases = [
            ("EventType", names::<EventType>()),
            ("ActorKind", names::<ActorKind>()),
            ("EndReason", names::<EndReason>()),
            ("RequestStatus", names::<RequestStatus>()),
            ("RequestKind", names::<RequestKind>()),
            ("SessionState", names::<SessionState>()),
            ("DecisionKind", names::<DecisionKind>()),
            ("TicketStatus", names::<TicketStatus>()),
            ("AuthorizeReason", reasons),
        ];
        for (schema, sent) in cases {
            assert_eq!(schemas[schema]["enum"], Value::Array(sent), "{schema}");
        }
    }

    /// The bounds the OpenAPI document states are the ones the server
    /// enforces (`actas_core::limits`).
    #[test]
    fn the_documented_bounds_are_the_enforced_ones() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let cases = [
            ("NewTicket", "ref", "maxLength", ID_CHARS),
            ("NewTicket", "account_id", "maxLength", ID_CHARS),
            ("NewTicket", "account_name", "maxLength", ACCOUNT_NAME_CHARS),
            ("NewTicket", "subject", "maxLength", SUBJECT_CHARS),
            ("NewTicket", "url", "maxLength", URL_CHARS),
            ("NewTicket", "assignee", "maxLength", ASSIGNEE_CHARS),
            ("NewTicket", "tags", "maxItems", TAGS_PER_TICKET),
            ("NewRequest", "ticket", "maxLength", ID_CHARS),
            ("NewRequest", "account_id", "maxLength", ID_CHARS),
            ("NewRequest", "reason", "maxLength", REASON_CHARS),
            ("NewRequest", "actions", "maxItems", ACTIONS_PER_LIST),
            ("Approve", "actions", "maxItems", ACTIONS_PER_LIST),
            ("Approve", "note", "maxLength", NOTE_CHARS),
            ("Note", "note", "maxLength", NOTE_CHARS),
            ("ScopeChange", "actions", "maxItems", ACTIONS_PER_LIST),
            ("ScopeChange", "reason", "maxLength", REASON_CHARS),
            ("Target", "account_id", "maxLength", ID_CHARS),
            ("Target", "type", "maxLength", ID_CHARS),
            ("Target", "id", "maxLength", ID_CHARS),
            ("Change", "field", "maxLength", FIELD_NAME_CHARS),
            ("Change", "old", "maxLength", VALUE_CHARS),
            ("Change", "new", "maxLength", VALUE_CHARS),
            ("AuthorizeRequest", "action", "maxLength", ACTION_NAME_CHARS),
            ("AuthorizeRequest", "changes", "maxItems", CHANGES_PER_CALL),
            ("StartSession", "app", "maxLength", ID_CHARS),
            ("EntryExchange", "code", "maxLength", ID_CHARS),
        ];
        for (schema, field, key, bound) in cases {
            assert_eq!(schemas[schema]["properties"][field][key], bound, "{schema}.{field}");
        }
    }

    /// The committed `docs/openapi.json` is what the code generates; run with
    /// `ACTAS_UPDATE_OPENAPI=1` to rewrite it after changing the API.
    #[test]
    fn the_committed_openapi_document_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let generated = format!("{}\n", serde_json::to_string_pretty(&super::openapi()).unwrap());
        if std::env::var("ACTAS_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is stale: run ACTAS_UPDATE_OPENAPI=1 cargo test -p actas-server"
        );
    }
}
