//! Plain-text tables and the `--output` choice shared by every command that reports.
//! Rendering never sees secret values: callers pass names, types, sizes and dates.
//! Every cell goes through [`escape`], so a string from an archive, a manifest, a cluster or a
//! file cannot move the cursor, paint colours or start a fake line; JSON output is not escaped
//! this way (serde_json already writes control characters as `\u` escapes, exactly).

use std::borrow::Cow;
use std::io::Write;

/// Whether a character could change what a terminal shows beyond printing itself: C0 and C1
/// controls (ESC, CSI, OSC, newline, carriage return, backspace...), DEL, and the Unicode
/// bidirectional overrides and isolates that reorder a line.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as a visible escape (`\n`, `\t`, `\u{1b}`...).
/// Untouched (and not copied) when there is none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `--output` of reporting commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Human-readable tables.
    #[default]
    Table,
    /// One JSON document on standard output.
    Json,
}

/// A table with aligned columns.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(header: I) -> Self {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; each cell is escaped (see [`escape`]).
    pub fn row<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, cells: I) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| {
                    let c: String = c.into();
                    escape(&c).into_owned()
                })
                .collect(),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the table; the last column is not padded.
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let cols = self.header.len();
        let mut width = vec![0usize; cols];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(cols) {
                if i + 1 == cols {
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    line.push_str(&" ".repeat(width[i] - c.chars().count() + 2));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Writes a value as pretty JSON followed by a newline.
pub fn json(out: &mut dyn Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_terminal_sequences() {
        assert!(matches!(escape("gloo-mesh/relay"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\x1b[32mOK\x1b]0;t\x07\nb\r\u{9b}c\u{202e}d\x7f"),
            "a\\u{1b}[32mOK\\u{1b}]0;t\\u{7}\\nb\\r\\u{9b}c\\u{202e}d\\u{7f}"
        );
        let mut t = Table::new(["SECRET"]);
        t.row(["x\nverified OK\x1b[2K"]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SECRET\nx\\nverified OK\\u{1b}[2K\n"
        );
    }

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(["SECRET", "TYPE"]);
        t.row(["gloo-mesh/a", "Opaque"]);
        t.row(["b", "kubernetes.io/tls"]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SECRET       TYPE\ngloo-mesh/a  Opaque\nb            kubernetes.io/tls\n"
        );
    }
}
