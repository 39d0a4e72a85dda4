//! `vivier-admin status`: one table of the whole network.
//!
//! Every member is asked at once (one thread per member, each bounded by
//! the per-node timeout): its `/.well-known/vivier` (serial, keys,
//! protocols) and, signed with the operator key, its
//! [`vivier_protocol::OPERATOR_STATUS_PATH`] report (log head, outbox,
//! dead letters, membership expiry, and what it holds for each peer).
//!
//! A node's **lag** is read off the *others'* reports: the messages they
//! have queued for it and it has not acknowledged — their log head minus
//! what it has read — with the age of the oldest. So a node that does not
//! answer (stopped, paused, partitioned) still shows how far behind it is
//! falling.

use std::fmt::Write as _;

use vivier_protocol::{Member, NodeReport, SignedMembershipDocument, WellKnown};

use crate::display::format_duration;

/// A membership expiring sooner than this is flagged (the alert rule of
/// `config/monitoring` uses the same threshold).
pub const EXPIRY_WARNING_MS: i64 = 14 * 86_400_000;

/// What one member answered.
pub struct Answer {
    /// `/.well-known/vivier`, or why it could not be read.
    pub well_known: anyhow::Result<WellKnown>,
    /// The operator report; `None` when not asked (unreachable node or no
    /// operator key at hand).
    pub report: Option<anyhow::Result<NodeReport>>,
}

/// The table and its verdict.
pub struct Overview {
    /// Column names.
    pub header: Vec<&'static str>,
    /// One row per member, in document order.
    pub rows: Vec<Vec<String>>,
    /// Active members unreachable, behind, mismatched or with dead letters.
    pub problems: usize,
    /// Lines to print under the table (warnings, totals).
    pub footer: Vec<String>,
}

/// Messages the other members hold for `node` (sum) and the creation time
/// of the oldest of them.
fn waiting_for(node: &str, reports: &[Option<&NodeReport>]) -> (i64, Option<i64>, usize) {
    let mut total = 0;
    let mut oldest: Option<i64> = None;
    let mut senders = 0;
    for r in reports.iter().flatten() {
        if r.node_id == node {
            continue;
        }
        senders += 1;
        if let Some(p) = r.peers.iter().find(|p| p.node_id == node) {
            total += p.outbox_depth;
            if let Some(t) = p.oldest_queued_at {
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        }
    }
    (total, oldest, senders)
}

/// Builds the overview of `doc`'s members from their answers (same order as
/// `doc.document.members`), at `now` (unix ms).
pub fn overview(
    doc: &SignedMembershipDocument,
    answers: &[Answer],
    key_match: impl Fn(&Member, &WellKnown) -> (bool, String),
    status_word: impl Fn(&Member) -> &'static str,
    now: i64,
) -> Overview {
    let current = doc.document.serial;
    let reports: Vec<Option<&NodeReport>> = answers
        .iter()
        .map(|a| a.report.as_ref().and_then(|r| r.as_ref().ok()))
        .collect();
    let mut rows = Vec::new();
    let mut problems = 0;
    let mut footer = Vec::new();
    for (m, a) in doc.document.members.iter().zip(answers) {
        let active = m.is_active();
        let node = m.node_id.as_str();
        let mut bad = false;
        let mut notes = Vec::new();
        let (waiting, oldest, senders) = waiting_for(node, &reports);
        let lag = if senders == 0 {
            "-".to_string()
        } else if waiting == 0 {
            "0".to_string()
        } else {
            match oldest {
                Some(t) => format!("{waiting} (oldest {})", format_duration(now - t)),
                None => waiting.to_string(),
            }
        };
        let (reachable, serial, keys, protocols) = match &a.well_known {
            Err(e) => {
                bad = true;
                notes.push(format!("{e:#}"));
                ("no".to_string(), "-".into(), "-".into(), "-".into())
            }
            Ok(wk) => {
                if wk.node_id != node {
                    bad = true;
                    notes.push(format!("answers as node {:?}", wk.node_id));
                }
                let serial = match wk.membership_serial {
                    Some(s) if s == current => format!("{s} (current)"),
                    Some(s) if s < current => {
                        bad = true;
                        format!("{s} (behind {current})")
                    }
                    Some(s) => {
                        bad = true;
                        notes.push("runs a serial newer than network.json: is this the right network directory?".into());
                        format!("{s} (ahead of {current})")
                    }
                    None => {
                        bad = true;
                        format!("none (current {current})")
                    }
                };
                let (km, kstr) = key_match(m, wk);
                bad |= !km;
                if !wk
                    .protocol_versions
                    .contains(&vivier_protocol::PROTOCOL_VERSION)
                {
                    bad = true;
                    notes.push(format!(
                        "does not speak protocol version {}",
                        vivier_protocol::PROTOCOL_VERSION
                    ));
                }
                if !wk.software.is_empty() {
                    notes.push(wk.software.clone());
                }
                let protocols = wk
                    .protocol_versions
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                ("yes".to_string(), serial, kstr, protocols)
            }
        };
        let (expires, head, outbox, dead) = match &a.report {
            Some(Ok(r)) => {
                let expires = match r.membership_expires_at {
                    Some(t) => {
                        if t <= now {
                            // Expired: nodes must not go on trusting it.
                            bad = true;
                            notes.push(format!(
                                "membership document EXPIRED {} ago: renew and publish now",
                                format_duration(now - t)
                            ));
                        } else if t - now < EXPIRY_WARNING_MS {
                            notes.push(format!(
                                "membership expires in {}: renew and publish",
                                format_duration(t - now)
                            ));
                        }
                        format_duration(t - now)
                    }
                    None => "-".into(),
                };
                if r.dead_letters > 0 {
                    bad = true;
                    notes.push(format!(
                        "{} dead letter(s): GET /api/v1/federation/dead-letters on that node",
                        r.dead_letters
                    ));
                }
                (
                    expires,
                    r.log_head.to_string(),
                    r.outbox_depth.to_string(),
                    r.dead_letters.to_string(),
                )
            }
            Some(Err(e)) => {
                // Nothing read is nothing known: a problem, not a pass.
                bad = true;
                notes.push(format!(
                    "operator report not read: {e:#} (if every node refuses it, check this \
                     machine's clock and the operator key)"
                ));
                ("?".into(), "?".into(), "?".into(), "?".into())
            }
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        if bad && active {
            problems += 1;
        }
        rows.push(vec![
            node.to_string(),
            status_word(m).to_string(),
            reachable,
            serial,
            keys,
            protocols,
            expires,
            head,
            lag,
            outbox,
            dead,
            notes.join("; "),
        ]);
    }
    let asked = reports.iter().flatten().count();
    footer.push(format!(
        "lag = messages the other members hold for that node and it has not acknowledged \
         (read from {asked} operator report(s))"
    ));
    Overview {
        header: vec![
            "node",
            "status",
            "reachable",
            "serial",
            "key match",
            "protocols",
            "expires in",
            "log head",
            "lag",
            "outbox",
            "dead letters",
            "notes",
        ],
        rows,
        problems,
        footer,
    }
}

/// The table as JSON: `{"serial", "problems", "members": [{column: cell}]}`.
pub fn json(o: &Overview, serial: i64) -> String {
    let members: Vec<serde_json::Map<String, serde_json::Value>> = o
        .rows
        .iter()
        .map(|r| {
            o.header
                .iter()
                .zip(r)
                .map(|(h, c)| ((*h).to_string(), serde_json::Value::String(c.clone())))
                .collect()
        })
        .collect();
    serde_json::json!({"serial": serial, "problems": o.problems, "members": members}).to_string()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The same table as a self-contained HTML page (no script, no external
/// resource), for an operator's browser or a static web server.
pub fn html(o: &Overview, network_id: &str, serial: i64, generated: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Vivier network {n} — status</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:1.5rem}}\
         table{{border-collapse:collapse}}th,td{{border:1px solid #999;padding:.3rem .5rem;text-align:left;vertical-align:top}}\
         th{{background:#eee}}tr.problem td{{background:#fde2e1}}</style></head><body>\
         <h1>Network {n}</h1><p>Serial {serial} · generated {g}</p>\
         <table><thead><tr>",
        n = escape(network_id),
        g = escape(generated),
    );
    for h in &o.header {
        let _ = write!(s, "<th scope=\"col\">{}</th>", escape(h));
    }
    s.push_str("</tr></thead><tbody>\n");
    for r in &o.rows {
        let problem =
            r.get(2).is_some_and(|c| c == "no") || r.get(10).is_some_and(|c| c != "0" && c != "-");
        s.push_str(if problem {
            "<tr class=\"problem\">"
        } else {
            "<tr>"
        });
        for c in r {
            let _ = write!(s, "<td>{}</td>", escape(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    for l in &o.footer {
        let _ = writeln!(s, "<p>{}</p>", escape(l));
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use vivier_protocol::PeerReport;

    fn report(node: &str, peers: &[(&str, i64, Option<i64>)]) -> NodeReport {
        NodeReport {
            node_id: node.into(),
            peers: peers
                .iter()
                .map(|(n, d, o)| PeerReport {
                    node_id: (*n).into(),
                    outbox_depth: *d,
                    oldest_queued_at: *o,
                    ..PeerReport::default()
                })
                .collect(),
            ..NodeReport::default()
        }
    }

    #[test]
    fn lag_is_what_the_others_hold_for_a_node() {
        let a = report("a", &[("b", 0, None), ("c", 3, Some(1_000))]);
        let b = report("b", &[("a", 0, None), ("c", 2, Some(500))]);
        let reports = [Some(&a), Some(&b), None];
        assert_eq!(waiting_for("c", &reports), (5, Some(500), 2));
        assert_eq!(waiting_for("a", &reports), (0, None, 1));
        // A node's own report does not count for itself.
        assert_eq!(waiting_for("b", &reports), (0, None, 1));
    }

    #[test]
    fn html_escapes_every_cell() {
        let o = Overview {
            header: vec!["node"],
            rows: vec![vec!["<script>x</script>".into()]],
            problems: 0,
            footer: vec!["a & b".into()],
        };
        let page = html(&o, "net\"", 3, "now");
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(page.contains("a &amp; b"));
        assert!(page.contains("net&quot;"));
        assert!(!page.contains("<script>"));
    }
}
