//! The filter's text as a case-insensitive search, folded once per list rather than once per
//! field of every row: a queue of 10,000 escalations is filtered on every key and every frame,
//! and lowercasing five fields of each row into new strings cost several milliseconds.

/// What the filter looks for, lowercased.
pub struct Needle {
    folded: String,
}

impl Needle {
    /// `None` for an empty filter: everything matches.
    pub fn new(filter: &str) -> Option<Needle> {
        (!filter.is_empty()).then(|| Needle {
            folded: filter.to_lowercase(),
        })
    }

    /// Whether `hay`, lowercased, contains the filter, lowercased. ASCII text (nearly every id,
    /// agent and tool) is searched in place; anything else is lowercased as before.
    pub fn found_in(&self, hay: &str) -> bool {
        if hay.is_ascii() && self.folded.is_ascii() {
            return found_ascii(hay.as_bytes(), self.folded.as_bytes());
        }
        hay.to_lowercase().contains(self.folded.as_str())
    }

    /// Whether any of `fields` contains the filter.
    pub fn in_any(&self, fields: &[&str]) -> bool {
        fields.iter().any(|f| self.found_in(f))
    }
}

/// `needle` (lowercase ASCII, not empty) in `hay` (ASCII) ignoring case: a plain loop, since
/// the fields are a few bytes long and a general string search costs more to set up.
fn found_ascii(hay: &[u8], needle: &[u8]) -> bool {
    let Some(last) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    let (first, rest) = (needle[0], &needle[1..]);
    (0..=last).any(|i| {
        hay[i].to_ascii_lowercase() == first
            && hay[i + 1..i + needle.len()]
                .iter()
                .zip(rest)
                .all(|(h, n)| h.to_ascii_lowercase() == *n)
    })
}

#[cfg(test)]
mod tests {
    use super::Needle;

    fn found(filter: &str, hay: &str) -> bool {
        Needle::new(filter).unwrap().found_in(hay)
    }

    #[test]
    fn matches_as_lowercasing_both_would() {
        let cases = [
            ("db", "db-agent"),
            ("DB", "db-agent"),
            ("db", "DB-Agent"),
            ("Agent", "db-AGENT"),
            ("x", "db-agent"),
            ("agent-", "db-agent"),
            ("ß", "STRASSE"),
            ("straße", "Straße"),
            ("ÉTÉ", "été"),
            // The Kelvin sign lowercases to an ASCII k.
            ("\u{212a}", "kelvin"),
            ("k", "\u{212a}elvin"),
            ("İ", "i̇stanbul"),
            ("long needle", "short"),
        ];
        for (filter, hay) in cases {
            assert_eq!(
                found(filter, hay),
                hay.to_lowercase().contains(&filter.to_lowercase()),
                "{filter:?} in {hay:?}"
            );
        }
        assert!(Needle::new("").is_none());
    }
}
