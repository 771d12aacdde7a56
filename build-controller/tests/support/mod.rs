//! What the test binaries share: one fake API server ([`fake_api`]), the world of the mocked
//! tests and its named scenarios ([`fixtures`]), and `kubectl build` run in-process
//! ([`plugin`]). Each binary includes it with `mod support;` (`tests/mock/`, the tests against
//! the fake API server as one binary, with `#[path]`) and uses a part of it. (The
//! throw-away control plane of `tests/envtest.rs` is the `throwaway-cluster` crate's, which the
//! xtask harnesses use too.)
#![allow(dead_code)]

pub(crate) mod fake_api;
pub(crate) mod fixtures;
pub(crate) mod plugin;
