//! The latest state of one object, kept by a watch instead of a GET every second.
//!
//! A follow (`logs -f`, `run`, `cancel`) needs the Build and its pod as they change. Each is
//! listed once by name, then watched from the list's resourceVersion; a watch that ends (the
//! API server's timeout, a broken connection) is resumed from the last version seen, and one
//! whose version has expired (410 Gone: history compacted, a restarted API server, a CRD
//! replaced) makes it list again. That is kube-runtime's `watcher`, run in a task of its own so
//! that the watch is read while a log streams.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, ListSemantic};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::error::PluginError;

/// One object by name, as its watch last reported it. Dropping it stops the watch.
pub(crate) struct Watched<K> {
    /// What is watched, for messages: `build "kubeval-img"`.
    what: String,
    latest: watch::Receiver<Seen<K>>,
    task: tokio::task::JoinHandle<()>,
}

impl<K> Drop for Watched<K> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the watch has seen so far.
#[derive(Debug)]
struct Seen<K> {
    /// `None` until the first list answered; then the object (`Some(None)`: there is none).
    object: Option<Option<K>>,
    /// Why the watch last failed, until it next succeeds (an expired version is no failure).
    failure: Option<Arc<watcher::Error>>,
}

impl<K> Watched<K>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    /// Starts watching the object `name` of `api`; `kind` names it in messages (`build`).
    pub(crate) fn start(api: Api<K>, kind: &str, name: &str) -> Watched<K> {
        let (sender, latest) = watch::channel(Seen {
            object: None,
            failure: None,
        });
        let mut config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        // A follow starts from what the API server holds now, not from its cache.
        config.list_semantic = ListSemantic::MostRecent;
        let task = tokio::spawn(keep(api, config, sender));
        Watched {
            what: format!("{kind} {name:?}"),
            latest,
            task,
        }
    }

    /// The object as last seen (`None`: there is none), once the first list has answered.
    ///
    /// # Errors
    ///
    /// [`PluginError::Watch`] when the first list failed (access denied, the API server
    /// unreachable): the command cannot go on.
    pub(crate) async fn current(&mut self) -> Result<Option<K>, PluginError> {
        loop {
            {
                let seen = self.latest.borrow_and_update();
                match (&seen.object, &seen.failure) {
                    (Some(object), _) => return Ok(object.clone()),
                    (None, Some(failure)) => {
                        return Err(PluginError::Watch {
                            what: format!("reading {}", self.what),
                            source: failure.clone(),
                        });
                    }
                    (None, None) => {}
                }
            }
            self.changed().await?;
        }
    }

    /// Waits until the watch reports something new: a change, a failure, a recovery.
    ///
    /// # Errors
    ///
    /// [`PluginError::WatchEnded`] if the watch's task ended, which it does only by a panic.
    pub(crate) async fn changed(&mut self) -> Result<(), PluginError> {
        self.latest
            .changed()
            .await
            .map_err(|_| PluginError::WatchEnded(self.what.clone()))
    }

    /// Why the watch, after its first list, is failing and being retried, if it is.
    pub(crate) fn trouble(&self) -> Option<String> {
        let seen = self.latest.borrow();
        seen.object.as_ref()?;
        let failure = seen.failure.as_ref()?;
        Some(format!("watching {}: {failure} (retrying)", self.what))
    }
}

/// Runs the watch, writing what it sees to `latest`, until the receiver is dropped.
async fn keep<K>(api: Api<K>, config: watcher::Config, latest: watch::Sender<Seen<K>>)
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let mut events = kube::runtime::watcher(api, config)
        .default_backoff()
        .boxed();
    // The objects of a list (at most one) until it is complete.
    let mut listed: Option<K> = None;
    while let Some(event) = events.next().await {
        let update: Option<Option<K>> = match event {
            Ok(Event::Init) => {
                listed = None;
                continue;
            }
            Ok(Event::InitApply(object)) => {
                listed = Some(object);
                continue;
            }
            Ok(Event::InitDone) => Some(listed.take()),
            Ok(Event::Apply(object)) => Some(Some(object)),
            Ok(Event::Delete(_)) => Some(None),
            // The version expired: the watcher lists again, which is no failure.
            Err(watcher::Error::WatchError(status)) if status.code == 410 => continue,
            Err(error) => {
                latest.send_modify(|seen| seen.failure = Some(Arc::new(error)));
                continue;
            }
        };
        let sent = latest.send(Seen {
            object: update,
            failure: None,
        });
        if sent.is_err() {
            return;
        }
    }
}
