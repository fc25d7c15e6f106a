//! `roster.toml`: the people who decide and the agents that act.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{ConfigError, SourceFile};
use crate::protocol::canonical::sha256_hex;
use crate::protocol::{AgentInfo, PersonInfo, PublicKey, Role};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default)]
    person: Vec<PersonSpec>,
    #[serde(default)]
    agent: Vec<AgentSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonSpec {
    id: Spanned<String>,
    #[serde(default)]
    name: Option<String>,
    key: Spanned<String>,
    #[serde(default)]
    roles: Vec<Role>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentSpec {
    id: Spanned<String>,
    #[serde(default)]
    owner: Option<Spanned<String>>,
    token_sha256: Spanned<String>,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub info: PersonInfo,
    pub key: PublicKey,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub owner: Option<String>,
    pub token_sha256: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct Roster {
    pub people: HashMap<String, Person>,
    pub agents: Vec<Agent>,
    /// sha256 of the file as loaded, recorded in the audit log.
    pub digest: String,
}

impl Roster {
    pub fn load(path: &Path) -> Result<Roster, ConfigError> {
        let src = SourceFile::read(path)?;
        Self::parse(&src)
    }

    pub fn parse(src: &SourceFile) -> Result<Roster, ConfigError> {
        let file: RosterFile = src.deserialize()?;
        let mut people = HashMap::new();
        for p in file.person {
            let id = p.id.get_ref().clone();
            let entry = format!("person \"{id}\"");
            if id.is_empty() {
                return Err(src.error_at(p.id.span(), Some(&entry), "id must not be empty"));
            }
            let key = PublicKey::parse(p.key.get_ref()).map_err(|e| {
                src.error_at(p.key.span(), Some(&entry), &format!("malformed key: {e}"))
            })?;
            let info = PersonInfo {
                name: p.name.unwrap_or_else(|| id.clone()),
                id: id.clone(),
                roles: p.roles,
                groups: p.groups,
            };
            if people.insert(id.clone(), Person { info, key }).is_some() {
                return Err(src.error_at(p.id.span(), Some(&entry), "duplicate person id"));
            }
        }
        let mut agents: Vec<Agent> = Vec::new();
        for a in file.agent {
            let id = a.id.get_ref().clone();
            let entry = format!("agent \"{id}\"");
            if id.is_empty() {
                return Err(src.error_at(a.id.span(), Some(&entry), "id must not be empty"));
            }
            if agents.iter().any(|x| x.id == id) || people.contains_key(&id) {
                return Err(src.error_at(
                    a.id.span(),
                    Some(&entry),
                    "duplicate id (agents and people share one namespace)",
                ));
            }
            let token_sha256: [u8; 32] = hex::decode(a.token_sha256.get_ref().trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    src.error_at(
                        a.token_sha256.span(),
                        Some(&entry),
                        "token_sha256 must be 64 hex digits (printed by `gavel agent-token`)",
                    )
                })?;
            if agents.iter().any(|x| x.token_sha256 == token_sha256) {
                return Err(src.error_at(
                    a.token_sha256.span(),
                    Some(&entry),
                    "duplicate token_sha256",
                ));
            }
            let owner = match a.owner {
                Some(o) if !people.contains_key(o.get_ref()) => {
                    return Err(src.error_at(
                        o.span(),
                        Some(&entry),
                        &format!("owner \"{}\" is not a person in the roster", o.get_ref()),
                    ))
                }
                o => o.map(|o| o.into_inner()),
            };
            agents.push(Agent {
                id,
                owner,
                token_sha256,
            });
        }
        Ok(Roster {
            people,
            agents,
            digest: sha256_hex(src.text.as_bytes()),
        })
    }

    /// Finds the agent whose token hashes to `token_sha256`, comparing every entry in constant time.
    pub fn agent_by_token(&self, token: &str) -> Option<&Agent> {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for a in &self.agents {
            if bool::from(a.token_sha256.ct_eq(&digest)) {
                found = Some(a);
            }
        }
        found
    }

    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    pub fn person(&self, id: &str) -> Option<&Person> {
        self.people.get(id)
    }

    /// Groups that have at least `n` approvers.
    pub fn approvers_in(&self, group: &str) -> usize {
        self.people
            .values()
            .filter(|p| p.info.has_role(Role::Approver) && p.info.groups.iter().any(|g| g == group))
            .count()
    }

    pub fn agent_infos(&self) -> Vec<AgentInfo> {
        let mut v: Vec<AgentInfo> = self
            .agents
            .iter()
            .map(|a| AgentInfo {
                id: a.id.clone(),
                owner: a.owner.clone(),
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}
