//! The one GET every client makes, with `Retry-After` read where it means something.

use chrono::Utc;

use crate::parse_retry_after;

/// A response's status and `Retry-After`, its body not read yet.
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// Seconds asked by `Retry-After` on 429 and 5xx (elsewhere it means nothing to us).
    pub(crate) retry_after: Option<u64>,
    response: reqwest::Response,
}

impl Answer {
    /// True for 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// True for 429 and 5xx: "not now", whatever the body says.
    pub(crate) fn is_overloaded(&self) -> bool {
        self.status == 429 || self.status >= 500
    }

    /// The whole body.
    pub(crate) async fn body(self) -> Result<Vec<u8>, reqwest::Error> {
        Ok(self.response.bytes().await?.to_vec())
    }
}

/// GETs `url` (with `query`, if any) asking for JSON, on the service's pooled client.
pub(crate) async fn get(
    http: &reqwest::Client,
    url: &str,
    query: &[(&str, String)],
) -> Result<Answer, reqwest::Error> {
    let mut request = http.get(url).header(reqwest::header::ACCEPT, "application/json");
    if !query.is_empty() {
        request = request.query(query);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = (status == 429 || status >= 500)
        .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()));
    Ok(Answer {
        status,
        retry_after,
        response,
    })
}
