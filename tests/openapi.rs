//! `GET /openapi.json` against the server it describes: a real server on a loopback port, real
//! HTTP, real signatures. The document's routes are the router's; the bodies the server takes
//! and answers fit the document's schemas; the bodies the schemas refuse, the server refuses.

mod common;

#[path = "openapi/bodies.rs"]
mod bodies;
#[path = "openapi/routes.rs"]
mod routes;
#[path = "openapi/spec.rs"]
mod spec;
#[path = "openapi/stream.rs"]
mod stream;
#[path = "openapi/traffic.rs"]
mod traffic;
