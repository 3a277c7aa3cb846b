//! `GET /banner.js`: the script a host app includes while a support session
//! is live. See `assets/banner.js` for what it shows and how.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderName;
use axum::response::{IntoResponse, Response};

/// The banner script, built into the binary.
pub const SCRIPT: &str = include_str!("../../assets/banner.js");

/// The banner script. Cached briefly, so a new version reaches host apps soon.
pub async fn script() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=300"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Host apps that isolate themselves (COEP) may still load it.
            (HeaderName::from_static("cross-origin-resource-policy"), "cross-origin"),
        ],
        SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_script_is_served_as_javascript_with_a_short_cache() {
        let res = super::script().await;
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(header("content-type").as_deref(), Some("text/javascript; charset=utf-8"));
        assert_eq!(header("cache-control").as_deref(), Some("public, max-age=300"));
        assert!(super::SCRIPT.contains("customElements.define"));
    }
}
