//! Account pages: connexion, déconnexion, changement de mot de passe, and
//! « Mot de passe oublié » (a link by e-mail, [`crate::auth::reset`]).
//!
//! The login form goes through the same throttled, audited
//! [`crate::auth::login::login`] as the API; a refusal for too many attempts
//! is a 429 page with `Retry-After` and the wait in French. Passwords are
//! taken from the form exactly as typed (never trimmed).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;

use super::{layout, render, render_status, FormData, SameOrigin, Session, UiResult};
use crate::auth::login::{self, Via};
use crate::auth::reset::{self, TokenProblem};
use crate::auth::throttle::ClientAddr;
use crate::error::Error;
use crate::server::AppState;

/// "dans 45 secondes", "dans 1 minute", "dans 12 minutes", "dans 2 heures".
pub fn wait_fr(secs: u64) -> String {
    fn plural(n: u64, one: &str, many: &str) -> String {
        format!("{n} {}", if n > 1 { many } else { one })
    }
    if secs < 60 {
        format!("dans {}", plural(secs.max(1), "seconde", "secondes"))
    } else if secs < 90 * 60 {
        format!("dans {}", plural(secs.div_ceil(60), "minute", "minutes"))
    } else {
        format!("dans {}", plural(secs.div_ceil(3600), "heure", "heures"))
    }
}

/// The French message for a refusal after too many attempts.
pub fn too_many_attempts_fr(retry_after_secs: u64) -> String {
    format!(
        "Trop de tentatives de connexion. Par sécurité, réessayez {}.",
        wait_fr(retry_after_secs)
    )
}

fn session_cookie(state: &AppState, token: &str, max_age_s: i64) -> String {
    let secure = state.config.tls.is_some() || state.config.public_url().starts_with("https://");
    format!(
        "{}={token}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        crate::auth::session_cookie_name(&state.config.node_id),
        if secure { "; Secure" } else { "" }
    )
}

pub(super) async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> UiResult {
    if let Some(t) = crate::auth::token_from_headers(&headers, &state.config.node_id) {
        if crate::auth::user_for_token(&state.db, &t, state.clock.now_ms())
            .await?
            .is_some()
        {
            return Ok(Redirect::to("/ui/").into_response());
        }
    }
    render(
        "connexion.html",
        context! { title => "Connexion", email => "" },
    )
}

pub(super) async fn login_submit(
    State(state): State<AppState>,
    _same: SameOrigin,
    ClientAddr(client): ClientAddr,
    body: axum::body::Bytes,
) -> UiResult {
    let form = FormData::parse(&body);
    let email = form.get("email").to_string();
    let password = form.raw("password");
    match login::login(&state, client, &email, password, Via::Ui).await {
        Ok(done) => {
            let cookie = session_cookie(
                &state,
                &done.session.token,
                crate::auth::SESSION_TTL_MS / 1000,
            );
            let mut resp = Redirect::to("/ui/").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(resp)
        }
        Err(Error::Unauthenticated) => render_status(
            StatusCode::UNAUTHORIZED,
            "connexion.html",
            context! {
                title => "Connexion",
                email => email,
                error => "Adresse e-mail ou mot de passe incorrect.",
            },
        ),
        Err(Error::TooManyAttempts { retry_after_secs }) => too_many(
            "connexion.html",
            retry_after_secs,
            context! { title => "Connexion", email => email },
        ),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn logout(
    State(state): State<AppState>,
    _same: SameOrigin,
    headers: HeaderMap,
) -> UiResult {
    if let Some(t) = crate::auth::token_from_headers(&headers, &state.config.node_id) {
        crate::auth::revoke_token(&state.db, &t).await?;
    }
    let mut resp = Redirect::to("/ui/connexion").into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&state, "", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub(super) async fn password_form(Session(user): Session) -> UiResult {
    let base = layout(&user, "mot-de-passe", "Changer mon mot de passe");
    render(
        "mot_de_passe.html",
        context! { errors => super::FieldErrors::new(), ..base },
    )
}

pub(super) async fn password_submit(
    State(state): State<AppState>,
    Session(user): Session,
    _same: SameOrigin,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> UiResult {
    let form = FormData::parse(&body);
    let base = layout(&user, "mot-de-passe", "Changer mon mot de passe");
    let refuse = |status: StatusCode, field: &str, message: String| -> Result<Response, _> {
        let mut errors = super::FieldErrors::new();
        errors.insert(field.to_string(), message);
        render_status(
            status,
            "mot_de_passe.html",
            context! { errors => errors, ..base.clone() },
        )
    };
    let new = form.raw("nouveau");
    if new != form.raw("confirmation") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "confirmation",
            "Les deux saisies du nouveau mot de passe diffèrent.".into(),
        );
    }
    match crate::auth::users::check_current_password(&state, client, &user, form.raw("actuel"))
        .await
    {
        Ok(()) => {}
        Err(Error::TooManyAttempts { retry_after_secs }) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "actuel",
                too_many_attempts_fr(retry_after_secs),
            )
        }
        Err(Error::Validation(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "actuel",
                "Ce n'est pas votre mot de passe actuel.".into(),
            )
        }
        Err(e) => return Err(e.into()),
    }
    let keep = crate::auth::token_from_headers(&headers, &state.config.node_id);
    let owner = crate::auth::PasswordOwner {
        email: &user.email,
        display_name: &user.display_name,
        employer_name: user.employer_name.as_deref(),
    };
    // The policy's own French explanation, rather than the API's English.
    let policy = crate::auth::PasswordPolicy::from_config(&state.config);
    if let Err(problem) = policy.check(new, &owner) {
        return refuse(StatusCode::BAD_REQUEST, "nouveau", problem.french());
    }
    crate::auth::users::set_password(
        &state.db,
        &policy,
        &crate::actor::Actor::User(user.clone()),
        &user,
        new,
        keep.as_deref(),
        "ui",
    )
    .await?;
    render(
        "mot_de_passe.html",
        context! {
            flash => "Votre mot de passe a été changé. Vos autres sessions ont été fermées.",
            errors => super::FieldErrors::new(),
            ..base
        },
    )
}

/// A 429 page for `template` with the wait in French and `Retry-After`.
fn too_many(template: &str, retry_after_secs: u64, ctx: minijinja::Value) -> UiResult {
    let mut resp = render_status(
        StatusCode::TOO_MANY_REQUESTS,
        template,
        context! { error => too_many_attempts_fr(retry_after_secs), ..ctx },
    )?;
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    Ok(resp)
}

const FORGOT_TITLE: &str = "Mot de passe oublié";

pub(super) async fn forgot_form() -> UiResult {
    render(
        "mot_de_passe_oublie.html",
        context! { title => FORGOT_TITLE, email => "" },
    )
}

pub(super) async fn forgot_submit(
    State(state): State<AppState>,
    _same: SameOrigin,
    ClientAddr(client): ClientAddr,
    body: axum::body::Bytes,
) -> UiResult {
    let form = FormData::parse(&body);
    let email = form.get("email").to_string();
    if email.is_empty() {
        return render_status(
            StatusCode::BAD_REQUEST,
            "mot_de_passe_oublie.html",
            context! { title => FORGOT_TITLE, email => "", error => "Indiquez l'adresse e-mail de votre compte." },
        );
    }
    match reset::request(&state, client, &email, Via::Ui).await {
        Ok(()) => render(
            "mot_de_passe_oublie.html",
            context! {
                title => FORGOT_TITLE,
                email => email,
                sent => true,
                minutes => state.config.auth.password_reset.link_ttl_minutes,
            },
        ),
        Err(Error::TooManyAttempts { retry_after_secs }) => too_many(
            "mot_de_passe_oublie.html",
            retry_after_secs,
            context! { title => FORGOT_TITLE, email => email },
        ),
        Err(e) => Err(e.into()),
    }
}

const RESET_TITLE: &str = "Choisir un nouveau mot de passe";

fn token_refused(problem: TokenProblem) -> UiResult {
    render_status(
        StatusCode::BAD_REQUEST,
        "reinitialisation.html",
        context! { title => RESET_TITLE, problem => problem.french() },
    )
}

pub(super) async fn reset_form(
    State(state): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> UiResult {
    let query = FormData::parse(query.unwrap_or_default().as_bytes());
    let token = query.get("jeton");
    match reset::check(&state, token).await {
        Ok(user) => render(
            "reinitialisation.html",
            context! {
                title => RESET_TITLE,
                jeton => token,
                email => user.email,
                errors => super::FieldErrors::new(),
            },
        ),
        Err(e) => match TokenProblem::of(&e) {
            Some(problem) => token_refused(problem),
            None => Err(e.into()),
        },
    }
}

/// Use the link: the done page, or why not.
async fn confirm_page(
    state: &AppState,
    client: std::net::IpAddr,
    token: &str,
    new: &str,
) -> UiResult {
    match reset::confirm(state, client, token, new, Via::Ui).await {
        Ok(_) => render(
            "reinitialisation.html",
            context! { title => RESET_TITLE, done => true },
        ),
        Err(Error::TooManyAttempts { retry_after_secs }) => too_many(
            "reinitialisation.html",
            retry_after_secs,
            context! { title => RESET_TITLE, problem => too_many_attempts_fr(retry_after_secs) },
        ),
        Err(e) => match TokenProblem::of(&e) {
            Some(problem) => token_refused(problem),
            None => Err(e.into()),
        },
    }
}

pub(super) async fn reset_submit(
    State(state): State<AppState>,
    _same: SameOrigin,
    ClientAddr(client): ClientAddr,
    body: axum::body::Bytes,
) -> UiResult {
    let form = FormData::parse(&body);
    let token = form.get("jeton");
    let new = form.raw("nouveau");
    let Ok(user) = reset::check(&state, token).await else {
        // Refused again, throttled and audited, by the one confirm path.
        return confirm_page(&state, client, token, new).await;
    };
    let refuse = |field: &str, message: String| {
        let mut errors = super::FieldErrors::new();
        errors.insert(field.to_string(), message);
        render_status(
            StatusCode::BAD_REQUEST,
            "reinitialisation.html",
            context! { title => RESET_TITLE, jeton => token, email => &user.email, errors => errors },
        )
    };
    if new != form.raw("confirmation") {
        return refuse(
            "confirmation",
            "Les deux saisies du nouveau mot de passe diffèrent.".into(),
        );
    }
    let owner = crate::auth::PasswordOwner {
        email: &user.email,
        display_name: &user.display_name,
        employer_name: user.employer_name.as_deref(),
    };
    // The policy's own French explanation, rather than the API's English.
    if let Err(problem) = crate::auth::PasswordPolicy::from_config(&state.config).check(new, &owner)
    {
        return refuse("nouveau", problem.french());
    }
    confirm_page(&state, client, token, new).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_naturally() {
        assert_eq!(wait_fr(0), "dans 1 seconde");
        assert_eq!(wait_fr(45), "dans 45 secondes");
        assert_eq!(wait_fr(60), "dans 1 minute");
        assert_eq!(wait_fr(61), "dans 2 minutes");
        assert_eq!(wait_fr(3600), "dans 60 minutes");
        assert_eq!(wait_fr(4 * 3600), "dans 4 heures");
        assert!(too_many_attempts_fr(60).starts_with("Trop de tentatives de connexion."));
    }
}
