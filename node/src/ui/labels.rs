//! French wording: labels of the domain's codes, dates, distances, the
//! translation of the domain's (English) validation messages and the
//! explanation of matching scores.

use chrono::TimeZone as _;
use minijinja::Value;
use serde::Serialize;
use vivier_protocol::{ContractType, OfferPayload, RefusalReason};

use crate::auth::Role;
use crate::candidates::{Candidate, CandidateStatus};
use crate::matching::Evaluation;

// ---------------------------------------------------------------------------
// Codes

pub fn role(r: Role) -> &'static str {
    match r {
        Role::Admin => "Administrateur",
        Role::Counsellor => "Conseiller",
        Role::Employer => "Employeur",
    }
}

pub const CONTRACTS: [ContractType; 5] = [
    ContractType::Cdi,
    ContractType::Cdd,
    ContractType::Mis,
    ContractType::Sai,
    ContractType::Alternance,
];

pub fn contract(c: ContractType) -> &'static str {
    match c {
        ContractType::Cdi => "CDI",
        ContractType::Cdd => "CDD",
        ContractType::Mis => "Intérim",
        ContractType::Sai => "Saisonnier",
        ContractType::Alternance => "Alternance",
    }
}

pub fn contract_str(code: &str) -> &'static str {
    crate::referrals::parse_contract(code)
        .map(contract)
        .unwrap_or("autre contrat")
}

/// `(code, label)` of the contract types, for selects and checkboxes.
pub fn contract_options() -> Vec<(&'static str, &'static str)> {
    CONTRACTS
        .iter()
        .map(|c| (c.as_str(), contract(*c)))
        .collect()
}

/// A family of certifications for the forms' option groups.
#[derive(Debug, serde::Serialize)]
pub struct CertificationGroup {
    pub label: &'static str,
    pub items: Vec<&'static crate::referentials::Certification>,
}

/// French name of a certification family.
pub fn certification_family(f: &str) -> &'static str {
    match f {
        "permis" => "Permis de conduire",
        "caces" => "CACES",
        "transport" => "Transport routier (FIMO, FCO)",
        "habilitation" => "Habilitations électriques",
        "securite" => "Sécurité et secours",
        "sante" => "Santé et aide à la personne",
        "hygiene" => "Hygiène",
        _ => "Autres",
    }
}

/// The certification referential grouped by family, in file order.
/// `permis` is left out: licences have their own field.
pub fn certification_groups() -> Vec<CertificationGroup> {
    let mut out: Vec<CertificationGroup> = Vec::new();
    for c in crate::referentials::Certifications::global().all() {
        if c.family == "permis" {
            continue;
        }
        let label = certification_family(&c.family);
        match out.iter_mut().find(|g| g.label == label) {
            Some(g) => g.items.push(c),
            None => out.push(CertificationGroup {
                label,
                items: vec![c],
            }),
        }
    }
    out
}

/// French labels of certification codes.
pub fn certification_labels(codes: &[String]) -> Vec<String> {
    let refs = crate::referentials::Certifications::global();
    codes.iter().map(|c| refs.label(c).to_string()).collect()
}

pub fn candidate_status(s: CandidateStatus) -> &'static str {
    match s {
        CandidateStatus::Active => "En recherche",
        CandidateStatus::InReferral => "En mise en relation",
        CandidateStatus::Placed => "En emploi ou en formation",
        CandidateStatus::Archived => "Archivé",
    }
}

pub fn candidate_status_str(s: &str) -> &'static str {
    CandidateStatus::parse(s)
        .map(candidate_status)
        .unwrap_or("Autre")
}

pub fn referral_status_str(s: &str) -> &'static str {
    match s {
        "new" => "Nouvelle",
        "processing" => "En cours d'examen",
        "prior_to_hire" => "Avant embauche",
        // Labels of a referral (« une mise en relation »), whatever the
        // candidate's gender: nouns, or adjectives agreeing with it.
        "accepted" => "Embauche",
        "refused" => "Refusée",
        "postponed" => "Mise en attente",
        "cancelled" => "Annulée",
        "obsolete" => "Sans objet",
        "undeliverable" => "Non transmise",
        "admitted" => "Entrée en formation",
        "completed" => "Formation terminée",
        "certified" => "Certifiée",
        "abandoned" => "Abandon",
        _ => "Autre",
    }
}

/// Referral counts by direction, then status (as the stats and the
/// reports give them), with their French labels.
pub fn referrals_by_direction(
    by_direction: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>>,
) -> Vec<(&'static str, Vec<(&'static str, i64)>)> {
    by_direction
        .iter()
        .map(|(d, m)| {
            (
                direction_str(d),
                m.iter()
                    .map(|(s, n)| (referral_status_str(s), *n))
                    .collect(),
            )
        })
        .collect()
}

pub fn direction_str(d: &str) -> &'static str {
    match d {
        "outbound" => "Envoyées à une offre du réseau",
        "inbound" => "Reçues du réseau pour nos offres",
        "local" => "Locales (nos candidats, nos offres)",
        _ => "Autres",
    }
}

pub const REFUSAL_REASONS: [RefusalReason; 7] = [
    RefusalReason::NotMobile,
    RefusalReason::LackingSkills,
    RefusalReason::HiredElsewhere,
    RefusalReason::PositionFilled,
    RefusalReason::CandidateDeclined,
    RefusalReason::NoAnswer,
    RefusalReason::Other,
];

pub fn refusal(r: RefusalReason) -> &'static str {
    match r {
        RefusalReason::NotMobile => "Non mobile",
        RefusalReason::LackingSkills => "Compétences insuffisantes",
        RefusalReason::HiredElsewhere => "Embauché ailleurs",
        RefusalReason::PositionFilled => "Poste pourvu",
        RefusalReason::CandidateDeclined => "Le candidat a décliné",
        RefusalReason::NoAnswer => "Sans réponse",
        RefusalReason::Other => "Autre",
    }
}

/// A candidate's mobility in a few words: the distance they accept, their
/// vehicle, public transport only.
pub fn mobility(
    max_travel_km: Option<i64>,
    has_vehicle: bool,
    public_transport_only: bool,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(km) = max_travel_km {
        parts.push(format!("jusqu'à {km} km"));
    }
    if has_vehicle {
        parts.push("avec un véhicule".into());
    }
    if public_transport_only {
        parts.push("en transports en commun uniquement".into());
    }
    if parts.is_empty() {
        "non précisée".into()
    } else {
        parts.join(", ")
    }
}

pub fn refusal_str(code: &str) -> &'static str {
    crate::referrals::parse_reason(code)
        .map(refusal)
        .unwrap_or("Autre")
}

/// The outcome of a programme: a placement outcome, or `none`.
pub fn programme_outcome(o: &str) -> &'static str {
    if o == "none" {
        "sans emploi ni formation"
    } else {
        outcome(o)
    }
}

pub fn outcome(o: &str) -> &'static str {
    match o {
        "cdd_under_6_months" => "CDD de moins de 6 mois, intérim, saisonnier",
        "cdd_6_months_or_more" => "CDD de 6 mois ou plus",
        "cdi" => "CDI",
        "training" => "Formation qualifiante",
        "apprenticeship" => "Contrat d'apprentissage",
        "professionalisation" => "Contrat de professionnalisation",
        "business_creation" => "Création d'entreprise",
        "other" => "Autre",
        _ => "Autre",
    }
}

/// The return-to-work outcomes, in the order of the form (stored forms).
pub const OUTCOMES: &[&str] = &[
    "cdi",
    "cdd_6_months_or_more",
    "cdd_under_6_months",
    "apprenticeship",
    "professionalisation",
    "training",
    "business_creation",
    "other",
];

/// (value, French label) for the return-to-work form.
pub fn outcome_options() -> Vec<(&'static str, &'static str)> {
    OUTCOMES.iter().map(|o| (*o, outcome(o))).collect()
}

pub fn salary_period(p: vivier_protocol::SalaryPeriod) -> &'static str {
    match p {
        vivier_protocol::SalaryPeriod::Hour => "de l'heure",
        vivier_protocol::SalaryPeriod::Month => "par mois",
        vivier_protocol::SalaryPeriod::Year => "par an",
    }
}

/// A comment of a referral's history as shown. The node writes its own
/// comments in French; this table only translates those stored in English
/// by earlier versions (or received from older peers). Users' comments are
/// kept as written.
pub fn event_comment(c: &str) -> String {
    match c {
        "referral submitted" => "proposition envoyée".into(),
        "referral received" => "proposition reçue".into(),
        "viewed by the employer" => "consultée par l'employeur".into(),
        "candidate hired through another referral" => {
            "candidat embauché par une autre mise en relation".into()
        }
        "erasure" => "données du candidat effacées".into(),
        "withdrawn" => "proposition retirée par le conseiller".into(),
        "offer closed" => "offre clôturée".into(),
        _ => match c
            .strip_prefix("no answer within ")
            .and_then(|r| r.strip_suffix(" days"))
        {
            Some(n) => format!("sans réponse depuis {n} jours"),
            None => c.to_string(),
        },
    }
}

/// What a federation message carries (its `kind`), in French.
pub fn message_kind(kind: &str) -> &'static str {
    use vivier_protocol::MessageKind as K;
    match kind.parse::<K>() {
        Ok(K::OfferPublished) => "Offre publiée",
        Ok(K::OfferUpdated) => "Offre modifiée",
        Ok(K::OfferClosed) => "Offre clôturée",
        Ok(K::ReferralSubmitted) => "Proposition de candidat",
        Ok(K::ReferralStatusChanged) => "Suivi d'une proposition",
        Ok(K::ReferralWithdrawn) => "Retrait d'une proposition (effacement)",
        Ok(K::MembershipDocument) => "Document d'adhésion",
        Ok(K::ReportFigures) => "Chiffres pour le réseau",
        Ok(K::OpportunityPublished) => "Formation ou aide publiée",
        Ok(K::OpportunityUpdated) => "Formation ou aide modifiée",
        Ok(K::OpportunityClosed) => "Formation ou aide clôturée",
        Err(_) => "Message",
    }
}

/// `Error::NotFound`'s subject, in French.
pub fn thing(what: &str) -> &'static str {
    match what {
        "candidate" => "Candidat",
        "offer" => "Offre",
        "referral" => "Mise en relation",
        "file" => "Fichier",
        "page" => "Page",
        _ => "Élément",
    }
}

/// French text of a typed refusal (`Error::Refused` codes).
pub fn refused(code: &str) -> &'static str {
    match code {
        "node_not_member" => {
            "Ce nœud n'est plus membre actif du réseau Vivier : il ne peut plus publier d'offre, \
             proposer de candidat à une offre d'un autre membre ni interroger le réseau. Contactez \
             l'opérateur du réseau."
        }
        "placement_already_recorded" => {
            "Ce retour à l'emploi est déjà compté : l'embauche a été enregistrée quand \
             l'employeur a accepté la mise en relation."
        }
        "mail_disabled" => {
            "Ce nœud n'envoie pas de courriel : le lien ne peut pas être envoyé. \
             L'administrateur du serveur peut fixer le mot de passe (vivier-node user password)."
        }
        "account_disabled" => "Ce compte est désactivé : réactivez-le d'abord.",
        "cv_text_unavailable" => {
            "Ce fichier ne contient pas de texte lisible (document scanné, ou déposé avant \
             la conservation des textes) : il ne peut pas servir de texte de recherche."
        }
        "last_admin" => {
            "Le dernier administrateur actif ne peut être ni désactivé ni changé de rôle."
        }
        "aid_not_eligible" => {
            "Ce retour à l'emploi ne remplit pas les conditions de cette aide : elle ne peut pas \
             être demandée."
        }
        "aid_transition" => {
            "Le dossier de cette aide a déjà avancé (ou est clos) : rechargez la fiche pour voir \
             son état."
        }
        "already_enrolled" => "Cette personne suit déjà ce programme.",
        "no_renewal_left" => "Ce programme ne peut plus être renouvelé pour cette personne.",
        "enrolment_closed" => "Cette inscription est déjà close.",
        "aid_not_home" => {
            "Les aides à l'embauche sont suivies par le nœud du candidat, pas par celui de l'offre."
        }
        _ => "Cette action n'est pas possible dans l'état actuel du nœud.",
    }
}

/// A conflict from the domain, in French when it is a known one.
pub fn conflict(msg: &str) -> String {
    if msg.contains("has not consented") {
        "Le candidat n'a pas donné son consentement : enregistrez-le avant de le proposer.".into()
    } else if msg.contains("needs their consent with scope network") {
        "Cette offre vient d'un autre membre du réseau : il faut le consentement « réseau » du candidat pour la lui proposer.".into()
    } else if msg.contains("only active or in_referral candidates") {
        "Seul un candidat en recherche (ou déjà en mise en relation) peut être proposé.".into()
    } else if msg.contains("the offer is closed") || msg.contains("was closed meanwhile") {
        "L'offre est clôturée.".into()
    } else if msg.contains("already has a pending referral") {
        "Ce candidat a déjà une mise en relation en cours pour cette offre.".into()
    } else if msg.contains("invalid transition") {
        "Ce changement de statut n'est plus possible (la mise en relation a changé entre-temps)."
            .into()
    } else if msg.contains("anonymised") {
        "Cette fiche a été anonymisée.".into()
    } else {
        format!("Action impossible dans l'état actuel ({msg}).")
    }
}

// ---------------------------------------------------------------------------
// Dates and numbers

fn local_date(ms: i64) -> Option<chrono::DateTime<chrono::Local>> {
    chrono::Local.timestamp_millis_opt(ms).single()
}

/// Filter: unix ms → `jj/mm/aaaa`.
pub fn date_fr(v: Value) -> String {
    i64::try_from(v)
        .ok()
        .and_then(local_date)
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_default()
}

/// Filter: unix ms → `jj/mm/aaaa à hh:mm`.
pub fn datetime_fr(v: Value) -> String {
    i64::try_from(v)
        .ok()
        .and_then(local_date)
        .map(|d| d.format("%d/%m/%Y à %H:%M").to_string())
        .unwrap_or_default()
}

/// `AAAA-MM-JJ` → `jj/mm/aaaa` (unchanged when not a date).
pub fn day(s: &str) -> String {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| s.to_string())
}

/// Filter: `AAAA-MM-JJ` → `jj/mm/aaaa`.
pub fn jour_fr(v: Value) -> String {
    v.as_str().map(day).unwrap_or_default()
}

/// A date typed in a form (`jj/mm/aaaa` or `aaaa-mm-jj`) → `AAAA-MM-JJ`;
/// anything else is returned as typed, for the domain to refuse.
pub fn parse_day(s: &str) -> String {
    let s = s.trim();
    match chrono::NaiveDate::parse_from_str(s, "%d/%m/%Y") {
        Ok(d) => d.format("%Y-%m-%d").to_string(),
        Err(_) => s.to_string(),
    }
}

/// `12`, `12,5`: kilometres the French way.
pub fn km(d: f64) -> String {
    let r = (d * 10.0).round() / 10.0;
    if (r - r.round()).abs() < 1e-9 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}").replace('.', ",")
    }
}

/// Filter form of [`km`].
pub fn km_filter(v: Value) -> String {
    f64::try_from(v).map(km).unwrap_or_default()
}

/// Filter `s`: the French plural mark of a count — « s » above one, nothing
/// for 0 and 1 (« 0 offre ouverte », « 2 offres ouvertes »).
pub fn plural_s(v: Value) -> &'static str {
    match i64::try_from(v) {
        Ok(n) if n > 1 => "s",
        _ => "",
    }
}

/// Cents → `1 850,50 €`.
pub fn euros(cents: i64) -> String {
    let whole = cents / 100;
    let frac = (cents % 100).abs();
    let digits: Vec<char> = whole.abs().to_string().chars().rev().collect();
    let grouped: String = digits
        .chunks(3)
        .map(|c| c.iter().rev().collect::<String>())
        .rev()
        .collect::<Vec<_>>()
        .join("\u{202f}");
    let sign = if cents < 0 { "-" } else { "" };
    if frac == 0 {
        format!("{sign}{grouped} €")
    } else {
        format!("{sign}{grouped},{frac:02} €")
    }
}

/// An amount typed in euros (`1850`, `1 850,50`, `1850.5`) → cents.
pub fn parse_euros(s: &str) -> Option<i64> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '€' && *c != '\u{202f}')
        .collect::<String>()
        .replace(',', ".");
    if clean.is_empty() {
        return None;
    }
    let v: f64 = clean.parse().ok()?;
    if !v.is_finite() || v.abs() > 1e12 {
        return None;
    }
    Some((v * 100.0).round() as i64)
}

// ---------------------------------------------------------------------------
// Validation messages

fn between(msg: &str) -> Option<(String, String)> {
    let rest = msg.split("between ").nth(1)?;
    let mut it = rest.split(" and ");
    let a = it.next()?.trim().to_string();
    let b = it.next()?.split_whitespace().next()?.to_string();
    Some((a, b))
}

/// A record field's name in French (what a person corrected).
pub fn record_field(field: &str) -> &str {
    match field {
        "email" => "e-mail",
        "phone" => "téléphone",
        "available_from" => "disponibilité",
        "weekly_hours" => "heures par semaine",
        "max_travel_km" => "distance maximale",
        "has_vehicle" => "véhicule",
        "public_transport_only" => "transports en commun",
        "job_titles" => "métiers recherchés",
        "contract_types" => "contrats acceptés",
        other => other,
    }
}

/// The domain's English message for `field`, in French.
pub fn field_message(field: &str, msg: &str) -> String {
    let base = field.split(['[', '.']).next().unwrap_or(field);
    if msg == "required" || msg.starts_with("must not be empty") && base != "endorsement" {
        return match base {
            "commune_insee" => "Indiquez la commune (code INSEE).".into(),
            "rome_code" => "Indiquez un code ROME.".into(),
            _ => "Champ obligatoire.".into(),
        };
    }
    if let Some((a, b)) = between(msg) {
        return format!("Doit être compris entre {a} et {b}.");
    }
    if let Some(rest) = msg.strip_prefix("at most ") {
        let n = rest.split_whitespace().next().unwrap_or("");
        return if msg.contains("ROME codes") {
            format!("{n} codes ROME au plus.")
        } else if msg.contains("workplaces") {
            format!("{n} lieux de travail au plus.")
        } else {
            format!("{n} caractères au plus.")
        };
    }
    let fr = if msg.contains("unknown INSEE commune code")
        || msg.contains("unknown commune INSEE code")
    {
        "Commune inconnue : ce n'est pas un code INSEE connu (5 caractères, par exemple 41018 pour Blois)."
    } else if msg.contains("centre of this commune is unknown") {
        "Le centre de cette commune est inconnu : la distance ne peut pas être calculée."
    } else if msg.contains("unknown ROME code") {
        "Code ROME inconnu (une lettre et quatre chiffres, par exemple N1101)."
    } else if msg.contains("at least one ROME code") {
        "Indiquez au moins un code ROME."
    } else if msg.contains("unknown licence category") {
        "Catégorie de permis inconnue."
    } else if msg.contains("is not a date") || msg.contains("must be a date") {
        "Date invalide (jj/mm/aaaa)."
    } else if msg.contains("not a valid e-mail") {
        "Adresse e-mail invalide."
    } else if msg.contains("expected 6 to 20 digits") {
        "Numéro invalide : 6 à 20 chiffres (espaces, +, ., -, parenthèses permis)."
    } else if msg.contains("must not be negative") {
        "Ne doit pas être négatif."
    } else if msg.contains("control characters") {
        "Caractères de contrôle interdits (seules les tabulations et les fins de ligne sont permises)."
    } else if msg.contains("must not exceed salary.max_cents") {
        "Le minimum dépasse le maximum."
    } else if msg.contains("give min_cents") {
        "Indiquez un salaire minimum, maximum ou les deux."
    } else if msg.contains("at least one workplace") {
        "Indiquez au moins un lieu de travail."
    } else if msg.contains("must be 14 digits") {
        "Le SIRET compte 14 chiffres."
    } else if msg.starts_with("required for a") {
        "Obligatoire pour un CDD ou une mission d'intérim."
    } else if msg.starts_with("required when status is accepted") {
        "Obligatoire pour une embauche."
    } else if msg.starts_with("required when status is refused") {
        "Indiquez le motif du refus."
    } else if msg.starts_with("must not be empty: say why") {
        "Dites pourquoi vous recommandez ce candidat."
    } else if msg.contains("already has this external id") {
        "Un autre candidat a déjà cet identifiant."
    } else if msg.contains("malformed query") {
        "Recherche non comprise : vérifiez les guillemets et les parenthèses."
    } else if msg.contains("needs a commune") {
        "Indiquez une commune."
    } else if msg.contains("required when posting on behalf") {
        "Indiquez l'employeur."
    } else if msg.contains("no offer with this id") {
        "Offre inconnue."
    } else if msg.contains("no candidate with this id") {
        "Candidat inconnu."
    } else if msg.contains("only the admin or the assigned counsellor") {
        "Seuls l'administrateur et le conseiller référent peuvent saisir ces informations."
    } else if msg.contains("unknown user") || msg.contains("not a counsellor") {
        "Conseiller inconnu."
    } else if msg.contains("is decided by the node that owns the offer") {
        "Ce statut est décidé par le membre du réseau qui a publié l'offre."
    } else if msg.contains("is decided by the node that referred") {
        "Ce statut est décidé par le membre du réseau qui a proposé le candidat."
    } else if msg.starts_with("required to cancel a referral the employer answered") {
        "Indiquez le motif de l'annulation : l'employeur avait déjà répondu, il en sera informé."
    } else {
        "Valeur invalide."
    };
    fr.to_string()
}

// ---------------------------------------------------------------------------
// Search snippets

/// The search module's snippet, checked before it is rendered as HTML: it
/// must be escaped text with `<b>`/`</b>` marks and nothing else (no other
/// tag, no raw `<`, `>`, or stray `&`). Anything else is refused (`None`),
/// and the caller shows the snippet escaped.
pub fn safe_snippet(s: &str) -> Option<String> {
    let stripped = s.replace("<b>", "").replace("</b>", "");
    if stripped.contains(['<', '>']) {
        return None;
    }
    // Every `&` must start a plain entity (`&amp;`, `&#39;`, `&quot;`…).
    let mut rest = stripped.as_str();
    while let Some(i) = rest.find('&') {
        let after = &rest[i + 1..];
        let end = after.find(';')?;
        let name = &after[..end];
        let ok = !name.is_empty()
            && name.len() <= 8
            && (name.chars().all(|c| c.is_ascii_alphanumeric())
                || name.strip_prefix('#').is_some_and(|n| {
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric())
                }));
        if !ok {
            return None;
        }
        rest = &after[end + 1..];
    }
    // Balanced marks.
    if s.matches("<b>").count() != s.matches("</b>").count() {
        return None;
    }
    Some(s.to_string())
}

// ---------------------------------------------------------------------------
// Match explanations

/// One explained part of a matching score.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// What is measured.
    pub label: &'static str,
    /// Points earned.
    pub points: String,
    /// Points at most.
    pub weight: String,
    /// Why, in French.
    pub text: String,
    /// Positive (full marks) or not.
    pub ok: bool,
}

fn pts(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if (r - r.round()).abs() < 1e-9 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}").replace('.', ",")
    }
}

/// The score parts of `e` (candidate `c` for `offer`, at the evaluated workplace) in
/// French, e.g. « même code ROME », « à 12 km (limite 30 km) »,
/// « permis B requis : détenu ».
pub fn explain(e: &Evaluation, offer: &OfferPayload, c: &Candidate) -> Vec<Explanation> {
    let p = &e.parts;
    let part = |label, part: &crate::matching::Part, text: String| Explanation {
        label,
        points: pts(part.points),
        weight: pts(part.weight),
        text,
        ok: part.value >= 0.999,
    };
    let code = &offer.rome_code;
    let rome = if p.rome.value >= 0.999 {
        format!("même code ROME ({code})")
    } else if p.rome.value >= 0.7 {
        format!("code ROME voisin de {code} (même code parent)")
    } else if p.rome.value > 0.0 {
        format!("même domaine professionnel que {code}")
    } else {
        format!("aucun code ROME lié à {code}")
    };
    let text = if !e.matched_terms.is_empty() {
        format!(
            "mots de l'offre présents dans le CV, les métiers ou les compétences : {}",
            e.matched_terms.join(", ")
        )
    } else {
        "aucun mot de l'offre dans le CV".to_string()
    };
    let limit = if c.public_transport_only {
        format!("limite {} km, transports en commun", km(e.travel_limit_km))
    } else {
        format!("limite {} km", km(e.travel_limit_km))
    };
    let distance = match e.distance_km {
        Some(d) if d > e.travel_limit_km => format!("à {} km, au-delà de la {limit}", km(d)),
        Some(d) => format!("à {} km ({limit})", km(d)),
        None => "distance inconnue (centre de la commune inconnu)".to_string(),
    };
    let availability = match c.available_from.as_deref() {
        None => "disponible immédiatement".to_string(),
        Some(d) if p.availability.value >= 0.999 => format!("disponible (depuis le {})", day(d)),
        Some(d) => format!("disponible à partir du {}", day(d)),
    };
    let hours = match (c.weekly_hours, offer.weekly_hours) {
        (Some(w), Some(o)) => format!("souhaite {w} h par semaine, l'offre en propose {o}"),
        (None, _) => "pas de préférence d'horaires".to_string(),
        (Some(_), None) => "horaires non précisés par l'offre".to_string(),
    };
    let ct = contract(offer.contract_type);
    let contract_text = if c.contract_types.is_empty() {
        "accepte tout type de contrat".to_string()
    } else if p.contract.value >= 0.999 {
        format!("accepte : {ct}")
    } else {
        format!(
            "souhaite {}, l'offre est en {ct}",
            c.contract_types
                .iter()
                .map(|t| contract(*t))
                .collect::<Vec<_>>()
                .join(" ou ")
        )
    };
    let needs_vehicle = crate::matching::vehicle_needed(offer, e.distance_km);
    let vehicle = match (needs_vehicle, c.has_vehicle) {
        (false, _) => "pas de véhicule nécessaire".to_string(),
        (true, false) if offer.vehicle_required => {
            "véhicule personnel exigé par l'offre : n'en a pas".to_string()
        }
        (true, true) => "véhicule nécessaire : en a un".to_string(),
        (true, false) if c.public_transport_only => {
            "véhicule nécessaire : se déplace en transports en commun".to_string()
        }
        (true, false) => "véhicule nécessaire : n'en a pas".to_string(),
    };
    let licence = match offer.driving_licence.as_deref() {
        None => "aucun permis requis".to_string(),
        Some(l) if p.licence.value >= 0.999 => format!("permis {l} requis : détenu"),
        Some(l) => format!("permis {l} requis : non détenu"),
    };
    let certs = crate::referentials::Certifications::global();
    let held = certs.held(&c.certifications, &c.driving_licences);
    let cert_words = |codes: &[String], what: &str| {
        codes
            .iter()
            .map(|code| {
                let ok = crate::referentials::Certifications::satisfied(&held, code);
                format!(
                    "{} {what} : {}",
                    certs.label(code),
                    if ok { "détenu" } else { "non détenu" }
                )
            })
            .collect::<Vec<_>>()
    };
    let mut certifications = cert_words(&offer.required_certifications, "exigé");
    certifications.extend(cert_words(&offer.desired_certifications, "apprécié"));
    let mut out = vec![
        part("Métier", &p.rome, rome),
        part("Mots-clés", &p.text, text),
        part("Distance", &p.distance, distance),
        part("Disponibilité", &p.availability, availability),
        part("Horaires", &p.hours, hours),
        part("Contrat", &p.contract, contract_text),
        part("Véhicule", &p.vehicle, vehicle),
        Explanation {
            label: "Permis",
            points: "—".into(),
            weight: "—".into(),
            ok: p.licence.value >= 0.999,
            text: licence,
        },
    ];
    if !certifications.is_empty() {
        out.push(Explanation {
            label: "Certifications",
            points: "—".into(),
            weight: "—".into(),
            ok: p.certifications.value >= 0.999,
            text: certifications.join(" ; "),
        });
    }
    out
}

/// The failed hard constraints of an evaluation, in French.
pub fn constraints(e: &Evaluation) -> Vec<String> {
    e.failed_constraints
        .iter()
        .map(|c| match c.code {
            "beyond_travel_limit" => "au-delà de la distance de déplacement acceptée".to_string(),
            "missing_licence" => "permis requis non détenu".to_string(),
            "missing_certification" => format!(
                "certification exigée non détenue : {}",
                crate::referentials::Certifications::global()
                    .label(c.certification.as_deref().unwrap_or(""))
            ),
            "no_vehicle" => "véhicule personnel exigé par l'offre".to_string(),
            "not_available_by_start" => {
                "pas disponible à la date de prise de poste".to_string()
            }
            "local_consent_only" => {
                "consentement limité à ce nœud : ne peut pas être proposé pour l'offre d'un autre membre"
                    .to_string()
            }
            other => other.to_string(),
        })
        .collect()
}

/// The audit actions with their French names, for the journal page (its
/// filter offers them; the code stays shown beside the name).
pub const AUDIT_ACTIONS: &[(&str, &str)] = &[
    ("access.refused", "Accès refusé"),
    (
        "auth.lockout",
        "Compte bloqué après des échecs de connexion",
    ),
    ("auth.login", "Connexion"),
    ("auth.login_failed", "Échec de connexion"),
    ("auth.password_reset", "Mot de passe réinitialisé"),
    ("auth.password_reset_refused", "Réinitialisation refusée"),
    ("auth.password_reset_requested", "Réinitialisation demandée"),
    ("auth.tokens", "Jetons d'API consultés"),
    ("auth.unlock", "Compte débloqué"),
    ("candidate.anonymise", "Fiche anonymisée"),
    (
        "candidate.certifications_granted",
        "Certifications ajoutées après une formation",
    ),
    ("candidate.consent", "Consentement recueilli"),
    ("candidate.consent_withdrawn", "Consentement retiré"),
    ("candidate.correct", "Fiche corrigée par la personne"),
    ("candidate.create", "Fiche créée"),
    ("candidate.cv_download", "CV téléchargé"),
    (
        "candidate.cv_text_chosen",
        "Texte de CV choisi pour la recherche",
    ),
    ("candidate.cv_upload", "CV déposé"),
    ("candidate.erase", "Fiche effacée"),
    ("candidate.erasure_requested", "Effacement demandé"),
    ("candidate.export", "Données de la personne exportées"),
    ("candidate.followup", "Suivi ajouté"),
    ("candidate.followup_step_done", "Étape de suivi faite"),
    ("candidate.interest", "Intérêt pour une offre"),
    ("candidate.invite", "Invitation à l'espace personnel"),
    ("candidate.list", "Liste des fiches consultée"),
    ("candidate.matches", "Offres correspondantes consultées"),
    ("candidate.network_summary", "Résumé pour le réseau"),
    (
        "candidate.opportunities",
        "Formations correspondantes consultées",
    ),
    ("candidate.placement", "Retour à l'emploi enregistré"),
    ("candidate.read", "Fiche consultée"),
    ("candidate.reassign", "Fiche confiée à un autre conseiller"),
    ("candidate.retention_list", "Fiches à conserver consultées"),
    ("candidate.retention_reminder", "Rappel de conservation"),
    ("candidate.retention_renew", "Conservation prolongée"),
    ("candidate.search", "Recherche de candidats"),
    ("candidate.update", "Fiche modifiée"),
    (
        "candidate_space.access_created",
        "Accès à l'espace personnel créé",
    ),
    (
        "candidate_space.login_link_requested",
        "Lien de connexion demandé (espace personnel)",
    ),
    (
        "federation.purge_member_profiles",
        "Profils d'un membre parti purgés",
    ),
    ("federation.retry", "Message renvoyé à un membre"),
    ("network_search.answer", "Réponse à une recherche du réseau"),
    ("network_search.ask", "Recherche dans le réseau"),
    (
        "network_search.interest",
        "Intérêt pour un profil du réseau",
    ),
    (
        "network_search.interest_accepted",
        "Intérêt accepté (proposition envoyée)",
    ),
    ("network_search.interest_declined", "Intérêt décliné"),
    (
        "network_search.interest_received",
        "Intérêt reçu d'un membre",
    ),
    (
        "network_search.interest_update",
        "Réponse à un intérêt reçue",
    ),
    ("offer.close", "Offre clôturée"),
    ("offer.create", "Offre publiée"),
    ("offer.import", "Offres importées"),
    ("offer.matches", "Candidats correspondants consultés"),
    ("offer.search", "Recherche d'offres"),
    ("offer.update", "Offre modifiée"),
    ("opportunity.close", "Formation ou immersion clôturée"),
    ("opportunity.create", "Formation ou immersion publiée"),
    ("opportunity.update", "Formation ou immersion modifiée"),
    ("placement.aid", "Aide à l'embauche suivie"),
    ("programme.close", "Sortie d'un programme"),
    ("programme.enrol", "Entrée dans un programme"),
    ("programme.renew", "Programme renouvelé"),
    ("referral.certified", "Certification obtenue en formation"),
    ("referral.create", "Mise en relation créée"),
    ("referral.read", "Mise en relation consultée"),
    ("referral.status", "Statut d'une mise en relation changé"),
    ("report.export", "Rapport exporté"),
    ("report.publish", "Chiffres publiés au réseau"),
    ("token.create", "Jeton d'API créé"),
    ("token.revoke", "Jeton d'API révoqué"),
    ("user.create", "Compte créé"),
    ("user.password_change", "Mot de passe changé"),
    (
        "user.password_reset_sent",
        "Lien de réinitialisation envoyé",
    ),
    ("user.update", "Compte modifié"),
];

/// The French name of an audit action, if it has one.
pub fn audit_action(code: &str) -> Option<&'static str> {
    AUDIT_ACTIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, fr)| *fr)
}

/// The French name of an audited object's kind.
pub fn audit_target_kind(kind: &str) -> &str {
    match kind {
        "candidate" => "fiche",
        "offer" => "offre",
        "referral" => "mise en relation",
        "user" => "compte",
        "opportunity" => "formation ou immersion",
        "network_search" => "recherche du réseau",
        "interest" => "intérêt",
        "token" => "jeton",
        "member" | "peer" => "membre",
        "report" => "rapport",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_checked() {
        assert_eq!(
            safe_snippet("conduite de <b>chariots</b> &amp; CACES").as_deref(),
            Some("conduite de <b>chariots</b> &amp; CACES")
        );
        assert_eq!(safe_snippet("<b>x</b> <script>alert(1)</script>"), None);
        assert_eq!(safe_snippet("<b onclick=x>y</b>"), None);
        assert_eq!(safe_snippet("a & b"), None);
        assert_eq!(safe_snippet("<b>a"), None);
        assert!(safe_snippet("&lt;script&gt; &#39;").is_some());
    }

    #[test]
    fn numbers_and_dates() {
        assert_eq!(km(12.04), "12");
        assert_eq!(km(12.26), "12,3");
        assert_eq!(euros(185_050), "1\u{202f}850,50 €");
        assert_eq!(euros(200_000), "2\u{202f}000 €");
        assert_eq!(parse_euros("1 850,50"), Some(185_050));
        assert_eq!(parse_euros("abc"), None);
        assert_eq!(day("2026-03-09"), "09/03/2026");
        assert_eq!(parse_day("09/03/2026"), "2026-03-09");
        assert_eq!(parse_day("2026-03-09"), "2026-03-09");
    }

    #[test]
    fn messages_in_french() {
        assert_eq!(
            field_message("first_name", "required"),
            "Champ obligatoire."
        );
        assert_eq!(
            field_message("weekly_hours", "must be between 1 and 48"),
            "Doit être compris entre 1 et 48."
        );
        assert!(
            field_message("commune_insee", "unknown INSEE commune code \"99999\"")
                .starts_with("Commune inconnue")
        );
        assert_eq!(
            field_message("title", "at most 200 characters"),
            "200 caractères au plus."
        );
    }
}
