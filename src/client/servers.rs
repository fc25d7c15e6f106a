//! The servers a client may talk to: one gavel, or several identical replicas of one (any
//! replica takes any request). Given as repeated `--server` flags, a comma-separated
//! `GAVEL_SERVER`, or a config file's `server`, in the order they are tried — as libpq takes
//! `host=a,b` and etcd's clients take `--endpoints`.

use super::ClientError;
use crate::protocol::inert;

/// A checked, non-empty list of server base URLs (`http://` or `https://`, no trailing `/`),
/// each listed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Servers(Vec<String>);

impl Servers {
    /// `values` as given, each holding one URL or several separated by commas. Whitespace
    /// around a URL is ignored. An empty entry (`a,,b`, a trailing comma), a URL listed twice
    /// (also as `http://A:7878/` beside `http://a:7878`) and anything not an `http://` or
    /// `https://` server address are refused: a typo in a failover list must not silently
    /// leave a replica out.
    pub fn parse<S: AsRef<str>>(values: &[S]) -> Result<Servers, ClientError> {
        let mut urls: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for value in values {
            let value = value.as_ref();
            for entry in value.split(',') {
                let entry = entry.trim();
                if entry.is_empty() {
                    return Err(ClientError::Config(format!(
                        "the server list `{}` has an empty entry: separate URLs with single \
                         commas, without one at the end",
                        inert(value)
                    )));
                }
                let same = checked(entry)?;
                if seen.contains(&same) {
                    return Err(ClientError::Config(format!(
                        "server `{}` is listed twice: list each replica once",
                        inert(entry)
                    )));
                }
                seen.push(same);
                urls.push(entry.trim_end_matches('/').to_string());
            }
        }
        if urls.is_empty() {
            return Err(ClientError::Config(
                "no server URL given (expected e.g. https://gavel.example:7878)".into(),
            ));
        }
        Ok(Servers(urls))
    }

    /// One server, unchecked: for tests and in-process use ([`super::Client::new`]).
    pub fn one(base: &str) -> Servers {
        Servers(vec![base.trim_end_matches('/').to_string()])
    }

    /// The base URLs, in the order given.
    pub fn urls(&self) -> &[String] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: a list is refused when empty. (Clippy asks for it beside `len`.)
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Servers {
    /// As `GAVEL_SERVER` takes them: comma-separated.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// `entry` checked as a server address; returns its normalised form, by which two spellings
/// of one server compare equal.
fn checked(entry: &str) -> Result<String, ClientError> {
    let url = reqwest::Url::parse(entry).map_err(|e| bad_url(entry, &e))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad_url(entry, &"not an http:// or https:// server address"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

pub(super) fn bad_url(base: &str, e: &dyn std::fmt::Display) -> ClientError {
    ClientError::Config(format!(
        "bad server URL `{}`: {e} (expected e.g. https://gavel.example:7878)",
        inert(base)
    ))
}

/// `http://host:port` → `host:port`: how the console names the replica it is on.
pub fn host_port(base: &str) -> &str {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .unwrap_or(base);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(values: &[&str]) -> Result<Vec<String>, String> {
        Servers::parse(values)
            .map(|s| s.urls().to_vec())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_url_is_a_list_of_one_as_before() {
        assert_eq!(
            parsed(&["http://127.0.0.1:7878/"]).unwrap(),
            ["http://127.0.0.1:7878"]
        );
    }

    #[test]
    fn flags_and_commas_combine_in_order_trimmed() {
        assert_eq!(
            parsed(&[" https://a:7878 , https://b:7878", "http://c:1/gavel/"]).unwrap(),
            ["https://a:7878", "https://b:7878", "http://c:1/gavel"]
        );
    }

    #[test]
    fn empty_entries_duplicates_and_non_http_are_refused_by_name() {
        for (values, says) in [
            (&["http://a:1,,http://b:1"][..], "empty entry"),
            (&["http://a:1,"][..], "empty entry"),
            (&[" "][..], "empty entry"),
            (&[][..], "no server URL"),
            (&["http://a:1", "http://A:1/"][..], "listed twice"),
            (&["http://a:80,http://a"][..], "listed twice"),
            (&["ftp://a:1"][..], "not an http"),
            (&["http://a:1?x=1"][..], "not an http"),
            (&["a:1"][..], "bad server URL"),
        ] {
            let e = parsed(values).expect_err(&format!("{values:?} refused"));
            assert!(e.contains(says), "{values:?}: {e}");
        }
        // Another path on the same host is another server (a proxy's prefixes).
        assert_eq!(parsed(&["http://p/a,http://p/b"]).unwrap().len(), 2);
    }

    #[test]
    fn a_replica_is_named_by_host_and_port() {
        assert_eq!(host_port("https://g.example:7878"), "g.example:7878");
        assert_eq!(host_port("http://[::1]:7878/gavel"), "[::1]:7878");
    }
}
