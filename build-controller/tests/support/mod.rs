//! What the test binaries share: one fake API server ([`fake_api`]), the world of the mocked
//! tests and its named scenarios ([`fixtures`]), `kubectl build` run in-process ([`plugin`]),
//! and a throw-away control plane ([`envtest`]). Each binary includes it with `mod support;`
//! and uses a part of it.
#![allow(dead_code)]

pub(crate) mod envtest;
pub(crate) mod fake_api;
pub(crate) mod fixtures;
pub(crate) mod plugin;
