//! The one JSON body extractor: axum's body limit (`DefaultBodyLimit`, set on the router) and
//! buffering, with refusals in the protocol's codes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::protocol::MAX_BODY_BYTES;
use crate::server::app::App;
use crate::server::error::ApiError;
use crate::server::http::refusal::{Caller, Refusal};

/// A request body parsed as JSON into `T`. A body that cannot be read or parsed is refused to
/// the caller as far as the headers establish it (a known agent token, else a claim).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<App>> for JsonBody<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Refusal> {
        let caller = Caller::unverified(app, req.headers());
        // A declared length over the limit is refused before any of the body is read.
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(caller.refuse(too_large()));
        }
        let bytes = Bytes::from_request(req, app)
            .await
            .map_err(|e| caller.refuse(unread(&e)))?;
        parse(&bytes).map(JsonBody).map_err(|e| caller.refuse(e))
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
}

/// A body that could not be read: it came too slowly (the listener's body timeout), or it is
/// over the limit, or the connection failed while it was sent (answered like an overlong body,
/// as before).
fn unread(e: &BytesRejection) -> ApiError {
    match e {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::UnknownBodyError(e))
            if caused_by::<tower_http::timeout::TimeoutError>(e) =>
        {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            )
        }
        _ => too_large(),
    }
}

fn caused_by<E: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<E>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Not JSON is `invalid_json`; JSON of the wrong shape is `invalid_request`.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::bad_request("invalid_request", e.to_string())
        }
        _ => ApiError::bad_request("invalid_json", format!("malformed JSON: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Call {
        #[allow(dead_code)]
        tool: String,
    }

    #[test]
    fn not_json_and_wrong_shape_have_their_own_codes() {
        for (body, code) in [
            (&b"{\"tool\": "[..], "invalid_json"),
            (b"tool=x", "invalid_json"),
            (b"", "invalid_json"),
            (br#"{"tool": 5}"#, "invalid_request"),
            (br#"{}"#, "invalid_request"),
            (br#"{"tool": "x", "agent": "root"}"#, "invalid_request"),
        ] {
            let e = parse::<Call>(body).unwrap_err();
            assert_eq!(e.code, code, "{}", String::from_utf8_lossy(body));
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
        assert!(parse::<Call>(br#"{"tool": "x"}"#).is_ok());
    }
}
