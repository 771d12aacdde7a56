//! What the chaos scenarios share: the Build mix and how each kind must end ([`mix`]), the
//! end-state checker over the recorded Build updates ([`checker`]), and the two ways of
//! checking that no two leaders reconcile at once ([`leader`]).

pub(crate) mod checker;
pub(crate) mod leader;
pub(crate) mod mix;
