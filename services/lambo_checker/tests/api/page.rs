//! The web page: form, answer in words, server-rendered chart, nothing external.

use crate::helpers::spawn_app;

async fn page(app: &crate::helpers::TestApp, query: &str) -> String {
    let res = app.get(&format!("/?{query}")).await;
    assert_eq!(res.status(), 200, "{query}");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    res.text().await.unwrap()
}

fn assert_self_contained(html: &str) {
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("<link"), "no external styles or fonts");
    let external = html.matches("http").count();
    let svg_ns = html.matches("http://www.w3.org/2000/svg").count();
    assert_eq!(external, svg_ns, "no URLs but the SVG namespace");
}

#[tokio::test]
async fn the_page_shows_a_form_and_then_the_answer_with_both_windows_marked() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let empty = page(&app, "").await;
    assert!(
        empty.contains("<form") && empty.contains("name=\"symbol\"") && empty.contains("name=\"amount\"")
    );
    assert!(!empty.contains("<svg"));
    assert_self_contained(&empty);

    let html = page(&app, "symbol=BTC&amount=500").await;
    assert!(html.contains("No, not yet."), "verdict in words");
    assert!(html.contains("<svg") && html.contains("<polyline"));
    assert!(html.contains("<title>opening window</title>") && html.contains("<title>current window</title>"));
    assert!(html.contains("opening window mean 4136.335"));
    assert!(html.contains("newest data 2024-12-31"));
    assert_self_contained(&html);

    let rich = page(&app, "symbol=BTC&amount=100000000").await;
    assert!(rich.contains("Yes! Go get the Lambo."));
}

#[tokio::test]
async fn bad_input_on_the_page_is_explained_and_escaped() {
    let app = spawn_app(|s| s.providers.clear()).await;
    let html = page(&app, "symbol=%3Cb%3Ex&amount=NaN").await;
    assert!(!html.contains("<b>x"), "input is escaped");
    assert!(html.contains("class=\"error\""));
    let html = page(&app, "symbol=BTC&amount=NaN").await;
    assert!(
        html.contains("investment: must be a plain decimal number"),
        "{html}"
    );
}
