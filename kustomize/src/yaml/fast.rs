//! A fast reader for the block-style YAML that manifests are written in,
//! building `serde_json::Value`s directly.
//!
//! Why hand-written: serde-saphyr (the full YAML reader, see `parse.rs`)
//! goes through serde's generic deserializer with budget, anchor and
//! redaction bookkeeping per event, and that was more than half of a whole
//! render. No YAML crate builds JSON values directly from a block-style
//! file. This reader covers the subset manifests use (block mappings and
//! sequences, plain and single-line quoted scalars, `|` literal blocks,
//! one-line flow collections, comments, `---`) and answers `None` for
//! anything else: anchors, aliases, tags, folded or explicitly indented
//! blocks, multi-line flow or plain scalars, directives, duplicate keys,
//! odd indentation and every syntax error. The caller then reads the file
//! with serde-saphyr, so values and error messages stay exactly
//! serde-saphyr's; `agreement_tests.rs` checks the two agree on every YAML
//! file of the conformance suite and on tricky scalars.
//!
//! Plain scalars whose type is not obvious (`0644`, `1.0`, `yes`, `~`,
//! `.inf`) are resolved by serde-saphyr one at a time through `resolve`.

use serde_json::{Map, Number, Value};

/// Deeper nesting goes to serde-saphyr, which enforces its own limit.
const MAX_DEPTH: usize = 200;

/// Resolves a plain scalar the fast reader cannot type on its own.
pub type Resolve<'r> = &'r dyn Fn(&str) -> Option<Value>;

/// All non-empty documents of `text`, or `None` when `text` is outside the
/// subset this reader handles (then the full reader must be used).
pub fn parse_documents(text: &str, resolve: Resolve<'_>) -> Option<Vec<Value>> {
    if text.starts_with('\u{feff}') || has_unprintable(text) {
        return None;
    }
    let mut docs = Vec::new();
    let mut lines: Vec<Line<'_>> = Vec::new();
    for raw in text.split_inclusive('\n') {
        let raw = raw.strip_suffix('\n').unwrap_or(raw);
        if raw.starts_with('%') || is_marker(raw, "...") {
            return None;
        }
        if is_marker(raw, "---") {
            let rest = raw[3..].trim_start_matches([' ', '\t']);
            if !rest.is_empty() && !rest.starts_with('#') {
                return None;
            }
            if let Some(doc) = parse_document(std::mem::take(&mut lines), true, resolve)? {
                docs.push(doc);
            }
            continue;
        }
        lines.push(Line::new(raw));
    }
    if let Some(doc) = parse_document(lines, text.ends_with('\n'), resolve)? {
        docs.push(doc);
    }
    Some(docs)
}

/// Characters YAML does not allow in a stream (and `\r`, which this
/// reader does not handle): serde-saphyr reports them.
fn has_unprintable(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes
        .iter()
        .any(|&b| (b < 0x20 && b != b'\t' && b != b'\n') || b == 0x7f)
    {
        return true;
    }
    bytes.iter().any(|b| !b.is_ascii())
        && text.chars().any(
            |c| matches!(c, '\u{80}'..='\u{84}' | '\u{86}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}'),
        )
}

/// `---` or `...` at column 0, alone or followed by a space or tab.
fn is_marker(raw: &str, marker: &str) -> bool {
    raw.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// `Some(None)` for an empty document.
fn parse_document(
    lines: Vec<Line<'_>>,
    ends_with_newline: bool,
    resolve: Resolve<'_>,
) -> Option<Option<Value>> {
    let mut p = Parser {
        lines,
        pos: 0,
        depth: 0,
        ends_with_newline,
        resolve,
    };
    p.skip_blank();
    if p.pos == p.lines.len() {
        return Some(None);
    }
    let indent = p.lines[p.pos].indent;
    let value = p.block_node(indent)?;
    p.skip_blank();
    if p.pos != p.lines.len() {
        return None;
    }
    Some(Some(value))
}

/// One line: its indentation (spaces) and the text after it. A sequence
/// entry's content is re-read as a line of its own at the column where it
/// starts (`- a: 1` holds a mapping at indent + 2).
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
    /// The whole line, for block scalars (`None` for sequence-entry content).
    raw: Option<&'a str>,
}

impl<'a> Line<'a> {
    fn new(raw: &'a str) -> Self {
        let text = raw.trim_start_matches(' ');
        Line {
            indent: raw.len() - text.len(),
            text,
            raw: Some(raw),
        }
    }

    /// Empty, spaces only, or a comment.
    fn is_blank(&self) -> bool {
        let t = self.text.trim_start_matches([' ', '\t']);
        t.is_empty() || t.starts_with('#')
    }
}

struct Parser<'a, 'r> {
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
    ends_with_newline: bool,
    resolve: Resolve<'r>,
}

/// `-` alone or followed by a space or tab: a block sequence entry.
fn is_seq_entry(text: &str) -> bool {
    text.strip_prefix('-')
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

impl<'a> Parser<'a, '_> {
    fn skip_blank(&mut self) {
        while self.pos < self.lines.len() && self.lines[self.pos].is_blank() {
            self.pos += 1;
        }
    }

    /// The next non-blank line, if any.
    fn peek(&mut self) -> Option<Line<'a>> {
        self.skip_blank();
        self.lines.get(self.pos).copied()
    }

    /// A block mapping or sequence starting at the current line (indent `n`).
    fn block_node(&mut self, n: usize) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let line = self.lines[self.pos];
        if line.text.starts_with('\t') {
            return None;
        }
        let value = if is_seq_entry(line.text) {
            self.sequence(n)
        } else {
            self.mapping(n)
        };
        self.depth -= 1;
        value
    }

    fn sequence(&mut self, n: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < n || (line.indent == n && !is_seq_entry(line.text)) {
                break;
            }
            if line.indent > n {
                return None;
            }
            let rest = &line.text[1..];
            let content = rest.trim_start_matches(' ');
            if content.starts_with('\t') {
                return None;
            }
            if content.is_empty() || content.starts_with('#') {
                self.pos += 1;
                items.push(self.nested(n, false)?);
                continue;
            }
            let indent = n + 1 + (rest.len() - content.len());
            self.lines[self.pos] = Line {
                indent,
                text: content,
                raw: None,
            };
            let item = if is_seq_entry(content) || split_key(content).is_some() {
                self.block_node(indent)?
            } else {
                self.inline_value(content, n)?
            };
            items.push(item);
        }
        Some(Value::Array(items))
    }

    fn mapping(&mut self, n: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(line) = self.peek() {
            if line.indent < n {
                break;
            }
            if line.indent > n || line.text.starts_with('\t') {
                return None;
            }
            let (key, rest) = split_key(line.text)?;
            if map.contains_key(&key) {
                return None;
            }
            let value = rest.trim_start_matches([' ', '\t']);
            let value = if value.is_empty() || value.starts_with('#') {
                self.pos += 1;
                self.nested(n, true)?
            } else {
                self.inline_value(value, n)?
            };
            map.insert(key, value);
        }
        Some(Value::Object(map))
    }

    /// The value on the lines after a bare `key:` or `-` at indent `n`:
    /// a more indented block, a sequence at the same indent (after a key
    /// only), or null.
    fn nested(&mut self, n: usize, after_key: bool) -> Option<Value> {
        match self.peek() {
            Some(next) if next.indent > n => self.block_node(next.indent),
            Some(next) if after_key && next.indent == n && is_seq_entry(next.text) => {
                self.sequence(n)
            }
            _ => Some(Value::Null),
        }
    }

    /// A value that starts on the current line (`v`, not empty, no leading
    /// blanks) and belongs to a key or `-` at indent `n`.
    fn inline_value(&mut self, v: &'a str, n: usize) -> Option<Value> {
        let first = v.as_bytes()[0];
        let second = v.as_bytes().get(1).copied();
        let separated = second.is_none_or(|b| b == b' ' || b == b'\t');
        let value = match first {
            b'|' => return self.literal_block(&v[1..], n),
            b'[' | b'{' => {
                let (value, used) = flow(v, 0, self.resolve)?;
                end_of_line(&v[used..])?;
                value
            }
            b'"' | b'\'' => {
                let (value, used) = quoted(v)?;
                end_of_line(&v[used..])?;
                Value::String(value)
            }
            b'>' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b',' | b']' | b'}' | b'#' => {
                return None;
            }
            b'-' | b'?' | b':' if separated => return None,
            _ => {
                let text = strip_comment(v);
                if text.contains(": ") || text.contains(":\t") || text.ends_with(':') {
                    return None;
                }
                plain(text, self.resolve)?
            }
        };
        self.pos += 1;
        // A more indented line after a one-line value would continue it
        // (multi-line scalar) or be an error: both are serde-saphyr's.
        match self.peek() {
            Some(next) if next.indent > n => None,
            _ => Some(value),
        }
    }

    /// A `|` block scalar whose header (after `|`) is `header`, belonging to
    /// a key or `-` at indent `n`.
    fn literal_block(&mut self, header: &str, n: usize) -> Option<Value> {
        let (chomp, rest) = match header.as_bytes().first() {
            Some(b'-') => (Chomp::Strip, &header[1..]),
            Some(b'+') => (Chomp::Keep, &header[1..]),
            _ => (Chomp::Clip, header),
        };
        let rest_trimmed = rest.trim_start_matches([' ', '\t']);
        if !rest_trimmed.is_empty()
            && (!rest_trimmed.starts_with('#') || rest_trimmed.len() == rest.len())
        {
            // An indentation indicator, a folded marker or junk.
            return None;
        }
        self.pos += 1;
        let mut content_indent = None;
        let mut body: Vec<&str> = Vec::new();
        let mut trailing_blank = 0usize;
        while let Some(line) = self.lines.get(self.pos) {
            let raw = line.raw?;
            if raw.contains('\t') && raw.trim_start_matches([' ', '\t']).is_empty() {
                return None;
            }
            if raw.bytes().all(|b| b == b' ') {
                // Blank lines longer than the indentation are content in
                // YAML's eyes, and leading ones fix the indentation: leave
                // both to serde-saphyr.
                match content_indent {
                    Some(ci) if raw.len() <= ci => {}
                    None if raw.is_empty() => {}
                    _ => return None,
                }
                trailing_blank += 1;
                self.pos += 1;
                continue;
            }
            let ci = match content_indent {
                Some(ci) => ci,
                None if line.indent > n => {
                    if trailing_blank > 0 {
                        return None;
                    }
                    content_indent = Some(line.indent);
                    line.indent
                }
                None => break,
            };
            if line.indent < ci {
                break;
            }
            body.extend(std::iter::repeat_n("", trailing_blank));
            trailing_blank = 0;
            body.push(&raw[ci..]);
            self.pos += 1;
        }
        if self.pos == self.lines.len() && !self.ends_with_newline {
            return None;
        }
        if body.is_empty() {
            return None;
        }
        let mut s = body.join("\n");
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => s.push('\n'),
            Chomp::Keep => {
                if self.pos == self.lines.len() {
                    // Blank lines at the end of a document: leave to saphyr.
                    return None;
                }
                for _ in 0..=trailing_blank {
                    s.push('\n');
                }
            }
        }
        Some(Value::String(s))
    }
}

#[derive(Clone, Copy)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

/// What follows a value on its line must be blanks or a comment.
fn end_of_line(rest: &str) -> Option<()> {
    let t = rest.trim_start_matches([' ', '\t']);
    if t.is_empty() || (t.starts_with('#') && t.len() < rest.len()) {
        Some(())
    } else {
        None
    }
}

/// `text` up to a comment (`#` after a blank), trailing blanks removed.
fn strip_comment(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut end = bytes.len();
    for i in 1..bytes.len() {
        if bytes[i] == b'#' && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            end = i;
            break;
        }
    }
    text[..end].trim_end_matches([' ', '\t'])
}

/// Splits `key: rest` (or `key:` at the end of the line); `None` when the
/// line is not a mapping entry this reader handles.
fn split_key(text: &str) -> Option<(String, &str)> {
    let first = *text.as_bytes().first()?;
    if first == b'"' || first == b'\'' {
        let (key, used) = quoted(text)?;
        let rest = text[used..].trim_start_matches([' ', '\t']);
        let rest = rest.strip_prefix(':')?;
        if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            return None;
        }
        return Some((key, rest));
    }
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'#' if i > 0 && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') => return None,
            b':' if bytes.get(i + 1).is_none_or(|b| *b == b' ' || *b == b'\t') => {
                let key = text[..i].trim_end_matches([' ', '\t']);
                // YAML caps implicit keys at 1024 characters.
                if key.len() > 1024 {
                    return None;
                }
                return is_plain_key(key).then(|| (key.to_string(), &text[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

/// Plain keys this reader takes as they are: they start like a word and are
/// not one of the words YAML gives another type.
fn is_plain_key(key: &str) -> bool {
    let Some(&first) = key.as_bytes().first() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'$' || first == b'_' || first == b'/')
        && !is_special_word(key)
}

/// Words some YAML schema reads as a bool, null, or float.
fn is_special_word(s: &str) -> bool {
    s.len() <= 8
        && matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n"
                | "yes"
                | "no"
                | "on"
                | "off"
                | "true"
                | "false"
                | "null"
                | "nan"
                | "inf"
                | "infinity"
        )
}

/// A plain scalar's value.
fn plain(s: &str, resolve: Resolve<'_>) -> Option<Value> {
    if s.is_empty() {
        return None;
    }
    if is_plain_string(s) {
        return Some(Value::String(s.to_string()));
    }
    if let Some(n) = decimal_int(s) {
        return Some(Value::Number(Number::from(n)));
    }
    if s.starts_with("---") || s.starts_with("...") {
        return None;
    }
    resolve(s)
}

/// Plain scalars that no YAML schema reads as anything but a string.
fn is_plain_string(s: &str) -> bool {
    let bytes = s.as_bytes();
    let first = bytes[0];
    if first.is_ascii_alphabetic() {
        return !is_special_word(s);
    }
    if first == b'/' {
        return true;
    }
    // `100m`, `1Gi`, `8080/TCP`: a digit first but a letter no number,
    // date or time can hold.
    first.is_ascii_digit()
        && !bytes.contains(&b':')
        && bytes
            .iter()
            .any(|b| b.is_ascii_alphabetic() && !b"abcdefABCDEFxXoOtTzZ".contains(b))
}

/// `0`, `42`, `-7`: integers without sign quirks, leading zeros or overflow.
fn decimal_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || digits.len() > 18
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// A single-line quoted scalar at the start of `s`: its value and the bytes
/// it spans.
fn quoted(s: &str) -> Option<(String, usize)> {
    let bytes = s.as_bytes();
    let mut out = String::new();
    if bytes[0] == b'\'' {
        let mut i = 1;
        let mut start = 1;
        loop {
            match bytes.get(i)? {
                b'\'' if bytes.get(i + 1) == Some(&b'\'') => {
                    out.push_str(&s[start..=i]);
                    i += 2;
                    start = i;
                }
                b'\'' => {
                    out.push_str(&s[start..i]);
                    return Some((out, i + 1));
                }
                _ => i += 1,
            }
        }
    }
    let mut i = 1;
    let mut start = 1;
    loop {
        match bytes.get(i)? {
            b'"' => {
                out.push_str(&s[start..i]);
                return Some((out, i + 1));
            }
            b'\\' => {
                out.push_str(&s[start..i]);
                let esc = *bytes.get(i + 1)?;
                let (c, used) = match esc {
                    b'0' => ('\0', 2),
                    b'a' => ('\x07', 2),
                    b'b' => ('\x08', 2),
                    b't' | b'\t' => ('\t', 2),
                    b'n' => ('\n', 2),
                    b'v' => ('\x0b', 2),
                    b'f' => ('\x0c', 2),
                    b'r' => ('\r', 2),
                    b'e' => ('\x1b', 2),
                    b' ' => (' ', 2),
                    b'"' => ('"', 2),
                    b'/' => ('/', 2),
                    b'\\' => ('\\', 2),
                    b'N' => ('\u{85}', 2),
                    b'_' => ('\u{a0}', 2),
                    b'L' => ('\u{2028}', 2),
                    b'P' => ('\u{2029}', 2),
                    b'x' => (hex_char(s.get(i + 2..i + 4)?)?, 4),
                    b'u' => (hex_char(s.get(i + 2..i + 6)?)?, 6),
                    b'U' => (hex_char(s.get(i + 2..i + 10)?)?, 10),
                    _ => return None,
                };
                out.push(c);
                i += used;
                start = i;
            }
            _ => i += 1,
        }
    }
}

fn hex_char(hex: &str) -> Option<char> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    char::from_u32(u32::from_str_radix(hex, 16).ok()?)
}

/// A one-line flow collection (or scalar inside one) starting at `s[at..]`:
/// its value and the index just past it.
fn flow(s: &str, at: usize, resolve: Resolve<'_>) -> Option<(Value, usize)> {
    let bytes = s.as_bytes();
    let skip = |mut i: usize| {
        while matches!(bytes.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    };
    let i = skip(at);
    match *bytes.get(i)? {
        b'[' => {
            let mut items = Vec::new();
            let mut i = skip(i + 1);
            if bytes.get(i) == Some(&b']') {
                return Some((Value::Array(items), i + 1));
            }
            loop {
                let (item, next) = flow(s, i, resolve)?;
                items.push(item);
                i = skip(next);
                match *bytes.get(i)? {
                    b',' => i = skip(i + 1),
                    b']' => return Some((Value::Array(items), i + 1)),
                    _ => return None,
                }
                if bytes.get(i) == Some(&b']') {
                    return Some((Value::Array(items), i + 1));
                }
            }
        }
        b'{' => {
            let mut map = Map::new();
            let mut i = skip(i + 1);
            if bytes.get(i) == Some(&b'}') {
                return Some((Value::Object(map), i + 1));
            }
            loop {
                let (key, next) = match *bytes.get(i)? {
                    b'"' | b'\'' => {
                        let (k, used) = quoted(&s[i..])?;
                        (k, i + used)
                    }
                    _ => {
                        let len = s[i..].find(':')?;
                        let key = s[i..i + len].trim_end_matches([' ', '\t']);
                        if !is_plain_key(key) || key.contains([',', '[', ']', '{', '}', '#']) {
                            return None;
                        }
                        (key.to_string(), i + len)
                    }
                };
                let j = skip(next);
                if bytes.get(j) != Some(&b':') || !matches!(bytes.get(j + 1), Some(b' ' | b'\t')) {
                    return None;
                }
                let (value, next) = flow(s, j + 1, resolve)?;
                if map.insert(key, value).is_some() {
                    return None;
                }
                i = skip(next);
                match *bytes.get(i)? {
                    b',' => i = skip(i + 1),
                    b'}' => return Some((Value::Object(map), i + 1)),
                    _ => return None,
                }
                if bytes.get(i) == Some(&b'}') {
                    return Some((Value::Object(map), i + 1));
                }
            }
        }
        b'"' | b'\'' => {
            let (v, used) = quoted(&s[i..])?;
            Some((Value::String(v), i + used))
        }
        _ => {
            let len = s[i..]
                .find([',', '[', ']', '{', '}'])
                .unwrap_or(s.len() - i);
            let text = s[i..i + len].trim_end_matches([' ', '\t']);
            let first = *text.as_bytes().first()?;
            if text.contains([':', '#'])
                || matches!(
                    first,
                    b'-' | b'?' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`'
                )
            {
                return None;
            }
            Some((plain(text, resolve)?, i + len))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_resolve(_: &str) -> Option<Value> {
        None
    }

    fn read(text: &str) -> Option<Vec<Value>> {
        parse_documents(text, &no_resolve)
    }

    #[test]
    fn reads_nested_blocks_and_compact_sequences() {
        let docs = read("a:\n  b: 1\n  c:\n  - x: u\n    z: w\n  - - q\n").unwrap_or_default();
        assert_eq!(
            docs,
            vec![serde_json::json!({"a": {"b": 1, "c": [{"x": "u", "z": "w"}, ["q"]]}})]
        );
    }

    #[test]
    fn literal_blocks_follow_their_chomping_indicator() {
        let docs =
            read("a: |\n  one\n\n  two\n\nb: |-\n  x\nc: |+\n  y\n\nd: e\n").unwrap_or_default();
        assert_eq!(
            docs,
            vec![serde_json::json!({"a": "one\n\ntwo\n", "b": "x", "c": "y\n\n", "d": "e"})]
        );
    }

    #[test]
    fn declines_what_it_does_not_model() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: >\n  folded\n",
            "a: b\n  continued\n",
            "a: 1\na: 2\n",
            "a: \"open\n  quote\"\n",
            "a:\n\t- tab\n",
            "a: 0644\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: b\r\n",
            "a: b\u{1}c\n",
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
    }
}
