//! Extractors: who is calling (an agent by its bearer token, a person by a signed request or a
//! signed body) and the JSON body. Each rejects with a [`Refusal`](super::refusal::Refusal)
//! naming who was refused, so the refusal middleware can record it.

mod agent;
mod json;
mod person;
mod signed;

pub use agent::AgentCaller;
pub use json::JsonBody;
pub use person::{refuse_agents, AnyRole, Auditors, Reader};
pub use signed::SignedBy;
