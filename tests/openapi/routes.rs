//! The document's routes are the router's: every documented operation is served (its
//! unauthenticated answer is one it documents, never the fallback), no other method is served on
//! a documented path, and routes are registered only through the list the document is made from.

use reqwest::Method;
use serde_json::Value;

use crate::common::{Env, POLICY};
use crate::spec::{call, Auth, Spec};

#[tokio::test]
async fn the_document_is_public_openapi_3_1_with_the_servers_version_and_built_once() {
    let env = Env::start(POLICY).await;
    let spec = Spec::fetch(&env).await;
    assert_eq!(spec.doc["openapi"], "3.1.0");
    assert_eq!(spec.doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let schemes = &spec.doc["components"]["securitySchemes"];
    assert_eq!(schemes["agent_token"]["scheme"], "bearer");
    for (name, header) in [
        ("gavel_person", "x-gavel-person"),
        ("gavel_time", "x-gavel-time"),
        ("gavel_signature", "x-gavel-signature"),
    ] {
        assert_eq!(schemes[name]["in"], "header", "{name}");
        assert_eq!(schemes[name]["name"], header, "{name}");
    }
    // The schemas resolve and bite: an answer missing its required fields does not fit.
    let outcome = spec.validator(&spec.component("ActionOutcome"));
    assert!(!outcome.is_valid(&serde_json::json!({"id": "act_1"})));
    assert!(outcome.is_valid(
        &serde_json::json!({"id": "act_1", "verdict": "deny", "rule": null, "reason": "no"})
    ));
    assert!(
        !outcome.is_valid(&serde_json::json!({"id": "act_1", "verdict": "maybe", "reason": "no"}))
    );
    let again = Spec::fetch(&env).await;
    assert_eq!(spec.doc, again.doc);
    // An agent's token changes nothing: the document is the same for everyone.
    let answer = call(
        &env,
        &spec,
        Method::GET,
        "/openapi.json",
        Auth::Agent("refund-bot"),
        None,
    )
    .await;
    assert_eq!(answer.body, spec.doc);
}

#[tokio::test]
async fn every_operation_says_how_it_authenticates_and_how_it_fails() {
    let env = Env::start(POLICY).await;
    let spec = Spec::fetch(&env).await;
    for (method, path) in spec.operations() {
        let op = &spec.doc["paths"][&path][&method];
        let security = op["security"].as_array().unwrap_or_else(|| {
            panic!("{method} {path} does not say how it authenticates");
        });
        let schemes: Vec<&str> = security
            .iter()
            .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
            .collect();
        let signed_body = op["requestBody"].is_object();
        if path.starts_with("/v1/actions") {
            assert_eq!(schemes, ["agent_token"], "{method} {path}");
        } else if path.starts_with("/v1/") && method == "get" && path != "/v1/stream" {
            assert_eq!(
                schemes,
                ["gavel_person", "gavel_signature", "gavel_time"],
                "{method} {path}"
            );
        } else {
            // Public, or a body that carries its own signature, or the stream's challenge.
            assert!(schemes.is_empty(), "{method} {path}: {schemes:?}");
        }
        if signed_body && !path.starts_with("/v1/actions") {
            let body = spec.resolve(&op["requestBody"]["content"]["application/json"]["schema"]);
            assert!(
                body["required"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from("signature")),
                "{method} {path}: a signed body without a required signature"
            );
        }
        // Every failure is the one error shape (a 503 from `/readyz` is a health answer).
        assert!(op["responses"]["500"].is_object(), "{method} {path}");
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.as_str() < "400" || path == "/readyz" {
                continue;
            }
            let schema = &response["content"]["application/json"]["schema"];
            assert_eq!(
                schema["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path} {status}"
            );
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method_is() {
    let env = Env::start(POLICY).await;
    let spec = Spec::fetch(&env).await;
    let ops = spec.operations();
    assert!(ops.len() >= 17, "{ops:?}");
    for (method, template) in &ops {
        let path = template.replace(['{', '}'], "");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // `call` fails on an answer the operation does not document.
        let answer = call(&env, &spec, method.clone(), &path, Auth::None, None).await;
        assert!(
            !(answer.status == 404 && answer.body.to_string().contains("no such endpoint")),
            "{method} {template} is documented but not served"
        );
    }
    for template in spec.doc["paths"].as_object().unwrap().keys() {
        let path = template.replace(['{', '}'], "");
        let documented = spec.doc["paths"][template].as_object().unwrap();
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            if documented.contains_key(&method.as_str().to_lowercase()) {
                continue;
            }
            let resp = reqwest::Client::new()
                .request(method.clone(), format!("{}{path}", env.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                405,
                "{method} {template} is served but not documented"
            );
        }
    }
    for undocumented in ["/", "/v1", "/v1/admin", "/v1/actions/x/y", "/openapi.yaml"] {
        assert_eq!(spec.template(undocumented), None);
        let resp = reqwest::get(format!("{}{undocumented}", env.url()))
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{undocumented}");
    }
}

/// The router is made from the one documented list (`api()` in `src/server/http/mod.rs`): no
/// route is added to it any other way.
#[test]
fn routes_are_registered_only_through_the_documented_list() {
    let src = include_str!("../../src/server/http/mod.rs");
    let code: String = src
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.split("#[cfg(test)]").next().unwrap();
    for way in [
        ".route(",
        ".route_service(",
        ".nest(",
        ".nest_service(",
        ".merge(",
    ] {
        assert!(
            !code.contains(way),
            "src/server/http/mod.rs adds a route with `{way}`: add it to `api()` with \
             `routes!` and a `#[utoipa::path]` instead"
        );
    }
    assert!(code.contains("api().split_for_parts()"));
}
