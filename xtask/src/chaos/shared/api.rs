//! Requests that ride out API server outages: retried with backoff, and a create whose
//! object already exists (committed before the server went down, then retried) counts as done.

use std::future::Future;
use std::time::{Duration, Instant};

use kube::api::{Api, PostParams};

/// Retries a request (up to 2 minutes, backing off to 2 s) through API server outages.
pub(crate) async fn retry<T, F, Fut>(what: &str, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut delay = Duration::from_millis(200);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() < deadline && !is_status(&error, 422) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                let _ = error;
            }
            Err(error) => return Err(anyhow::anyhow!("{what}: {error}")),
        }
    }
}

fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

/// Creates `object`, retrying through outages; AlreadyExists is success.
pub(crate) async fn create_once<K>(api: &Api<K>, object: &K) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    retry(&format!("creating {name}"), || async {
        match api.create(&PostParams::default(), object).await {
            Err(error) if is_status(&error, 409) => Ok(()),
            other => other.map(|_| ()),
        }
    })
    .await
}
