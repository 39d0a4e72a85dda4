//! Canonical JSON: strict parsing and deterministic serialisation.
//!
//! The canonical form is RFC 8785 (JCS) restricted to integers, which is
//! also Matrix's "canonical JSON":
//!
//! * object keys sorted by Unicode code point (equivalently by UTF-8 bytes),
//! * no insignificant whitespace,
//! * strings are UTF-8, only `"`, `\` and control characters (U+0000–U+001F)
//!   are escaped: `\b \f \n \r \t` use their short forms, other control
//!   characters use `\u00xx` with lower-case hex digits,
//! * numbers are integers in `[-(2^53-1), 2^53-1]` written in decimal
//!   without leading zeros, `+`, fraction or exponent. Floats are forbidden.
//!
//! [`parse_strict`] additionally rejects duplicate object keys.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Largest integer allowed in protocol JSON (2^53 − 1).
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;
/// Smallest integer allowed in protocol JSON (−(2^53 − 1)).
pub const MIN_SAFE_INTEGER: i64 = -MAX_SAFE_INTEGER;

/// Errors from strict parsing or canonicalisation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// Not valid JSON (or trailing data).
    #[error("JSON syntax error: {0}")]
    Syntax(String),
    /// An object contains the same key twice.
    #[error("duplicate object key: {0:?}")]
    DuplicateKey(String),
    /// A number with a fraction or exponent (or `-0`).
    #[error("floating point numbers are not allowed")]
    Float,
    /// An integer outside ±(2^53−1).
    #[error("integer outside of ±(2^53-1)")]
    IntegerOutOfRange,
    /// Input is not UTF-8.
    #[error("input is not valid UTF-8")]
    NotUtf8,
}

impl CanonicalError {
    /// Stable snake_case code for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            CanonicalError::Syntax(_) => "syntax",
            CanonicalError::DuplicateKey(_) => "duplicate_key",
            CanonicalError::Float => "float",
            CanonicalError::IntegerOutOfRange => "integer_out_of_range",
            CanonicalError::NotUtf8 => "not_utf8",
        }
    }
}

/// Deserialisation seed building a [`Value`] while enforcing the strict rules.
/// The precise error is stashed in `err` because serde errors are stringly.
struct Strict<'a> {
    err: &'a RefCell<Option<CanonicalError>>,
}

impl<'a> Strict<'a> {
    fn fail<E: de::Error>(&self, e: CanonicalError) -> E {
        let msg = e.to_string();
        let mut slot = self.err.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
        E::custom(msg)
    }
}

impl<'de, 'a> DeserializeSeed<'de> for Strict<'a> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'a> Visitor<'de> for Strict<'a> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        if !(MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
            return Err(self.fail(CanonicalError::IntegerOutOfRange));
        }
        Ok(Value::Number(Number::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        if v > MAX_SAFE_INTEGER as u64 {
            return Err(self.fail(CanonicalError::IntegerOutOfRange));
        }
        Ok(Value::Number(Number::from(v)))
    }
    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<Value, E> {
        Err(self.fail(CanonicalError::Float))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict { err: self.err })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(self.fail(CanonicalError::DuplicateKey(k)));
            }
            let v = map.next_value_seed(Strict { err: self.err })?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Parses UTF-8 JSON strictly: rejects duplicate keys (at any depth),
/// non-integer numbers (fractions, exponents, `-0`), integers outside
/// ±(2^53−1), invalid UTF-8 and trailing data.
///
/// Note: this does *not* require the input to be in canonical form; use
/// [`to_canonical_string`] and compare if you need that.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CanonicalError::NotUtf8)?;
    let err = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let res = Strict { err: &err }.deserialize(&mut de);
    if let Some(e) = err.borrow_mut().take() {
        return Err(e);
    }
    let value = res.map_err(|e| CanonicalError::Syntax(e.to_string()))?;
    de.end()
        .map_err(|e| CanonicalError::Syntax(e.to_string()))?;
    Ok(value)
}

/// Checks the number rules (integers only, within ±(2^53−1)) on an
/// in-memory value, recursively.
pub fn check_value(v: &Value) -> Result<(), CanonicalError> {
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(n) => check_number(n).map(|_| ()),
        Value::Array(a) => a.iter().try_for_each(check_value),
        Value::Object(o) => o.values().try_for_each(check_value),
    }
}

fn check_number(n: &Number) -> Result<i64, CanonicalError> {
    if let Some(i) = n.as_i64() {
        if (MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) {
            Ok(i)
        } else {
            Err(CanonicalError::IntegerOutOfRange)
        }
    } else if n.is_u64() {
        Err(CanonicalError::IntegerOutOfRange)
    } else {
        Err(CanonicalError::Float)
    }
}

/// Serialises a value in canonical form (see the module documentation).
///
/// Fails if the value contains a float or an out-of-range integer.
pub fn to_canonical_string(v: &Value) -> Result<String, CanonicalError> {
    let mut out = String::new();
    write_value(&mut out, v)?;
    Ok(out)
}

/// Whether `raw` is exactly the canonical serialisation of `v` (what a
/// received message must be).
pub fn is_canonical(v: &Value, raw: &[u8]) -> Result<bool, CanonicalError> {
    let mut out = String::with_capacity(raw.len());
    write_value(&mut out, v)?;
    Ok(out.as_bytes() == raw)
}

/// Whether `raw` is canonical JSON, in one pass over the bytes and with no
/// allocation (but for object keys that hold an escape): the same answer
/// as [`parse_strict`] succeeding and [`is_canonical`] then holding, for
/// values nested at most [`MAX_SCAN_DEPTH`] deep (deeper ones answer
/// `false`; the long way then tells what is wrong). Canonical keys
/// strictly increase, so a canonical object has no duplicate key.
///
/// A receiver checks the common case, a well-formed message, with this;
/// [`parse_strict`] and [`is_canonical`] name the fault of the others.
pub fn is_canonical_bytes(raw: &[u8]) -> bool {
    std::str::from_utf8(raw).is_ok_and(is_canonical_text)
}

/// [`is_canonical_bytes`] for text already known to be UTF-8.
pub fn is_canonical_text(text: &str) -> bool {
    let mut scan = Scan::new(text.as_bytes());
    scan.value(0) && scan.i == text.len()
}

/// Deepest nesting [`is_canonical_bytes`] follows (serde_json's own limit
/// is 128).
pub const MAX_SCAN_DEPTH: usize = 64;

/// [`is_canonical_bytes`]' cursor over UTF-8 bytes: its methods for
/// canonical JSON.
type Scan<'a> = crate::cursor::Cursor<'a>;

impl<'a> Scan<'a> {
    fn value(&mut self, depth: usize) -> bool {
        match self.peek() {
            Some(b'{') => depth < MAX_SCAN_DEPTH && self.object(depth + 1),
            Some(b'[') => depth < MAX_SCAN_DEPTH && self.array(depth + 1),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    /// An integer written as [`write_value`] writes it: `0` or no leading
    /// zero, no `-0`, no fraction or exponent (the caller sees those as
    /// the wrong next byte), within ±(2^53−1).
    fn number(&mut self) -> bool {
        let negative = self.eat(b'-');
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let digits = &self.s[start..self.i];
        match digits {
            [] => false,
            [b'0'] => !negative,
            [b'0', ..] => false,
            _ if digits.len() > 16 => false,
            _ => {
                let n = digits
                    .iter()
                    .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
                n <= MAX_SAFE_INTEGER as u64
            }
        }
    }

    /// A string as [`write_string`] writes it; its content as it decodes
    /// (borrowed unless it holds an escape). `None` if not canonical.
    fn string(&mut self) -> Option<std::borrow::Cow<'a, [u8]>> {
        let b = self.s;
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        let mut escaped = false;
        loop {
            match *b.get(self.i)? {
                b'"' => break,
                b'\\' => {
                    let len = match *b.get(self.i + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                        b'u' => {
                            // Only the control characters without a short
                            // form, in lower-case hex.
                            let hex = b.get(self.i + 2..self.i + 6)?;
                            let lower = |c: u8| matches!(c, b'0'..=b'9' | b'a'..=b'f');
                            if hex[0] != b'0' || hex[1] != b'0' || hex[2] > b'1' {
                                return None;
                            }
                            if !hex.iter().all(|&c| lower(c)) {
                                return None;
                            }
                            let code =
                                u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                            if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                                return None;
                            }
                            6
                        }
                        _ => return None,
                    };
                    escaped = true;
                    self.i += len;
                }
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        let content = &b[start..self.i];
        self.i += 1;
        if !escaped {
            return Some(std::borrow::Cow::Borrowed(content));
        }
        // Decoded for the key order (escapes are rare in keys).
        let text = std::str::from_utf8(&b[start - 1..self.i]).ok()?;
        let decoded: String = serde_json::from_str(text).ok()?;
        Some(std::borrow::Cow::Owned(decoded.into_bytes()))
    }

    fn array(&mut self, depth: usize) -> bool {
        self.i += 1;
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.value(depth) {
                return false;
            }
            if self.eat(b']') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        self.i += 1;
        if self.eat(b'}') {
            return true;
        }
        let mut previous: Option<std::borrow::Cow<'a, [u8]>> = None;
        loop {
            let Some(key) = self.string() else {
                return false;
            };
            // Sorted by code point (the UTF-8 bytes), each key once.
            if previous.as_ref().is_some_and(|p| *p >= key) {
                return false;
            }
            previous = Some(key);
            if !self.eat(b':') || !self.value(depth) {
                return false;
            }
            if self.eat(b'}') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }
}

/// Serialises any `Serialize` type to canonical JSON bytes.
pub fn canonical_bytes<T: serde::Serialize + ?Sized>(t: &T) -> Result<Vec<u8>, CanonicalError> {
    let v = serde_json::to_value(t).map_err(|e| CanonicalError::Syntax(e.to_string()))?;
    Ok(to_canonical_string(&v)?.into_bytes())
}

fn write_value(out: &mut String, v: &Value) -> Result<(), CanonicalError> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            let i = check_number(n)?;
            out.push_str(&i.to_string());
        }
        Value::String(s) => write_string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(o) => {
            // Sort explicitly: do not rely on serde_json's map implementation.
            let mut entries: Vec<(&String, &Value)> = o.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, val)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Bytes that `c` takes inside a canonical JSON string (escapes included).
pub fn canonical_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{08}' | '\u{0c}' | '\n' | '\r' | '\t' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Bytes that `s` takes as a canonical JSON string, without its quotes.
pub fn canonical_str_len(s: &str) -> usize {
    s.chars().map(canonical_char_len).sum()
}

/// The longest prefix of `s`, cut on a character boundary, whose canonical
/// JSON form (escapes included, quotes excluded) takes at most `max_bytes`.
pub fn truncate_canonical(s: &str, max_bytes: usize) -> &str {
    let mut used = 0usize;
    for (i, c) in s.char_indices() {
        used += canonical_char_len(c);
        if used > max_bytes {
            return &s[..i];
        }
    }
    s
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Runs of characters that need no escape are copied at once.
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.push_str(&s[start..i]);
        start = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b => out.push_str(&format!("\\u{b:04x}")),
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_strips_whitespace() {
        let v = parse_strict(br#" { "b" : 1, "a" : [ true, null, "x" ], "A": {"z":0,"y":-5} } "#)
            .unwrap();
        assert_eq!(
            to_canonical_string(&v).unwrap(),
            r#"{"A":{"y":-5,"z":0},"a":[true,null,"x"],"b":1}"#
        );
    }

    #[test]
    fn code_point_order() {
        let v = json!({"é": 1, "z": 2, "Z": 3, "😀": 4, "\u{e000}": 5, "aa": 6, "a": 7});
        assert_eq!(
            to_canonical_string(&v).unwrap(),
            "{\"Z\":3,\"a\":7,\"aa\":6,\"z\":2,\"é\":1,\"\u{e000}\":5,\"😀\":4}"
        );
    }

    #[test]
    fn canonical_lengths_and_truncation() {
        for s in [
            "",
            "abc",
            "é😀",
            "a\"b\\c\n\t\u{1}\u{0}\u{1f}",
            "\u{7f}\u{2028}",
        ] {
            let written = to_canonical_string(&Value::String(s.into())).unwrap();
            assert_eq!(canonical_str_len(s), written.len() - 2, "{s:?}");
        }
        let s = "aé😀\u{0}z";
        assert_eq!(truncate_canonical(s, 0), "");
        assert_eq!(truncate_canonical(s, 2), "a");
        assert_eq!(truncate_canonical(s, 3), "aé");
        assert_eq!(truncate_canonical(s, 6), "aé");
        assert_eq!(truncate_canonical(s, 7), "aé😀");
        assert_eq!(truncate_canonical(s, 13), "aé😀\u{0}");
        assert_eq!(truncate_canonical(s, 100), s);
    }

    #[test]
    fn string_escapes() {
        let v = json!("q\"b\\s/\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}é😀\u{2028}");
        assert_eq!(
            to_canonical_string(&v).unwrap(),
            "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}é😀\u{2028}\""
        );
        // agrees with serde_json's compact writer
        assert_eq!(
            to_canonical_string(&v).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
    }

    #[test]
    fn matches_serde_json_compact_on_sorted_maps() {
        let v = parse_strict(
            "{\"z\":{\"b\":[1,2,{\"y\":\"\\u00e9\\n\"}],\"a\":-9007199254740991},\"m\":\"\\ud83d\\ude00\"}"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            to_canonical_string(&v).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
    }

    #[test]
    fn rejects_duplicates_at_any_depth() {
        assert_eq!(
            parse_strict(br#"{"a":1,"a":2}"#),
            Err(CanonicalError::DuplicateKey("a".into()))
        );
        assert_eq!(
            parse_strict(br#"{"x":[{"b":{"c":1,"c":1}}]}"#),
            Err(CanonicalError::DuplicateKey("c".into()))
        );
        // escaped form of the same key is a duplicate too
        assert_eq!(
            parse_strict(br#"{"a":1,"\u0061":2}"#),
            Err(CanonicalError::DuplicateKey("a".into()))
        );
    }

    #[test]
    fn rejects_floats_and_big_integers() {
        for bad in [
            "1.0",
            "1e3",
            "1E3",
            "[0.5]",
            "{\"a\":-0.0}",
            "-0",
            "1.5e300",
        ] {
            assert_eq!(
                parse_strict(bad.as_bytes()),
                Err(CanonicalError::Float),
                "{bad}"
            );
        }
        for bad in [
            "9007199254740992",
            "-9007199254740992",
            "18446744073709551615",
        ] {
            assert_eq!(
                parse_strict(bad.as_bytes()),
                Err(CanonicalError::IntegerOutOfRange),
                "{bad}"
            );
        }
        assert!(parse_strict(b"9007199254740991").is_ok());
        assert!(parse_strict(b"-9007199254740991").is_ok());
        assert_eq!(check_value(&json!(1.5)), Err(CanonicalError::Float));
        assert_eq!(
            check_value(&json!({"a": [u64::MAX]})),
            Err(CanonicalError::IntegerOutOfRange)
        );
        assert_eq!(
            check_value(&json!({"a": [i64::MIN]})),
            Err(CanonicalError::IntegerOutOfRange)
        );
        assert!(to_canonical_string(&json!([0.1])).is_err());
    }

    #[test]
    fn rejects_syntax_and_utf8() {
        assert!(matches!(parse_strict(b"{"), Err(CanonicalError::Syntax(_))));
        assert!(matches!(
            parse_strict(b"{} x"),
            Err(CanonicalError::Syntax(_))
        ));
        assert!(matches!(parse_strict(b""), Err(CanonicalError::Syntax(_))));
        assert!(matches!(
            parse_strict(b"\"\\ud800\""),
            Err(CanonicalError::Syntax(_))
        ));
        assert_eq!(parse_strict(b"\"\xff\""), Err(CanonicalError::NotUtf8));
    }

    /// The long way's answer: strict parse, then the canonical writer's
    /// bytes compared.
    fn canonical_the_long_way(raw: &[u8]) -> bool {
        parse_strict(raw).is_ok_and(|v| is_canonical(&v, raw) == Ok(true))
    }

    #[test]
    fn the_byte_scan_agrees_with_the_long_way_on_edge_cases() {
        let cases: &[&[u8]] = &[
            b"{}",
            b"[]",
            b"0",
            b"-1",
            b"-0",
            b"01",
            b"1.0",
            b"1e3",
            b"true",
            b"nul",
            b"9007199254740991",
            b"9007199254740992",
            b"-9007199254740991",
            b"-9007199254740992",
            b"12345678901234567",
            b"\"\"",
            b"\"a\"",
            b" {}",
            b"{} ",
            b"{\"a\":1}",
            b"{\"a\" :1}",
            b"{\"a\":1,\"a\":2}",
            b"{\"b\":1,\"a\":2}",
            b"{\"a\":1,\"b\":2}",
            b"{\"a\":1,}",
            b"[1,]",
            b"[1 ,2]",
            b"{\"a\":[1,{\"c\":null,\"b\":0}]}",
            b"\"\\u0001\"",
            b"\"\\u001f\"",
            b"\"\\u001F\"",
            b"\"\\u0008\"",
            b"\"\\b\"",
            b"\"\\u000a\"",
            b"\"\\n\"",
            b"\"\\/\"",
            b"\"/\"",
            b"\"\\u0041\"",
            b"\"\\ud83d\\ude00\"",
            b"\"\x7f\"",
            b"\"\x01\"",
            b"\"\\\"\\\\\"",
            b"\"\xc3\xa9\"",
            b"\"\xff\"",
            b"{\"\\n\":1,\"a\":2}",
            b"{\"a\":2,\"\\n\":1}",
            b"{\"\\\"\":1,\"a\":2}",
            b"{\"a\":1,\"\\u0061\":2}",
            b"{\"Z\":1,\"a\":2,\"\xc3\xa9\":3}",
            b"{\"\xc3\xa9\":3,\"a\":2}",
            b"{\"a\":1}x",
            b"[",
            b"\"abc",
            b"\"\\u00",
            b"",
        ];
        for raw in cases {
            assert_eq!(
                is_canonical_bytes(raw),
                canonical_the_long_way(raw),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(is_canonical_bytes(deep(MAX_SCAN_DEPTH).as_bytes()));
        // Deeper: the scan declines, the long way decides.
        assert!(!is_canonical_bytes(deep(MAX_SCAN_DEPTH + 1).as_bytes()));
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = "[a-zé\u{1}\u{1f}\u{7f}\"\\\\/\n\t\u{8}\u{c}\r😀\u{2028} ]{0,8}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER).prop_map(Value::from),
            (-20i64..20).prop_map(Value::from),
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(text, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Canonical bytes pass the scan; any edit of them gets the long
        /// way's answer.
        #[test]
        fn the_byte_scan_agrees_with_the_long_way(
            v in json_value(),
            edits in proptest::collection::vec((0usize..10_000, 0usize..24, 0u8..3), 1..4),
        ) {
            let raw = to_canonical_string(&v).unwrap().into_bytes();
            proptest::prop_assert!(is_canonical_bytes(&raw));
            let alphabet: &[&[u8]] = &[
                b"{", b"}", b"[", b"]", b"\"", b"\\", b",", b":", b" ", b"0", b"1", b"9",
                b"-", b".", b"e", b"u", b"a", b"z", b"\xc3\xa9", b"\n", b"\\u0041", b"\\u0001",
                b"\"a\":1,", b"null",
            ];
            let mut edited = raw.clone();
            for (at, what, how) in edits {
                let at = at % (edited.len() + 1);
                let bytes = alphabet[what];
                match how {
                    0 => { edited.splice(at..at, bytes.iter().copied()); }
                    1 if at < edited.len() => { edited.remove(at); }
                    _ if at < edited.len() => {
                        edited.splice(at..at + 1, bytes.iter().copied());
                    }
                    _ => {}
                }
            }
            proptest::prop_assert_eq!(
                is_canonical_bytes(&edited),
                canonical_the_long_way(&edited),
                "{}", String::from_utf8_lossy(&edited)
            );
        }
    }

    #[test]
    fn canonical_bytes_of_struct() {
        #[derive(serde::Serialize)]
        struct S {
            z: i64,
            a: &'static str,
        }
        assert_eq!(
            canonical_bytes(&S { z: 1, a: "à" }).unwrap(),
            "{\"a\":\"à\",\"z\":1}".as_bytes()
        );
    }
}
