//! Tool and agent name patterns: dotted-name globs.
//!
//! A name is read as segments separated by `.` (`stripe.refund.get` has three). In a pattern,
//! `*`, `?` and `[...]` match within one segment and never cross a `.`; a segment that is
//! exactly `**` matches any number of whole segments, none included. So `*.get` matches
//! `orders.get` but not `stripe.refund.get`, `stripe.*` matches `stripe.refund` but not
//! `stripe.refund.get`, and `stripe.**` matches both (and `stripe` itself).

use std::fmt;

#[derive(Clone)]
enum Segment {
    /// `**`: any number of segments.
    Any,
    /// A segment without glob characters, compared as text.
    Literal(String),
    One(glob::Pattern),
}

impl Segment {
    fn matches(&self, name: &str) -> bool {
        match self {
            Segment::Any => true,
            Segment::Literal(l) => l == name,
            Segment::One(p) => p.matches(name),
        }
    }
}

#[derive(Clone)]
pub struct NameGlob {
    text: String,
    segments: Vec<Segment>,
    /// No `**`: the name must have exactly as many segments.
    fixed: bool,
    /// Exactly `**`: every name.
    all: bool,
}

impl fmt::Debug for NameGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameGlob({:?})", self.text)
    }
}

impl NameGlob {
    pub fn new(text: &str) -> Result<NameGlob, String> {
        if text.is_empty() {
            return Err("an empty pattern".into());
        }
        let mut segments = Vec::new();
        for seg in text.split('.') {
            if seg.is_empty() {
                return Err(format!(
                    "`{text}` has an empty segment (two dots, or a dot at an end)"
                ));
            }
            if seg == "**" {
                segments.push(Segment::Any);
                continue;
            }
            if seg.contains("**") {
                return Err(format!(
                    "`{text}`: `**` must be a whole segment, as in `stripe.**`"
                ));
            }
            let p = glob::Pattern::new(seg).map_err(|e| format!("`{text}`: {e}"))?;
            if seg.contains(['*', '?', '[', ']']) {
                segments.push(Segment::One(p));
            } else {
                segments.push(Segment::Literal(seg.to_string()));
            }
        }
        let fixed = segments.iter().all(|s| !matches!(s, Segment::Any));
        let all = segments.iter().all(|s| matches!(s, Segment::Any));
        Ok(NameGlob {
            text: text.to_string(),
            segments,
            fixed,
            all,
        })
    }

    /// The pattern that matches every name.
    pub fn everything() -> NameGlob {
        NameGlob {
            text: "**".into(),
            segments: vec![Segment::Any],
            fixed: false,
            all: true,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, name: &str) -> bool {
        self.matches_segments(&Segments::of(name))
    }

    /// Matches a name already split by [`Segments::of`] (split once, matched against many).
    pub fn matches_segments(&self, name: &Segments<'_>) -> bool {
        let names = &name.0;
        if self.all {
            return true;
        }
        if self.fixed {
            return names.len() == self.segments.len()
                && self.segments.iter().zip(names).all(|(s, n)| s.matches(n));
        }
        // reach[j]: the pattern so far can consume exactly the first j name segments.
        let mut reach = vec![false; names.len() + 1];
        reach[0] = true;
        for seg in &self.segments {
            match seg {
                Segment::Any => {
                    for j in 1..reach.len() {
                        reach[j] = reach[j] || reach[j - 1];
                    }
                }
                one => {
                    for j in (1..reach.len()).rev() {
                        reach[j] = reach[j - 1] && one.matches(names[j - 1]);
                    }
                    reach[0] = false;
                }
            }
        }
        reach[names.len()]
    }
}

/// A name split into its dot-separated segments.
pub struct Segments<'a>(Vec<&'a str>);

impl<'a> Segments<'a> {
    pub fn of(name: &'a str) -> Segments<'a> {
        Segments(name.split('.').collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        NameGlob::new(p).unwrap().matches(n)
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(m("*.get", "orders.get"));
        assert!(!m("*.get", "stripe.refund.get"));
        assert!(!m("*.get", "get"));
        assert!(m("stripe.*", "stripe.refund"));
        assert!(!m("stripe.*", "stripe.refund.get"));
        assert!(!m("stripe.*", "stripe"));
        assert!(m("mcp.files.read_*", "mcp.files.read_text_file"));
        assert!(!m("mcp.files.read_*", "mcp.files.read_x.write"));
        assert!(m("mcp__github__create_*", "mcp__github__create_issue"));
        assert!(m("svc?.get", "svc1.get"));
        assert!(!m("svc?.get", "svc.x.get"));
        assert!(m("Read", "Read"));
        assert!(!m("Read", "read"));
        assert!(m("*", "refund-bot"));
        assert!(!m("*", "a.b"));
    }

    #[test]
    fn double_star_crosses_segments() {
        assert!(m("stripe.**", "stripe"));
        assert!(m("stripe.**", "stripe.refund"));
        assert!(m("stripe.**", "stripe.refund.get"));
        assert!(!m("stripe.**", "stripes.refund"));
        assert!(m("**.get", "stripe.refund.get"));
        assert!(m("**.get", "get"));
        assert!(m("a.**.z", "a.z"));
        assert!(m("a.**.z", "a.b.c.z"));
        assert!(!m("a.**.z", "a.b.c"));
        assert!(m("**", "anything.at.all"));
        assert!(NameGlob::everything().matches("x.y.z"));
        assert!(m("**.**.x", "x"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in ["", "a..b", ".a", "a.", "a**", "**b.c", "a.[", "a.[x.y]"] {
            assert!(NameGlob::new(p).is_err(), "{p}");
        }
    }
}
