//! A controller replica of a fault scenario: the controller binary run on the host as the
//! release's ServiceAccount, restarted as new incarnations (text and JSON logs alternate), each
//! with a log of its own.

use std::path::PathBuf;

use crate::chaos::Env;
use crate::harness::process::{Launch, Target};

/// One controller process of a scenario.
pub(crate) struct Replica {
    /// `a`, or `b` for the standby of a failover.
    pub(crate) name: String,
    /// How many times it was started.
    pub(crate) incarnation: usize,
    /// The running process.
    pub(crate) target: Target,
    /// Every incarnation's log, in order.
    pub(crate) logs: Vec<PathBuf>,
}

/// How the replicas of a scenario run.
pub(crate) struct ReplicaSettings {
    /// The scenario, which names the logs.
    pub(crate) scenario: &'static str,
    /// The namespace the controller watches.
    pub(crate) namespace: String,
    /// The Lease name, with `--leader-election`.
    pub(crate) lease: Option<String>,
}

impl Replica {
    /// Starts replica `name` (its first incarnation).
    pub(crate) fn start(
        env: &Env,
        settings: &ReplicaSettings,
        name: &str,
    ) -> anyhow::Result<Replica> {
        let mut replica = Replica {
            name: name.to_owned(),
            incarnation: 0,
            target: Target::Unmeasured,
            logs: Vec::new(),
        };
        replica.spawn(env, settings)?;
        Ok(replica)
    }

    /// Starts the next incarnation; text and JSON logs alternate.
    pub(crate) fn spawn(&mut self, env: &Env, settings: &ReplicaSettings) -> anyhow::Result<()> {
        self.incarnation += 1;
        let format = if (self.incarnation + usize::from(self.name.ends_with('b'))).is_multiple_of(2)
        {
            "json"
        } else {
            "text"
        };
        let mut args = vec![
            format!("--log-format={format}"),
            // no real node: nothing ever waits for an image
            "--image-pull-grace=10m".to_owned(),
        ];
        if let Some(lease) = &settings.lease {
            args.extend([
                "--leader-election".to_owned(),
                "--leader-election-namespace=knative-build".to_owned(),
                format!("--leader-election-lease={lease}"),
                format!("--instance={}", self.name),
            ]);
        }
        let log = env.log_path(&format!(
            "{}-{}-{}",
            settings.scenario, self.name, self.incarnation
        ));
        let level = std::env::var("CHAOS_CONTROLLER_LOG").unwrap_or_else(|_| "info".to_owned());
        self.target = Target::start(&Launch {
            binary: &env.controller,
            namespace: &settings.namespace,
            log: log.clone(),
            extra_args: &args,
            kubeconfig: Some(&env.controller_kubeconfig),
            rust_log: Some(&level),
        })?;
        self.logs.push(log);
        Ok(())
    }

    /// SIGKILL, then reaped.
    pub(crate) fn kill(&mut self) {
        self.target.stop();
    }
}
