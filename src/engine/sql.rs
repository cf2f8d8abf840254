//! SQL text for the report: literals redacted, whitespace folded, length bounded.
//!
//! A small hand-written lexer rather than regular expressions: quoting rules nest
//! (a `--` inside a string is not a comment, a `'` inside a comment is not a string), and
//! a single pass keeps the cost linear and bounded by `max_len`.

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
///
/// Comments are always dropped: they can carry anything (hints, credentials, PII) and
/// say nothing about whether the traffic is encrypted.
pub fn normalize(raw: &str, dialect: Dialect, show_literals: bool, max_len: usize) -> String {
    let mut out = Out::new(max_len);
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() && !out.full() {
        let c = b[i];
        // Only ASCII bytes drive the lexer; multibyte UTF-8 sequences are identifier
        // characters (PostgreSQL and MySQL both accept non-ASCII letters in names).
        if c.is_ascii_whitespace() {
            out.space();
            i += 1;
        } else if line_comment_at(b, i, dialect) {
            i = line_end(b, i);
            out.space();
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = block_comment_end(b, i, dialect == Dialect::Postgres);
            out.space();
        } else if c == b'\'' {
            let backslash = dialect == Dialect::Mysql;
            let end = quoted_end(b, i, b'\'', backslash);
            out.literal(sl(raw, i, end), show_literals);
            i = end;
        } else if c == b'"' {
            let end = quoted_end(b, i, b'"', dialect == Dialect::Mysql);
            match dialect {
                // A quoted identifier: keep it, it names a table or column.
                Dialect::Postgres => out.push_str(sl(raw, i, end)),
                Dialect::Mysql => out.literal(sl(raw, i, end), show_literals),
            }
            i = end;
        } else if c == b'`' && dialect == Dialect::Mysql {
            let end = quoted_end(b, i, b'`', false);
            out.push_str(sl(raw, i, end));
            i = end;
        } else if c == b'$' && dialect == Dialect::Postgres {
            if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                // `$1` placeholder: keep, it is not a value.
                let end = scan(b, i + 1, |c| c.is_ascii_digit());
                out.push_str(sl(raw, i, end));
                i = end;
            } else if let Some(tag_end) = dollar_tag(b, i) {
                let end = dollar_quoted_end(b, i, tag_end);
                out.literal(sl(raw, i, end), show_literals);
                i = end;
            } else {
                out.push_str("$");
                i += 1;
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let end = number_end(b, i);
            let name_end = scan(b, i, is_ident_byte);
            if name_end > end {
                // `1abc` is a name in MySQL (and junk in PostgreSQL): not a value. Only
                // when the name runs past the number: `.5a` and `1.5e-3x` are a value
                // then a name (and scanning a name from `.` would not move at all).
                out.push_str(sl(raw, i, name_end));
                i = name_end;
            } else {
                out.literal(sl(raw, i, end), show_literals);
                i = end;
            }
        } else if is_ident_start(c) {
            let end = scan(b, i, is_ident_byte);
            let word = sl(raw, i, end);
            // String prefixes: E'…' (escapes), B'…'/X'…' (bit/hex), N'…' (national),
            // U&'…' (unicode escapes, PostgreSQL). The prefix belongs to the literal.
            let prefixed = match (word.len(), b.get(end)) {
                (1, Some(b'\'')) => matches!(c.to_ascii_lowercase(), b'e' | b'b' | b'x' | b'n'),
                _ => false,
            };
            let unicode = dialect == Dialect::Postgres
                && word.eq_ignore_ascii_case("u")
                && b.get(end) == Some(&b'&')
                && b.get(end + 1) == Some(&b'\'');
            if prefixed || unicode {
                let q = if unicode { end + 1 } else { end };
                let backslash = dialect == Dialect::Mysql || c.eq_ignore_ascii_case(&b'e');
                let lit_end = quoted_end(b, q, b'\'', backslash);
                out.literal(sl(raw, i, lit_end), show_literals);
                i = lit_end;
            } else {
                out.push_str(word);
                i = end;
            }
        } else {
            // Operators and punctuation, one character at a time.
            let ch_len = utf8_len(c);
            let end = (i + ch_len).min(b.len());
            out.push_str(sl(raw, i, end));
            i = end;
        }
    }
    out.finish()
}

/// Output with whitespace folding and a character budget.
struct Out {
    s: String,
    chars: usize,
    max: usize,
    pending_space: bool,
    /// The budget ran out: the text is cut and lexing can stop.
    cut: bool,
}

impl Out {
    fn new(max: usize) -> Self {
        Out { s: String::with_capacity(max.min(512)), chars: 0, max, pending_space: false, cut: false }
    }
    fn full(&self) -> bool {
        self.cut
    }
    fn space(&mut self) {
        if !self.s.is_empty() {
            self.pending_space = true;
        }
    }
    fn literal(&mut self, text: &str, show: bool) {
        if show {
            self.push_str(text)
        } else {
            self.push_str("?")
        }
    }
    fn push_str(&mut self, t: &str) {
        if self.cut {
            return;
        }
        if std::mem::take(&mut self.pending_space) {
            self.push_char(' ');
        }
        // Fast path: the whole token fits (a byte count bounds the character count).
        if self.chars.saturating_add(t.len()) <= self.max {
            self.s.push_str(t);
            self.chars += if t.is_ascii() { t.len() } else { t.chars().count() };
            return;
        }
        for ch in t.chars() {
            if self.cut {
                return;
            }
            self.push_char(ch);
        }
    }
    fn push_char(&mut self, ch: char) {
        if self.chars >= self.max {
            // One more character than fits: the text will be cut.
            self.cut = true;
            return;
        }
        self.s.push(ch);
        self.chars += 1;
    }
    fn finish(mut self) -> String {
        if self.cut {
            // Make room for the ellipsis within `max` characters.
            while self.chars >= self.max && self.s.pop().is_some() {
                self.chars -= 1;
            }
            let trimmed = self.s.trim_end().len();
            self.s.truncate(trimmed);
            if self.max > 0 {
                self.s.push('…');
            }
        }
        self.s
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// `$` continues a name in both dialects (`a$b`) but never starts one.
fn is_ident_byte(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

/// Slice helper that cannot panic (the lexer only stops on ASCII bytes, so this is
/// always a char boundary; `get` keeps that an invariant rather than a crash).
fn sl(raw: &str, a: usize, b: usize) -> &str {
    raw.get(a..b).unwrap_or("")
}

fn scan(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

/// `-- …` (MySQL wants a space after `--`: `a--1` is `a - -1` there) or MySQL `# …`.
fn line_comment_at(b: &[u8], i: usize, dialect: Dialect) -> bool {
    match (b[i], dialect) {
        (b'#', Dialect::Mysql) => true,
        (b'-', Dialect::Postgres) => b.get(i + 1) == Some(&b'-'),
        (b'-', Dialect::Mysql) => b.get(i + 1) == Some(&b'-') && b.get(i + 2).map_or(true, |c| c.is_ascii_whitespace()),
        _ => false,
    }
}

fn line_end(b: &[u8], i: usize) -> usize {
    scan(b, i, |c| c != b'\n')
}

/// End of a `/* … */` comment starting at `i`; PostgreSQL nests them, MySQL does not.
/// Unterminated comments run to the end.
fn block_comment_end(b: &[u8], i: usize, nested: bool) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
            if depth == 0 || nested {
                depth += 1;
            }
            j += 2;
        } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return j;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// End (exclusive) of a quoted token starting with `q` at `i`. A doubled quote is an
/// escaped quote; with `backslash`, `\x` escapes too. Unterminated: to the end.
fn quoted_end(b: &[u8], i: usize, q: u8, backslash: bool) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        if backslash && b[j] == b'\\' {
            j += 2;
        } else if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// If a dollar-quote opening tag (`$$` or `$tag$`) starts at `i`, the index just after it.
fn dollar_tag(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if let Some(&c) = b.get(j) {
        if c != b'$' && !(c.is_ascii_alphabetic() || c == b'_' || c >= 0x80) {
            return None;
        }
    }
    while j < b.len() {
        let c = b[j];
        if c == b'$' {
            return Some(j + 1);
        }
        if !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80) {
            return None;
        }
        j += 1;
    }
    None
}

/// End of a dollar-quoted string whose opening tag spans `i..tag_end`.
fn dollar_quoted_end(b: &[u8], i: usize, tag_end: usize) -> usize {
    let tag = &b[i..tag_end];
    let body = &b[tag_end..];
    body.windows(tag.len()).position(|w| w == tag).map_or(b.len(), |p| tag_end + p + tag.len())
}

/// End of a numeric literal at `i`: `0x1F`, `0b101`, `0o17`, `1_000`, `1.5e-3`, `.5`.
fn number_end(b: &[u8], i: usize) -> usize {
    if b[i] == b'0' {
        let radix = b.get(i + 1).map(|c| c.to_ascii_lowercase());
        let digits: Option<fn(u8) -> bool> = match radix {
            Some(b'x') => Some(|c: u8| c.is_ascii_hexdigit() || c == b'_'),
            Some(b'b') => Some(|c: u8| c == b'0' || c == b'1' || c == b'_'),
            Some(b'o') => Some(|c: u8| (b'0'..=b'7').contains(&c) || c == b'_'),
            _ => None,
        };
        if let Some(f) = digits {
            let end = scan(b, i + 2, f);
            if end > i + 2 {
                return end;
            }
        }
    }
    let digit = |c: u8| c.is_ascii_digit() || c == b'_';
    let mut j = scan(b, i, digit);
    if b.get(j) == Some(&b'.') && b.get(j + 1) != Some(&b'.') {
        j = scan(b, j + 1, digit);
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(b.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if b.get(k).is_some_and(u8::is_ascii_digit) {
            j = scan(b, k, digit);
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(s: &str) -> String {
        normalize(s, Dialect::Postgres, false, 300)
    }
    fn my(s: &str) -> String {
        normalize(s, Dialect::Mysql, false, 300)
    }

    #[test]
    fn postgres_table() {
        let cases: &[(&str, &str)] = &[
            ("SELECT 1", "SELECT ?"),
            ("  select\n\t*  from t1\r\nwhere id=42 ;  ", "select * from t1 where id=? ;"),
            ("SELECT * FROM users WHERE email = 'alice@example.com'", "SELECT * FROM users WHERE email = ?"),
            ("INSERT INTO pay VALUES ('card=4111-1111-1111-1111', 4111111111111111)", "INSERT INTO pay VALUES (?, ?)"),
            ("SELECT 'it''s', 'a\\'", "SELECT ?, ?"),
            ("SELECT E'it\\'s secret', e'x'", "SELECT ?, ?"),
            ("SELECT B'0101', X'1F', U&'d\\0061t' UESCAPE '!'", "SELECT ?, ?, ? UESCAPE ?"),
            (
                "SELECT x FROM t WHERE a = -5 AND b > -1.5e3 AND c < .5",
                "SELECT x FROM t WHERE a = -? AND b > -? AND c < ?",
            ),
            ("SELECT 1e-3, 2E+4, 0x1F, 1_000, 3.", "SELECT ?, ?, ?, ?, ?"),
            ("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (?, ?, ?)"),
            ("SELECT $$ secret; 'quoted' $$, $fn$ body $x$ $fn$", "SELECT ?, ?"),
            (
                "PREPARE p AS SELECT * FROM t WHERE a = $1 AND b = $23",
                "PREPARE p AS SELECT * FROM t WHERE a = $1 AND b = $23",
            ),
            ("SELECT \"Weird \"\"Name\", t1.c2 FROM s1.t2", "SELECT \"Weird \"\"Name\", t1.c2 FROM s1.t2"),
            ("SELECT 1 -- password 'x'\nFROM t", "SELECT ? FROM t"),
            ("SELECT /* outer /* inner */ still */ a", "SELECT a"),
            ("SELECT a/*x*/b", "SELECT a b"),
            ("SELECT 'unterminated secret", "SELECT ?"),
            ("SELECT $tag$ unterminated", "SELECT ?"),
            ("SELECT /* unterminated", "SELECT"),
            ("SELECT café, 'naïve' FROM tëst WHERE n = 'ÄÖÜ €'", "SELECT café, ? FROM tëst WHERE n = ?"),
            ("SELECT a#b, a ? 'k'", "SELECT a#b, a ? ?"),
            ("SELECT col$1 FROM t", "SELECT col$1 FROM t"),
            ("SELECT 'a' || 'b'::text", "SELECT ? || ?::text"),
            ("SELECT 'x' 'y'", "SELECT ? ?"),
            ("", ""),
            ("   \n ", ""),
        ];
        for (input, want) in cases {
            assert_eq!(&pg(input), want, "input: {input:?}");
        }
    }

    #[test]
    fn mysql_table() {
        let cases: &[(&str, &str)] = &[
            ("SELECT * FROM `user table` WHERE `id`=7", "SELECT * FROM `user table` WHERE `id`=?"),
            ("SELECT \"secret\", 'it\\'s', 'a''b'", "SELECT ?, ?, ?"),
            ("SELECT 1 # comment 'x'\n, 2", "SELECT ? , ?"),
            ("SELECT X'4141', x'41', 0x4141, b'0101', 0b11", "SELECT ?, ?, ?, ?, ?"),
            ("SELECT _utf8mb4'abc', N'def'", "SELECT _utf8mb4?, ?"),
            ("SELECT * FROM 1abc WHERE c = 'card=4111-1111-1111-1111'", "SELECT * FROM 1abc WHERE c = ?"),
            ("SELECT ?, ? FROM t", "SELECT ?, ? FROM t"),
            ("SELECT /* a /* b */ c", "SELECT c"),
            ("SELECT $$ FROM t", "SELECT $$ FROM t"),
            ("SELECT 'bs at end\\", "SELECT ?"),
            ("SELECT a--1 FROM t -- note", "SELECT a--? FROM t"),
        ];
        for (input, want) in cases {
            assert_eq!(&my(input), want, "input: {input:?}");
        }
    }

    #[test]
    fn show_literals_keeps_values_but_folds_and_drops_comments() {
        let q = "SELECT  'a  b',\n 42 /* note */ FROM t";
        assert_eq!(normalize(q, Dialect::Postgres, true, 300), "SELECT 'a  b', 42 FROM t");
        assert_eq!(normalize("SELECT $$x$$", Dialect::Postgres, true, 300), "SELECT $$x$$");
    }

    #[test]
    fn cut_to_max_len_chars() {
        assert_eq!(normalize("SELECT abcdef", Dialect::Postgres, false, 8), "SELECT…");
        assert_eq!(normalize("SELECT abcdef", Dialect::Postgres, false, 13), "SELECT abcdef");
        assert_eq!(normalize("SELECT abcdefg", Dialect::Postgres, false, 13), "SELECT abcde…");
        // Cut falls inside a multibyte character: counted in characters, never split.
        let s = normalize("SELECT ééééééé", Dialect::Postgres, false, 10);
        assert_eq!(s, "SELECT éé…");
        assert_eq!(s.chars().count(), 10);
        assert_eq!(normalize("SELECT 1", Dialect::Postgres, false, 0), "");
        assert_eq!(normalize("SELECT 1", Dialect::Postgres, false, 1), "…");
    }

    #[test]
    fn literals_never_leak() {
        for d in [Dialect::Postgres, Dialect::Mysql] {
            for q in [
                "select 'alice@example.com'",
                "select E'\\' alice@example.com'",
                "select 'x'' alice@example.com'",
                "select 'alice@example.com",
            ] {
                let n = normalize(q, d, false, 300);
                assert!(!n.contains("alice"), "{d:?} {q:?} -> {n:?}");
            }
        }
        let n = pg("select $q$alice@example.com$q$");
        assert!(!n.contains("alice"), "{n:?}");
    }

    /// Found by the `pgsql` and `mysql` fuzz targets: a number starting with `.` (or
    /// after one) and running into letters made the lexer stop moving.
    #[test]
    fn number_running_into_a_name_always_advances() {
        for d in [Dialect::Postgres, Dialect::Mysql] {
            assert_eq!(normalize("SELECT .5a", d, false, 300), "SELECT ?a");
            assert_eq!(normalize("SELECT 1.5abc", d, false, 300), "SELECT ?abc");
            assert_eq!(normalize("x.5e3y.9z", d, false, 300), "x?y?z");
            assert_eq!(normalize("SELECT 1e-5x", d, false, 300), "SELECT ?x");
            assert_eq!(normalize("SELECT 1abc, 0x1Fg", d, false, 300), "SELECT 1abc, 0x1Fg");
        }
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        for q in ["$", "$$", "$a", "'", "\"", "`", "/*", "--", "0x", "1e", "1e+", ".", "U&", "E", "\u{1F600}'"] {
            for d in [Dialect::Postgres, Dialect::Mysql] {
                for show in [false, true] {
                    for max in [0, 1, 2, 300] {
                        let _ = normalize(q, d, show, max);
                    }
                }
            }
        }
    }
}
