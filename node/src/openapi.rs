//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers'
//! `#[utoipa::path]` annotations and the request/response types' schemas
//! (the same schemas that check request bodies, [`crate::http::body`]),
//! served unauthenticated at `GET /api/v1/openapi.json`.
//!
//! Every module with API routes has its own `Doc` listing its paths; they
//! are merged here. `node/tests/api_shape.rs` checks that every `/api/v1`
//! route registered in the source appears in the document.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::OpenApi;

use crate::server::AppState;

/// Paths served by this module.
pub const PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vivier node API",
        description = "HTTP API of a Vivier node (`/api/v1`). JSON bodies; errors are RFC 9457 \
                       problem documents (`application/problem+json`) with a stable `code` and, \
                       for bad input, `errors[]` naming every failing field. Lists answer \
                       `{items, total, page, per_page}` and take `page` (from 1) and `per_page` \
                       (1 to 200, default 50).",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(openapi_handler),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    tags(
        (name = "auth", description = "Logins, tokens, accounts"),
        (name = "candidates", description = "The candidathèque (staff)"),
        (name = "offers", description = "Job offers, local and from the network"),
        (name = "matching", description = "Explained matching"),
        (name = "referrals", description = "Co-opted referrals"),
        (name = "network", description = "Network search: pseudonymous results from every member, interests"),
        (name = "referentials", description = "Communes, ROME, certifications"),
        (name = "reports", description = "Statistics and funders' reports"),
        (name = "admin", description = "Audit, federation, maintenance")
    )
)]
struct Root;

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "admin",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value))
)]
async fn openapi_handler() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json().as_str(),
    )
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Root::openapi();
    for part in [
        crate::auth::openapi(),
        crate::audit::Doc::openapi(),
        crate::maintenance::Doc::openapi(),
        crate::candidates::openapi(),
        crate::space::Doc::openapi(),
        crate::referentials_api::Doc::openapi(),
        crate::offers::Doc::openapi(),
        crate::matching::Doc::openapi(),
        crate::stats::Doc::openapi(),
        crate::reports::openapi(),
        crate::referrals::Doc::openapi(),
        crate::notifications::Doc::openapi(),
        crate::federation::Doc::openapi(),
        crate::aids::http::Doc::openapi(),
        crate::programmes::http::Doc::openapi(),
        crate::opportunities::http::Doc::openapi(),
        crate::netsearch::http::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    finish(&mut doc);
    doc
}

fn document_json() -> &'static String {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| document().to_json().unwrap_or_else(|_| "{}".into()))
}

/// Bearer authentication by default, and the problem document as the
/// answer of every operation's failures.
fn finish(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A session token (POST /api/v1/auth/login) or an API token \
                     (POST /api/v1/auth/tokens).",
                ))
                .build(),
        ),
    );
    doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    let problem = ResponseBuilder::new()
        .description(
            "A problem document (RFC 9457): stable `code`, French `title` and `detail`, \
             `errors[]` with every failing field (`field`, `code`, `message`).",
        )
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "Problem",
                ))))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            op.responses
                .responses
                .entry("default".to_string())
                .or_insert_with(|| RefOr::T(problem.clone()));
        }
    }
}

/// `GET /api/v1/openapi.json` (no authentication).
pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(openapi_handler))
}
