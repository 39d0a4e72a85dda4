//! « Mes données »: everything the node holds about the person, as JSON
//! and as a PDF (RGPD art. 15 and 20: access and portability).
//!
//! JSON sections (stable names): `record` (the record as the mission holds
//! it), `restricted` (the fields the pages do not show — see README
//! « Candidate space »),
//! `cv_versions` (each file with its date, size, type and SHA-256, and the
//! current CV text), `consents` (the current consent and every consent
//! given or withdrawn, with dates), `referrals` (each referral with its
//! offer and status), `reads` (the audit of who read the record and
//! when), `interests` and `erasure_request`.

use serde::Serialize;

use crate::actor::Actor;
use crate::candidates::Candidate;
use crate::error::{Error, Result};
use crate::server::AppState;

/// The export.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// Unix ms.
    pub generated_at: i64,
    /// This node (the mission holding the record).
    pub node: ExportNode,
    pub record: serde_json::Value,
    /// The restricted fields (RSA, disability recognition, barriers,
    /// health notes, NIR): not shown on the pages, but the person's data
    /// all the same (RGPD art. 15), so in the export.
    pub restricted: Option<crate::candidates::Sensitive>,
    pub cv_versions: CvVersions,
    pub consents: Consents,
    pub referrals: Vec<ReferralLine>,
    pub reads: Vec<ReadLine>,
    pub interests: Vec<String>,
    /// The pending erasure request's due date, if any.
    pub erasure_request: Option<i64>,
}

/// Who holds the data.
#[derive(Debug, Clone, Serialize)]
pub struct ExportNode {
    pub id: String,
    pub name: String,
}

/// The CV files and the text read from the newest.
#[derive(Debug, Clone, Serialize)]
pub struct CvVersions {
    pub files: Vec<crate::candidates::CandidateFile>,
    pub current_text: String,
}

/// Consents: now and over time.
#[derive(Debug, Clone, Serialize)]
pub struct Consents {
    /// `None`: no consent (a draft record, seen by the mission only).
    pub current: Option<crate::candidates::Consent>,
    pub history: Vec<ConsentEvent>,
}

/// A consent given or withdrawn.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentEvent {
    pub at: i64,
    /// `given` or `withdrawn`.
    pub event: &'static str,
    /// `local` / `network` for `given`.
    pub scope: Option<String>,
    /// `counsellor` or `candidate` (the person, from their space).
    pub by: String,
}

/// A referral of the person to an offer.
#[derive(Debug, Clone, Serialize)]
pub struct ReferralLine {
    pub id: String,
    pub offer_id: String,
    pub offer_title: Option<String>,
    pub employer: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One read of the record.
#[derive(Debug, Clone, Serialize)]
pub struct ReadLine {
    pub at: i64,
    /// `candidate.read`, `candidate.matches`, `candidate.cv_download`,
    /// `candidate.export`.
    pub action: String,
    /// `admin`, `counsellor`, `candidate` (the person), `peer`, `system`.
    pub role: Option<String>,
    /// The staff member's name (the person themself: « vous »).
    pub who: Option<String>,
    /// The reason they gave, if any.
    pub reason: Option<String>,
}

/// The audit actions that are reads of the record.
const READ_ACTIONS: &[&str] = &[
    "candidate.read",
    "candidate.matches",
    "candidate.cv_download",
    "candidate.export",
];

/// Build the export of the person's own record. Audited
/// `candidate.export` (with the format) before anything is returned.
pub async fn build(state: &AppState, actor: &Actor, format: &'static str) -> Result<Export> {
    let c: Candidate = super::own_record_audited(
        state,
        actor,
        "candidate.export",
        serde_json::json!({ "format": format }),
    )
    .await?;
    let id = c.id.as_str();

    let mut record = serde_json::to_value(&c).unwrap_or_default();
    if let Some(o) = record.as_object_mut() {
        // In their own sections.
        o.remove("files");
        o.remove("cv_text");
        o.remove("consent");
        o.remove("sensitive");
    }

    let (history, reads) = {
        let mut conn = state.db.pool.acquire().await?;
        (
            super::store::consent_history(&mut conn, id).await?,
            super::store::reads_of(&mut conn, id, READ_ACTIONS).await?,
        )
    };
    let history: Vec<ConsentEvent> = history
        .into_iter()
        .map(|r| {
            let details: serde_json::Value = serde_json::from_str(&r.details).unwrap_or_default();
            ConsentEvent {
                at: r.at,
                event: if r.action == "candidate.consent" {
                    "given"
                } else {
                    "withdrawn"
                },
                scope: details
                    .get("scope")
                    .and_then(|s| s.as_str())
                    .map(str::to_string),
                by: if r.actor_role.as_deref() == Some("candidate") {
                    "candidate".into()
                } else {
                    "counsellor".into()
                },
            }
        })
        .collect();

    let rows = {
        let mut conn = state.db.pool.acquire().await?;
        crate::referrals::store::lines_of_candidate(&mut conn, id).await?
    };
    let offer_ids: Vec<String> = rows.iter().map(|r| r.offer_id.clone()).collect();
    let offers = crate::offers::get_offers(&state.db, &offer_ids).await?;
    let referrals: Vec<ReferralLine> = rows
        .into_iter()
        .map(|r| {
            let offer = offers.iter().find(|o| o.payload.offer_id == r.offer_id);
            ReferralLine {
                id: r.id,
                offer_title: offer.map(|o| o.payload.title.clone()),
                employer: offer.map(|o| o.payload.employer.name.clone()),
                offer_id: r.offer_id,
                status: r.status,
                created_at: r.created_at,
                updated_at: r.updated_at,
            }
        })
        .collect();

    let reads: Vec<ReadLine> = reads
        .into_iter()
        .map(|r| ReadLine {
            at: r.at,
            who: if r.actor_role.as_deref() == Some("candidate") {
                Some("vous".into())
            } else {
                r.display_name
            },
            action: r.action,
            role: r.actor_role,
            reason: r.reason,
        })
        .collect();

    Ok(Export {
        generated_at: state.clock.now_ms(),
        node: ExportNode {
            id: state.config.node_id.clone(),
            name: state.config.display_name.clone(),
        },
        record,
        restricted: crate::candidates::load_sensitive(&state.db, id).await?,
        cv_versions: CvVersions {
            files: c.files.clone(),
            current_text: c.cv_text.clone(),
        },
        consents: Consents {
            current: c.consent.clone(),
            history,
        },
        referrals,
        reads,
        interests: super::interests(state, actor).await?,
        erasure_request: super::erasure_due(state, id).await?,
    })
}

/// The export as readable lines (French), for the PDF.
pub fn lines(e: &Export) -> Vec<String> {
    use crate::ui::labels;
    let day = |ms: i64| labels::datetime_fr(minijinja::Value::from(ms));
    let mut out = vec![
        format!("Mes données chez {} ({})", e.node.name, e.node.id),
        format!("Document produit le {}", day(e.generated_at)),
        String::new(),
        "1. Ma fiche".into(),
    ];
    if let Some(o) = e.record.as_object() {
        for (k, v) in o {
            let v = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) if a.is_empty() => continue,
                other => other.to_string(),
            };
            out.push(format!("  {k} : {v}"));
        }
    }
    if let Some(r) = &e.restricted {
        out.push("  Informations réservées au conseiller :".into());
        if let Ok(serde_json::Value::Object(o)) = serde_json::to_value(r) {
            for (k, v) in o {
                if !v.is_null() && v != serde_json::json!([]) {
                    out.push(format!("    {k} : {v}"));
                }
            }
        }
    }
    out.push(String::new());
    out.push("2. Mes CV".into());
    for f in &e.cv_versions.files {
        out.push(format!(
            "  {} ({} octets, {}) déposé le {} — empreinte {}",
            f.file_name,
            f.size_bytes,
            f.content_type,
            day(f.created_at),
            f.sha256
        ));
    }
    out.push("  Texte du CV actuel :".into());
    out.extend(
        e.cv_versions
            .current_text
            .lines()
            .map(|l| format!("    {l}")),
    );
    out.push(String::new());
    out.push("3. Mes consentements".into());
    match &e.consents.current {
        Some(k) => out.push(format!(
            "  Actuel : {} depuis le {}",
            k.scope.as_str(),
            day(k.given_at)
        )),
        None => out.push("  Actuel : aucun (fiche visible de la mission seulement)".into()),
    }
    for h in &e.consents.history {
        out.push(format!(
            "  {} : {} {} (par {})",
            day(h.at),
            if h.event == "given" {
                "donné"
            } else {
                "retiré"
            },
            h.scope.clone().unwrap_or_default(),
            if h.by == "candidate" {
                "vous"
            } else {
                "la mission"
            }
        ));
    }
    out.push(String::new());
    out.push("4. Mes mises en relation".into());
    for r in &e.referrals {
        out.push(format!(
            "  {} — {} : {} (depuis le {})",
            r.offer_title.clone().unwrap_or_else(|| r.offer_id.clone()),
            r.employer.clone().unwrap_or_default(),
            labels::referral_status_str(&r.status),
            day(r.updated_at)
        ));
    }
    out.push(String::new());
    out.push("5. Qui a consulté ma fiche".into());
    for r in &e.reads {
        out.push(format!(
            "  {} : {} ({}){}",
            day(r.at),
            r.who.clone().unwrap_or_else(|| "—".into()),
            r.role.clone().unwrap_or_default(),
            r.reason
                .as_deref()
                .map(|x| format!(" — motif : {x}"))
                .unwrap_or_default()
        ));
    }
    if let Some(due) = e.erasure_request {
        out.push(String::new());
        out.push(format!(
            "Demande d'effacement en cours : à confirmer par la mission avant le {}",
            day(due)
        ));
    }
    out
}

/// A character in WinAnsiEncoding (the standard Helvetica's), `?` when
/// it has none.
fn win_ansi(c: char) -> u8 {
    match c {
        '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => c as u8,
        '€' => 0x80,
        '‚' => 0x82,
        '„' => 0x84,
        '…' => 0x85,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '–' => 0x96,
        '—' => 0x97,
        'œ' => 0x9c,
        'Œ' => 0x8c,
        '\u{202f}' => 0xa0,
        _ => b'?',
    }
}

/// Cut a line to at most `width` characters per line, at spaces when it can.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in line.split(' ') {
        let len = cur.chars().count() + word.chars().count() + 1;
        if !cur.is_empty() && len > width {
            out.push(std::mem::take(&mut cur));
        }
        let mut w: String = word.to_string();
        while w.chars().count() > width {
            let head: String = w.chars().take(width).collect();
            w = w.chars().skip(width).collect();
            out.push(head);
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&w);
    }
    out.push(cur);
    out
}

/// The lines as an A4 PDF (Helvetica, 10 pt, paginated).
pub fn pdf(lines: &[String]) -> Result<Vec<u8>> {
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Document, Object, Stream, StringFormat};
    const PER_PAGE: usize = 60;
    let wrapped: Vec<String> = lines.iter().flat_map(|l| wrap(l, 95)).collect();
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids: Vec<Object> = Vec::new();
    for chunk in wrapped.chunks(PER_PAGE) {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 10.into()]),
            Operation::new("TL", vec![13.into()]),
            Operation::new("Td", vec![50.into(), 800.into()]),
        ];
        for l in chunk {
            let bytes: Vec<u8> = l.chars().map(win_ansi).collect();
            ops.push(Operation::new(
                "Tj",
                vec![Object::String(bytes, StringFormat::Literal)],
            ));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops }
            .encode()
            .map_err(|e| Error::Internal(anyhow::anyhow!("PDF content: {e}")))?;
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).unwrap_or(i64::MAX);
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| Error::Internal(anyhow::anyhow!("PDF: {e}")))?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pdf_reads_back_with_accents_and_pages() {
        let mut lines = vec!["Mes données : téléphone « 06 12 34 56 78 » — œuvre".to_string()];
        lines.extend((0..130).map(|i| format!("ligne {i}")));
        let bytes = pdf(&lines).unwrap();
        assert!(bytes.starts_with(b"%PDF-1.5"));
        let doc = lopdf::Document::load_mem(&bytes).unwrap();
        assert_eq!(doc.get_pages().len(), 3);
        let text = doc.extract_text(&[1]).unwrap();
        assert!(text.contains("Mes données"), "{text}");
        assert!(text.contains("téléphone"), "{text}");
    }

    #[test]
    fn long_lines_are_wrapped() {
        let w = wrap(&"mot ".repeat(60), 95);
        assert!(w.len() >= 2);
        assert!(w.iter().all(|l| l.chars().count() <= 95));
        assert_eq!(wrap(&"x".repeat(200), 95).len(), 3);
    }
}
