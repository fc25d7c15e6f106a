//! `GET /openapi.json`: the API as an OpenAPI 3.1 document, generated from the wire types (their
//! `ToSchema` derives in `protocol`) and the handlers' `#[utoipa::path]` annotations. The router
//! and the document are made from one list of routes (`super::api`), so no route is served
//! undocumented or documented unserved. Public, like `/healthz`: it tells no more than
//! `docs/PROTOCOL.md`.

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::protocol::{
    ClientMessage, ErrorBody, ServerMessage, SignedRequest, HEADER_PERSON, HEADER_SIGNATURE,
    HEADER_TIME,
};

/// The document's fixed parts; the paths are added by the route list.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "gavel",
        description = "A human in the loop for AI agents' tool calls. Agents submit calls with a \
            bearer token; people read with signed requests and decide with signed bodies. \
            Every error is `{\"error\": {\"code\", \"message\"}}`: branch on the code. The \
            full protocol, with examples, is docs/PROTOCOL.md."
    ),
    components(schemas(ErrorBody, ServerMessage, ClientMessage, SignedRequest)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "agents", description = "An agent's calls, authenticated by its bearer token"),
        (name = "people", description = "Reads signed by a person (three headers), writes whose \
            bodies are signed, and the console's stream. Agent tokens are refused (403)."),
        (name = "operations", description = "Unauthenticated: health, metrics, this document"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "agent_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An agent's token; the roster keeps its SHA-256. The agent's identity \
                         comes from the token, never from a body.",
                    ))
                    .build(),
            ),
        );
        let signed = [
            (
                "gavel_person",
                HEADER_PERSON,
                "A signed read, 1 of 3 headers, all required together: the roster person's id.",
            ),
            (
                "gavel_time",
                HEADER_TIME,
                "A signed read, 2 of 3: the RFC 3339 time of signing, within 300 s of the \
                 server's clock (else 400 `stale_signature`).",
            ),
            (
                "gavel_signature",
                HEADER_SIGNATURE,
                "A signed read, 3 of 3: base64 Ed25519 signature by the person's roster key \
                 over `gavel-v1:request:` and the RFC 8785 canonical JSON of \
                 `{\"method\", \"path\", \"person\", \"time\"}` (`SignedRequest`; `path` is the \
                 path and query exactly as sent).",
            ),
        ];
        for (name, header, description) in signed {
            c.add_security_scheme(
                name,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    header,
                    description,
                ))),
            );
        }
    }
}

/// The `/healthz` and `/readyz` answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    /// Why the server is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Health {
    pub fn new(status: &str, reason: Option<String>) -> Health {
        Health {
            status: status.to_string(),
            reason,
        }
    }
}

/// The document as JSON, made once when the router is built.
#[derive(Clone)]
pub struct Document(Bytes);

impl Document {
    pub fn new(doc: utoipa::openapi::OpenApi) -> Document {
        let mut doc = serde_json::to_value(doc).expect("an OpenAPI document is JSON");
        merge_flattened(&mut doc);
        add_common_errors(&mut doc);
        Document(Bytes::from(doc.to_string()))
    }
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()),
    summary = "This document: the API as OpenAPI 3.1, with the server's version",
    responses((status = 200, content_type = "application/json",
        description = "The OpenAPI document")))]
pub async fn serve(Extension(doc): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.0).into_response()
}

/// utoipa draws serde's `flatten` as `allOf` of the parts, where a part that denies unknown
/// fields (`additionalProperties: false`, like a signed body's fields) would refuse the other
/// parts' fields (its `signature`). serde reads the parts as one object, and a flattened part's
/// `deny_unknown_fields` does not hold there (serde passes it only the fields it names), so the
/// document says so: one open object with every part's properties.
fn merge_flattened(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    for (name, schema) in &schemas {
        let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
            continue;
        };
        let mut properties = Map::new();
        let mut required = Vec::new();
        for part in parts {
            let part = part
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .and_then(|n| schemas.get(n))
                .unwrap_or(part);
            if let Some(p) = part.get("properties").and_then(Value::as_object) {
                properties.extend(p.clone());
            }
            if let Some(r) = part.get("required").and_then(Value::as_array) {
                required.extend(r.iter().cloned());
            }
        }
        let mut merged = json!({"type": "object", "properties": properties, "required": required});
        if let Some(d) = schema.get("description") {
            merged["description"] = d.clone();
        }
        doc["components"]["schemas"][name] = merged;
    }
}

/// Errors any route may answer: a handler that failed (500), and for a body, one too slow or
/// too large.
fn add_common_errors(doc: &mut Value) {
    let error = |description: &str| {
        json!({"description": description, "content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
    };
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let has_body = op.get("requestBody").is_some();
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        responses.entry("500").or_insert_with(|| {
            error(
                "`internal_error`: the server failed while answering (logged under the \
                 request's `x-request-id`)",
            )
        });
        if has_body {
            responses
                .entry("408")
                .or_insert_with(|| error("`request_timeout`: the body did not arrive within 30 s"));
            responses
                .entry("413")
                .or_insert_with(|| error("`body_too_large`: bodies are limited to 256 KiB"));
        }
    }
}
