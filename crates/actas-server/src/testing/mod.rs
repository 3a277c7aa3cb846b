//! The test kit (the `testing` feature), one for the tests of every crate:
//! a real server on 127.0.0.1:0 over a fresh SQLite file or PostgreSQL
//! database, on a manual clock and the tests' key-encryption key, and
//! builders that read like the domain.
//!
//! ```no_run
//! # async fn run() {
//! use actas_server::testing::*;
//!
//! let app = TestApp::spawn().await; // maria, jon, sam, lena, audrey, ada, Acme Billing, ticket 48192
//! let s = app.session(&app.maria).actions(&["settings.update"]).start().await; // sam approves
//! let answer = app.authorize(&s.token, "settings.update").await;
//! assert!(answer.allowed);
//! app.clock.advance(mins(11)); // ten minutes without activity end a session
//! assert_eq!(app.authorize(&s.token, "settings.update").await.reason.as_str(), "idle_timeout");
//! # }
//! ```
//!
//! - [`TestServer`]: the server, its database and clock, another node or
//!   process on the same database, and direct SQL for what only an attacker
//!   or a broken disk would do. Its [`TestServer::staff`] and
//!   [`TestServer::host_app`] builders add people and apps.
//! - [`TestApp`]: a server with the people, app and ticket of the SPEC's
//!   examples (Maria asks under ticket 48192, Sam approves), the audit reads
//!   that need them, and an [`actas_client::Client`] for the host app's
//!   calls.
//! - [`Api`]: any running actas over HTTP (also the binary the command line
//!   tests spawn): raw calls for tests about the wire, and the request,
//!   session and ticket builders.
//! - [`backend_test!`](crate::backend_test): one test body, run on SQLite and
//!   on PostgreSQL. Every PostgreSQL variant finds its server through
//!   [`actas_store::testing::pg_base_url`], which says loudly when it is
//!   skipped.
//! - [`webhooks`]: deliveries signed as Zendesk and Jira sign them.
//! - [`wait_until`] and [`wait_for`]: poll a condition with a deadline
//!   instead of sleeping (from [`actas_store::testing`], with [`t0`], where
//!   every test server's manual clock starts).

#![warn(missing_docs)]

mod api;
mod cast;
pub mod http;
mod server;
pub mod webhooks;

use serde_json::Value;

pub use actas_core::policy::Policy;
pub use actas_core::{Clock, ManualClock, Timestamp};
pub use actas_store::testing::{pg_base_url, t0, wait_for, wait_until, PgDatabase};
pub use api::{refused_everywhere, Api, LiveSession, RequestBuilder, Requested, SessionBuilder, TicketBuilder};
pub use cast::{Counts, TestApp};
pub use server::{
    test_keys, AppBuilder, Backend, DirectSql, HostApp, Node, StaffBuilder, TestServer, TestServerBuilder,
};

pub use crate::backend_test;

/// A reason long and specific enough for the shipped policy.
pub const REASON: &str = "Customer can't update tax settings after plan change";

/// `m` minutes.
pub fn mins(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

/// Expands one test body into a test per backend: `sqlite` always, and
/// `postgres` when [`pg_base_url`] names a server (on CI it must; without
/// it the variant says it is skipped). The body sees a [`TestApp`] under
/// the name given, on the shipped policy or the one after `=`.
///
/// ```no_run
/// use actas_server::testing::*;
///
/// backend_test!(async fn a_view_only_request_is_approved_by_policy(app) {
///     let r = app.request(&app.maria).actions(&["settings.view"]).send().await;
///     assert_eq!(r["status"], "approved");
/// });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! backend_test {
    (async fn $name:ident($app:ident) $body:block) => {
        $crate::backend_test!(async fn $name($app = $crate::testing::Policy::shipped()) $body);
    };
    (async fn $name:ident($app:ident = $policy:expr) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $app = $crate::testing::TestApp::on($crate::testing::Backend::Sqlite, $policy).await;
                $body
            }

            #[tokio::test]
            async fn postgres() {
                let Some(backend) = $crate::testing::Backend::postgres() else { return };
                let $app = $crate::testing::TestApp::on(backend, $policy).await;
                $body
            }
        }
    };
}

/// Asserts a problem answer: its status, its type `urn:actas:problem:SLUG`
/// and a detail that says something.
#[track_caller]
pub fn assert_problem(got: &(reqwest::StatusCode, Value), status: u16, slug: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.1["type"], format!("urn:actas:problem:{slug}"), "{}", got.1);
    assert!(got.1["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", got.1);
}

/// [`assert_problem`] for an answer of [`actas_client::Client`]: it must be
/// a refusal with that status and problem type.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(got: &Result<T, actas_client::ClientError>, status: u16, slug: &str) {
    match got {
        Err(actas_client::ClientError::Api(p)) => {
            assert_eq!(p.status, status, "{p:?}");
            assert_eq!(p.kind, format!("urn:actas:problem:{slug}"), "{p:?}");
            assert!(!p.detail.is_empty(), "{p:?}");
        }
        other => panic!("expected a {status} {slug} problem, got {other:?}"),
    }
}

/// The claims of a compact JWS, unverified.
pub fn claims(token: &str) -> Value {
    jws_part(token, 1)
}

/// The JOSE header of a compact JWS.
pub fn jws_header(token: &str) -> Value {
    jws_part(token, 0)
}

fn jws_part(token: &str, i: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(i).unwrap_or_else(|| panic!("not a compact JWS: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("part {i} of {token} is not base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("part {i} of {token} is not JSON: {e}"))
}
