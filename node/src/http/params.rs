//! Query-string parameters: one extractor whose rejections are problem
//! documents naming the parameter, and range checks that refuse (never
//! clamp or wrap) out-of-range paging, limits, radii and coordinates.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{Error, FieldError, Result};

/// Like `axum::extract::Query`, but a bad parameter gives a 400 problem
/// with the parameter named (`errors[].field`).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match parts.uri.query() {
            None | Some("") => Ok(None),
            Some(q) => parse_query(q).map(|v| Some(ApiQuery(v))),
        }
    }
}

/// Parse a query string into `T`, naming the failing parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T> {
    let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        // serde names unknown/missing fields in the message itself.
        let field = if path == "." {
            field_in_message(&msg).unwrap_or_else(|| "query".to_string())
        } else {
            path
        };
        Error::field(field, msg)
    })
}

/// A yes/no query parameter as people and tools write it: `true`/`false`,
/// `1`/`0`, `yes`/`no`, `on`/`off` (any case); anything else is refused.
/// For `#[serde(default, deserialize_with = "crate::http::params::flag")]`
/// on an `Option<bool>`.
pub fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<bool>, D::Error> {
    let raw: String = serde::Deserialize::deserialize(d)?;
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(Some(true)),
        "false" | "0" | "no" | "off" => Ok(Some(false)),
        _ => Err(serde::de::Error::custom(format!(
            "expected true or false (or 1 / 0), not {:?}",
            raw.chars().take(20).collect::<String>()
        ))),
    }
}

fn field_in_message(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

/// Collects parameter errors so that every bad parameter is reported.
#[derive(Default)]
pub struct Checks(pub Vec<FieldError>);

impl Checks {
    /// New, empty.
    pub fn new() -> Checks {
        Checks::default()
    }

    /// `value` (when given) must lie in `min..=max`; returns it or `default`.
    pub fn int(
        &mut self,
        field: &str,
        value: Option<i64>,
        default: i64,
        min: i64,
        max: i64,
    ) -> i64 {
        match value {
            None => default,
            Some(v) if (min..=max).contains(&v) => v,
            Some(_) => {
                self.0.push(FieldError::new(
                    field,
                    format!("must be between {min} and {max}"),
                ));
                default
            }
        }
    }

    /// A finite number in `min..=max`.
    pub fn float(&mut self, field: &str, value: Option<f64>, min: f64, max: f64) -> Option<f64> {
        match value {
            None => None,
            Some(v) if v.is_finite() && v >= min && v <= max => Some(v),
            Some(_) => {
                self.0.push(FieldError::new(
                    field,
                    format!("must be a number between {min} and {max}"),
                ));
                None
            }
        }
    }

    /// A page number and size whose offset cannot overflow: `page` in
    /// `1..=max_page`, `per_page` in `1..=max_per_page`. Returns
    /// `(page, per_page, offset)`.
    pub fn page(
        &mut self,
        page: Option<i64>,
        per_page: Option<i64>,
        default_per_page: i64,
        max_per_page: i64,
    ) -> (i64, i64, i64) {
        let page = self.int("page", page, 1, 1, MAX_PAGE);
        let per_page = self.int("per_page", per_page, default_per_page, 1, max_per_page);
        (page, per_page, (page - 1) * per_page)
    }

    /// `Err(Validation)` when any check failed.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.0))
        }
    }
}

/// Highest page number accepted anywhere (deep pages are a scan, not a
/// use case: filter instead).
pub const MAX_PAGE: i64 = 10_000;
/// Highest `offset` accepted where lists page by offset.
pub const MAX_OFFSET: i64 = 100_000;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct P {
        #[serde(default)]
        page: Option<i64>,
        #[serde(default)]
        radius_km: Option<f64>,
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::Validation(v) => v[0].field.clone(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert_eq!(field_of(parse_query::<P>("page=abc").unwrap_err()), "page");
        assert_eq!(
            field_of(parse_query::<P>("page=9223372036854775808").unwrap_err()),
            "page"
        );
        assert_eq!(field_of(parse_query::<P>("nope=1").unwrap_err()), "nope");
        let p: P = parse_query("page=3&radius_km=12.5").unwrap();
        assert_eq!((p.page, p.radius_km), (Some(3), Some(12.5)));
    }

    #[test]
    fn paging_never_overflows() {
        let mut c = Checks::new();
        let (_, _, offset) = c.page(Some(i64::MAX), Some(200), 50, 200);
        assert_eq!(offset, 0);
        assert_eq!(field_of(c.finish().unwrap_err()), "page");
        let mut c = Checks::new();
        assert_eq!(c.page(Some(3), Some(20), 50, 200), (3, 20, 40));
        assert!(c.finish().is_ok());
        let mut c = Checks::new();
        assert_eq!(c.float("radius_km", Some(f64::NAN), 0.0, 500.0), None);
        assert_eq!(c.float("lat", Some(91.0), -90.0, 90.0), None);
        assert_eq!(c.0.len(), 2);
    }
}
