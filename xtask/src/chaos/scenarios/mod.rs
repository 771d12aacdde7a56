//! The scenarios `--scenario` selects ([`super::SCENARIOS`]), one file each, in the order
//! they run. Each says in its first paragraph what it does, its verdict and its evidence.

pub(crate) mod apiserver;
pub(crate) mod bad_input;
pub(crate) mod failover;
pub(crate) mod kill;

use anyhow::bail;

use crate::chaos::{ChaosArgs, Env, Outcome};

/// Runs scenario `name` with the run's options.
pub(crate) async fn run(env: &Env, args: &ChaosArgs, name: &str) -> anyhow::Result<Outcome> {
    Ok(match name {
        "kill" => kill::run(env, args.builds, args.kills).await?,
        "apiserver" => apiserver::run(env, args.builds).await?,
        "failover" => failover::run(env, args.builds).await?,
        "bad-input" => bad_input::run(env, args.objects).await?,
        other => bail!("scenario {other} is not implemented"),
    })
}
