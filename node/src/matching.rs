//! Being written (issue 4).
use axum::Router;

use crate::server::AppState;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
