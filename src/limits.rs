//! Input limits, stated in one place: every loader enforces these, and past one it fails
//! with a diagnostic naming the file, the line and the limit (exit 2), never by running out
//! of memory or time.
//!
//! Owns the numbers only; each loader checks the one it reads against them.

/// The largest human-written file (policy, scenario, gate, grid, channels, rules, promotion):
/// far beyond any real one, small enough that parsing it is instant.
pub const MAX_SOURCE_BYTES: u64 = 8 * 1024 * 1024;

/// YAML nodes a document may expand to, aliases counted each time they are used (the way
/// serde_yaml budgets them): a few hundred bytes of nested aliases cannot become gigabytes.
pub const MAX_YAML_NODES: usize = 250_000;

/// How deep lists and mappings may nest in YAML. JSON stops at serde_json's own recursion
/// limit, [`MAX_JSON_DEPTH`]: past it, a located "recursion limit exceeded" error.
pub const MAX_DEPTH: usize = 64;

/// How deep JSON may nest: what serde_json's recursion limit (128) lets through, which every
/// JSON parse here keeps (none disables it). Stated so the limits are all in one place.
pub const MAX_JSON_DEPTH: usize = 127;

/// The longest line of a JSON Lines file (a trace, an incident stream, an audit log).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The largest file an importer reads whole (Kubernetes dumps, Prometheus answers, webhooks).
/// Parsed, a file takes up to about 15× its size as JSON and 40× as YAML, so this bounds an
/// import to a few GB; split larger dumps (per namespace, per day) and import them together.
pub const MAX_IMPORT_BYTES: u64 = 128 * 1024 * 1024;

/// Human-readable size, for messages.
pub fn bytes(n: u64) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else {
        format!("{n} bytes")
    }
}

/// The first control character in `text` that has no place in a text file (anything but tab,
/// newline and carriage return), with its 1-based line and column (in characters).
pub fn control_char(text: &str) -> Option<(usize, usize, char)> {
    let (mut line, mut col) = (1, 1);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // A line ends at `\n`, `\r\n` or a lone `\r`, as the YAML parser counts lines.
        if c == '\n' || c == '\r' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            line += 1;
            col = 1;
            continue;
        }
        if c.is_control() && c != '\t' {
            return Some((line, col, c));
        }
        col += 1;
    }
    None
}

/// Replications of one run (`simulate --replications`, a grid's `replications:`).
pub const MAX_REPLICATIONS: u32 = 100_000;

/// Policy variants one grid may make (the product of its parameters' values); each is
/// validated at load and run in every scenario and seed.
pub const MAX_GRID_VARIANTS: usize = 5_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_nests_as_deep_as_stated_and_no_deeper() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(serde_json::from_str::<serde_json::Value>(&nested(MAX_JSON_DEPTH)).is_ok());
        let e = serde_json::from_str::<serde_json::Value>(&nested(MAX_JSON_DEPTH + 1)).unwrap_err();
        assert!(e.to_string().contains("recursion limit exceeded"), "{e}");
    }

    #[test]
    fn control_characters_are_found_where_they_are() {
        assert_eq!(control_char("a: 1\n\tb: 2\r\n"), None);
        assert_eq!(control_char("a: 1\n  b\u{0}: 2\n"), Some((2, 4, '\u{0}')));
        assert_eq!(control_char("é\u{7f}"), Some((1, 2, '\u{7f}')));
        assert_eq!(bytes(MAX_SOURCE_BYTES), "8 MiB");
    }
}
