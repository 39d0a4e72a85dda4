//! The HTTP frame shared by every adapter (API, web UI, federation inbox):
//! connection handling and its limits ([`serve`]), request limits
//! ([`limits`]), query-parameter parsing ([`params`]) and the one list
//! envelope of the API ([`page`]).

pub mod body;
pub mod limits;
pub mod page;
pub mod params;
pub mod serve;

pub use page::{Page, PageParams, Paged};
pub use params::{ApiQuery, Checks};
