//! Shared fixtures for the integration tests and the test-vector generator.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use vivier_protocol::*;

/// 2025-06-15T15:06:40Z
pub const T0: i64 = 1_750_000_000_000;
pub const DAY_MS: i64 = 24 * 3600 * 1000;

pub fn node(s: &str) -> NodeId {
    NodeId::parse(s).unwrap()
}

pub fn kid(s: &str) -> KeyId {
    KeyId::parse(s).unwrap()
}

/// Deterministic key: seed = SHA-256("vivier-test-key:<label>").
pub fn key(label: &str, key_id: &str) -> SigningKeyPair {
    let seed: [u8; 32] = Sha256::digest(format!("vivier-test-key:{label}").as_bytes()).into();
    SigningKeyPair::from_seed(kid(key_id), &seed)
}

pub fn cd41_key() -> SigningKeyPair {
    key("cd41", "ed25519:1")
}
pub fn petr_key() -> SigningKeyPair {
    key("petr-montlucon", "ed25519:1")
}
pub fn cd18_key() -> SigningKeyPair {
    key("cd18", "ed25519:1")
}
pub fn op_key(n: u32) -> SigningKeyPair {
    key(&format!("operator-{n}"), &format!("ed25519:op{n}"))
}

pub fn member(id: &str, k: &SigningKeyPair, base_url: &str, status: MemberStatus) -> Member {
    Member {
        node_id: node(id),
        display_name: format!("Membre {id} — Département"),
        kind: MemberKind::Departement,
        territory: Territory {
            departements: vec!["41".into()],
            communes: vec![],
        },
        base_url: base_url.into(),
        keys: vec![MemberKey {
            key_id: k.key_id().clone(),
            public_key: k.public_key(),
            valid_from: T0 - 365 * DAY_MS,
            valid_until: None,
        }],
        status,
    }
}

pub fn membership_doc(serial: i64, ops: &[&SigningKeyPair], threshold: u32) -> MembershipDocument {
    MembershipDocument {
        network_id: "vivier-centre-val-de-loire".into(),
        serial,
        issued_at: T0 - DAY_MS,
        expires_at: T0 + 30 * DAY_MS,
        operator_keys: ops
            .iter()
            .map(|k| OperatorKey {
                key_id: k.key_id().clone(),
                public_key: k.public_key(),
            })
            .collect(),
        threshold,
        members: vec![
            member(
                "cd41",
                &cd41_key(),
                "https://vivier.cd41.fr",
                MemberStatus::Active,
            ),
            Member {
                kind: MemberKind::Petr,
                display_name: "PETR Pays de la Vallée de Montluçon et du Cher".into(),
                territory: Territory {
                    departements: vec![],
                    communes: vec!["03185".into(), "03321".into()],
                },
                ..member(
                    "petr-montlucon",
                    &petr_key(),
                    "http://127.0.0.1:8443",
                    MemberStatus::Active,
                )
            },
            member(
                "cd18",
                &cd18_key(),
                "https://vivier.cher.fr/federation",
                MemberStatus::Revoked {
                    reason: "convention résiliée".into(),
                    at: T0 - 2 * DAY_MS,
                },
            ),
        ],
        network_search: None,
    }
}

pub fn offer(title: &str) -> OfferPayload {
    OfferPayload {
        offer_id: "cd41-offre-2025-0042".into(),
        origin_node: node("cd41"),
        title: title.into(),
        description: "Entretien des locaux d'une résidence seniors à Blois. Horaires : 6h–10h. Équipe bienveillante 🙂\nPermis B apprécié.".into(),
        rome_code: "K2204".into(),
        contract_type: ContractType::Cdd,
        duration_months: Some(6),
        weekly_hours: Some(24),
        salary: Some(Salary {
            min_cents: Some(1_180),
            max_cents: Some(9_007_199_254_740_991),
            period: SalaryPeriod::Hour,
        }),
        driving_licence: Some("B".into()),
        experience_months: None,
        experience_label: Some("Débutant accepté".into()),
        start_date: None,
        vehicle_required: false,
        required_certifications: Vec::new(),
        desired_certifications: Vec::new(),
        employer: Employer {
            name: "Résidence Les Châteaux — SAS « Val de Loire »".into(),
            siret: Some("12345678901234".into()),
        },
        workplaces: vec![Workplace {
            commune_insee: "41018".into(),
            label: Some("Blois (41)".into()),
            lat_micro: Some(47_586_092),
            lon_micro: Some(-9_007_199_254_740_991),
            positions: 2,
        }],
        positions_filled: 0,
        published_at: T0 - DAY_MS,
        updated_at: T0,
    }
}

pub fn candidate() -> CandidateProfile {
    CandidateProfile {
        candidate_ref: "c-8f3a".into(),
        first_name: "Zoé".into(),
        last_name: "N'Diaye-Lefèvre".into(),
        email: Some("zoe.ndiaye@example.fr".into()),
        phone: Some("+33 6 12 34 56 78".into()),
        commune_insee: "41018".into(),
        max_travel_km: Some(25),
        driving_licences: vec!["B".into()],
        certifications: Vec::new(),
        has_vehicle: true,
        public_transport_only: false,
        available_from: Some("2025-07-01".into()),
        weekly_hours: Some(24),
        contract_types: vec![ContractType::Cdd, ContractType::Cdi, ContractType::Alternance],
        rome_codes: vec!["K2204".into()],
        job_titles: vec!["Agent d'entretien".into(), "Électricien".into()],
        skills: vec!["Nettoyage industriel".into(), "Habilitation électrique B0".into()],
        languages: vec!["français".into(), "wolof".into()],
        experience_years: Some(3),
        training_level: Some("CAP".into()),
        cv_text: "Expérience :\n\t- 2021–2024 : agent d'entretien \"polyvalente\" (C:\\Dossier)\n\u{1}Fin 🎉".into(),
        cv_text_truncated: false,
    }
}

pub fn referral() -> ReferralSubmitted {
    ReferralSubmitted {
        referral_id: "petr-montlucon-ref-0007".into(),
        offer_id: "cd41-offre-2025-0042".into(),
        target: ReferralTarget::Offer,
        for_offer_id: None,
        referring_node: node("petr-montlucon"),
        counsellor_name: "Hélène Müller".into(),
        counsellor_email: Some("h.muller@petr-montlucon.fr".into()),
        counsellor_phone: None,
        endorsement: "Candidate très motivée, ponctuelle ; je la recommande vivement 👍".into(),
        candidate: candidate(),
        consent_given_at: T0 - 3_600_000,
        submitted_at: T0,
    }
}

pub fn status_changed() -> ReferralStatusChanged {
    ReferralStatusChanged {
        referral_id: "petr-montlucon-ref-0007".into(),
        offer_id: "cd41-offre-2025-0042".into(),
        status: ReferralStatus::Accepted,
        reason: None,
        contract_type: Some(ContractType::Cdd),
        start_date: Some("2025-07-01".into()),
        comment: Some("Embauche confirmée, début lundi. Merci ! ✨".into()),
        changed_by: "Agnès Lécuyer".into(),
        changed_at: T0,
    }
}

pub fn withdrawn() -> ReferralWithdrawn {
    ReferralWithdrawn {
        referral_id: "petr-montlucon-ref-0007".into(),
        offer_id: "cd41-offre-2025-0042".into(),
        reason: WithdrawReason::Erasure,
        withdrawn_at: T0,
    }
}

pub fn closed() -> OfferClosed {
    OfferClosed {
        offer_id: "cd41-offre-2025-0042".into(),
        reason: Some("Poste pourvu ✅".into()),
        closed_at: T0,
    }
}

/// Deterministic UUIDv7 for vectors.
pub fn fixed_id(n: u8) -> String {
    uuid::Builder::from_unix_timestamp_millis(T0 as u64, &[0x80, 0, 0, 0, 0, 0, 0, 0, 0, n])
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// An unsigned envelope as a JSON object (no `signatures`).
#[allow(clippy::too_many_arguments)]
pub fn envelope_value(
    n: u8,
    kind: &str,
    sender: &str,
    key_id: &str,
    recipient: &str,
    serial: i64,
    payload: Value,
) -> Value {
    json!({
        "version": 1,
        "id": fixed_id(n),
        "kind": kind,
        "sender": sender,
        "key_id": key_id,
        "created_at": T0,
        "expires_at": T0 + 7 * DAY_MS,
        "recipient": recipient,
        "membership_serial": serial,
        "payload": payload,
    })
}

/// Signs an arbitrary envelope object with `key` under
/// `signatures[<sender>][<key.key_id>]`. Returns (signed envelope, canonical
/// signed string, signature).
pub fn sign_value(mut env: Value, key: &SigningKeyPair) -> (Value, String, String) {
    let obj = env.as_object_mut().unwrap();
    obj.remove("signatures");
    let canonical = to_canonical_string(&env).unwrap();
    let sig = key.sign_b64(canonical.as_bytes());
    let sender = env["sender"].as_str().unwrap().to_owned();
    env["signatures"] = json!({ sender: { key.key_id().as_str(): sig } });
    (env, canonical, sig)
}

/// Resolver knowing only cd41/ed25519:1 and petr-montlucon/ed25519:1.
pub fn static_keys() -> StaticKeys {
    StaticKeys::new()
        .with(node("cd41"), kid("ed25519:1"), cd41_key().public_key())
        .with(
            node("petr-montlucon"),
            kid("ed25519:1"),
            petr_key().public_key(),
        )
}

/// Property-test configuration: `default_cases` cases, or `PROPTEST_CASES`
/// from the environment (for the long runs described in the README).
pub fn proptest_config(default_cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    proptest::test_runner::Config {
        cases,
        // `prop_assume!` skips the few mutations that change nothing; allow
        // as many in proportion on long runs.
        max_global_rejects: (cases / 2).max(1024),
        // Long runs are about finding a failure, not storing every seed.
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// Arbitrary JSON values within the protocol's integer range, with
/// strings full of escapes and non-ASCII characters.
pub fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    use serde_json::Map;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-9_007_199_254_740_991i64..=9_007_199_254_740_991i64)
            .prop_map(|i| Value::Number(i.into())),
        prop_oneof![
            Just(9_007_199_254_740_991i64),
            Just(-9_007_199_254_740_991i64),
            Just(0)
        ]
        .prop_map(|i| Value::Number(i.into())),
        any::<String>().prop_map(Value::String),
        "[a-zé\"\\\\\u{0}-\u{1f}😀\u{7f}\u{2028}]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner.clone(), 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
            prop::collection::btree_map("[a-zA-Zé😀\u{e000}\u{1}]{0,3}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

/// A byte-level mutation of a message.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Replace the byte at (index mod len).
    Replace(usize, u8),
    /// Insert a byte before (index mod len+1).
    Insert(usize, u8),
    /// Delete the byte at (index mod len).
    Delete(usize),
    /// Keep only the first (index mod len) bytes.
    Truncate(usize),
    /// Copy a slice of up to 16 bytes to another place.
    Splice(usize, usize, usize),
}

pub fn arb_mutation() -> impl proptest::strategy::Strategy<Value = Mutation> {
    use proptest::prelude::*;
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..16, any::<usize>())
            .prop_map(|(a, n, b)| Mutation::Splice(a, n, b)),
    ]
}

/// Apply mutations in turn.
pub fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in mutations {
        if b.is_empty() {
            break;
        }
        let len = b.len();
        match *m {
            Mutation::Replace(i, x) => b[i % len] = x,
            Mutation::Insert(i, x) => b.insert(i % (len + 1), x),
            Mutation::Delete(i) => {
                b.remove(i % len);
            }
            Mutation::Truncate(i) => b.truncate(i % len),
            Mutation::Splice(from, n, to) => {
                let from = from % len;
                let piece: Vec<u8> = b[from..(from + n).min(len)].to_vec();
                let to = to % (len + 1);
                b.splice(to..to, piece);
            }
        }
    }
    b
}

/// Replace the value at a pseudo-random place of a JSON tree (chosen by
/// `pick`) with `new`. Returns false when the tree has no such place.
pub fn replace_somewhere(v: &mut Value, pick: usize, new: Value) -> bool {
    fn places(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(places).sum(),
            Value::Object(o) => o.values().map(places).sum(),
            _ => 0,
        }
    }
    fn go(v: &mut Value, mut k: usize, new: &mut Option<Value>) -> usize {
        if k == 0 {
            if let Some(n) = new.take() {
                *v = n;
            }
            return 0;
        }
        k -= 1;
        match v {
            Value::Array(a) => {
                for item in a.iter_mut() {
                    let n = places(item);
                    if k < n {
                        return go(item, k, new);
                    }
                    k -= n;
                }
            }
            Value::Object(o) => {
                for item in o.values_mut() {
                    let n = places(item);
                    if k < n {
                        return go(item, k, new);
                    }
                    k -= n;
                }
            }
            _ => {}
        }
        k
    }
    let total = places(v);
    // Never the root itself: keep an object.
    let k = 1 + pick % (total.max(2) - 1);
    let mut new = Some(new);
    go(v, k, &mut new);
    new.is_none()
}

pub fn training() -> OpportunityPayload {
    OpportunityPayload {
        opportunity_id: "cd41-formation-2026-0003".into(),
        origin_node: node("cd41"),
        opportunity_type: OpportunityType::Training,
        title: "CACES® R489 catégorie 3 — chariots élévateurs".into(),
        description: "5 jours : théorie, pratique, test.\nFinancement « OPCO 2i » 💶".into(),
        organisation: "AFPA Blois".into(),
        siret: Some("82436817700015".into()),
        certifications_granted: vec!["CACES_R489_3".into()],
        rome_codes: vec!["N1101".into()],
        places: vec![OpportunityPlace {
            commune_insee: "41018".into(),
            label: Some("Blois (41)".into()),
            lat_micro: Some(47_586_092),
            lon_micro: Some(1_335_947),
        }],
        start_date: "2027-03-01".into(),
        end_date: "2027-03-05".into(),
        seats: 8,
        funding: Some("OPCO 2i".into()),
        tutor: None,
        published_at: T0,
        updated_at: T0,
    }
}

pub fn immersion() -> OpportunityPayload {
    OpportunityPayload {
        opportunity_id: "cd41-pmsmp-2026-0011".into(),
        opportunity_type: OpportunityType::Immersion,
        title: "Immersion en entrepôt (PMSMP)".into(),
        description: String::new(),
        organisation: "Logistique du Val de Loire".into(),
        siret: None,
        certifications_granted: Vec::new(),
        rome_codes: vec!["N1103".into()],
        start_date: "2027-02-08".into(),
        end_date: "2027-02-19".into(),
        seats: 1,
        funding: None,
        tutor: Some("Marc Dubois, chef d'équipe".into()),
        ..training()
    }
}

pub fn opportunity_closed() -> OpportunityClosed {
    OpportunityClosed {
        opportunity_id: "cd41-formation-2026-0003".into(),
        reason: Some("session complète".into()),
        closed_at: T0,
    }
}
