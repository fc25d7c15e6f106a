//! The served document, and a caller that checks every answer against it: each status must be
//! one the operation documents, each JSON answer must fit that status's schema.

use gavel::protocol::signing::Purpose;
use gavel::protocol::{now_rfc3339, PersonKey, SignedRequest};
use gavel::protocol::{HEADER_PERSON, HEADER_SIGNATURE, HEADER_TIME};
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::Env;

/// How a request authenticates.
pub enum Auth<'a> {
    None,
    Agent(&'a str),
    /// A signed read by this person.
    Person(&'a PersonKey),
}

pub struct Spec {
    pub doc: Value,
}

/// An answer: its status and its body (JSON, or the text as a string).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Spec {
    /// The document as the server serves it, to anyone.
    pub async fn fetch(env: &Env) -> Spec {
        let resp = reqwest::get(format!("{}/openapi.json", env.url()))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        Spec {
            doc: resp.json().await.unwrap(),
        }
    }

    /// Each documented (method, path template), e.g. ("post", "/v1/actions").
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut ops = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                ops.push((method.clone(), path.clone()));
            }
        }
        ops
    }

    /// The template that a concrete path matches (`{x}` matches one segment).
    pub fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap();
        let segs: Vec<&str> = path.split('/').collect();
        self.doc["paths"].as_object().unwrap().keys().find_map(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            let fits = ts.len() == segs.len()
                && ts
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()));
            fits.then(|| t.clone())
        })
    }

    pub fn operation(&self, method: &Method, path: &str) -> &Value {
        let template = self
            .template(path)
            .unwrap_or_else(|| panic!("{path} is not in the document"));
        let op = &self.doc["paths"][&template][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {template} is not in the document");
        op
    }

    /// A validator of `schema`, whose `$ref`s resolve in the document's components, and which
    /// holds strings to their `format` (a `date-time` must be RFC 3339).
    pub fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let mut root = schema.clone();
        root["components"] = self.doc["components"].clone();
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("not a JSON Schema: {e}\n{schema}"))
    }

    /// The schema of a component, e.g. `ActionRequest`.
    pub fn component(&self, name: &str) -> Value {
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// The request body schema of an operation.
    pub fn request_schema(&self, method: &Method, path: &str) -> Value {
        let schema =
            &self.operation(method, path)["requestBody"]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{method} {path} documents no JSON body");
        schema.clone()
    }

    /// The component a request body schema names, resolved.
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.strip_prefix("#/components/schemas/").unwrap();
                &self.doc["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    pub fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let v = self.validator(schema);
        v.iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// The answer fits the document: its status is documented for the operation and its JSON
    /// body fits that status's schema.
    pub fn check_answer(&self, method: &Method, path: &str, answer: &Answer) {
        let op = self.operation(method, path);
        let response = &op["responses"][answer.status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path} answered {}, which it does not document: {}",
            answer.status,
            answer.body
        );
        if let Some(schema) = response["content"]["application/json"]["schema"].as_object() {
            let errors = self.errors(&Value::Object(schema.clone()), &answer.body);
            assert!(
                errors.is_empty(),
                "{method} {path} {} answer does not fit its schema: {errors:?}\n{}",
                answer.status,
                answer.body
            );
        }
    }

    pub fn check_request(&self, method: &Method, path: &str, body: &Value) {
        let errors = self.errors(&self.request_schema(method, path), body);
        assert!(
            errors.is_empty(),
            "{method} {path} request does not fit its schema: {errors:?}\n{body}"
        );
    }
}

/// Sends a request as-is and checks the answer against the document.
pub async fn call(
    env: &Env,
    spec: &Spec,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<&Value>,
) -> Answer {
    let http = reqwest::Client::new();
    let mut req = http.request(method.clone(), format!("{}{path}", env.url()));
    match auth {
        Auth::None => {}
        Auth::Agent(agent) => req = req.bearer_auth(env.token(agent)),
        Auth::Person(key) => {
            let signed = SignedRequest {
                method: method.as_str().to_string(),
                path: path.to_string(),
                person: key.id.clone(),
                time: now_rfc3339(),
            };
            req = req
                .header(HEADER_PERSON, &signed.person)
                .header(HEADER_TIME, &signed.time)
                .header(HEADER_SIGNATURE, key.sign(Purpose::Request, &signed));
        }
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    let answer = Answer { status, body };
    spec.check_answer(&method, path, &answer);
    answer
}

/// Sends a body that must fit the document and be accepted (200); returns the answer's body.
pub async fn accepted(
    env: &Env,
    spec: &Spec,
    method: Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<&Value>,
) -> Value {
    if let Some(b) = body {
        spec.check_request(&method, path, b);
    }
    let answer = call(env, spec, method.clone(), path, auth, body).await;
    assert_eq!(answer.status, 200, "{method} {path}: {}", answer.body);
    answer.body
}

/// `body` (without its `signature`) signed for `purpose` by `key`.
pub fn signed(key: &PersonKey, purpose: Purpose, mut body: Value) -> Value {
    body.as_object_mut().unwrap().remove("signature");
    let signature = key.sign(purpose, &body);
    body["signature"] = Value::String(signature);
    body
}
