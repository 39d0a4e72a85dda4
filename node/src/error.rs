//! The node's one error type and its single HTTP mapping (RFC 9457 problem
//! JSON with field-level messages). Internal errors are logged and answered
//! with a generic body.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One field-level problem: which field, what is wrong, in plain words.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// Dotted path of the field (`workplaces[1].commune_insee`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// Stable machine code for the problem, when it has one
    /// (`password_too_weak`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub code: Option<&'static str>,
}

impl FieldError {
    /// Build one.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
            code: None,
        }
    }

    /// Build one with a stable machine code.
    pub fn coded(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> FieldError {
        FieldError {
            code: Some(code),
            ..FieldError::new(field, message)
        }
    }
}

/// Every error a node operation can end with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input failed validation; each field says why.
    #[error("validation failed: {}", summarize(.0))]
    Validation(Vec<FieldError>),
    /// One field refused with a stable machine code of its own (the
    /// problem `type` ends with it), e.g. `query_too_long`.
    #[error("{field}: {message}")]
    Invalid {
        /// Machine-readable code.
        code: &'static str,
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Malformed request that is not about one field.
    #[error("{0}")]
    BadRequest(String),
    /// No or invalid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// Authenticated but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// The thing does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The path exists, not with this method.
    #[error("this path does not accept this method")]
    MethodNotAllowed,
    /// State conflict (duplicate, wrong state transition…).
    #[error("{0}")]
    Conflict(String),
    /// Body or file too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Unsupported file or content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed, but its content cannot be processed (e.g. a CV file
    /// whose text cannot be read safely): 422 with a stable `code` and the
    /// field at fault.
    #[error("{message}")]
    Unprocessable {
        /// Machine-readable code (`cv_unreadable`).
        code: &'static str,
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Rate limited.
    #[error("too many requests")]
    TooManyRequests,
    /// The node is handling as many requests as it allows; retry shortly.
    #[error("the node is busy; retry in a moment")]
    Overloaded,
    /// The request (reading its body included) took longer than allowed.
    #[error("the request took longer than {0} s and was abandoned")]
    RequestTimeout(u64),
    /// Too many login attempts (per client address or per account, or the
    /// account is locked); never says which, nor whether the account exists.
    #[error("too many login attempts; try again in {retry_after_secs} s")]
    TooManyAttempts {
        /// Seconds until an attempt may succeed (`Retry-After`).
        retry_after_secs: u64,
    },
    /// Temporarily unable to serve this request; retry later (503).
    #[error("{message}")]
    Unavailable {
        /// Machine-readable code (`extraction_busy`).
        code: &'static str,
        /// What is busy.
        message: String,
    },
    /// The action is refused in the node's present state, with a stable
    /// code the UI translates (409), e.g. `node_not_member`.
    #[error("{message}")]
    Refused {
        /// Machine-readable code.
        code: &'static str,
        /// What is refused and why.
        message: String,
    },
    /// A federation refusal with its protocol error code.
    #[error("{code}: {message}")]
    Federation {
        /// HTTP status to answer with.
        status: StatusCode,
        /// Protocol error kind (`bad_signature`, `expired`, …).
        code: &'static str,
        /// Human explanation.
        message: String,
    },
    /// A peer answered badly or not at all.
    #[error("peer: {0}")]
    Peer(String),
    /// Database failure.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Anything else; logged, answered generically.
    #[error("internal: {0}")]
    Internal(#[from] anyhow::Error),
}

fn summarize(errs: &[FieldError]) -> String {
    errs.iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Result alias for the node.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A single-field validation error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    /// The HTTP status for this error (the one place that decides it).
    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::Validation(_) | Error::Invalid { .. } | Error::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) | Error::Refused { .. } => StatusCode::CONFLICT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::TooManyRequests | Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Error::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Error::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Federation { status, .. } => *status,
            Error::Peer(_) => StatusCode::BAD_GATEWAY,
            Error::Database(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short machine-readable code (also the problem `type` suffix).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) => "validation",
            Error::Invalid { code, .. } => code,
            Error::BadRequest(_) => "bad_request",
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::Conflict(_) => "conflict",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::TooManyRequests => "too_many_requests",
            Error::Overloaded => "overloaded",
            Error::RequestTimeout(_) => "request_timeout",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::Unprocessable { code, .. }
            | Error::Unavailable { code, .. }
            | Error::Refused { code, .. } => code,
            Error::Federation { code, .. } => code,
            Error::Peer(_) => "peer_error",
            Error::Database(_) | Error::Internal(_) => "internal",
        }
    }
}

/// The problem document (RFC 9457).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:vivier:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The stable machine-readable code (the `type` suffix), for clients.
    #[schema(value_type = String)]
    pub code: &'static str,
    /// Short title.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation.
    pub detail: String,
    /// Field-level errors, when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Error {
    /// The problem body for this error (internal details never leak).
    /// `title` is French; `detail` is French for what a person reads
    /// (validation, authentication, access, absence, limits); every field
    /// error carries a code (`invalid` when its check has none of its own).
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            type_: format!("urn:vivier:problem:{}", self.code()),
            code: self.code(),
            title: self.title_fr().to_string(),
            status: status.as_u16(),
            detail: self.detail_fr(),
            errors: match self {
                Error::Validation(v) => v
                    .iter()
                    .map(|e| FieldError {
                        code: e.code.or(Some("invalid")),
                        ..e.clone()
                    })
                    .collect(),
                Error::Invalid {
                    field,
                    message,
                    code,
                }
                | Error::Unprocessable {
                    field,
                    message,
                    code,
                } => {
                    vec![FieldError::coded(field.clone(), code, message.clone())]
                }
                _ => Vec::new(),
            },
        }
    }

    /// The problem's short French title, by kind.
    fn title_fr(&self) -> &'static str {
        match self {
            Error::Validation(_) | Error::Invalid { .. } => "Données invalides",
            Error::BadRequest(_) => "Requête invalide",
            Error::Unauthenticated => "Authentification requise",
            Error::Forbidden => "Accès refusé",
            Error::NotFound(_) => "Introuvable",
            Error::MethodNotAllowed => "Méthode non autorisée",
            Error::Conflict(_) | Error::Refused { .. } => "Action impossible",
            Error::PayloadTooLarge(_) => "Contenu trop volumineux",
            Error::UnsupportedMediaType(_) => "Type de contenu non pris en charge",
            Error::Unprocessable { .. } => "Contenu illisible",
            Error::TooManyRequests => "Trop de requêtes",
            Error::TooManyAttempts { .. } => "Trop de tentatives",
            Error::Overloaded | Error::Unavailable { .. } => "Service momentanément indisponible",
            Error::RequestTimeout(_) => "Délai dépassé",
            Error::Federation { .. } => "Message de la fédération refusé",
            Error::Peer(_) => "Réponse invalide d'un membre du réseau",
            Error::Database(_) | Error::Internal(_) => "Erreur interne",
        }
    }

    /// The problem's detail: French where a person reads it; the
    /// operation's own words for conflicts, refusals and federation
    /// refusals (their `code` is what clients translate).
    fn detail_fr(&self) -> String {
        match self {
            Error::Validation(errs) => {
                let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
                match fields.len() {
                    1 => format!("Un champ est à corriger : {}.", fields[0]),
                    n => format!("{n} champs sont à corriger : {}.", fields.join(", ")),
                }
            }
            Error::Invalid { field, .. } => format!("Un champ est à corriger : {field}."),
            Error::Unauthenticated => {
                "Connectez-vous : jeton absent, expiré ou révoqué.".to_string()
            }
            Error::Forbidden => "Votre rôle ne permet pas cette action.".to_string(),
            Error::NotFound(what) => format!(
                "{} n'existe pas ou ne vous est pas visible.",
                thing_fr(what)
            ),
            Error::MethodNotAllowed => {
                "Cette adresse existe mais n'accepte pas cette méthode HTTP.".to_string()
            }
            Error::TooManyRequests => "Trop de requêtes : réessayez dans un moment.".to_string(),
            Error::TooManyAttempts { retry_after_secs } => {
                format!("Trop de tentatives de connexion : réessayez dans {retry_after_secs} s.")
            }
            Error::Overloaded => {
                "Le nœud est très sollicité : réessayez dans un moment.".to_string()
            }
            Error::RequestTimeout(secs) => {
                format!("La requête a pris plus de {secs} s et a été abandonnée.")
            }
            Error::Database(_) | Error::Internal(_) => {
                "Erreur interne ; voir le journal du nœud.".to_string()
            }
            other => other.to_string(),
        }
    }
}

/// The French name of what [`Error::NotFound`] names.
fn thing_fr(what: &str) -> &'static str {
    match what {
        "candidate" => "Ce dossier candidat",
        "offer" => "Cette offre",
        "referral" => "Cette mise en relation",
        "user" => "Ce compte",
        "token" => "Ce jeton",
        "follow-up" => "Cette entrée de suivi",
        "notification" => "Cet avis",
        "membership document" => "Le document d'adhésion",
        "file" | "CV file" => "Ce fichier",
        "dead letter" => "Ce message en souffrance",
        "commune" => "Cette commune",
        "ROME code" => "Ce code ROME",
        _ => "Cette ressource",
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Error::TooManyAttempts { retry_after_secs } = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if matches!(self, Error::Unavailable { .. }) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if matches!(self, Error::Unauthenticated) {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"vivier\""),
            );
        }
        resp
    }
}

impl From<crate::search::SearchError> for Error {
    fn from(e: crate::search::SearchError) -> Self {
        match e {
            crate::search::SearchError::Query(e) => Error::from(e),
            other => Error::Internal(anyhow::anyhow!("search: {other}")),
        }
    }
}

/// A search text past the query language's limits: field `q`.
impl From<crate::search::QueryError> for Error {
    fn from(e: crate::search::QueryError) -> Self {
        Error::Invalid {
            code: e.code(),
            field: "q".into(),
            message: e.to_string(),
        }
    }
}

/// SQLite's direct writer ([`crate::db::Db::write_direct`]).
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(anyhow::anyhow!("task failed: {e}"))
    }
}

/// Deserialize JSON with the path of the offending field in the error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::BadRequest(format!(
                "JSON mal formé : {}",
                strip_location(&inner.to_string())
            ))
        } else {
            Error::Validation(vec![field_error(&path, &inner.to_string())])
        }
    })
}

/// serde's error at `path` as a coded French field error.
fn field_error(path: &str, message: &str) -> FieldError {
    let message = strip_location(message);
    let e = crate::http::body::serde_field_error(path, &message);
    if e.code == Some("invalid_value") && e.message == "valeur invalide" {
        // serde's own words name the rule (a validated type's message);
        // they never quote a sensitive value.
        let detail = if e.field == "sensitive" || e.field.starts_with("sensitive.") {
            without_value(&message)
        } else {
            message
        };
        return FieldError::coded(
            e.field,
            "invalid_value",
            format!("valeur invalide : {detail}"),
        );
    }
    e
}

/// Deserialize a request body into `T`; when that fails, report every field
/// that does not fit `T`'s published schema (all of them, not only the first
/// serde met), and serde's own error when the schema did not name its
/// field.
pub fn parse_json_body<T: DeserializeOwned + utoipa::ToSchema>(bytes: &[u8]) -> Result<T> {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(inner) => {
            return Err(Error::BadRequest(format!(
                "JSON mal formé : {}",
                strip_location(&inner.to_string())
            )))
        }
    };
    match serde_path_to_error::deserialize::<_, T>(&value) {
        Ok(t) => Ok(t),
        Err(e) => {
            let path = e.path().to_string();
            let first = field_error(&path, &e.into_inner().to_string());
            let mut errs = crate::http::body::schema_errors::<T>(&value);
            if !errs.iter().any(|x| x.field == first.field) {
                errs.push(first);
            }
            Err(Error::Validation(errs))
        }
    }
}

/// `invalid type: string "1 84 12…", expected a boolean` →
/// `invalid type: string, expected a boolean`: serde's message without the
/// value it quotes.
fn without_value(msg: &str) -> String {
    let Some(open) = msg.find(['"', '`']) else {
        return msg.to_string();
    };
    let tail = msg
        .rfind(", expected")
        .filter(|i| *i > open)
        .map_or("", |i| &msg[i..]);
    format!("{}{tail}", msg[..open].trim_end())
}

fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// A JSON body extractor whose rejections are problem documents with the
/// failing field named.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + utoipa::ToSchema,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !ct.starts_with("application/json") && !ct.ends_with("+json") {
            return Err(Error::UnsupportedMediaType(format!(
                "expected Content-Type: application/json, got {ct:?}"
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::PayloadTooLarge(e.body_text()))?;
        parse_json_body(&bytes).map(ApiJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED_FR: &str = "ce champ est obligatoire";

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: i64,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[test]
    fn status_mapping_is_stable() {
        assert_eq!(
            Error::field("a", "b").status_code(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            Error::Unauthenticated.status_code(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(Error::Forbidden.status_code(), StatusCode::FORBIDDEN);
        assert_eq!(
            Error::NotFound("offer").status_code(),
            StatusCode::NOT_FOUND
        );
        let locked = Error::TooManyAttempts {
            retry_after_secs: 60,
        };
        assert_eq!(locked.status_code(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(locked.code(), "too_many_attempts");
        let resp = locked.into_response();
        assert_eq!(
            resp.headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"60"[..])
        );
        let e = Error::Unprocessable {
            code: "cv_unreadable",
            field: "file".into(),
            message: "this file could not be read".into(),
        };
        assert_eq!(
            (e.status_code(), e.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "cv_unreadable")
        );
        assert_eq!(
            e.problem().errors,
            vec![FieldError::coded(
                "file",
                "cv_unreadable",
                "this file could not be read"
            )]
        );
        assert_eq!(e.problem().type_, "urn:vivier:problem:cv_unreadable");
        let e = Error::Unavailable {
            code: "extraction_busy",
            message: "busy".into(),
        };
        assert_eq!(
            (e.status_code(), e.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "extraction_busy")
        );
        assert_eq!(
            e.into_response().headers()[header::RETRY_AFTER],
            HeaderValue::from_static("5")
        );
        assert_eq!(
            Error::Internal(anyhow::anyhow!("secret detail"))
                .problem()
                .detail,
            "Erreur interne ; voir le journal du nœud."
        );
        let p = Error::Validation(vec![
            FieldError::new("a", "bad"),
            FieldError::coded("b", "required", REQUIRED_FR),
        ])
        .problem();
        assert_eq!(
            (p.title.as_str(), p.code),
            ("Données invalides", "validation")
        );
        assert_eq!(p.detail, "2 champs sont à corriger : a, b.");
        assert_eq!(
            p.errors.iter().map(|e| e.code).collect::<Vec<_>>(),
            [Some("invalid"), Some("required")]
        );
        assert_eq!(
            Error::NotFound("offer").problem().detail,
            "Cette offre n'existe pas ou ne vous est pas visible."
        );
    }

    #[test]
    fn sensitive_values_are_not_echoed() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct S {
            rsa_beneficiary: Option<bool>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            sensitive: S,
        }
        let err = parse_json::<B>(br#"{"sensitive":{"rsa_beneficiary":"secret-value"}}"#)
            .expect_err("bad");
        match err {
            Error::Validation(v) => {
                assert_eq!(v[0].field, "sensitive.rsa_beneficiary");
                assert!(!v[0].message.contains("secret-value"), "{}", v[0].message);
                assert_eq!(v[0].code, Some("invalid_type"));
                assert!(v[0].message.contains("booléen"), "{}", v[0].message);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            without_value("invalid value: integer `5`, expected a string"),
            "invalid value: integer, expected a string"
        );
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<Outer>(br#"{"items":[{"n":1},{"n":"x"}]}"#).expect_err("bad");
        match err {
            Error::Validation(v) => assert_eq!(v[0].field, "items[1].n"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse_json::<Outer>(b"{not json"),
            Err(Error::BadRequest(_))
        ));
    }
}
