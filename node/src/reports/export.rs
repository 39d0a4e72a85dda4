//! CSV and XLSX exports of a report: aggregates only (counts per group,
//! never a row per person), with the node and the period in the file. Every
//! export writes an audit entry (`report.export`) before the file is handed
//! out.

use serde::{Deserialize, Serialize};

use super::{compute, row_columns, ExportQuery, GroupBy, Report};
use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::server::AppState;

/// Export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// An export file.
pub struct File {
    pub format: Format,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// One figure of a report in long form: (table, group key, group label,
/// figure, value). Every export writes exactly these.
pub fn figures(r: &Report) -> Vec<(String, String, String, String, Option<i64>)> {
    let cols = row_columns();
    let mut out = Vec::new();
    for row in std::iter::once(&r.total).chain(r.groups.iter()) {
        for ((id, _), v) in cols.iter().zip(row.cells()) {
            out.push((
                "returns_to_work".to_string(),
                row.key.clone(),
                row.label.clone(),
                id.clone(),
                v,
            ));
        }
    }
    let node = |fig: &str, v: i64| {
        (
            "node".to_string(),
            "total".to_string(),
            "Total".to_string(),
            fig.to_string(),
            Some(v),
        )
    };
    out.push(node("hires_through_network", r.hires_through_network));
    let o = &r.offers;
    for (fig, v) in [
        ("offers_posted", o.posted),
        ("positions_posted", o.positions_posted),
        ("positions_filled", o.positions_filled),
        ("offers_with_hire", o.offers_with_hire),
        ("offers_still_open", o.still_open),
        ("positions_still_open", o.positions_still_open),
    ] {
        out.push(node(fig, v));
    }
    out.push(node("referrals", r.referrals.total));
    for (direction, statuses) in &r.referrals.by_direction {
        for (status, n) in statuses {
            out.push(node(&format!("referrals.{direction}.{status}"), *n));
        }
    }
    for a in &r.aids {
        for (fig, v) in [
            ("assessed", a.assessed),
            ("eligible", a.eligible),
            ("unknown", a.unknown),
            ("requested", a.requested),
            ("granted", a.granted),
            ("paid", a.paid),
            ("refused", a.refused),
            ("amount_paid_eur", a.amount_paid_eur),
        ] {
            out.push((
                "aids".to_string(),
                a.code.clone(),
                a.name.clone(),
                fig.to_string(),
                Some(v),
            ));
        }
    }
    for p in &r.programmes {
        let mut figs: Vec<(String, i64)> = [
            ("enrolled", p.enrolled),
            ("active", p.active),
            ("completed", p.completed),
            ("abandoned", p.abandoned),
            ("positive_outcomes", p.positive_outcomes),
        ]
        .iter()
        .map(|(f, v)| (f.to_string(), *v))
        .collect();
        figs.extend(p.outcomes.iter().map(|(o, n)| (format!("outcome.{o}"), *n)));
        for (fig, v) in figs {
            out.push((
                "programmes".to_string(),
                p.code.clone(),
                p.name.clone(),
                fig,
                Some(v),
            ));
        }
    }
    out
}

fn group_by_str(g: Option<GroupBy>) -> &'static str {
    g.map(GroupBy::as_str).unwrap_or("none")
}

/// The CSV (UTF-8, comma-separated, one figure per line): `node_id,
/// node_name, period_from, period_to, group_by, table, group_key,
/// group_label, figure, value` (an unknown median is an empty value).
pub fn to_csv(r: &Report) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| Error::Internal(anyhow::anyhow!("csv: {e}"));
    w.write_record([
        "node_id",
        "node_name",
        "period_from",
        "period_to",
        "group_by",
        "table",
        "group_key",
        "group_label",
        "figure",
        "value",
    ])
    .map_err(io)?;
    for (table, key, label, fig, v) in figures(r) {
        w.write_record([
            r.node_id.as_str(),
            r.node_name.as_str(),
            r.period.from.as_str(),
            r.period.to.as_str(),
            group_by_str(r.group_by),
            table.as_str(),
            key.as_str(),
            label.as_str(),
            fig.as_str(),
            v.map(|v| v.to_string()).unwrap_or_default().as_str(),
        ])
        .map_err(io)?;
    }
    w.into_inner()
        .map_err(|e| Error::Internal(anyhow::anyhow!("csv: {e}")))
}

/// Rows before the table header in the first sheet.
pub const XLSX_HEADER_ROW: u32 = 6;

/// The workbook: sheet « Retours à l'emploi » (node and period on top,
/// then one line per group, the total first, columns as
/// [`row_columns`]; the header at row [`XLSX_HEADER_ROW`], 0-based),
/// sheet « Offres et mises en relation » (figure, value) and, when the node
/// follows aids or programmes, sheet « Aides et programmes » (table, code,
/// name, figure, value).
pub fn to_xlsx(r: &Report) -> Result<Vec<u8>> {
    use rust_xlsxwriter::{Format as XFormat, Workbook};
    let x = |e: rust_xlsxwriter::XlsxError| Error::Internal(anyhow::anyhow!("xlsx: {e}"));
    let mut wb = Workbook::new();
    let bold = XFormat::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("Retours à l'emploi").map_err(x)?;
    ws.write_string_with_format(0, 0, "Nœud", &bold)
        .map_err(x)?;
    ws.write_string(0, 1, &r.node_id).map_err(x)?;
    ws.write_string(0, 2, &r.node_name).map_err(x)?;
    ws.write_string_with_format(1, 0, "Période", &bold)
        .map_err(x)?;
    ws.write_string(1, 1, &r.period.from).map_err(x)?;
    ws.write_string(1, 2, &r.period.to).map_err(x)?;
    ws.write_string_with_format(2, 0, "Regroupement", &bold)
        .map_err(x)?;
    ws.write_string(2, 1, group_by_str(r.group_by)).map_err(x)?;
    ws.write_string_with_format(3, 0, "Aide à l'embauche", &bold)
        .map_err(x)?;
    ws.write_string(3, 1, &r.aid_rule).map_err(x)?;
    ws.write_string_with_format(4, 0, "Chiffres agrégés : aucune donnée personnelle", &bold)
        .map_err(x)?;
    let h = XLSX_HEADER_ROW;
    ws.write_string_with_format(h, 0, "group_key", &bold)
        .map_err(x)?;
    ws.write_string_with_format(h, 1, "Groupe", &bold)
        .map_err(x)?;
    for (i, (id, label)) in row_columns().iter().enumerate() {
        let c = u16::try_from(i + 2).unwrap_or(u16::MAX);
        ws.write_string_with_format(h, c, label, &bold).map_err(x)?;
        ws.write_string(h + 1, c, id).map_err(x)?;
    }
    ws.write_string(h + 1, 0, "id").map_err(x)?;
    for (n, row) in std::iter::once(&r.total).chain(r.groups.iter()).enumerate() {
        let line = h + 2 + u32::try_from(n).unwrap_or(u32::MAX - h - 2);
        ws.write_string(line, 0, &row.key).map_err(x)?;
        ws.write_string(line, 1, &row.label).map_err(x)?;
        for (i, v) in row.cells().into_iter().enumerate() {
            let c = u16::try_from(i + 2).unwrap_or(u16::MAX);
            if let Some(v) = v {
                ws.write_number(line, c, v as f64).map_err(x)?;
            }
        }
    }
    ws.set_column_width(1, 30).map_err(x)?;
    let ws2 = wb.add_worksheet();
    ws2.set_name("Offres et mises en relation").map_err(x)?;
    ws2.write_string_with_format(0, 0, "Nœud", &bold)
        .map_err(x)?;
    ws2.write_string(0, 1, &r.node_id).map_err(x)?;
    ws2.write_string_with_format(1, 0, "Période", &bold)
        .map_err(x)?;
    ws2.write_string(1, 1, &r.period.from).map_err(x)?;
    ws2.write_string(1, 2, &r.period.to).map_err(x)?;
    ws2.write_string_with_format(3, 0, "figure", &bold)
        .map_err(x)?;
    ws2.write_string_with_format(3, 1, "value", &bold)
        .map_err(x)?;
    let mut line = 4;
    for (table, _, _, fig, v) in figures(r) {
        if table != "node" {
            continue;
        }
        ws2.write_string(line, 0, &fig).map_err(x)?;
        ws2.write_number(line, 1, v.unwrap_or(0) as f64)
            .map_err(x)?;
        line += 1;
    }
    ws2.set_column_width(0, 40).map_err(x)?;
    let extra: Vec<_> = figures(r)
        .into_iter()
        .filter(|(t, ..)| t == "aids" || t == "programmes")
        .collect();
    if !extra.is_empty() {
        let ws3 = wb.add_worksheet();
        ws3.set_name("Aides et programmes").map_err(x)?;
        for (c, h) in ["table", "code", "name", "figure", "value"]
            .iter()
            .enumerate()
        {
            ws3.write_string_with_format(0, c as u16, *h, &bold)
                .map_err(x)?;
        }
        for (i, (table, key, label, fig, v)) in extra.iter().enumerate() {
            let line = i as u32 + 1;
            ws3.write_string(line, 0, table).map_err(x)?;
            ws3.write_string(line, 1, key).map_err(x)?;
            ws3.write_string(line, 2, label).map_err(x)?;
            ws3.write_string(line, 3, fig).map_err(x)?;
            ws3.write_number(line, 4, v.unwrap_or(0) as f64)
                .map_err(x)?;
        }
        ws3.set_column_width(2, 40).map_err(x)?;
    }
    wb.save_to_buffer().map_err(x)
}

/// Compute the report and write it in `q.format`, audited
/// (`report.export`: format, period, grouping, size).
pub async fn export(state: &AppState, actor: &Actor, q: &ExportQuery) -> Result<File> {
    let report = compute(state, actor, &q.report_query()).await?;
    let bytes = match q.format {
        Format::Csv => to_csv(&report)?,
        Format::Xlsx => to_xlsx(&report)?,
    };
    let ext: &'static str = q.format.into();
    let name = format!(
        "rapport-{}-{}-{}.{ext}",
        report.node_id, report.period.from, report.period.to
    );
    let mut conn = state.db.pool.acquire().await?;
    crate::audit::append(
        &mut conn,
        actor,
        "report.export",
        ("report", &report.node_id),
        None,
        serde_json::json!({
            "format": ext,
            "from": report.period.from,
            "to": report.period.to,
            "group_by": group_by_str(report.group_by),
            "bytes": bytes.len(),
        }),
    )
    .await?;
    Ok(File {
        format: q.format,
        name,
        bytes,
    })
}
