//! `roster.toml`: the people who decide and the agents that act.

use std::collections::HashMap;
use std::ops::Range;
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
    #[serde(default)]
    acts_for: Vec<Spanned<String>>,
}

/// Actor names the audit log uses for records nobody in the roster made: a person or agent with
/// one of them would be indistinguishable from the server there.
const RESERVED_IDS: &[&str] = &["server"];

/// Longest person or agent id.
pub const MAX_ID_LEN: usize = 64;

/// Ids are plain ASCII so that two ids cannot look alike: a letter or digit, then letters,
/// digits, `.`, `_` or `-`; at most `MAX_ID_LEN` characters. (No spaces, no invisible or
/// look-alike characters; case-variants are refused separately.)
fn check_id(id: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() {
        return Err("id must not be empty".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!("id is longer than {MAX_ID_LEN} characters"));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) || !id.chars().all(plain) {
        return Err(format!(
            "id {id:?} must be plain ASCII: a letter or digit, then letters, digits, `.`, `_` or `-`"
        ));
    }
    if RESERVED_IDS.iter().any(|r| r.eq_ignore_ascii_case(id)) {
        return Err(format!(
            "id {id:?} is reserved: the audit log names the server itself so"
        ));
    }
    Ok(())
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
    /// The people this agent may act on behalf of.
    pub acts_for: Vec<String>,
}

/// Why an action's `on_behalf_of` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnBehalfOfError {
    #[error("agent \"{agent}\" may not act on behalf of {claimed:?}: {}", may_act_for(.allowed))]
    NotAllowed {
        agent: String,
        claimed: String,
        allowed: Vec<String>,
    },
    #[error("agent \"{agent}\" acts for several people ({}): name one in `on_behalf_of`", .allowed.join(", "))]
    Required { agent: String, allowed: Vec<String> },
}

fn may_act_for(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "it may act for nobody (its roster entry has no `acts_for`)".into()
    } else {
        format!("it may act for {}", allowed.join(", "))
    }
}

impl Agent {
    /// Binds what the agent says it acts for to its roster entry: an exact `acts_for` id, or,
    /// when it says nothing, its only `acts_for` person (or nobody when it has none).
    pub fn on_behalf_of(&self, claimed: Option<&str>) -> Result<Option<String>, OnBehalfOfError> {
        match (claimed, self.acts_for.as_slice()) {
            (Some(c), allowed) if allowed.iter().any(|a| a == c) => Ok(Some(c.to_string())),
            (Some(c), allowed) => Err(OnBehalfOfError::NotAllowed {
                agent: self.id.clone(),
                claimed: c.to_string(),
                allowed: allowed.to_vec(),
            }),
            (None, []) => Ok(None),
            (None, [one]) => Ok(Some(one.clone())),
            (None, allowed) => Err(OnBehalfOfError::Required {
                agent: self.id.clone(),
                allowed: allowed.to_vec(),
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Roster {
    pub people: HashMap<String, Person>,
    pub agents: Vec<Agent>,
    /// sha256 of the file as loaded, recorded in the audit log.
    pub digest: String,
}

/// Ids, keys and tokens seen so far, with where: each must be unique in the file.
struct Seen<'a> {
    src: &'a SourceFile,
    /// Lower-cased id → (entry, position), across people and agents.
    ids: HashMap<String, (String, String)>,
    /// Key or token → (entry, position).
    secrets: HashMap<String, (String, String)>,
}

impl<'a> Seen<'a> {
    fn at(&self, span: &Range<usize>) -> String {
        let (line, col) = self.src.line_col(span.start);
        format!("{}:{line}:{col}", self.src.name)
    }

    /// Checks the id's charset and that no other entry has it, in any case.
    fn id(&mut self, id: &Spanned<String>, entry: &str) -> Result<(), ConfigError> {
        let span = id.span();
        check_id(id.get_ref()).map_err(|m| self.src.error_at(span.clone(), Some(entry), &m))?;
        let folded = id.get_ref().to_ascii_lowercase();
        if let Some((other, pos)) = self.ids.get(&folded) {
            let what = if other == entry {
                format!(
                    "duplicate {} id",
                    entry.split(' ').next().unwrap_or("entry")
                )
            } else {
                "duplicate id (ids are compared ignoring case; agents and people share one namespace)"
                    .to_string()
            };
            return Err(self.src.error_at(
                span,
                Some(entry),
                &format!("{what}: {other} is at {pos}"),
            ));
        }
        let pos = self.at(&span);
        self.ids.insert(folded, (entry.to_string(), pos));
        Ok(())
    }

    /// Checks that no other entry holds this key or token (`what` names it in the error).
    fn secret(
        &mut self,
        value: String,
        span: Range<usize>,
        entry: &str,
        what: &str,
    ) -> Result<(), ConfigError> {
        if let Some((other, pos)) = self.secrets.get(&value) {
            return Err(self.src.error_at(
                span,
                Some(entry),
                &format!("duplicate {what}: {other} at {pos} has the same one; each needs its own"),
            ));
        }
        let pos = self.at(&span);
        self.secrets.insert(value, (entry.to_string(), pos));
        Ok(())
    }
}

impl Roster {
    pub fn load(path: &Path) -> Result<Roster, ConfigError> {
        let src = SourceFile::read(path)?;
        Self::parse(&src)
    }

    pub fn parse(src: &SourceFile) -> Result<Roster, ConfigError> {
        let file: RosterFile = src.deserialize()?;
        let mut seen = Seen {
            src,
            ids: HashMap::new(),
            secrets: HashMap::new(),
        };
        let mut people = HashMap::new();
        for p in file.person {
            let id = p.id.get_ref().clone();
            let entry = format!("person {id:?}");
            seen.id(&p.id, &entry)?;
            let key = PublicKey::parse(p.key.get_ref()).map_err(|e| {
                src.error_at(p.key.span(), Some(&entry), &format!("malformed key: {e}"))
            })?;
            seen.secret(key.to_string(), p.key.span(), &entry, "key")?;
            let info = PersonInfo {
                name: p.name.unwrap_or_else(|| id.clone()),
                id: id.clone(),
                roles: p.roles,
                groups: p.groups,
            };
            people.insert(id, Person { info, key });
        }
        let mut agents: Vec<Agent> = Vec::new();
        for a in file.agent {
            let id = a.id.get_ref().clone();
            let entry = format!("agent {id:?}");
            seen.id(&a.id, &entry)?;
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
            seen.secret(
                format!("token:{}", hex::encode(token_sha256)),
                a.token_sha256.span(),
                &entry,
                "token_sha256",
            )?;
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
            let mut acts_for: Vec<String> = Vec::new();
            for p in a.acts_for {
                let problem = if !people.contains_key(p.get_ref()) {
                    "is not a person in the roster"
                } else if acts_for.contains(p.get_ref()) {
                    "is named twice"
                } else {
                    acts_for.push(p.into_inner());
                    continue;
                };
                return Err(src.error_at(
                    p.span(),
                    Some(&entry),
                    &format!("acts_for: {:?} {problem}", p.get_ref()),
                ));
            }
            agents.push(Agent {
                id,
                owner,
                token_sha256,
                acts_for,
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
