//! One request/answer exchange with an upstream, run apart from the client's connection so it
//! can outlive the client's wait. It uses pingora's own connector (its keep-alive pool, TLS
//! and peer options), and keeps the answer whole, up to a size.

use super::StoredResponse;
use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use std::time::Duration;

/// Header fields that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// The hop-by-hop fields present in `headers`, with the fields `Connection` nominates.
fn hop_by_hop_names(headers: &http::HeaderMap) -> Vec<String> {
    let nominated = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty());
    HOP_BY_HOP
        .iter()
        .map(|name| name.to_string())
        .chain(nominated)
        .filter(|name| headers.contains_key(name.as_str()))
        .collect()
}

/// Removes the hop-by-hop fields and the fields `Connection` nominates (the framing is set
/// again for a buffered body).
pub fn strip_hop_by_hop(headers: &mut http::HeaderMap) {
    for name in hop_by_hop_names(headers) {
        headers.remove(name.as_str());
    }
}

/// Prepares `request` (already stripped of the credential and given identity headers) to
/// carry a buffered body of `body_len` bytes (`had_body`: the client sent one at all).
pub fn frame_request(request: &mut RequestHeader, body_len: usize, had_body: bool) {
    for name in hop_by_hop_names(&request.headers) {
        request.remove_header(name.as_str());
    }
    if had_body {
        // Infallible: a decimal number is a valid header value.
        let _ = request.insert_header(http::header::CONTENT_LENGTH, body_len.to_string());
    }
}

/// Why no answer came back.
#[derive(Debug)]
pub enum ExchangeError {
    /// Connecting, writing or reading failed.
    Failed(pingora::BError),
    TimedOut,
    TooLarge,
}

impl ExchangeError {
    /// The answer the client gets instead.
    pub fn into_response(self) -> StoredResponse {
        match self {
            ExchangeError::Failed(e) => {
                tracing::warn!(error = %e, "polling exchange with the upstream failed");
                StoredResponse::error(
                    502,
                    "upstream_unavailable",
                    "the upstream could not be reached",
                )
            }
            ExchangeError::TimedOut => StoredResponse::error(
                504,
                "upstream_timeout",
                "the upstream did not answer in time",
            ),
            ExchangeError::TooLarge => StoredResponse::error(
                502,
                "upstream_answer_too_large",
                "the upstream's answer is too large to keep",
            ),
        }
    }
}

/// Sends `request` + `body` to `peer` and reads the whole answer (at most `max_body` bytes of
/// body), all within `deadline`.
pub async fn exchange(
    connector: &Connector,
    peer: &HttpPeer,
    request: RequestHeader,
    body: Bytes,
    max_body: u64,
    deadline: Duration,
) -> Result<StoredResponse, ExchangeError> {
    match tokio::time::timeout(deadline, run(connector, peer, request, body, max_body)).await {
        Ok(result) => result,
        Err(_) => Err(ExchangeError::TimedOut),
    }
}

async fn run(
    connector: &Connector,
    peer: &HttpPeer,
    request: RequestHeader,
    body: Bytes,
    max_body: u64,
) -> Result<StoredResponse, ExchangeError> {
    let failed = ExchangeError::Failed;
    let (mut session, _reused) = connector.get_http_session(peer).await.map_err(failed)?;
    session
        .write_request_header(Box::new(request))
        .await
        .map_err(failed)?;
    if !body.is_empty() {
        session
            .write_request_body(body, true)
            .await
            .map_err(failed)?;
    }
    session.finish_request_body().await.map_err(failed)?;
    // Informational answers (100 Continue, 103 Early Hints) come before the real one.
    let mut header = None;
    for _ in 0..4 {
        session.read_response_header().await.map_err(failed)?;
        let answer = session
            .response_header()
            .ok_or_else(|| failed(pingora::Error::new_str("no response header")))?;
        if !answer.status.is_informational() {
            header = Some(answer.clone());
            break;
        }
    }
    let header = header.ok_or_else(|| failed(pingora::Error::new_str("too many 1xx answers")))?;
    let mut collected = BytesMut::new();
    while let Some(chunk) = session.read_response_body().await.map_err(failed)? {
        if (collected.len() + chunk.len()) as u64 > max_body {
            // The rest is never read: the connection is dropped, not pooled.
            return Err(ExchangeError::TooLarge);
        }
        collected.extend_from_slice(&chunk);
    }
    let idle = peer.options.idle_timeout;
    connector.release_http_session(session, peer, idle).await;

    let mut headers = header.headers.clone();
    strip_hop_by_hop(&mut headers);
    Ok(StoredResponse {
        status: header.status.as_u16(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
        body: collected.freeze(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_nominated_fields_are_dropped() {
        let mut headers = http::HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, X-Secret-Hop"),
            ("x-secret-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("content-length", "5"),
            ("keep-alive", "timeout=5"),
            ("content-type", "application/json"),
            ("x-kept", "yes"),
        ] {
            headers.append(name, value.parse().unwrap());
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
        left.sort();
        assert_eq!(left, vec!["content-type", "x-kept"]);
    }

    #[test]
    fn requests_are_framed_for_the_buffered_body() {
        let mut request = RequestHeader::build("POST", b"/slow", None).unwrap();
        request
            .insert_header("transfer-encoding", "chunked")
            .unwrap();
        request
            .insert_header("content-type", "application/json")
            .unwrap();
        frame_request(&mut request, 7, true);
        assert_eq!(request.headers.get("transfer-encoding"), None);
        assert_eq!(request.headers["content-length"], "7");
        assert_eq!(request.headers["content-type"], "application/json");

        let mut get = RequestHeader::build("GET", b"/slow", None).unwrap();
        frame_request(&mut get, 0, false);
        assert_eq!(get.headers.get("content-length"), None);
    }
}
