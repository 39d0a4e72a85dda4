//! The one list envelope of the API: every list that can grow answers
//! `{items, total, page, per_page}` ([`Page`]) and is paged by the same two
//! parameters with the same bounds and the same field errors ([`Paged`],
//! [`PageParams`]). Search endpoints add their own keys (facets) next to the
//! four.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, FieldError, Result};

/// Page size when `per_page` is absent.
pub const DEFAULT_PER_PAGE: i64 = 50;
/// Largest `per_page` accepted anywhere.
pub const MAX_PER_PAGE: i64 = 200;
/// Highest page number accepted anywhere (deep pages are a scan, not a use
/// case: filter instead).
pub const MAX_PAGE: i64 = crate::http::params::MAX_PAGE;

/// A page of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// This page's items.
    pub items: Vec<T>,
    /// Matching items in all pages.
    pub total: i64,
    /// This page's number, from 1.
    pub page: i64,
    /// Page size asked for (the last page may hold fewer items).
    pub per_page: i64,
}

impl<T> Page<T> {
    /// Items fetched for `params` out of `total`.
    pub fn new(items: Vec<T>, total: i64, params: PageParams) -> Page<T> {
        Page {
            items,
            total,
            page: params.page,
            per_page: params.per_page,
        }
    }

    /// The page of a list held whole in memory (short lists: a record's
    /// follow-ups, a user's tokens…).
    pub fn slice(all: Vec<T>, params: PageParams) -> Page<T> {
        let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let items = all
            .into_iter()
            .skip(usize::try_from(params.offset()).unwrap_or(usize::MAX))
            .take(usize::try_from(params.per_page).unwrap_or(0))
            .collect();
        Page::new(items, total, params)
    }

    /// The same page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            page: self.page,
            per_page: self.per_page,
        }
    }
}

/// `page` (from 1) and `per_page` (1 to [`MAX_PER_PAGE`]), checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1 (default 1, at most 10000).
    #[param(minimum = 1, maximum = 10000, required = false, default = 1)]
    pub page: i64,
    /// Page size (default 50, at most 200).
    #[param(minimum = 1, maximum = 200, required = false, default = 50)]
    pub per_page: i64,
}

impl Default for PageParams {
    fn default() -> Self {
        PageParams {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

impl PageParams {
    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// Check raw values, pushing one field error per bad parameter.
    pub fn check(page: Option<&str>, per_page: Option<&str>, errs: &mut Vec<FieldError>) -> Self {
        let mut p = PageParams::default();
        if let Some(v) = page {
            match v.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => p.page = n,
                _ => errs.push(FieldError::coded(
                    "page",
                    "out_of_range",
                    format!("doit être un nombre entier entre 1 et {MAX_PAGE}"),
                )),
            }
        }
        if let Some(v) = per_page {
            match v.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => p.per_page = n,
                _ => errs.push(FieldError::coded(
                    "per_page",
                    "out_of_range",
                    format!("doit être un nombre entier entre 1 et {MAX_PER_PAGE}"),
                )),
            }
        }
        p
    }
}

/// Split `page` and `per_page` off a query string: the checked paging, and
/// the other parameters re-encoded.
pub fn split_query(query: &str) -> (PageParams, String, Vec<FieldError>) {
    let mut page = None;
    let mut per_page = None;
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    let mut errs = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "page" => &mut page,
            "per_page" => &mut per_page,
            _ => {
                rest.append_pair(&k, &v);
                continue;
            }
        };
        if slot.is_some() {
            errs.push(duplicate(&k));
        }
        *slot = Some(v.into_owned());
    }
    let params = PageParams::check(page.as_deref(), per_page.as_deref(), &mut errs);
    (params, rest.finish(), errs)
}

/// A query parameter given twice where one value is expected (`?q=a&q=b`):
/// refused rather than one of the values silently kept.
pub fn duplicate(name: &str) -> FieldError {
    FieldError::coded(name, "duplicate", "given more than once; give it once")
}

/// The query extractor of every paged list: the paging and the list's own
/// parameters `Q`, every bad parameter of both reported in one problem.
pub struct Paged<Q>(pub PageParams, pub Q);

impl<S: Send + Sync, Q: DeserializeOwned> FromRequestParts<S> for Paged<Q> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (params, rest, mut errs) = split_query(parts.uri.query().unwrap_or(""));
        match crate::http::params::parse_query::<Q>(&rest) {
            Ok(q) if errs.is_empty() => Ok(Paged(params, q)),
            Ok(_) => Err(Error::Validation(errs)),
            Err(Error::Validation(more)) => {
                errs.extend(more);
                Err(Error::Validation(errs))
            }
            Err(other) => Err(other),
        }
    }
}

/// Query parameters of a list that has none besides the paging.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilter {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn paging_is_checked_and_split() {
        let (p, rest, errs) = split_query("status=open&page=3&per_page=20&q=a+b");
        assert_eq!((p.page, p.per_page, p.offset()), (3, 20, 40));
        assert_eq!(rest, "status=open&q=a+b");
        assert!(errs.is_empty());
        let (p, _, errs) = split_query("page=0&per_page=201");
        assert_eq!(p, PageParams::default());
        let fields: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            [
                ("page", Some("out_of_range")),
                ("per_page", Some("out_of_range"))
            ]
        );
        let (_, _, errs) = split_query("page=9223372036854775808&per_page=x");
        assert_eq!(errs.len(), 2);
    }

    #[test]
    fn slices_count_everything() {
        let p = Page::slice(
            (1..=7).collect::<Vec<i32>>(),
            PageParams {
                page: 2,
                per_page: 3,
            },
        );
        assert_eq!(
            (p.items, p.total, p.page, p.per_page),
            (vec![4, 5, 6], 7, 2, 3)
        );
        let p = Page::slice(
            (1..=7).collect::<Vec<i32>>(),
            PageParams {
                page: 9,
                per_page: 3,
            },
        );
        assert!(p.items.is_empty());
        assert_eq!(p.total, 7);
    }
}
