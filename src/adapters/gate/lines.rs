//! Reading the client's lines with a size limit, so one endless line cannot exhaust memory.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Longest client line the gate reads (an MCP `tools/call` is far smaller; gavel's own limit
/// on an action is 256 KiB). Longer lines are skipped unread, up to their `\n`.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, with its `\n` unless the input ended without one.
    Complete(Vec<u8>),
    /// A line longer than the limit, skipped; its length in bytes.
    TooLong(usize),
    Eof,
}

pub async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut skipped = 0usize;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (skipped, line.is_empty()) {
                (0, true) => Line::Eof,
                (0, false) => Line::Complete(line),
                (n, _) => Line::TooLong(n),
            });
        }
        let (chunk, ends) = match memchr(buf) {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if skipped == 0 && line.len() + n <= max {
            line.extend_from_slice(chunk);
        } else {
            skipped = skipped.max(line.len()) + n;
            line = Vec::new();
        }
        reader.consume(n);
        if ends {
            return Ok(if skipped == 0 {
                Line::Complete(line)
            } else {
                Line::TooLong(skipped)
            });
        }
    }
}

fn memchr(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn all(input: &[u8], max: usize) -> Vec<Line> {
        // A tiny buffer so lines span many reads.
        let mut r = BufReader::with_capacity(3, input);
        let mut out = Vec::new();
        loop {
            let l = next_line(&mut r, max).await.unwrap();
            let eof = l == Line::Eof;
            out.push(l);
            if eof {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn long_lines_are_skipped_and_reading_goes_on() {
        let got = all(b"short\nthis one is too long\nok\nlast", 10).await;
        assert_eq!(
            got,
            vec![
                Line::Complete(b"short\n".to_vec()),
                Line::TooLong(21),
                Line::Complete(b"ok\n".to_vec()),
                Line::Complete(b"last".to_vec()),
                Line::Eof,
            ]
        );
        assert_eq!(
            all(b"0123456789\n", 11).await[0],
            Line::Complete(b"0123456789\n".to_vec())
        );
        assert_eq!(all(b"0123456789\n", 10).await[0], Line::TooLong(11));
        assert_eq!(
            all(b"endless without newline", 5).await[0],
            Line::TooLong(23)
        );
        assert_eq!(all(b"", 5).await, vec![Line::Eof]);
    }
}
