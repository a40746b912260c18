//! A client still being built on another task: the first use waits for it, later uses find it.
//! Building a Google client decodes the whole CA bundle (the SDK builds its own HTTP client,
//! bench/RESULTS.md), so a client the first round trip does not need is built beside that
//! round trip instead of before it.

use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// `T`, built by a spawned task.
pub struct Building<T> {
    task: std::sync::Mutex<Option<JoinHandle<Result<T>>>>,
    built: OnceCell<T>,
}

impl<T: Send + 'static> Building<T> {
    /// Starts building now, on the runtime's other threads.
    pub fn spawn(build: impl std::future::Future<Output = Result<T>> + Send + 'static) -> Self {
        Building {
            task: std::sync::Mutex::new(Some(tokio::spawn(build))),
            built: OnceCell::new(),
        }
    }

    /// The client, once built; the build's error to every caller that asks first (a failed build
    /// fails the command, so it is never asked twice in practice).
    pub async fn get(&self) -> Result<&T> {
        self.built
            .get_or_try_init(|| async {
                let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
                let task =
                    task.ok_or_else(|| Error::Setup("client set-up failed before".into()))?;
                joined(task).await
            })
            .await
    }
}

/// A spawned build's result: a build that panicked or was cancelled is a set-up error.
pub async fn joined<T>(task: JoinHandle<Result<T>>) -> Result<T> {
    task.await
        .map_err(|e| Error::Setup(format!("client set-up failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_caller_gets_the_one_built_value() {
        let built = Building::spawn(async { Ok(String::from("client")) });
        let (a, b) = tokio::join!(built.get(), built.get());
        assert_eq!(a.unwrap(), "client");
        assert_eq!(b.unwrap(), "client");
        assert!(std::ptr::eq(
            built.get().await.unwrap(),
            built.get().await.unwrap()
        ));
    }

    #[tokio::test]
    async fn a_failed_build_is_an_error_not_a_hang() {
        let built: Building<String> = Building::spawn(async { Err(Error::Setup("no".into())) });
        assert!(matches!(built.get().await, Err(Error::Setup(m)) if m == "no"));
        assert!(built.get().await.is_err());
    }
}
