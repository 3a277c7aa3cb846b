//! Waiting for something to happen, instead of sleeping and hoping it did.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is asked again.
const EVERY: Duration = Duration::from_millis(50);

/// Asks `condition` until it holds; fails the test, naming `what` it waited
/// for, when `within` passes first.
///
/// ```no_run
/// # async fn run(app: actas_server::testing::TestApp) {
/// use std::time::Duration;
/// use actas_server::testing::wait_until;
/// wait_until(Duration::from_secs(2), "a follower of the session feed", || async {
///     app.ctx.feed.subscribers() > 0
/// })
/// .await;
/// # }
/// ```
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(within, what, || {
        let holds = condition();
        async move {
            if holds.await {
                Ok(())
            } else {
                Err("not yet")
            }
        }
    })
    .await
}

/// Asks `probe` until it answers `Ok`, and answers that; fails the test
/// when `within` passes first, naming `what` it waited for and the last
/// `Err` (say, what it saw instead).
pub async fn wait_for<T, E, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => panic!("waited {within:?} for {what}; last: {last}"),
            Err(_) => tokio::time::sleep(EVERY).await,
        }
    }
}
