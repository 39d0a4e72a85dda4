//! Field checks shared by local input and by payloads received from other
//! nodes: text without control characters, bounded lengths and list sizes,
//! identifiers, timestamps. Each check appends [`FieldError`]s, so a caller
//! reports every problem of an input at once.
//!
//! Text rule: no Unicode control character (category Cc: U+0000–U+001F,
//! U+007F–U+009F) except tab, line feed and carriage return. PostgreSQL
//! refuses U+0000 in `text`, which canonical JSON allows (`\u0000`); the
//! other control characters have no business in a name or a description.

use crate::error::FieldError;

/// Longest identifier (offer, referral, candidate reference) in characters.
pub const MAX_ID_CHARS: usize = 128;

/// Whether `c` is refused in text fields.
pub fn forbidden_char(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The message for a text holding a forbidden character.
fn control_message(s: &str) -> Option<String> {
    let c = s.chars().find(|c| forbidden_char(*c))?;
    Some(format!(
        "must not contain control characters (found U+{:04X}; only tab and line breaks are allowed)",
        c as u32
    ))
}

/// `value` holds no forbidden control character.
pub fn no_controls(errs: &mut Vec<FieldError>, field: &str, value: &str) {
    if let Some(m) = control_message(value) {
        errs.push(FieldError::new(field, m));
    }
}

/// A text field: no control character; non-blank when `required`; at most
/// `max_chars` characters.
pub fn text(
    errs: &mut Vec<FieldError>,
    field: &str,
    value: &str,
    required: bool,
    max_chars: usize,
) {
    if required && value.trim().is_empty() {
        errs.push(FieldError::new(field, "must not be empty"));
        return;
    }
    let n = value.chars().count();
    if n > max_chars {
        errs.push(FieldError::new(
            field,
            format!("at most {max_chars} characters (got {n})"),
        ));
        return;
    }
    no_controls(errs, field, value);
}

/// An optional text field (see [`text`]).
pub fn opt_text(errs: &mut Vec<FieldError>, field: &str, value: Option<&str>, max_chars: usize) {
    if let Some(v) = value {
        text(errs, field, v, false, max_chars);
    }
}

/// A list of short texts: at most `max_items`, each non-blank and at most
/// `max_chars` characters.
pub fn text_list(
    errs: &mut Vec<FieldError>,
    field: &str,
    values: &[String],
    max_items: usize,
    max_chars: usize,
) {
    if values.len() > max_items {
        errs.push(FieldError::new(
            field,
            format!("at most {max_items} items (got {})", values.len()),
        ));
        return;
    }
    for (i, v) in values.iter().enumerate() {
        text(errs, &format!("{field}[{i}]"), v, true, max_chars);
    }
}

/// An identifier chosen by another node: 1 to [`MAX_ID_CHARS`] characters,
/// no control character, no surrounding space.
pub fn identifier(errs: &mut Vec<FieldError>, field: &str, value: &str) {
    let n = value.chars().count();
    if n == 0 || n > MAX_ID_CHARS {
        errs.push(FieldError::new(
            field,
            format!("must be 1 to {MAX_ID_CHARS} characters"),
        ));
    } else if value.trim() != value {
        errs.push(FieldError::new(field, "must not start or end with a space"));
    } else {
        no_controls(errs, field, value);
    }
}

/// An integer in `range`.
pub fn int_in(
    errs: &mut Vec<FieldError>,
    field: &str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
) {
    if let Some(v) = value {
        if !range.contains(&v) {
            errs.push(FieldError::new(
                field,
                format!("must be between {} and {}", range.start(), range.end()),
            ));
        }
    }
}

/// A timestamp (unix ms) set by another node: after 2000-01-01 and no later
/// than `now_ms + skew_ms`.
pub fn timestamp(errs: &mut Vec<FieldError>, field: &str, value: i64, now_ms: i64, skew_ms: i64) {
    const Y2000_MS: i64 = 946_684_800_000;
    if value < Y2000_MS {
        errs.push(FieldError::new(
            field,
            "must be a time in unix milliseconds after 2000-01-01",
        ));
    } else if value > now_ms.saturating_add(skew_ms) {
        errs.push(FieldError::new(field, "must not be in the future"));
    }
}

/// A calendar date `YYYY-MM-DD`.
pub fn date(errs: &mut Vec<FieldError>, field: &str, value: Option<&str>) {
    if let Some(d) = value {
        if d.len() != 10 || crate::util::date_to_days(d).is_none() {
            errs.push(FieldError::new(field, "must be a date YYYY-MM-DD"));
        }
    }
}

/// A configured item's code and name (`[[aids]]`, `[[programmes]]`), for
/// start-up checks: the code 1 to 40 lower-case letters, digits or hyphens
/// and not in `seen` yet; the name 1 to 200 characters. `at` names the item
/// in the message (`aids[0]`).
pub fn config_code_and_name<'a>(
    at: &str,
    code: &'a str,
    name: &str,
    seen: &mut std::collections::HashSet<&'a str>,
) -> Result<(), String> {
    let code_ok = !code.is_empty()
        && code.len() <= 40
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !code_ok {
        return Err(format!(
            "{at}.code: 1 to 40 lower-case letters, digits or hyphens, got {code:?}"
        ));
    }
    if !seen.insert(code) {
        return Err(format!("{at}.code: {code:?} is used twice"));
    }
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(format!("{at}.name: 1 to 200 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errs: &[FieldError]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn control_characters_are_refused_except_tab_and_line_breaks() {
        let mut errs = Vec::new();
        text(&mut errs, "ok", "Ligne 1\r\nLigne 2\tfin é 😀", true, 100);
        assert!(errs.is_empty(), "{errs:?}");
        for (i, bad) in ["a\u{0}b", "\u{1}", "x\u{7f}", "\u{85}", "\u{9f}"]
            .iter()
            .enumerate()
        {
            text(&mut errs, &format!("f{i}"), bad, true, 100);
        }
        assert_eq!(fields(&errs), ["f0", "f1", "f2", "f3", "f4"]);
        assert!(errs[0].message.contains("U+0000"), "{}", errs[0].message);
    }

    #[test]
    fn lengths_lists_ids_numbers_and_times() {
        let mut errs = Vec::new();
        text(&mut errs, "long", &"é".repeat(201), true, 200);
        text(&mut errs, "blank", "  ", true, 200);
        text_list(&mut errs, "many", &vec!["x".to_string(); 6], 5, 10);
        text_list(&mut errs, "items", &["ok".into(), " ".into()], 5, 10);
        identifier(&mut errs, "id", &"a".repeat(129));
        identifier(&mut errs, "spaced", " a");
        identifier(&mut errs, "fine", "cd41-offre-1");
        int_in(&mut errs, "n", Some(-5), 1..=10);
        int_in(&mut errs, "none", None, 1..=10);
        timestamp(
            &mut errs,
            "future",
            9_007_199_254_740_991,
            1_750_000_000_000,
            300_000,
        );
        timestamp(&mut errs, "old", 5, 1_750_000_000_000, 300_000);
        timestamp(&mut errs, "now", 1_750_000_000_000, 1_750_000_000_000, 0);
        date(&mut errs, "d", Some("2026-02-30"));
        date(&mut errs, "d2", Some("2026-02-28"));
        assert_eq!(
            fields(&errs),
            ["long", "blank", "many", "items[1]", "id", "spaced", "n", "future", "old", "d"]
        );
        assert_eq!(errs[0].message, "at most 200 characters (got 201)");
    }
}
