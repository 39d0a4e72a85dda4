//! RFC 9421 HTTP message signatures between nodes (transport agnostic).
//!
//! A request carries:
//!
//! * `content-digest: sha-256=:<base64 of SHA-256(body)>:` (RFC 9530),
//! * `vivier-destination: <destination node id>`,
//! * `signature-input: vivier=("@method" "@path" "content-digest" "vivier-destination");created=<unix s>;nonce="<b64url 16 bytes>";keyid="<node>/<key id>";alg="ed25519"`,
//! * `signature: vivier=:<base64 ed25519 signature>:`.
//!
//! When the request target has a query string, `"@query"` is appended to the
//! covered components (and required by the verifier).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::envelope::{KeyResolver, VerifyError};
use crate::keys::{b64url_encode, KeyId, NodeId, SigningKeyPair};

/// Signature label used in `signature-input` and `signature`.
pub const SIGNATURE_LABEL: &str = "vivier";
/// Name of the destination header.
pub const DESTINATION_HEADER: &str = "vivier-destination";
/// Components every request signature must cover.
pub const REQUIRED_COMPONENTS: [&str; 4] =
    ["@method", "@path", "content-digest", DESTINATION_HEADER];

/// `content-digest` header value for a body: `sha-256=:<base64(sha256)>:`
/// (standard base64 with padding, RFC 9530).
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// Headers to add to a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `content-digest` value.
    pub content_digest: String,
    /// `vivier-destination` value.
    pub destination: String,
    /// `signature-input` value.
    pub signature_input: String,
    /// `signature` value.
    pub signature: String,
}

impl SignedHeaders {
    /// The headers as (lower-case name, value) pairs.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("content-digest", &self.content_digest),
            (DESTINATION_HEADER, &self.destination),
            ("signature-input", &self.signature_input),
            ("signature", &self.signature),
        ]
    }
}

/// The authenticated signer of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSigner {
    /// Signing node.
    pub node: NodeId,
    /// Key used.
    pub key_id: KeyId,
    /// `created` parameter (unix seconds).
    pub created_s: i64,
    /// `nonce` parameter: the caller must refuse a nonce seen within the
    /// skew window (replay protection).
    pub nonce: String,
}

/// HTTP signature verification failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpSigError {
    /// No `signature-input`/`signature` header, or no `vivier` label.
    #[error("missing HTTP signature")]
    MissingSignature,
    /// Headers present but unparseable or incomplete.
    #[error("malformed HTTP signature: {0}")]
    Malformed(String),
    /// `vivier-destination` is not the local node.
    #[error("wrong destination: expected {expected:?}, got {got:?}")]
    WrongDestination {
        /// Local node.
        expected: String,
        /// Header value.
        got: String,
    },
    /// `content-digest` does not match the body.
    #[error("content digest mismatch")]
    DigestMismatch,
    /// `created` outside the tolerated skew (or `expires` passed).
    #[error("stale signature")]
    Stale,
    /// Signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Key resolution failed (unknown sender/key, sender not active…).
    #[error(transparent)]
    Key(VerifyError),
}

impl HttpSigError {
    /// Stable snake_case code (key errors use the [`VerifyError::kind`] code).
    pub fn kind(&self) -> &'static str {
        match self {
            HttpSigError::MissingSignature => "missing_signature",
            HttpSigError::Malformed(_) => "malformed",
            HttpSigError::WrongDestination { .. } => "wrong_destination",
            HttpSigError::DigestMismatch => "digest_mismatch",
            HttpSigError::Stale => "stale",
            HttpSigError::BadSignature => "bad_signature",
            HttpSigError::Key(e) => e.kind(),
        }
    }
}

// ---------------------------------------------------------------------------
// Minimal RFC 8941 structured field parsing / serialisation (no decimals).

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Int(i64),
    Str(String),
    Token(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

type Params = Vec<(String, Item)>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Item(Item, Params),
    InnerList(Vec<(Item, Params)>, Params),
}

/// Structured-field parsing: the cursor's methods for this grammar.
type Parser<'a> = crate::cursor::Cursor<'a>;

type PResult<T> = Result<T, String>;

impl<'a> Parser<'a> {
    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn key(&mut self) -> PResult<String> {
        let start = self.i;
        match self.peek() {
            Some(c) if c.is_ascii_lowercase() || c == b'*' => self.i += 1,
            _ => return Err("expected key".into()),
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c))
        {
            self.i += 1;
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn bare_item(&mut self) -> PResult<Item> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    match self.peek() {
                        None => return Err("unterminated string".into()),
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(Item::Str(out));
                        }
                        Some(b'\\') => {
                            self.i += 1;
                            match self.peek() {
                                Some(c @ (b'"' | b'\\')) => {
                                    out.push(c as char);
                                    self.i += 1;
                                }
                                _ => return Err("bad escape in string".into()),
                            }
                        }
                        Some(c @ 0x20..=0x7e) => {
                            out.push(c as char);
                            self.i += 1;
                        }
                        Some(_) => return Err("invalid character in string".into()),
                    }
                }
            }
            Some(b':') => {
                self.i += 1;
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"+/=".contains(&c))
                {
                    self.i += 1;
                }
                let b64 = &self.s[start..self.i];
                if !self.eat(b':') {
                    return Err("unterminated byte sequence".into());
                }
                STANDARD
                    .decode(b64)
                    .map(Item::Bytes)
                    .map_err(|_| "invalid base64 in byte sequence".into())
            }
            Some(b'?') => {
                self.i += 1;
                if self.eat(b'1') {
                    Ok(Item::Bool(true))
                } else if self.eat(b'0') {
                    Ok(Item::Bool(false))
                } else {
                    Err("invalid boolean".into())
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                self.i += 1;
                while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                    self.i += 1;
                }
                if self.peek() == Some(b'.') {
                    return Err("decimals are not supported".into());
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| "bad integer")?;
                if t.len() > 16 {
                    return Err("integer too long".into());
                }
                t.parse().map(Item::Int).map_err(|_| "bad integer".into())
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c))
                {
                    self.i += 1;
                }
                Ok(Item::Token(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
            }
            _ => Err("expected item".into()),
        }
    }
    fn params(&mut self) -> PResult<Params> {
        let mut out: Params = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let k = self.key()?;
            let v = if self.eat(b'=') {
                self.bare_item()?
            } else {
                Item::Bool(true)
            };
            if out.iter().any(|(ek, _)| ek == &k) {
                return Err(format!("duplicate parameter {k}"));
            }
            out.push((k, v));
        }
        Ok(out)
    }
    fn member_value(&mut self) -> PResult<Member> {
        if self.eat(b'(') {
            let mut items = Vec::new();
            loop {
                self.skip_sp();
                if self.eat(b')') {
                    break;
                }
                let it = self.bare_item()?;
                let p = self.params()?;
                items.push((it, p));
                if !matches!(self.peek(), Some(b' ' | b')')) {
                    return Err("bad inner list".into());
                }
            }
            let p = self.params()?;
            Ok(Member::InnerList(items, p))
        } else {
            let it = self.bare_item()?;
            let p = self.params()?;
            Ok(Member::Item(it, p))
        }
    }
    fn dictionary(&mut self) -> PResult<Vec<(String, Member)>> {
        let mut out: Vec<(String, Member)> = Vec::new();
        self.skip_sp();
        while self.peek().is_some() {
            let k = self.key()?;
            let m = if self.eat(b'=') {
                self.member_value()?
            } else {
                let p = self.params()?;
                Member::Item(Item::Bool(true), p)
            };
            // last one wins, per RFC 8941
            out.retain(|(ek, _)| ek != &k);
            out.push((k, m));
            self.skip_ows();
            if self.peek().is_none() {
                break;
            }
            if !self.eat(b',') {
                return Err("expected ',' in dictionary".into());
            }
            self.skip_ows();
            if self.peek().is_none() {
                return Err("trailing ',' in dictionary".into());
            }
        }
        Ok(out)
    }
}

fn parse_dictionary(s: &str) -> PResult<Vec<(String, Member)>> {
    Parser::new(s.trim().as_bytes()).dictionary()
}

fn ser_item(out: &mut String, it: &Item) {
    match it {
        Item::Int(i) => out.push_str(&i.to_string()),
        Item::Str(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Item::Token(t) => out.push_str(t),
        Item::Bytes(b) => {
            out.push(':');
            out.push_str(&STANDARD.encode(b));
            out.push(':');
        }
        Item::Bool(true) => out.push_str("?1"),
        Item::Bool(false) => out.push_str("?0"),
    }
}

fn ser_params(out: &mut String, p: &Params) {
    for (k, v) in p {
        out.push(';');
        out.push_str(k);
        if v != &Item::Bool(true) {
            out.push('=');
            ser_item(out, v);
        }
    }
}

// ---------------------------------------------------------------------------

/// Parsed `signature-input` for the `vivier` label.
struct SigInput {
    components: Vec<String>,
    params: Params,
    created: i64,
    expires: Option<i64>,
    nonce: String,
    node: NodeId,
    key_id: KeyId,
}

impl SigInput {
    /// Serialised `@signature-params` value.
    fn params_value(&self) -> String {
        let mut out = String::from("(");
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            ser_item(&mut out, &Item::Str(c.clone()));
        }
        out.push(')');
        ser_params(&mut out, &self.params);
        out
    }
}

type Headers<'a> = &'a dyn Fn(&str) -> Option<String>;

fn parse_sig_input(headers: Headers) -> Result<SigInput, HttpSigError> {
    let raw = headers("signature-input").ok_or(HttpSigError::MissingSignature)?;
    let dict = parse_dictionary(&raw)
        .map_err(|e| HttpSigError::Malformed(format!("signature-input: {e}")))?;
    let member = dict
        .into_iter()
        .find(|(k, _)| k == SIGNATURE_LABEL)
        .map(|(_, m)| m)
        .ok_or(HttpSigError::MissingSignature)?;
    let Member::InnerList(items, params) = member else {
        return Err(HttpSigError::Malformed(
            "signature-input is not an inner list".into(),
        ));
    };
    let mut components = Vec::new();
    for (it, p) in items {
        match it {
            Item::Str(s) if p.is_empty() => {
                if components.contains(&s) {
                    return Err(HttpSigError::Malformed(format!(
                        "component {s} listed twice"
                    )));
                }
                components.push(s)
            }
            _ => {
                return Err(HttpSigError::Malformed(
                    "unsupported covered component".into(),
                ))
            }
        }
    }
    let get = |k: &str| params.iter().find(|(pk, _)| pk == k).map(|(_, v)| v);
    let created = match get("created") {
        Some(Item::Int(i)) => *i,
        _ => return Err(HttpSigError::Malformed("missing or invalid created".into())),
    };
    let expires = match get("expires") {
        None => None,
        Some(Item::Int(i)) => Some(*i),
        _ => return Err(HttpSigError::Malformed("invalid expires".into())),
    };
    let nonce = match get("nonce") {
        Some(Item::Str(s)) if !s.is_empty() && s.len() <= 128 => s.clone(),
        _ => return Err(HttpSigError::Malformed("missing or invalid nonce".into())),
    };
    match get("alg") {
        None => {}
        Some(Item::Str(a)) if a == "ed25519" => {}
        _ => return Err(HttpSigError::Malformed("unsupported alg".into())),
    }
    let keyid = match get("keyid") {
        Some(Item::Str(s)) => s.clone(),
        _ => return Err(HttpSigError::Malformed("missing or invalid keyid".into())),
    };
    let (node, key_id) = keyid
        .split_once('/')
        .ok_or_else(|| HttpSigError::Malformed("keyid must be <node>/<key id>".into()))?;
    let node = NodeId::parse(node).map_err(|e| HttpSigError::Malformed(e.to_string()))?;
    let key_id = KeyId::parse(key_id).map_err(|e| HttpSigError::Malformed(e.to_string()))?;
    Ok(SigInput {
        components,
        params,
        created,
        expires,
        nonce,
        node,
        key_id,
    })
}

/// Splits a request target into `@path` (never empty) and `@query`
/// (including the leading `?`), if any.
fn split_target(target: &str) -> (&str, Option<&str>) {
    let (path, query) = match target.find('?') {
        Some(i) => (&target[..i], Some(&target[i..])),
        None => (target, None),
    };
    (if path.is_empty() { "/" } else { path }, query)
}

fn component_value(
    name: &str,
    method: &str,
    target: &str,
    headers: Headers,
) -> Result<String, HttpSigError> {
    let (path, query) = split_target(target);
    Ok(match name {
        "@method" => method.to_owned(),
        "@path" => path.to_owned(),
        "@query" => query.unwrap_or("?").to_owned(),
        n if n.starts_with('@') => {
            return Err(HttpSigError::Malformed(format!(
                "unsupported derived component {n}"
            )));
        }
        n => {
            if n.bytes().any(|c| c.is_ascii_uppercase()) {
                return Err(HttpSigError::Malformed(format!(
                    "component {n} must be lower case"
                )));
            }
            headers(n)
                .ok_or_else(|| HttpSigError::Malformed(format!("covered header {n} is missing")))?
                .trim()
                .to_owned()
        }
    })
}

fn signature_base(
    input: &SigInput,
    method: &str,
    target: &str,
    headers: Headers,
) -> Result<String, HttpSigError> {
    let mut base = String::new();
    for c in &input.components {
        let v = component_value(c, method, target, headers)?;
        if v.contains('\n') || v.contains('\r') {
            return Err(HttpSigError::Malformed(format!(
                "component {c} contains a newline"
            )));
        }
        base.push_str(&format!("\"{c}\": {v}\n"));
    }
    base.push_str(&format!("\"@signature-params\": {}", input.params_value()));
    Ok(base)
}

/// Signs a request.
///
/// `path` is the request target as sent (path and optional query),
/// `created_s` the current unix time in seconds. A random 16-byte nonce is
/// generated.
pub fn sign_request(
    method: &str,
    path: &str,
    destination: &NodeId,
    body: &[u8],
    sender: &NodeId,
    key: &SigningKeyPair,
    created_s: i64,
) -> SignedHeaders {
    let mut nonce = [0u8; 16];
    OsRng.fill_bytes(&mut nonce);
    sign_request_with_nonce(
        method,
        path,
        destination,
        body,
        sender,
        key,
        created_s,
        &b64url_encode(&nonce),
    )
}

/// [`sign_request`] with a caller-chosen nonce (deterministic; for tests
/// and test vectors).
#[allow(clippy::too_many_arguments)]
pub fn sign_request_with_nonce(
    method: &str,
    path: &str,
    destination: &NodeId,
    body: &[u8],
    sender: &NodeId,
    key: &SigningKeyPair,
    created_s: i64,
    nonce: &str,
) -> SignedHeaders {
    let digest = content_digest(body);
    let mut components: Vec<String> = vec![
        "@method".into(),
        "@path".into(),
        "content-digest".into(),
        DESTINATION_HEADER.into(),
    ];
    if split_target(path).1.is_some() {
        components.push("@query".into());
    }
    let input = SigInput {
        components,
        params: vec![
            ("created".into(), Item::Int(created_s)),
            ("nonce".into(), Item::Str(nonce.to_owned())),
            (
                "keyid".into(),
                Item::Str(format!("{sender}/{}", key.key_id())),
            ),
            ("alg".into(), Item::Str("ed25519".into())),
        ],
        created: created_s,
        expires: None,
        nonce: nonce.to_owned(),
        node: sender.clone(),
        key_id: key.key_id().clone(),
    };
    let dest = destination.to_string();
    let lookup = |name: &str| match name {
        "content-digest" => Some(digest.clone()),
        DESTINATION_HEADER => Some(dest.clone()),
        _ => None,
    };
    // Only our own components are covered: building the base cannot fail.
    let base = signature_base(&input, method, path, &lookup).unwrap_or_default();
    let sig = key.sign(base.as_bytes());
    SignedHeaders {
        content_digest: digest,
        destination: dest,
        signature_input: format!("{SIGNATURE_LABEL}={}", input.params_value()),
        signature: format!("{SIGNATURE_LABEL}=:{}:", STANDARD.encode(sig)),
    }
}

/// Extracts the claimed signer from `signature-input` without any crypto,
/// e.g. to rate-limit per node before verifying.
pub fn parse_signer(
    headers: &dyn Fn(&str) -> Option<String>,
) -> Result<(NodeId, KeyId), HttpSigError> {
    let input = parse_sig_input(headers)?;
    Ok((input.node, input.key_id))
}

/// The exact RFC 9421 signature base the verifier would check for this
/// request (for debugging and test vectors).
pub fn signature_base_for(
    method: &str,
    path: &str,
    headers: &dyn Fn(&str) -> Option<String>,
) -> Result<String, HttpSigError> {
    let input = parse_sig_input(headers)?;
    signature_base(&input, method, path, headers)
}

/// Verifies a signed request.
///
/// `headers` looks up a header by lower-case name. Checks, in order:
/// `signature-input` and `signature` present and well-formed
/// (`missing_signature`, `malformed`) → covered components include `@method`, `@path`,
/// `content-digest`, `vivier-destination` and, when the target has a query,
/// `@query` (`malformed`) → `vivier-destination` is `local_node`
/// (`wrong_destination`) → `content-digest` matches the body
/// (`digest_mismatch`) → `|now_s - created| <= max_skew_s` and `expires`
/// not passed (`stale`) → key resolution at `now_s` (resolver error codes) →
/// signature valid with `verify_strict` (`bad_signature`).
///
/// Replay protection is the caller's job: remember the returned nonce for
/// at least `2 * max_skew_s`.
#[allow(clippy::too_many_arguments)]
pub fn verify_request(
    method: &str,
    path: &str,
    headers: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    local_node: &NodeId,
    keys: &dyn KeyResolver,
    now_s: i64,
    max_skew_s: i64,
) -> Result<RequestSigner, HttpSigError> {
    let input = parse_sig_input(headers)?;
    let sig_header = headers("signature").ok_or(HttpSigError::MissingSignature)?;
    let sigs = parse_dictionary(&sig_header)
        .map_err(|e| HttpSigError::Malformed(format!("signature: {e}")))?;
    let sig = match sigs.into_iter().find(|(k, _)| k == SIGNATURE_LABEL) {
        Some((_, Member::Item(Item::Bytes(b), _))) => b,
        Some(_) => {
            return Err(HttpSigError::Malformed(
                "signature is not a byte sequence".into(),
            ))
        }
        None => return Err(HttpSigError::MissingSignature),
    };
    let mut required: Vec<&str> = REQUIRED_COMPONENTS.to_vec();
    if split_target(path).1.is_some() {
        required.push("@query");
    }
    for r in required {
        if !input.components.iter().any(|c| c == r) {
            return Err(HttpSigError::Malformed(format!(
                "component {r} is not covered"
            )));
        }
    }
    let dest = headers(DESTINATION_HEADER)
        .ok_or_else(|| HttpSigError::Malformed(format!("missing {DESTINATION_HEADER} header")))?;
    if dest.trim() != local_node.as_str() {
        return Err(HttpSigError::WrongDestination {
            expected: local_node.to_string(),
            got: dest.trim().to_owned(),
        });
    }
    let digest_header = headers("content-digest")
        .ok_or_else(|| HttpSigError::Malformed("missing content-digest header".into()))?;
    let digests = parse_dictionary(&digest_header)
        .map_err(|e| HttpSigError::Malformed(format!("content-digest: {e}")))?;
    let expected = Sha256::digest(body);
    match digests.iter().find(|(k, _)| k == "sha-256") {
        Some((_, Member::Item(Item::Bytes(b), _))) if b.as_slice() == expected.as_slice() => {}
        _ => return Err(HttpSigError::DigestMismatch),
    }
    if now_s.saturating_sub(input.created).saturating_abs() > max_skew_s
        || input.expires.is_some_and(|e| now_s > e)
    {
        return Err(HttpSigError::Stale);
    }
    let key = keys
        .resolve(&input.node, &input.key_id, now_s.saturating_mul(1000))
        .map_err(HttpSigError::Key)?;
    let base = signature_base(&input, method, path, headers)?;
    if !key.verify_strict(base.as_bytes(), &sig) {
        return Err(HttpSigError::BadSignature);
    }
    Ok(RequestSigner {
        node: input.node,
        key_id: input.key_id,
        created_s: input.created,
        nonce: input.nonce,
    })
}
