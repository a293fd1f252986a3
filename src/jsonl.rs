//! JSON Lines input: one value per line, each parse error located at `file:line:column`.
//!
//! Owns turning a serde_json error on one line into a [`Diagnostic`] a person can act on
//! (with a "did you mean" for misspelt fields). Streams: callers hand it one line at a time,
//! so input of any length is read in bounded memory. It holds no format of its own.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::diag::{Code, Diagnostic, Pos, did_you_mean};

/// What [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The end of the input.
    Eof,
    /// A line (with its newline, unless it is the last and has none) is in the buffer.
    Line,
    /// A line longer than the limit: skipped to its end without being kept.
    TooLong,
}

/// Read one line into `buf`, keeping at most `max` bytes of it: a longer line (a 200 MB
/// line, `/dev/zero`) is skipped to its newline in bounded memory and reported as
/// [`Read::TooLong`], so the caller can say which line and go on.
pub fn read_line(r: &mut (impl std::io::BufRead + ?Sized), buf: &mut Vec<u8>, max: usize) -> std::io::Result<Read> {
    buf.clear();
    let (mut any, mut over) = (false, false);
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match (any, over) {
                (false, _) => Read::Eof,
                (true, true) => Read::TooLong,
                (true, false) => Read::Line,
            });
        }
        any = true;
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !over {
            if buf.len() + take > max.saturating_add(1) {
                over = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            return Ok(if over { Read::TooLong } else { Read::Line });
        }
    }
}

/// The diagnostic for a line past [`crate::limits::MAX_LINE_BYTES`].
pub fn too_long(file: &Path, line_no: usize) -> Diagnostic {
    Diagnostic::error(
        Code::TooLarge,
        file,
        Some(Pos { line: line_no, col: 1 }),
        format!("line is longer than {}", crate::limits::bytes(crate::limits::MAX_LINE_BYTES as u64)),
    )
    .with_hint("one record per line; is this a JSON Lines file (or a file with no newlines at all)?")
}

/// Parse one line (1-based `line_no`) of a JSON Lines file.
pub fn parse_line<T: DeserializeOwned>(file: &Path, line_no: usize, text: &str) -> Result<T, Diagnostic> {
    serde_json::from_str::<T>(text).map_err(|e| from_json_error(file, line_no, text, &e))
}

/// A serde_json error on line `line_no` → a located diagnostic.
pub fn from_json_error(file: &Path, line_no: usize, text: &str, e: &serde_json::Error) -> Diagnostic {
    use serde_json::error::Category;
    let col = if e.column() == 0 { 1 } else { e.column() };
    let pos = Some(Pos { line: line_no + e.line().saturating_sub(1), col });
    let msg = strip_location(&e.to_string());
    let code = match e.classify() {
        Category::Syntax | Category::Eof => Code::Syntax,
        Category::Io => Code::Io,
        Category::Data if msg.starts_with("unknown field") => Code::UnknownField,
        Category::Data if msg.starts_with("missing field") => Code::MissingField,
        Category::Data if msg.starts_with("invalid type") => Code::WrongType,
        Category::Data => Code::BadValue,
    };
    let mut d = Diagnostic::error(code, file, pos, msg.clone());
    if code == Code::UnknownField
        && let Some((word, expected)) = unknown_field_parts(&msg)
    {
        d = match did_you_mean(&word, expected.iter().map(String::as_str)) {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None => d.with_hint(format!("allowed fields: {}", expected.join(", "))),
        };
    } else if code == Code::Syntax && matches!(e.classify(), Category::Eof) {
        d = d.with_hint("the line ends early: was the file truncated or a record split across lines?");
    } else if code == Code::Syntax && text.trim_start().starts_with(['-', '#']) {
        d = d.with_hint("this looks like YAML; this input is JSON Lines, one JSON object per line");
    } else if code == Code::Syntax {
        d = d.with_hint("each line must be one complete JSON object");
    }
    d
}

fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// serde's message "unknown field `x`, expected one of `a`, `b`" → ("x", ["a", "b"]).
fn unknown_field_parts(msg: &str) -> Option<(String, Vec<String>)> {
    let mut parts = msg.split('`').skip(1).step_by(2).map(str::to_string);
    let word = parts.next()?;
    Some((word, parts.collect()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_line_past_the_limit_is_skipped_in_bounded_memory_and_the_next_read() {
        let input = b"{\"a\":1}\nxxxxxxxxxxxxxxxxxxxx\n{\"b\":2}";
        let mut r = std::io::BufReader::with_capacity(4, &input[..]);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        loop {
            match super::read_line(&mut r, &mut buf, 10).unwrap() {
                super::Read::Eof => break,
                k => got.push((k, String::from_utf8(buf.clone()).unwrap())),
            }
            assert!(buf.capacity() <= 64, "bounded");
        }
        assert_eq!(
            got,
            [
                (super::Read::Line, "{\"a\":1}\n".to_string()),
                (super::Read::TooLong, String::new()),
                (super::Read::Line, "{\"b\":2}".to_string())
            ]
        );
    }

    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rec {
        confidence: f64,
        service: String,
    }

    #[test]
    fn unknown_field_gets_a_hint_and_a_column() {
        let d = parse_line::<Rec>(Path::new("in.jsonl"), 7, r#"{"service":"a","confidense":0.9}"#).unwrap_err();
        assert_eq!(d.code, Code::UnknownField);
        assert_eq!(d.pos.unwrap().line, 7);
        assert_eq!(d.hint.as_deref(), Some("did you mean `confidence`?"));
    }

    #[test]
    fn truncated_line_says_so() {
        let d = parse_line::<Rec>(Path::new("in.jsonl"), 3, r#"{"service":"a","conf"#).unwrap_err();
        assert_eq!(d.code, Code::Syntax);
        assert!(d.hint.unwrap().contains("truncated"));
    }
}
