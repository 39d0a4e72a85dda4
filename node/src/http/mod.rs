//! The HTTP frame shared by every adapter (API, web UI, federation inbox):
//! connection handling and its limits ([`serve`]), request limits
//! ([`limits`]) and query-parameter parsing ([`params`]).

pub mod limits;
pub mod params;
pub mod serve;

pub use params::{ApiQuery, Checks};
