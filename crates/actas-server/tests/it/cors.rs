//! CORS: browsers may call the API only from the web origins registered for
//! an app (`TestApp` registers `http://localhost:3000` for Acme Billing).

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};

use actas_server::testing::*;

const REGISTERED: &str = "http://localhost:3000";

fn header<'r>(res: &'r Response, name: &str) -> Option<&'r str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Response {
    app.http
        .request(Method::OPTIONS, format!("{}{path}", app.base))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

backend_test!(async fn a_preflight_from_a_registered_origin_is_allowed(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let res = preflight(&app, &format!("/api/v1/sessions/{sid}"), REGISTERED, "GET").await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(header(&res, "access-control-allow-origin"), Some(REGISTERED));
    let methods = header(&res, "access-control-allow-methods").unwrap().to_ascii_uppercase();
    for m in ["GET", "POST", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = header(&res, "access-control-allow-headers").unwrap().to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"), "{headers}");
    assert_eq!(header(&res, "access-control-max-age"), Some("600"));
    assert_eq!(header(&res, "access-control-allow-credentials"), None);
    let vary = res.headers().get_all("vary").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    assert!(vary.to_ascii_lowercase().contains("origin"), "{vary}");

    // The banner's calls: heartbeat and end are POSTs.
    let res = preflight(&app, &format!("/api/v1/sessions/{sid}/end"), REGISTERED, "POST").await;
    assert_eq!(header(&res, "access-control-allow-origin"), Some(REGISTERED));
});

backend_test!(async fn a_preflight_from_another_origin_gets_no_allow_origin(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    for origin in ["http://evil.test", "http://localhost:3001", "https://localhost:3000", "null"] {
        let res = preflight(&app, &format!("/api/v1/sessions/{sid}"), origin, "GET").await;
        assert_eq!(header(&res, "access-control-allow-origin"), None, "{origin}");
        assert_eq!(header(&res, "access-control-allow-credentials"), None, "{origin}");
    }
});

backend_test!(async fn a_call_from_a_registered_origin_carries_the_headers(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    let res = app
        .http
        .get(format!("{}/api/v1/sessions/{sid}", app.base))
        .bearer_auth(&token)
        .header("origin", REGISTERED)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(REGISTERED));
    let exposed = header(&res, "access-control-expose-headers").unwrap().to_ascii_lowercase();
    assert!(exposed.contains("x-next-cursor"), "{exposed}");

    // The same call from elsewhere is answered (CORS is the browser's
    // check), but without the header, so a browser withholds the answer.
    let res = app
        .http
        .get(format!("{}/api/v1/sessions/{sid}", app.base))
        .bearer_auth(&token)
        .header("origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res, "access-control-allow-origin"), None);
});

backend_test!(async fn a_newly_registered_origin_is_honoured_within_seconds(app) {
    let origin = "https://billing.example.test";
    let res = preflight(&app, "/api/v1/sessions/ses_x", origin, "GET").await;
    assert_eq!(header(&res, "access-control-allow-origin"), None);
    app.host_app("Billing web").origin(origin).add().await;
    wait_until(Duration::from_secs(3), "the new origin to be honoured", || async {
        let res = preflight(&app, "/api/v1/sessions/ses_x", origin, "GET").await;
        header(&res, "access-control-allow-origin") == Some(origin)
    })
    .await;
});
