//! « Mes coordonnées »: a staff member's work phone, which employers see
//! next to their name and e-mail on the referrals they make
//! (`auth::set_own_phone`, audited `user.phone`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::Deserialize;

use super::{
    field_errors, layout, render, render_status, FieldErrors, FormData, SameOrigin, Session,
    UiResult,
};
use crate::error::Error;
use crate::server::AppState;

#[derive(Deserialize)]
pub struct Params {
    #[serde(default)]
    ok: Option<String>,
}

/// `GET /ui/coordonnees`.
pub async fn form(
    State(state): State<AppState>,
    Session(user): Session,
    axum::extract::Query(p): axum::extract::Query<Params>,
) -> UiResult {
    let phone = crate::auth::user_phone(&state.db, &user.id).await?;
    render(
        "coordonnees.html",
        context! {
            phone => phone.unwrap_or_default(),
            email => &user.email,
            errors => FieldErrors::new(),
            flash => p.ok.is_some().then_some("Vos coordonnées ont été enregistrées."),
            ..layout(&user, "coordonnees", "Mes coordonnées")
        },
    )
}

/// `POST /ui/coordonnees` (`telephone`).
pub async fn submit(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    body: axum::body::Bytes,
) -> UiResult {
    let f = FormData::parse(&body);
    match crate::auth::set_own_phone(&state.db, &user, f.get("telephone")).await {
        Ok(_) => Ok(Redirect::to("/ui/coordonnees?ok=1").into_response()),
        Err(Error::Validation(errs)) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "coordonnees.html",
            context! {
                phone => f.get("telephone"),
                email => &user.email,
                errors => field_errors(&errs),
                ..layout(&user, "coordonnees", "Mes coordonnées")
            },
        ),
        Err(e) => Err(e.into()),
    }
}
