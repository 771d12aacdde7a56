//! How a plugin command ended: the exit-code contract (0 success, 1 the Build failed, 2 usage
//! or access error), below every command so each can return it.

/// How a plugin command ended, as its exit code says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginExit {
    /// 0: done; the Build succeeded, or was cancelled.
    Succeeded,
    /// 1: the Build failed (or `validate`/`render` found a problem).
    Failed,
    /// 2: a usage or access error; the Build cannot be found or read.
    Error,
}

impl PluginExit {
    /// The process exit code: 0, 1 or 2.
    pub fn code(self) -> u8 {
        match self {
            PluginExit::Succeeded => 0,
            PluginExit::Failed => 1,
            PluginExit::Error => 2,
        }
    }
}
