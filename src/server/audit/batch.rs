//! Rows handed from the verifier's reading thread to the one checking them, in batches whose
//! text travels in one buffer: one allocation a batch rather than one a field, none of them
//! freed on the other thread.

use std::ops::Range;

pub(super) struct Batch<R> {
    text: String,
    pub rows: Vec<R>,
}

impl<R> Batch<R> {
    pub fn with_capacity(rows: usize) -> Batch<R> {
        Batch {
            text: String::new(),
            rows: Vec::with_capacity(rows),
        }
    }

    /// Keeps `s` in the batch's text; where it is.
    pub fn push_text(&mut self, s: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(s);
        start..self.text.len()
    }

    /// The text kept at `at`.
    pub fn text(&self, at: &Range<usize>) -> &str {
        &self.text[at.clone()]
    }
}
