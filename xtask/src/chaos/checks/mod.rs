//! The checks across every scenario, run after the selected ones, each with its own verdict
//! line: no request of the controller refused with 403 ([`privilege`]), and the run's Secret
//! sentinel found nowhere but in the Secrets ([`secrets`]).

pub(crate) mod privilege;
pub(crate) mod secrets;
