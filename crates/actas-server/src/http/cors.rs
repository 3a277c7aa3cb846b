//! CORS: browsers may call the API only from the web origins registered for
//! an app (`actas app add NAME --origin URL`), which is where the banner runs.
//!
//! The registered origins are read from the database at most once a second,
//! so a newly added app is honoured within about a second, on every node.
//! No credentials mode: the banner sends its token as a Bearer header.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actas_store::read_fn;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, DATE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::Ctx;

/// How long a read of the registered origins is reused.
const TTL: Duration = Duration::from_secs(1);

/// How long a browser may reuse a preflight answer.
const MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// The CORS layer of the router.
pub(super) fn layer(ctx: Ctx) -> CorsLayer {
    let origins = Origins { ctx, cache: Arc::new(Mutex::new(None)) };
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(move |origin: HeaderValue, _: &Parts| {
            let origins = origins.clone();
            async move { origins.allows(&origin).await }
        }))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE])
        // `date` lets the banner correct its countdown for a skewed clock.
        .expose_headers([HeaderName::from_static("x-next-cursor"), DATE])
        .max_age(MAX_AGE)
}

/// A set of normalized origins, shared between requests.
type OriginSet = Arc<HashSet<String>>;

/// The registered origins, read at most once per [`TTL`].
#[derive(Clone)]
struct Origins {
    ctx: Ctx,
    /// When the set was read, and the set.
    cache: Arc<Mutex<Option<(Instant, OriginSet)>>>,
}

impl Origins {
    async fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else { return false };
        let origin = normalize(origin);
        if origin == "null" {
            return false;
        }
        self.current().await.is_some_and(|set| set.contains(&origin))
    }

    /// The cached set, or a fresh read when it is older than [`TTL`]. One
    /// read at a time: concurrent callers wait for it instead of querying.
    async fn current(&self) -> Option<OriginSet> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if let Some((at, set)) = cache.as_ref() {
            if now.duration_since(*at) < TTL {
                return Some(set.clone());
            }
        }
        let read = self.ctx.store.read(read_fn(|tx| Box::pin(async move { tx.list_apps().await }))).await;
        match read {
            Ok(apps) => {
                let set: OriginSet = Arc::new(
                    apps.iter()
                        .flat_map(|a| a.origins.iter())
                        .map(|o| normalize(o))
                        .filter(|o| !o.is_empty() && o != "null" && o != "*")
                        .collect(),
                );
                *cache = Some((now, set.clone()));
                Some(set)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the registered origins; keeping the last known ones");
                let (_, set) = cache.as_ref()?;
                let set = set.clone();
                *cache = Some((now, set.clone()));
                Some(set)
            }
        }
    }
}

/// `HTTP://Example.test:3000/` and `http://example.test:3000` are one origin.
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn origins_compare_without_case_or_trailing_slash() {
        assert_eq!(normalize(" HTTP://Example.test:3000/ "), "http://example.test:3000");
        assert_eq!(normalize("http://localhost:3000"), "http://localhost:3000");
    }
}
