//! Administration pages (admins only): the node's accounts
//! (`/ui/admin/utilisateurs`: create, disable or re-enable, change the role,
//! send a password reset link), the audit log with filters
//! (`/ui/admin/journal`) and the federation status with the parked messages
//! (`/ui/admin/reseau`). Each action calls the same function as the API.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use serde::Serialize;

use super::labels;
use super::{layout, render, FormData, SameOrigin, Session, UiResult};
use crate::actor::Actor;
use crate::auth::users::UserUpdate;
use crate::auth::{NewUser, Role, User};
use crate::error::Error;
use crate::server::AppState;

const ROLES: [Role; 3] = [Role::Counsellor, Role::Employer, Role::Admin];

/// The page's confirmation line for `?fait=…`.
fn done_fr(code: &str) -> Option<&'static str> {
    Some(match code {
        "cree" => "Compte créé.",
        "cree-courriel" => {
            "Compte créé ; un courriel invite la personne à choisir son mot de passe."
        }
        "desactive" => "Compte désactivé ; ses sessions et jetons sont révoqués.",
        "reactive" => "Compte réactivé.",
        "role" => "Rôle modifié.",
        "lien" => "Lien de réinitialisation envoyé par courriel.",
        "renvoye" => "Message remis dans la file d'envoi.",
        "classe" => {
            "Message classé : il quitte la liste et les alertes (son issue reste enregistrée)."
        }
        _ => return None,
    })
}

#[derive(Serialize)]
struct UserRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    role_code: &'static str,
    employer: Option<String>,
    disabled: bool,
    me: bool,
}

fn role_options() -> Vec<(&'static str, &'static str)> {
    ROLES
        .iter()
        .map(|r| (r.as_str(), labels::role(*r)))
        .collect()
}

async fn users_page(
    state: &AppState,
    user: &User,
    flash: Option<&str>,
    errors: Vec<String>,
    form: Option<&FormData>,
) -> UiResult {
    let rows: Vec<UserRow> = crate::auth::list_users_as(&state.db, &Actor::User(user.clone()))
        .await?
        .into_iter()
        .map(|u| UserRow {
            me: u.id == user.id,
            role: labels::role(u.role),
            role_code: u.role.as_str(),
            id: u.id,
            name: u.display_name,
            email: u.email,
            employer: u.employer_name,
            disabled: u.disabled,
        })
        .collect();
    let value = |k: &str| form.map(|f| f.get(k).to_string()).unwrap_or_default();
    render(
        "admin_utilisateurs.html",
        context! {
            ..layout(user, "admin", "Administration — comptes"),
            ..context! {
                rows => rows,
                roles => role_options(),
                mail => state.mail.enabled(),
                flash => flash,
                errors => errors,
                form => context! {
                    email => value("courriel"), nom => value("nom"), role => value("role"),
                    employeur => value("employeur"), siret => value("siret"),
                },
            }
        },
    )
}

/// `GET /ui/admin/utilisateurs`.
pub async fn users(
    State(state): State<AppState>,
    Session(user): Session,
    RawQuery(q): RawQuery,
) -> UiResult {
    // The accounts service refuses anyone but an admin.
    let q = FormData::parse(q.unwrap_or_default().as_bytes());
    users_page(&state, &user, done_fr(q.get("fait")), Vec::new(), None).await
}

/// `POST /ui/admin/utilisateurs`: create an account.
pub async fn create(
    State(state): State<AppState>,
    Session(user): Session,
    _: SameOrigin,
    body: Bytes,
) -> UiResult {
    // `create_account` refuses anyone but an admin (and so does the page
    // shown again with the form's errors).
    let f = FormData::parse(&body);
    let role = match Role::parse(f.get("role")) {
        Some(r) => r,
        None => {
            let errors = vec!["Rôle : choisissez un rôle.".to_string()];
            return users_page(&state, &user, None, errors, Some(&f)).await;
        }
    };
    let new = NewUser {
        email: f.get("courriel").to_string(),
        display_name: f.get("nom").to_string(),
        role,
        password: f.raw("mot_de_passe").to_string(),
        employer_name: f.opt("employeur"),
        employer_siret: f.opt("siret"),
    };
    match crate::auth::create_account(&state, &Actor::User(user.clone()), new).await {
        Ok(c) => {
            let done = if c.welcome_mail && f.raw("mot_de_passe").is_empty() {
                "cree-courriel"
            } else {
                "cree"
            };
            Ok(Redirect::to(&format!("/ui/admin/utilisateurs?fait={done}")).into_response())
        }
        Err(Error::Validation(errs)) => {
            let errors = errs
                .iter()
                .map(|e| {
                    format!(
                        "{} : {}",
                        field_fr(&e.field),
                        labels::field_message(&e.field, &e.message)
                    )
                })
                .collect();
            users_page(&state, &user, None, errors, Some(&f)).await
        }
        Err(Error::Conflict(_)) => {
            let errors = vec!["Courriel : un compte existe déjà avec cette adresse.".to_string()];
            users_page(&state, &user, None, errors, Some(&f)).await
        }
        Err(e) => Err(e.into()),
    }
}

fn field_fr(field: &str) -> &'static str {
    match field {
        "email" => "Courriel",
        "display_name" => "Nom",
        "password" => "Mot de passe",
        "employer_name" => "Employeur",
        "employer_siret" => "SIRET",
        "role" => "Rôle",
        _ => "Champ",
    }
}

/// `POST /ui/admin/utilisateurs/{id}`: `action` = `desactiver`,
/// `reactiver`, `role` (with `role`) or `lien` (reset link).
pub async fn change(
    State(state): State<AppState>,
    Session(user): Session,
    _: SameOrigin,
    Path(id): Path<String>,
    body: Bytes,
) -> UiResult {
    // `send_by_admin` and `update_user` refuse anyone but an admin.
    let f = FormData::parse(&body);
    let actor = Actor::User(user.clone());
    let (change, done) = match f.get("action") {
        "lien" => {
            crate::auth::reset::send_by_admin(&state, &actor, &id).await?;
            return Ok(Redirect::to("/ui/admin/utilisateurs?fait=lien").into_response());
        }
        "desactiver" => (
            UserUpdate {
                disabled: Some(true),
                ..UserUpdate::default()
            },
            "desactive",
        ),
        "reactiver" => (
            UserUpdate {
                disabled: Some(false),
                ..UserUpdate::default()
            },
            "reactive",
        ),
        "role" => (
            UserUpdate {
                role: Some(Role::parse(f.get("role")).ok_or(Error::field("role", "unknown role"))?),
                ..UserUpdate::default()
            },
            "role",
        ),
        _ => return Err(Error::field("action", "unknown action").into()),
    };
    crate::auth::users::update_user(
        &state.db,
        &actor,
        &id,
        &change,
        f.opt("motif").as_deref(),
        "ui",
    )
    .await?;
    Ok(Redirect::to(&format!("/ui/admin/utilisateurs?fait={done}")).into_response())
}

#[derive(Serialize)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    /// The action's French name (the code is shown beside it).
    label: Option<&'static str>,
    target: String,
    /// The page of the object, when it has one.
    target_link: Option<String>,
    reason: String,
    details: String,
}

/// An audit entry's details as « clé : valeur » pairs, one level deep
/// (nested values written as JSON).
fn details_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k} : {s}"),
                other => format!("{k} : {other}"),
            })
            .collect::<Vec<_>>()
            .join(" ; "),
        other => other.to_string(),
    }
}

const AUDIT_PAGE: i64 = 50;

/// `GET /ui/admin/journal`: newest first, filtered by action, actor (e-mail)
/// and record id, 50 per page (`avant` = the last id seen).
pub async fn journal(
    State(state): State<AppState>,
    Session(user): Session,
    RawQuery(q): RawQuery,
) -> UiResult {
    // The accounts and audit services refuse anyone but an admin.
    let actor = Actor::User(user.clone());
    let f = FormData::parse(q.unwrap_or_default().as_bytes());
    let users = crate::auth::list_users_as(&state.db, &actor).await?;
    let mut errors = Vec::new();
    let actor_id = match f.opt("acteur") {
        None => None,
        Some(who) => {
            let who = who.to_lowercase();
            match users.iter().find(|u| u.email == who) {
                Some(u) => Some(u.id.clone()),
                None => {
                    errors.push(format!("Aucun compte n'a l'adresse « {who} »."));
                    Some(String::new())
                }
            }
        }
    };
    let before = match f.opt("avant") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(v) if v > 0 => Some(v),
            _ => {
                errors.push("Page : numéro non reconnu.".to_string());
                None
            }
        },
    };
    let query = crate::audit::AuditQuery {
        action: f.opt("action"),
        target_id: f.opt("cible"),
        actor_id,
        limit: Some(AUDIT_PAGE),
        ..Default::default()
    };
    let entries =
        crate::audit::newest_as(&state.db, &state.read_audit, &actor, &query, before).await?;
    let names: HashMap<&str, &User> = users.iter().map(|u| (u.id.as_str(), u)).collect();
    let rows: Vec<AuditRow> = entries
        .iter()
        .map(|e| AuditRow {
            id: e.id,
            at: e.at,
            actor: match (e.actor_id.as_deref(), e.actor_role.as_deref()) {
                (None, _) => "le nœud".to_string(),
                (Some(job), Some("system")) => format!("le nœud ({job})"),
                (Some(node), Some("peer")) => format!("le membre {node}"),
                (Some(id), Some("candidate")) => format!("la personne (espace candidat {id})"),
                (Some(id), _) => names
                    .get(id)
                    .map(|u| format!("{} <{}>", u.display_name, u.email))
                    .unwrap_or_else(|| format!("compte {id}")),
            },
            action: e.action.clone(),
            label: labels::audit_action(&e.action),
            target: match (&e.target_kind, &e.target_id) {
                (Some(k), Some(i)) => format!("{} {i}", labels::audit_target_kind(k)),
                (None, Some(i)) => i.clone(),
                _ => String::new(),
            },
            target_link: match (e.target_kind.as_deref(), &e.target_id) {
                (Some("candidate"), Some(i)) => Some(format!("/ui/candidats/{i}")),
                (Some("offer"), Some(i)) => Some(format!("/ui/offres/{i}")),
                (Some("referral"), Some(i)) => Some(format!("/ui/mises-en-relation/{i}")),
                (Some("opportunity"), Some(i)) => Some(format!("/ui/formations/{i}")),
                _ => None,
            },
            reason: e.reason.clone().unwrap_or_default(),
            details: details_text(&e.details),
        })
        .collect();
    let next = (rows.len() as i64 == AUDIT_PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let keep = |k: &str| f.get(k).to_string();
    let next_link = next.map(|id| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for k in ["action", "acteur", "cible"] {
            if !f.get(k).is_empty() {
                q.append_pair(k, f.get(k));
            }
        }
        q.append_pair("avant", &id.to_string());
        format!("/ui/admin/journal?{}", q.finish())
    });
    render(
        "admin_journal.html",
        context! {
            ..layout(&user, "admin", "Administration — journal d'audit"),
            ..context! {
                rows => rows, errors => errors, next => next_link,
                actions => labels::AUDIT_ACTIONS,
                action => keep("action"), acteur => keep("acteur"), cible => keep("cible"),
            }
        },
    )
}

/// A parked message as the network page shows it: why, in French (from
/// the refusal's code, never the peer's English words, which stay as a
/// detail).
#[derive(Serialize)]
struct LetterRow {
    id: i64,
    destination: String,
    kind: &'static str,
    kind_code: String,
    reason: String,
    code: String,
    detail: String,
    parked_at: i64,
}

impl LetterRow {
    fn of(l: &crate::federation::DeadLetter) -> LetterRow {
        let (code, detail) = l.reason();
        LetterRow {
            id: l.id,
            destination: l.destination.clone(),
            kind: labels::message_kind(&l.kind),
            kind_code: l.kind.clone(),
            reason: sentence(&crate::federation::outcomes::refusal_fr(code)),
            code: code.to_string(),
            detail: detail.to_string(),
            parked_at: l.parked_at,
        }
    }
}

/// `text` with its first letter in capitals and a final full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// `GET /ui/admin/reseau`: the same figures as `GET
/// /api/v1/federation/status`, and the parked messages.
pub async fn network(
    State(state): State<AppState>,
    Session(user): Session,
    RawQuery(q): RawQuery,
) -> UiResult {
    let q = FormData::parse(q.unwrap_or_default().as_bytes());
    let actor = Actor::User(user.clone());
    let status = crate::federation::status_for(&state, &actor).await?;
    let letters: Vec<LetterRow> = crate::federation::dead_letters(&state, &actor)
        .await?
        .iter()
        .map(LetterRow::of)
        .collect();
    let doc = state.federation.membership();
    render(
        "admin_reseau.html",
        context! {
            ..layout(&user, "admin", "Administration — réseau"),
            ..context! {
                flash => done_fr(q.get("fait")),
                status => status,
                letters => letters,
                expires_at => doc.as_ref().map(|d| d.document.expires_at),
                // Whole days left (negative once expired), for the warning
                // 14 days before, as the operator's alert rule.
                expires_in_days => doc
                    .as_ref()
                    .map(|d| (d.document.expires_at - state.clock.now_ms()).div_euclid(86_400_000)),
                network_id => doc.as_ref().map(|d| d.document.network_id.clone()),
                member => crate::federation::ensure_member(&state).is_ok(),
            }
        },
    )
}

/// `POST /ui/admin/reseau/rebuts/{id}`: put a parked message back in the
/// outbox.
pub async fn retry(
    State(state): State<AppState>,
    Session(user): Session,
    _: SameOrigin,
    Path(id): Path<i64>,
) -> UiResult {
    crate::federation::retry(&state, &Actor::User(user), id).await?;
    Ok(Redirect::to("/ui/admin/reseau?fait=renvoye").into_response())
}

/// `POST /ui/admin/reseau/rebuts/{id}/classer`: dismiss a parked message
/// whose outcome stands.
pub async fn dismiss(
    State(state): State<AppState>,
    Session(user): Session,
    _: SameOrigin,
    Path(id): Path<i64>,
) -> UiResult {
    crate::federation::dismiss(&state, &Actor::User(user), id).await?;
    Ok(Redirect::to("/ui/admin/reseau?fait=classe").into_response())
}
