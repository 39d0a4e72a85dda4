//! Small shared helpers: clock, identifiers, tokens, hashing, bitsets.

pub mod bits;

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new time-ordered identifier (UUIDv7, hyphenated).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new secret token: a prefix and 32 random bytes, base64url.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Hex SHA-256 (tokens are stored hashed: they are high-entropy, so a fast
/// hash is enough; passwords use argon2id).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Days since 1970-01-01 for a `YYYY-MM-DD` date.
pub fn date_to_days(date: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((d - epoch).num_days())
}

/// `YYYY-MM-DD` for a number of days since 1970-01-01.
pub fn days_to_date(days: i64) -> String {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Today as days since 1970-01-01.
pub fn today_days() -> i64 {
    now_ms().div_euclid(86_400_000)
}

/// JSON safe to embed in an HTML `<script>` element: `<`, `>` and `&`
/// (which can only occur inside strings) are written as `\u003c`,
/// `\u003e` and `\u0026`.
pub fn json_for_html<T: serde::Serialize>(value: &T) -> crate::error::Result<String> {
    let text = serde_json::to_string(value)
        .map_err(|e| crate::error::Error::Internal(anyhow::anyhow!("JSON: {e}")))?;
    Ok(text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

/// The `VALUES` list of a multi-row statement (or an `IN` list, with `row`
/// = `?`): `row` (one row, each of its placeholders written `?`, bound row
/// after row in that order) repeated `rows` times. On PostgreSQL the placeholders are numbered across the rows
/// (`$1`, `$2`, …); on SQLite they stay anonymous: sqlx asks SQLite the name
/// of each parameter of a statement, and SQLite finds a numbered one by
/// scanning the statement's list of names, which is quadratic in a
/// statement of several hundred parameters (the inbox's multi-row writes:
/// 3.6 % of the node's CPU).
pub fn sql_rows(postgres: bool, rows: usize, row: &str) -> String {
    let mut out = String::with_capacity(rows * (row.len() + 8));
    let mut n = 0;
    for i in 0..rows {
        if i > 0 {
            out.push_str(", ");
        }
        if !postgres {
            out.push_str(row);
            continue;
        }
        for part in row.split_inclusive('?') {
            match part.strip_suffix('?') {
                Some(text) => {
                    n += 1;
                    out.push_str(text);
                    out.push('$');
                    out.push_str(&n.to_string());
                }
                None => out.push_str(part),
            }
        }
    }
    out
}

/// Unix ms → a date as a French sentence says it (« 12 mars 2027 »), in UTC.
pub fn date_fr(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    use chrono::Datelike;
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(d) => {
            let day = d.day();
            let day = if day == 1 {
                "1er".to_string()
            } else {
                day.to_string()
            };
            format!("{day} {} {}", MONTHS[d.month0() as usize], d.year())
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_for_html_escapes_markup() {
        let v = serde_json::json!({ "d": "</script><script>alert(1)</script> & co" });
        let s = json_for_html(&v).expect("json");
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&s).expect("still JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn multi_row_values_number_postgres_placeholders_across_rows() {
        assert_eq!(
            sql_rows(false, 2, "(?, 'a', ?)"),
            "(?, 'a', ?), (?, 'a', ?)"
        );
        assert_eq!(
            sql_rows(true, 2, "(?, 'a', ?)"),
            "($1, 'a', $2), ($3, 'a', $4)"
        );
        assert_eq!(sql_rows(true, 1, "(?)"), "($1)");
        assert_eq!(sql_rows(true, 0, "(?)"), "");
        assert_eq!(sql_rows(true, 3, "?"), "$1, $2, $3");
    }

    #[test]
    fn dates_and_tokens() {
        assert_eq!(date_to_days("1970-01-02"), Some(1));
        assert_eq!(date_to_days("2026-13-01"), None);
        let t = new_token("viv");
        assert!(t.starts_with("viv_") && t.len() > 40);
        assert_ne!(new_token("viv"), t);
        assert_eq!(sha256_hex(b"").len(), 64);
    }
}
