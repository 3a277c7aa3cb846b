//! Integration tests: the real server on an ephemeral port, a real SQLite
//! file (or PostgreSQL database), time on a manual clock, all from the test
//! kit (`actas_server::testing`). One binary for all of them.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod access;
mod admin_pages;
mod audit;
mod bounds;
mod breakglass;
mod cancel;
mod connections;
mod connectors;
mod consent;
mod console;
mod cors;
mod entry;
mod exports;
mod feed;
mod flow;
mod ids;
mod inbox;
mod live;
mod measures;
mod metrics;
mod refusals;
mod revocation;
mod scim;
mod security;
mod stepup;
mod tickets_api;
mod time;
mod webhooks;
