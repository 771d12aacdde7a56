//! The controller's tests against the fake API server ([`support::fake_api`]) and in-memory
//! endpoints, as one test binary: one link and one build of `support` instead of one for each.

#[path = "../support/mod.rs"]
mod support;

mod leader_election;
mod metrics;
mod provenance;
mod reconcile;
mod restart;
mod run;
mod watch_errors;
