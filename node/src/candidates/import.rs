//! Bulk import of candidates from CSV or JSON Lines (format documented in
//! `docs/import-format.md`). Each row is validated like an API create; bad
//! rows are reported with their line number and the rest is imported, in
//! transactions of [`BATCH`] rows. Idempotent on `external_id`: a row whose
//! external id exists updates that record.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    empty_candidate, insert_row, update_row, validate, Candidate, CandidateInput, Consent,
    ConsentScope,
};
use crate::auth::Role;
use crate::db::Db;
use crate::error::{Error, FieldError, Result};
use crate::server::AppState;
use crate::util::{new_id, now_ms};

/// Rows per transaction.
pub const BATCH: usize = 500;

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// New records.
    pub created: u64,
    /// Records updated (same `external_id`).
    pub updated: u64,
    /// Rows refused, with why.
    pub rejected: Vec<RejectedRow>,
}

/// A refused row.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedRow {
    /// 1-based line number in the file (the CSV header is line 1).
    pub line: u64,
    /// Field-level reasons, `field: message; …`.
    pub reason: String,
}

/// Input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// Comma-separated with a header row; lists `|`-separated.
    Csv,
    /// One JSON object per line; lists as arrays.
    JsonLines,
}

/// Columns of the CSV format (and keys of the JSON Lines format).
pub const COLUMNS: &[&str] = &[
    "external_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "commune_insee",
    "max_travel_km",
    "driving_licences",
    "certifications",
    "has_vehicle",
    "public_transport_only",
    "available_from",
    "weekly_hours",
    "contract_types",
    "rome_codes",
    "job_titles",
    "skills",
    "languages",
    "experience_years",
    "training_level",
    "birth_year",
    "cv_text",
    "consent_scope",
];

/// One JSON Lines row.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    commune_insee: String,
    #[serde(default)]
    max_travel_km: Option<i64>,
    #[serde(default)]
    driving_licences: Vec<String>,
    #[serde(default)]
    certifications: Vec<String>,
    #[serde(default)]
    has_vehicle: bool,
    #[serde(default)]
    public_transport_only: bool,
    #[serde(default)]
    available_from: Option<String>,
    #[serde(default)]
    weekly_hours: Option<i64>,
    #[serde(default)]
    contract_types: Vec<vivier_protocol::ContractType>,
    #[serde(default)]
    rome_codes: Vec<String>,
    #[serde(default)]
    job_titles: Vec<String>,
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    experience_years: Option<i64>,
    #[serde(default)]
    training_level: Option<String>,
    #[serde(default)]
    birth_year: Option<i64>,
    #[serde(default)]
    cv_text: Option<String>,
    #[serde(default)]
    consent_scope: Option<ConsentScope>,
}

impl From<JsonRow> for CandidateInput {
    fn from(r: JsonRow) -> CandidateInput {
        CandidateInput {
            external_id: r.external_id,
            first_name: r.first_name,
            last_name: r.last_name,
            email: r.email,
            phone: r.phone,
            commune_insee: r.commune_insee,
            max_travel_km: r.max_travel_km,
            driving_licences: r.driving_licences,
            certifications: r.certifications,
            has_vehicle: r.has_vehicle,
            public_transport_only: r.public_transport_only,
            available_from: r.available_from,
            weekly_hours: r.weekly_hours,
            contract_types: r.contract_types,
            rome_codes: r.rome_codes,
            job_titles: r.job_titles,
            skills: r.skills,
            languages: r.languages,
            experience_years: r.experience_years,
            training_level: r.training_level,
            birth_year: r.birth_year,
            cv_text: Some(r.cv_text.unwrap_or_default()),
            counsellor_id: None,
            status: None,
            consent_scope: r.consent_scope,
            sensitive: None,
        }
    }
}

fn list(s: &str) -> Vec<String> {
    s.split('|')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// A CSV row as input, with the errors found while reading its cells
/// (validation adds the others).
fn csv_row(header: &[String], rec: &csv::StringRecord) -> (CandidateInput, Vec<FieldError>) {
    let mut input = CandidateInput {
        cv_text: Some(String::new()),
        ..CandidateInput::default()
    };
    let mut errs = Vec::new();
    for (name, value) in header.iter().zip(rec.iter()) {
        let v = value.trim();
        let opt = || (!v.is_empty()).then(|| v.to_string());
        let int = |errs: &mut Vec<FieldError>| -> Option<i64> {
            if v.is_empty() {
                return None;
            }
            match v.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errs.push(FieldError::new(
                        name.as_str(),
                        format!("{v:?} is not a whole number"),
                    ));
                    None
                }
            }
        };
        let boolean = |errs: &mut Vec<FieldError>| -> bool {
            match v.to_lowercase().as_str() {
                "" | "0" | "false" | "non" | "no" | "n" => false,
                "1" | "true" | "oui" | "yes" | "o" | "y" => true,
                _ => {
                    errs.push(FieldError::new(
                        name.as_str(),
                        format!("{v:?} is not a boolean (true/false, oui/non, 1/0)"),
                    ));
                    false
                }
            }
        };
        match name.as_str() {
            "external_id" => input.external_id = opt(),
            "first_name" => input.first_name = v.to_string(),
            "last_name" => input.last_name = v.to_string(),
            "email" => input.email = opt(),
            "phone" => input.phone = opt(),
            "commune_insee" => input.commune_insee = v.to_string(),
            "max_travel_km" => input.max_travel_km = int(&mut errs),
            "driving_licences" => input.driving_licences = list(v),
            "certifications" => input.certifications = list(v),
            "has_vehicle" => input.has_vehicle = boolean(&mut errs),
            "public_transport_only" => input.public_transport_only = boolean(&mut errs),
            "available_from" => input.available_from = opt(),
            "weekly_hours" => input.weekly_hours = int(&mut errs),
            "contract_types" => {
                for (i, c) in list(v).iter().enumerate() {
                    match serde_json::from_value(serde_json::Value::String(c.to_uppercase())) {
                        Ok(t) => input.contract_types.push(t),
                        Err(_) => errs.push(FieldError::new(
                            format!("contract_types[{i}]"),
                            format!("unknown contract type {c:?} (CDI, CDD, MIS, SAI, ALT)"),
                        )),
                    }
                }
            }
            "rome_codes" => input.rome_codes = list(v),
            "job_titles" => input.job_titles = list(v),
            "skills" => input.skills = list(v),
            "languages" => input.languages = list(v),
            "experience_years" => input.experience_years = int(&mut errs),
            "training_level" => input.training_level = opt(),
            "birth_year" => input.birth_year = int(&mut errs),
            "cv_text" => input.cv_text = Some(value.to_string()),
            "consent_scope" => {
                input.consent_scope = match v.to_lowercase().as_str() {
                    "" => None,
                    "local" => Some(ConsentScope::Local),
                    "network" => Some(ConsentScope::Network),
                    _ => {
                        errs.push(FieldError::new(
                            "consent_scope",
                            format!("{v:?}: expected local, network or empty"),
                        ));
                        None
                    }
                }
            }
            _ => {}
        }
    }
    (input, errs)
}

fn reason(errs: &[FieldError]) -> String {
    errs.iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A parsed row (with cell errors) or a rejection.
type Parsed = (
    u64,
    std::result::Result<(CandidateInput, Vec<FieldError>), String>,
);

/// Rows are handed over as they are read (the file is never held in
/// memory): `sink` gets each row and the number of bytes read so far, and
/// returns `false` to stop.
type Sink<'a> = &'a mut dyn FnMut(Parsed, u64) -> bool;

/// Longest JSON Lines row read (a record with 200,000 characters of CV
/// text is under 1 MiB); a longer line is refused, not buffered.
const MAX_LINE_BYTES: usize = 2 * 1024 * 1024;

fn parse_csv(reader: impl Read, sink: Sink<'_>) -> Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(reader);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| Error::BadRequest(format!("CSV header: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_lowercase())
        .collect();
    let unknown: Vec<&String> = header
        .iter()
        .filter(|h| !COLUMNS.contains(&h.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(Error::BadRequest(format!(
            "CSV header: unknown column(s) {}; accepted columns: {}",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            COLUMNS.join(", ")
        )));
    }
    for required in ["first_name", "last_name", "commune_insee", "rome_codes"] {
        if !header.iter().any(|h| h == required) {
            return Err(Error::BadRequest(format!(
                "CSV header: missing column {required}"
            )));
        }
    }
    let mut rec = csv::StringRecord::new();
    loop {
        let line_guess = rdr.position().line();
        let item = match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map_or(line_guess, |p| p.line());
                if rec.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                if rec.len() != header.len() {
                    (
                        line,
                        Err(format!(
                            "expected {} fields, found {}",
                            header.len(),
                            rec.len()
                        )),
                    )
                } else {
                    (line, Ok(csv_row(&header, &rec)))
                }
            }
            Err(e) => {
                let line = e.position().map_or(line_guess, |p| p.line());
                let fatal = !matches!(
                    e.kind(),
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                );
                let go_on = sink(
                    (line, Err(format!("unreadable CSV row: {e}"))),
                    rdr.position().byte(),
                );
                if fatal || !go_on {
                    break;
                }
                continue;
            }
        };
        if !sink(item, rdr.position().byte()) {
            break;
        }
    }
    Ok(())
}

/// Read one line (without its `\n`) of at most `max` bytes; a longer line
/// is consumed and reported as `Err(len)`. `Ok(None)` at the end.
fn read_line_capped(
    r: &mut impl BufRead,
    max: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<std::result::Result<usize, usize>>> {
    buf.clear();
    let mut total = 0usize;
    let mut over = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if total == 0 && !over {
                None
            } else if over {
                Some(Err(total))
            } else {
                Some(Ok(total))
            });
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        total += take;
        if !over {
            if buf.len() + take > max + 1 {
                over = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take);
        if done {
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            return Ok(Some(if over { Err(total) } else { Ok(total) }));
        }
    }
}

fn parse_jsonl(reader: impl Read, sink: Sink<'_>) -> Result<()> {
    let mut r = BufReader::with_capacity(256 * 1024, reader);
    let mut buf = Vec::new();
    let mut n = 0u64;
    let mut bytes = 0u64;
    loop {
        let read = match read_line_capped(&mut r, MAX_LINE_BYTES, &mut buf) {
            Ok(None) => break,
            Ok(Some(x)) => x,
            Err(e) => {
                n += 1;
                sink((n, Err(format!("unreadable line: {e}"))), bytes);
                break;
            }
        };
        n += 1;
        bytes += match read {
            Ok(len) | Err(len) => u64::try_from(len).unwrap_or(u64::MAX),
        };
        let item = match read {
            Err(len) => (
                n,
                Err(format!(
                    "line of {len} bytes is longer than the limit of {MAX_LINE_BYTES}"
                )),
            ),
            Ok(_) => {
                let t = match std::str::from_utf8(&buf) {
                    Ok(t) => t.trim(),
                    Err(e) => {
                        if !sink((n, Err(format!("unreadable line: {e}"))), bytes) {
                            break;
                        }
                        continue;
                    }
                };
                if t.is_empty() {
                    continue;
                }
                let parsed = crate::error::parse_json::<JsonRow>(t.as_bytes())
                    .map(|r| (CandidateInput::from(r), Vec::new()))
                    .map_err(|e| match e {
                        Error::Validation(errs) => reason(&errs),
                        other => other.to_string(),
                    });
                (n, parsed)
            }
        };
        if !sink(item, bytes) {
            break;
        }
    }
    Ok(())
}

fn format_of(path: &Path) -> Result<ImportFormat> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => Ok(ImportFormat::Csv),
        "jsonl" | "ndjson" => Ok(ImportFormat::JsonLines),
        _ => Err(Error::BadRequest(format!(
            "{}: unknown format; use a .csv or .jsonl file",
            path.display()
        ))),
    }
}

/// Import a file into a running node's database: the rows and their
/// journal entries are written in the same transactions; the node's index
/// follows (`vivier-node import` works this way whether or not the node
/// runs). The format follows the extension (`.csv`, `.jsonl`, `.ndjson`).
/// Candidates are assigned to the counsellor with this e-mail.
pub async fn import_file(
    state: &AppState,
    path: &Path,
    counsellor_email: Option<&str>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ImportReport> {
    let report = import_into_db(&state.db, path, counsellor_email, progress).await?;
    crate::journal::wake(state);
    Ok(report)
}

/// [`import_file`] with only a database: what the CLI uses, so that an
/// import never needs the search index (held by a running node).
pub async fn import_into_db(
    db: &Db,
    path: &Path,
    counsellor_email: Option<&str>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ImportReport> {
    let format = format_of(path)?;
    let file = std::fs::File::open(path)
        .map_err(|e| Error::BadRequest(format!("{}: {e}", path.display())))?;
    if let Some(p) = progress {
        p.set_length(file.metadata().map(|m| m.len()).unwrap_or(0));
        p.set_position(0);
    }
    import_reader(db, file, format, counsellor_email, progress).await
}

/// Import from a reader (streamed: rows are validated and written in
/// batches of [`BATCH`] while the rest is still being read).
pub async fn import_reader(
    db: &Db,
    reader: impl Read + Send + 'static,
    format: ImportFormat,
    counsellor_email: Option<&str>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ImportReport> {
    let counsellor = match counsellor_email {
        Some(email) => {
            let u = crate::auth::user_by_email(db, email)
                .await?
                .ok_or_else(|| Error::BadRequest(format!("no user with e-mail {email}")))?;
            if !matches!(u.role, Role::Counsellor | Role::Admin) {
                return Err(Error::BadRequest(format!("{email} is not a counsellor")));
            }
            Some(u)
        }
        None => None,
    };
    let refs = crate::referentials::Referentials::global();
    // The reader runs on a blocking thread and hands rows over through a
    // bounded channel: memory stays flat whatever the file size.
    let (tx_rows, mut rx_rows) = tokio::sync::mpsc::channel::<(Parsed, u64)>(2 * BATCH);
    let reader_task = tokio::task::spawn_blocking(move || {
        let mut sink = |item: Parsed, bytes: u64| tx_rows.blocking_send((item, bytes)).is_ok();
        match format {
            ImportFormat::Csv => parse_csv(reader, &mut sink),
            ImportFormat::JsonLines => parse_jsonl(reader, &mut sink),
        }
    });
    let mut report = ImportReport::default();
    let mut batch: Vec<(Candidate, bool)> = Vec::with_capacity(BATCH);
    let mut bytes_read = 0u64;
    while let Some(((line, parsed), bytes)) = rx_rows.recv().await {
        bytes_read = bytes;
        let (input, cell_errs) = match parsed {
            Ok(i) => i,
            Err(r) => {
                report.rejected.push(RejectedRow { line, reason: r });
                continue;
            }
        };
        let validated = match (validate(refs, &input), cell_errs.is_empty()) {
            (Ok(v), true) => Ok(v),
            (Ok(_), false) => Err(cell_errs),
            (Err(mut errs), _) => {
                let mut all = cell_errs;
                all.append(&mut errs);
                Err(all)
            }
        };
        match validated {
            Ok(v) => {
                let now = now_ms();
                let mut c = empty_candidate(new_id(), now);
                v.apply(&mut c, refs);
                c.counsellor_id = counsellor.as_ref().map(|u| u.id.clone());
                let given = input.consent_scope.is_some();
                if let Some(scope) = input.consent_scope {
                    c.consent = Some(Consent {
                        given_at: now,
                        counsellor_id: counsellor
                            .as_ref()
                            .map_or_else(|| "import".to_string(), |u| u.id.clone()),
                        scope,
                    });
                }
                batch.push((c, given));
            }
            Err(errs) => report.rejected.push(RejectedRow {
                line,
                reason: reason(&errs),
            }),
        }
        if batch.len() >= BATCH {
            write_batch(db, &mut batch, &mut report).await?;
            if let Some(p) = progress {
                p.set_position(bytes_read);
            }
        }
    }
    write_batch(db, &mut batch, &mut report).await?;
    if let Some(p) = progress {
        p.set_position(bytes_read);
    }
    reader_task.await??;
    report.rejected.sort_by_key(|r| r.line);
    Ok(report)
}

/// Write one batch of validated records (and their journal entries) in one
/// transaction; a row whose `external_id` exists updates that record.
async fn write_batch(
    db: &Db,
    batch: &mut Vec<(Candidate, bool)>,
    report: &mut ImportReport,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    // The records these external ids already name, in one query.
    let ext_ids: Vec<&str> = batch
        .iter()
        .filter_map(|(c, _)| c.external_id.as_deref())
        .collect();
    let mut existing: std::collections::HashMap<String, (Candidate, super::RecordMeta)> =
        std::collections::HashMap::new();
    for (c, meta) in super::store::by_external_ids(&mut tx, &ext_ids).await? {
        if let Some(e) = c.external_id.clone() {
            existing.insert(e, (c, meta));
        }
    }
    for (c, given) in batch.iter_mut() {
        let old = c.external_id.as_ref().and_then(|e| existing.get(e));
        match old {
            Some((old, meta)) if meta.anonymised_at.is_none() => {
                c.id = old.id.clone();
                c.created_at = old.created_at;
                c.status = old.status;
                if c.counsellor_id.is_none() {
                    c.counsellor_id = old.counsellor_id.clone();
                }
                // Keep an existing consent unless the file changes its scope;
                // an import never withdraws consent.
                match (&old.consent, &c.consent) {
                    (Some(o), Some(n)) if o.scope == n.scope => c.consent = Some(o.clone()),
                    (Some(o), None) if !*given => c.consent = Some(o.clone()),
                    _ => {}
                }
                update_row(&mut tx, c).await?;
                report.updated += 1;
            }
            _ => {
                insert_row(&mut tx, c).await?;
                report.created += 1;
            }
        }
        // A file naming the same external id twice: the second row updates
        // the first.
        if let Some(e) = c.external_id.clone() {
            existing.insert(e, (c.clone(), super::RecordMeta::default()));
        }
        super::journal_index(&mut tx, &c.id).await?;
    }
    tx.commit().await?;
    batch.clear();
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn collect(f: impl FnOnce(&[u8], Sink<'_>) -> Result<()>, data: &[u8]) -> Result<Vec<Parsed>> {
        let mut out = Vec::new();
        f(data, &mut |p, _| {
            out.push(p);
            true
        })?;
        Ok(out)
    }

    fn parse_csv_all(data: &[u8]) -> Result<Vec<Parsed>> {
        collect(|d, s| parse_csv(d, s), data)
    }

    fn parse_jsonl_all(data: &[u8]) -> Result<Vec<Parsed>> {
        collect(|d, s| parse_jsonl(d, s), data)
    }

    #[test]
    fn overlong_jsonl_lines_are_refused_without_buffering() {
        let mut data = Vec::new();
        data.extend_from_slice(b"{\"first_name\":\"");
        data.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES + 10));
        data.extend_from_slice(b"\"}\n{\"first_name\":\"B\"}\n");
        let rows = parse_jsonl_all(&data).expect("parse");
        assert_eq!(rows.len(), 2);
        assert!(rows[0]
            .1
            .as_ref()
            .expect_err("too long")
            .contains("longer than"));
        assert_eq!(rows[1].0, 2);
        assert!(rows[1].1.is_ok());
    }

    #[test]
    fn csv_rows_parse_with_line_numbers() {
        let data = "first_name,last_name,commune_insee,rome_codes,has_vehicle,weekly_hours,contract_types,cv_text\n\
                    Léa,Martin,41018,N1101|N1103,oui,35,CDI|cdd,\"Cariste\nCACES 3\"\n\
                    Paul,Durand,41018,N1101,peut-être,x,XYZ,\n\
                    Short,Row\n";
        let rows = parse_csv_all(data.as_bytes()).expect("parse");
        assert_eq!(rows.len(), 3);
        let (l, r) = &rows[0];
        assert_eq!(*l, 2);
        let (i, errs) = r.as_ref().expect("ok");
        assert!(errs.is_empty());
        assert_eq!(i.rome_codes, vec!["N1101", "N1103"]);
        assert!(i.has_vehicle);
        assert_eq!(i.contract_types.len(), 2);
        assert_eq!(i.cv_text.as_deref(), Some("Cariste\nCACES 3"));
        let (l, r) = &rows[1];
        assert_eq!(
            *l, 4,
            "the quoted newline makes the second row start on line 4"
        );
        let e = reason(&r.as_ref().expect("parsed").1);
        assert!(
            e.contains("has_vehicle")
                && e.contains("weekly_hours")
                && e.contains("contract_types[0]"),
            "{e}"
        );
        assert_eq!(rows[2].0, 5);
        assert!(rows[2].1.is_err());
    }

    #[test]
    fn csv_unknown_column_is_refused() {
        let err = parse_csv_all("first_name,last_name,commune_insee,rome_codes,age\n".as_bytes())
            .expect_err("refused");
        assert!(err.to_string().contains("age"));
    }

    #[test]
    fn jsonl_rows() {
        let data = "{\"first_name\":\"A\",\"last_name\":\"B\",\"commune_insee\":\"41018\",\"rome_codes\":[\"N1101\"]}\n\n{\"first_name\":1}\n{\"nope\":true}\nnot json\n";
        let rows = parse_jsonl_all(data.as_bytes()).expect("parse");
        assert_eq!(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1, 3, 4, 5]
        );
        assert!(rows[0].1.is_ok());
        assert!(rows[1].1.as_ref().expect_err("bad").contains("first_name"));
        assert!(rows[2].1.as_ref().expect_err("bad").contains("nope"));
        assert!(rows[3].1.is_err());
    }
}
