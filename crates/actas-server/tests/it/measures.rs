//! The console's measures page (`/measures`) on the known story of
//! `metrics.rs`: the exact figures, its charts, the window picker, its CSV
//! and who may read it.

use reqwest::StatusCode;

use crate::console::Browser;
use crate::metrics::{story, Story, PLAYBOOK_TICKET};
use actas_server::testing::*;

/// The `href` of the element whose id is `id`, unescaped.
fn href_of(html: &str, id: &str) -> String {
    let at = html.find(&format!(r#"id="{id}""#)).unwrap_or_else(|| panic!("#{id}: {html}"));
    let start = html[..at].rfind("<a ").unwrap();
    let href = html[start..].split("href=\"").nth(1).unwrap();
    href.split('"').next().unwrap().replace("&amp;", "&")
}

backend_test!(async fn a_lead_reads_the_measures_of_a_known_story_with_charts_and_words(app) {
    let Story { ids: [sa, sb, sc, sd] } = story(&app).await;
    let (mut lena, home) = Browser::signed_in(&app, "lena").await;
    assert!(home.html.contains(r#"<a href="/measures">Measures</a>"#), "{}", home.html);
    let p = lena.get("/measures").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.html);
    let h = &p.html;
    assert!(h.contains(r#"<a href="/measures" aria-current="page">Measures</a>"#), "{h}");
    assert!(h.contains(r#"<a class="button" href="/measures?days=30" aria-current="page">Last 30 days</a>"#), "{h}");
    assert!(h.contains("From 2026-10-26 14:23 UTC to 2026-11-25 14:23 UTC: 4 sessions started, 3 ended, 1 still live."), "{h}");
    // The medians, as a named chart whose figures are text too.
    assert!(
        h.contains(r#"role="img" aria-label="Median minutes: request to decision, 1.5 min; decision to start, 1.5 min; start to end, 6 min""#),
        "{h}"
    );
    assert!(h.contains(">1.5 min</text>") && h.contains(">6 min</text>"), "{h}");
    assert!(h.contains(r#"viewBox="0 0 360 136" width="100%""#), "{h}");
    // Access stays narrow: the share per playbook and the suggestion.
    assert!(h.contains("Of 9 actions granted, 3 were used (33.3 %)."), "{h}");
    assert!(h.contains(">37.5 % (3 of 8)</text>") && h.contains(">0 % (0 of 1)</text>"), "{h}");
    assert!(h.contains(">Settings are not saving</text>") && h.contains(">No playbook</text>"), "{h}");
    assert!(h.contains("<li>Playbook settings_not_saving: &quot;View recent activity&quot; (activity.view) was granted in 3 of its 3 sessions"), "{h}");
    // Explained: the meter and the one session that is not, with a link.
    assert!(h.contains(r#"aria-label="Sessions fully explainable: 66.7 % (2 of 3 ended sessions)""#), "{h}");
    assert!(h.contains("2 of 3 ended sessions (66.7 %) have a ticket") && h.contains(">66.7 % (2 of 3)</text>"), "{h}");
    assert!(
        h.contains(&format!(
            r#"<li><a href="/sessions/{sb}">Session {sb}</a>, ticket {PLAYBOOK_TICKET}, agent jon, ended 2026-11-25 14:10 UTC. Missing: the customer note was not delivered.</li>"#
        )),
        "{h}"
    );
    for other in [&sa, &sc, &sd] {
        assert!(!h.contains(&format!("/sessions/{other}")), "{other} is explainable or live");
    }
    // Denials and refusals, by reason.
    assert!(h.contains(r#"<td data-label="Kind">Denied by a lead</td><td data-label="Reason">Not needed for this ticket</td><td data-label="Count">1</td>"#), "{h}");
    assert!(h.contains(r#"<td data-label="Reason">unknown-action</td><td data-label="Count">1</td>"#), "{h}");
    assert!(h.contains(r#"<td data-label="Reason">not_in_scope</td><td data-label="Count">1</td>"#), "{h}");

    // The CSV link downloads what the API's CSV holds, with the console's cookie.
    let csv_link = href_of(h, "csv");
    assert_eq!(csv_link, "/measures.csv?since=2026-10-26T14%3A23%3A00%2B00%3A00&until=2026-11-25T14%3A23%3A00%2B00%3A00");
    let csv = lena.get(&csv_link).await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.html);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let api = app.http.get(app.url("/api/v1/metrics/support?format=csv")).bearer_auth(&app.lena).send().await.unwrap();
    assert_eq!(csv.html, api.text().await.unwrap());
    assert_eq!(csv.html.lines().count(), 5, "a header and four sessions");

    // A narrower window and a window with nothing in it.
    let week = lena.get("/measures?days=7").await;
    assert!(week.html.contains("4 sessions started"), "{}", week.html);
    assert_eq!(lena.get("/measures?days=12").await.status, StatusCode::BAD_REQUEST);
    app.clock.advance(chrono::Duration::days(100));
    let (mut lena, _) = Browser::signed_in(&app, "lena").await;
    let empty = lena.get("/measures?days=90").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.html.contains("Nothing happened in the last 90 days: no session started and no request was denied or refused."), "{}", empty.html);
    assert!(!empty.html.contains("<svg"), "no empty charts");
});

backend_test!(async fn the_measures_are_for_leads_and_auditors_only(app) {
    story(&app).await;
    let (mut audrey, home) = Browser::signed_in(&app, "audrey").await;
    assert!(home.html.contains(r#"href="/measures""#));
    let p = audrey.get("/measures").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.html.contains("66.7 % (2 of 3 ended sessions)"), "{}", p.html);
    assert_eq!(audrey.get(&href_of(&p.html, "csv")).await.status, StatusCode::OK);
    for login in ["maria", "ada"] {
        let (mut b, home) = Browser::signed_in(&app, login).await;
        assert!(!home.html.contains(r#"href="/measures""#), "{login}");
        for path in ["/measures", "/measures.csv"] {
            let p = b.get(path).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{login} {path}");
            assert!(p.html.contains("Reading the support measures is not for you: This needs one of the roles: lead, auditor."), "{}", p.html);
        }
    }
    let mut nobody = Browser::new(&app);
    assert_eq!(nobody.get("/measures").await.location(), "/login");
    assert_eq!(nobody.get("/measures.csv").await.location(), "/login");
});
