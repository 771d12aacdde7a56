//! The scenarios `--scenario` selects ([`super::SCENARIOS`]), one file each, in the order
//! they run. Each says in its first paragraph what it does, its verdict and its evidence.

pub(crate) mod apiserver;
pub(crate) mod bad_input;
pub(crate) mod failover;
pub(crate) mod kill;
