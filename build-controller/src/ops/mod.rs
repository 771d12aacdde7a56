//! Running the controller in production: its HTTP endpoints, its metrics, leader election and
//! the Events it publishes.

pub mod events;
pub mod http;
pub mod leader;
pub mod metrics;

pub use crate::controller::run_observed;
