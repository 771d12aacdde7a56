//! What the chaos scenarios share: the Build mix and how each kind must end ([`mix`]), the
//! mix run under a fault in stages ([`under_fault`]) with the controller replicas
//! ([`replica`]), the stand-in kubelet ([`stand_in_kubelet`]) and the Build and Lease watches
//! ([`watch`]), requests that ride out API server outages ([`api`]), the end-state checker
//! over the recorded Build updates ([`checker`]), and the two ways of checking that no two
//! leaders reconcile at once ([`leader`]).

pub(crate) mod api;
pub(crate) mod checker;
pub(crate) mod leader;
pub(crate) mod mix;
pub(crate) mod replica;
pub(crate) mod stand_in_kubelet;
pub(crate) mod under_fault;
pub(crate) mod watch;
