//! Diagnostics: problems found in a file a person wrote, and how they are shown.
//!
//! Owns the [`Diagnostic`] type (stable code, `file:line:column`, message, hint) and its
//! rendering with the offending source line underneath, in the manner of rustc and ripgrep.
//! Every loader collects *all* the problems of a file before returning them, so a person
//! fixes a file in one pass. This module does no parsing of its own and no I/O beyond the
//! `read_source` helper that turns "missing file", "not UTF-8" and "empty" into diagnostics.

use std::fmt;
use std::path::{Path, PathBuf};

/// Stable error codes. A code never changes meaning once shipped; tests and users may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    /// The file could not be read (missing, a directory, no permission).
    Io,
    /// The file is not UTF-8 text.
    NotText,
    /// The file is empty or holds only comments.
    Empty,
    /// YAML or JSON syntax error.
    Syntax,
    /// A field the format does not know.
    UnknownField,
    /// A required field is missing.
    MissingField,
    /// A value of the wrong type (a string where a number belongs, …).
    WrongType,
    /// A value of the right type outside its allowed range or set.
    BadValue,
    /// The same key or incident type twice.
    Duplicate,
    /// A combination of values that is unsafe or contradictory.
    Conflict,
    /// The kind of file could not be recognised.
    UnknownFormat,
    /// A secret written in a file (it belongs in the environment).
    Secret,
    /// The input is past one of the limits in [`crate::limits`] (size, nesting, aliases).
    TooLarge,
}

impl Code {
    /// The stable identifier printed in brackets, e.g. `E004`.
    pub fn id(self) -> &'static str {
        match self {
            Code::Io => "E001",
            Code::NotText => "E002",
            Code::Empty => "E003",
            Code::Syntax => "E004",
            Code::UnknownField => "E005",
            Code::MissingField => "E006",
            Code::WrongType => "E007",
            Code::BadValue => "E008",
            Code::Duplicate => "E009",
            Code::Conflict => "E010",
            Code::UnknownFormat => "E011",
            Code::Secret => "E012",
            Code::TooLarge => "E013",
        }
    }
}

/// How bad a diagnostic is. Warnings are printed but do not fail `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// A position in a text file: 1-based line, 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub file: PathBuf,
    /// `None` for problems with the file as a whole (missing, unreadable).
    pub pos: Option<Pos>,
    /// Characters to underline from `pos` (at least one is drawn).
    pub width: usize,
    pub message: String,
    pub hint: Option<String>,
    /// The text under the underline is a secret: it is masked whenever the line is shown.
    pub redact: bool,
}

impl Diagnostic {
    pub fn error(code: Code, file: &Path, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            file: file.to_path_buf(),
            pos,
            width: 1,
            message: message.into(),
            hint: None,
            redact: false,
        }
    }

    pub fn warning(code: Code, file: &Path, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, file, pos, message) }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_width(mut self, width: usize) -> Self {
        self.width = width.max(1);
        self
    }

    /// Mark the underlined text as a secret, masked when the line is shown.
    pub fn redacted(mut self) -> Self {
        self.redact = true;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render with the source line under the location, if the source is at hand.
    pub fn render(&self, source: Option<&str>) -> String {
        let line = self.pos.and_then(|p| source.and_then(|s| nth_line(s, p.line)));
        match line {
            Some(l) if self.redact => self.render_line(Some(&self.mask(l))),
            l => self.render_line(l),
        }
    }

    /// `line` with this diagnostic's secret (if it marks one there) replaced by `*`.
    fn mask(&self, line: &str) -> String {
        let Some(p) = self.pos.filter(|_| self.redact) else { return line.to_string() };
        // (Only a secret's own line, in a small hand-written file, is masked.)
        let chars: Vec<char> = line.chars().collect();
        let start = p.col.saturating_sub(1);
        // A quoted value is masked through its closing quote, whatever escapes it holds.
        let end = match chars.get(start) {
            Some(&q @ ('"' | '\'')) => {
                let mut i = start + 1;
                while i < chars.len() && !(chars[i] == q && (q == '\'' || chars[i - 1] != '\\')) {
                    i += 1;
                }
                (i + 1).min(chars.len())
            }
            _ => (start + self.width).min(chars.len()),
        };
        chars.iter().enumerate().map(|(i, &c)| if i >= start && i < end { '*' } else { c }).collect()
    }

    /// Render with `line` shown as the text of the line the diagnostic points at (for
    /// streamed input, where only the current line is at hand).
    pub fn render_line(&self, line: Option<&str>) -> String {
        let mut out = String::new();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.pos {
            Some(p) => out.push_str(&format!(
                "{}:{}:{}: {sev}[{}]: {}\n",
                self.file.display(),
                p.line,
                p.col,
                self.code.id(),
                self.message
            )),
            None => out.push_str(&format!("{}: {sev}[{}]: {}\n", self.file.display(), self.code.id(), self.message)),
        }
        if let (Some(p), Some(line)) = (self.pos, line) {
            let num = p.line.to_string();
            let pad = " ".repeat(num.len());
            // A window of 160 characters around the column (a one-line JSON file can be MBs).
            let long = line.chars().nth(160).is_some();
            let skip = if long { p.col.saturating_sub(1).saturating_sub(80) } else { 0 };
            let shown: String = if skip > 0 {
                "…".chars().chain(line.chars().skip(skip).take(160)).collect()
            } else {
                line.chars().take(160).collect()
            };
            let col = (p.col.saturating_sub(1) - skip + usize::from(skip > 0)).min(shown.chars().count());
            let width = self.width.min(shown.chars().count().saturating_sub(col).max(1));
            out.push_str(&format!("{pad} |\n{num} | {shown}\n{pad} | {}{}\n", " ".repeat(col), "^".repeat(width)));
        }
        if let Some(h) = &self.hint {
            out.push_str(&format!("  = hint: {h}\n"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render(None).trim_end())
    }
}

/// All the problems of one or more files, with the sources kept for rendering.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    sources: Vec<(PathBuf, String)>,
}

impl Report {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_source(&mut self, path: &Path, text: &str) {
        self.sources.push((path.to_path_buf(), text.to_string()));
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    pub fn extend(&mut self, ds: impl IntoIterator<Item = Diagnostic>) {
        self.diagnostics.extend(ds);
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Every diagnostic rendered, in file then position order.
    pub fn render(&self) -> String {
        let mut ds: Vec<&Diagnostic> = self.diagnostics.iter().collect();
        ds.sort_by(|a, b| (&a.file, a.pos, a.code).cmp(&(&b.file, b.pos, b.code)));
        let mut out = String::new();
        // Secrets are masked on every diagnostic that shows their line, not only their own.
        let secrets: Vec<&Diagnostic> = self.diagnostics.iter().filter(|d| d.redact).collect();
        for d in ds {
            let src = self.sources.iter().find(|(p, _)| *p == d.file).map(|(_, s)| s.as_str());
            let line = d.pos.and_then(|p| src.and_then(|s| nth_line(s, p.line)));
            let masked = line.map(|l| {
                secrets
                    .iter()
                    .filter(|x| x.file == d.file && x.pos.map(|p| p.line) == d.pos.map(|p| p.line))
                    .fold(l.to_string(), |acc, x| x.mask(&acc))
            });
            out.push_str(&d.render_line(masked.as_deref()));
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Report {}

impl From<Diagnostic> for Report {
    fn from(d: Diagnostic) -> Self {
        Report { diagnostics: vec![d], sources: Vec::new() }
    }
}

/// Read a text file, turning every way it can fail into a diagnostic.
/// At most [`crate::limits::MAX_SOURCE_BYTES`] are read (`/dev/zero` is refused, not read
/// until memory runs out). `-` reads standard input.
pub fn read_source(path: &Path) -> Result<String, Diagnostic> {
    read_source_up_to(path, crate::limits::MAX_SOURCE_BYTES)
}

/// [`read_source`] with another limit (importers read files no person wrote).
pub fn read_source_up_to(path: &Path, limit: u64) -> Result<String, Diagnostic> {
    use std::io::Read;
    let io = |e: std::io::Error| cannot_read(path, &e);
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        // `-` is standard input, as kubectl and cargo users expect.
        std::io::stdin().lock().take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    } else {
        open_input(path)?.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    }
    if bytes.len() as u64 > limit {
        return Err(Diagnostic::error(
            Code::TooLarge,
            path,
            None,
            format!("file is larger than {}, the limit for a file of this kind", crate::limits::bytes(limit)),
        )
        .with_hint(if limit == crate::limits::MAX_SOURCE_BYTES {
            "pass the policy, scenario or other YAML file itself; large data belongs in a trace (`import`)"
        } else {
            "split the input (e.g. one file per namespace or per day) and import the parts together"
        }));
    }
    text_from_bytes(path, bytes)
}

/// Bytes → text, or a diagnostic naming the first byte that is not UTF-8.
/// A control character (a NUL, an escape) is refused at its line and column: parsers stop
/// at one silently, so a file with a NUL in it could lose everything after it.
pub fn text_from_bytes(path: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    // A byte-order mark (some Windows editors write one) is not part of the text.
    let bytes = match bytes.strip_prefix("\u{feff}".as_bytes()) {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    match String::from_utf8(bytes) {
        Ok(s) => match crate::limits::control_char(&s) {
            None => Ok(s),
            Some((line, col, c)) => Err(Diagnostic::error(
                Code::NotText,
                path,
                Some(Pos { line, col }),
                format!("control character U+{:04X} in a text file", u32::from(c)),
            )
            .with_hint("remove it: everything after it could be read differently by another tool")),
        },
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let before = String::from_utf8_lossy(&bytes[..valid]);
            let line = before.replace("\r\n", "\n").matches(['\n', '\r']).count() + 1;
            let col = before.rsplit(['\n', '\r']).next().map_or(0, |l| l.chars().count()) + 1;
            Err(Diagnostic::error(
                Code::NotText,
                path,
                Some(Pos { line, col }),
                format!("file is not UTF-8 text (invalid byte at offset {valid})"),
            )
            .with_hint("this looks like a binary file; pass the YAML or JSON text file instead"))
        }
    }
}

/// The diagnostic for a file that cannot be read, with what to check.
/// Whether two paths name the same existing file (an output that would overwrite an input).
pub fn same_file(a: &Path, b: &Path) -> bool {
    if matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y) {
        return true;
    }
    // A hard link is the same file under another name.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}

/// The same path once both are made absolute (for files that may not exist yet).
pub fn same_path(a: &Path, b: &Path) -> bool {
    // Lexically: `a/../b` is `b` (the file may not exist, so the filesystem cannot say).
    fn normal(p: &Path) -> Option<Vec<std::ffi::OsString>> {
        let mut out = Vec::new();
        for c in std::path::absolute(p).ok()?.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                c => out.push(c.as_os_str().to_os_string()),
            }
        }
        Some(out)
    }
    matches!((normal(a), normal(b)), (Some(x), Some(y)) if x == y)
}

/// The first input given twice (the same file under any name): `(first, again)`.
pub fn repeated(paths: &[std::path::PathBuf]) -> Option<(&Path, &Path)> {
    paths
        .iter()
        .enumerate()
        .find_map(|(k, t)| paths[..k].iter().find(|u| same_file(t, u)).map(|u| (u.as_path(), t.as_path())))
}

/// `a` and `b` are one file: the same file now, or the same path.
pub fn one_file(a: &Path, b: &Path) -> bool {
    same_file(a, b) || same_path(a, b)
}

pub fn cannot_read(path: &Path, e: &std::io::Error) -> Diagnostic {
    let hint = match e.kind() {
        std::io::ErrorKind::NotFound => "check the path; relative paths are taken from the current directory",
        std::io::ErrorKind::PermissionDenied => "check the file's permissions",
        _ => "pass a readable regular file",
    };
    Diagnostic::error(Code::Io, path, None, format!("cannot read file: {e}")).with_hint(hint)
}

/// Open a file to read input from: a regular file or a pipe (a FIFO waits for its writer, as
/// `cat` does). A folder or a device (`/dev/zero`, `/dev/urandom`: input that never ends) is
/// refused with a message saying so, not read until a limit.
pub fn open_input(path: &Path) -> Result<std::fs::File, Diagnostic> {
    let refuse = |what: &str| {
        Diagnostic::error(Code::Io, path, None, format!("cannot read {what}"))
            .with_hint("pass a regular file, or `-` for standard input")
    };
    let f = std::fs::File::open(path).map_err(|e| cannot_read(path, &e))?;
    let kind = f.metadata().map_err(|e| refuse(&format!("file: {e}")))?.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() || kind.is_block_device() || kind.is_socket() {
            return Err(refuse("a device or socket, not a file: its input may never end"));
        }
    }
    if kind.is_dir() {
        return Err(refuse("a folder"));
    }
    Ok(f)
}

/// Line `n` (1-based) of `text`, ending at `\n`, `\r\n` or a lone `\r` (old Mac files), as the
/// YAML parser counts lines.
pub fn nth_line(text: &str, n: usize) -> Option<&str> {
    let mut rest = text;
    let mut line = 1;
    loop {
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        if line == n {
            return Some(&rest[..end]);
        }
        if end == rest.len() {
            return None;
        }
        let skip = if rest[end..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[end + skip..];
        line += 1;
    }
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Read `path` and parse it with `parse`; every diagnostic comes back in a [`Report`] that
/// carries the source, so it renders with the offending lines.
pub fn load_with<T>(path: &Path, parse: impl FnOnce(&Path, &str) -> Result<T, Vec<Diagnostic>>) -> Result<T, Report> {
    let text = read_source(path)?;
    parse(path, &text).map_err(|ds| {
        let mut r = Report::new();
        r.add_source(path, &text);
        r.extend(ds);
        r
    })
}
