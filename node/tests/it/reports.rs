//! Reports (issue 16) over a known set of placements, on SQLite and (when
//! reachable) PostgreSQL: every cell of the API's tables compared with
//! figures written out by hand, and the CSV and XLSX exports read back
//! (csv, calamine) equal to the API's numbers.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The known set and the expected rows are tables written as calls.
#![allow(clippy::too_many_arguments)]

use std::collections::BTreeMap;

use crate::support::{backends, start_node, TestNode};
use chrono::{Datelike, Months, NaiveDate};
use serde_json::{json, Value};
use vivier_node::auth::Role;

/// One placement of the known set.
struct Known {
    counsellor: usize,
    /// Age at the placement year's start: 22 (16–25), 41 (26–49), 66 (50+).
    age: Option<i32>,
    rsa: Option<bool>,
    insee: &'static str,
    /// Days after registration.
    start: u64,
    outcome: &'static str,
    channel: &'static str,
    hours: Option<i64>,
    /// Contract length in months (end date given).
    months: Option<u32>,
}

const fn k(
    counsellor: usize,
    age: Option<i32>,
    rsa: Option<bool>,
    insee: &'static str,
    start: u64,
    outcome: &'static str,
    channel: &'static str,
    hours: Option<i64>,
    months: Option<u32>,
) -> Known {
    Known {
        counsellor,
        age,
        rsa,
        insee,
        start,
        outcome,
        channel,
        hours,
        months,
    }
}

/// Period 1 = days 10..=40 after registration, period 2 = days 100..=140.
const KNOWN: &[Known] = &[
    // Period 1.
    k(
        0,
        Some(22),
        Some(true),
        "41018",
        15,
        "cdi",
        "platform",
        Some(35),
        None,
    ),
    k(
        0,
        Some(41),
        Some(false),
        "41018",
        20,
        "cdd_6_months_or_more",
        "counsellor",
        Some(26),
        Some(12),
    ),
    k(
        1,
        Some(66),
        Some(true),
        "03185",
        25,
        "cdd_under_6_months",
        "platform",
        Some(35),
        Some(2),
    ),
    k(
        1,
        None,
        None,
        "03185",
        30,
        "apprenticeship",
        "counsellor",
        None,
        None,
    ),
    // Between the periods.
    k(
        0,
        Some(41),
        Some(true),
        "41018",
        60,
        "cdi",
        "counsellor",
        Some(35),
        None,
    ),
    // Period 2.
    k(
        0,
        Some(22),
        Some(true),
        "41018",
        110,
        "professionalisation",
        "platform",
        Some(35),
        Some(12),
    ),
    k(
        1,
        Some(41),
        Some(false),
        "03185",
        120,
        "training",
        "counsellor",
        None,
        None,
    ),
    k(
        0,
        Some(66),
        Some(false),
        "45234",
        130,
        "business_creation",
        "platform",
        None,
        None,
    ),
    k(
        1,
        Some(22),
        Some(true),
        "45234",
        135,
        "other",
        "counsellor",
        None,
        None,
    ),
    // A CDI whose hours are unknown: aid eligibility unknown, not counted.
    k(
        0,
        Some(41),
        Some(true),
        "41018",
        135,
        "cdi",
        "counsellor",
        None,
        None,
    ),
];

fn day(base: NaiveDate, n: u64) -> NaiveDate {
    base + chrono::Days::new(n)
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// An expected row: (placed, outcomes in report order, platform,
/// counsellor_support, aid_eligible, rsa, [16_25, 26_49, 50_plus, unknown],
/// with_registration, median, within_3_months).
#[allow(clippy::type_complexity)]
fn row(
    key: &str,
    label: &str,
    outcomes: [i64; 8],
    channel: (i64, i64),
    aid: i64,
    rsa: i64,
    ages: [i64; 4],
    median: Option<i64>,
    within: i64,
) -> Value {
    let names = [
        "cdi",
        "cdd_6_months_or_more",
        "cdd_under_6_months",
        "apprenticeship",
        "professionalisation",
        "training",
        "business_creation",
        "other",
    ];
    let placed: i64 = outcomes.iter().sum();
    let by_outcome: BTreeMap<&str, i64> = names.iter().copied().zip(outcomes).collect();
    let by_age: BTreeMap<&str, i64> = ["16_25", "26_49", "50_plus", "unknown"]
        .into_iter()
        .zip(ages)
        .collect();
    json!({
        "key": key,
        "label": label,
        "placed": placed,
        "by_outcome": by_outcome,
        "platform": channel.0,
        "counsellor_support": channel.1,
        "aid_eligible": aid,
        "rsa": rsa,
        "by_age_band": by_age,
        "with_registration": placed,
        "median_days_to_placement": median,
        "within_3_months": within,
    })
}

async fn bytes(node: &TestNode, token: &str, path: &str) -> (u16, String, Vec<u8>) {
    let r = node
        .client
        .get(node.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    let st = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (st, ct, r.bytes().await.expect("body").to_vec())
}

struct Seeded {
    admin: String,
    counsellors: [String; 2],
    counsellor_ids: [String; 2],
    /// Registration day of every candidate (UTC).
    base: NaiveDate,
}

async fn seed(node: &TestNode) -> Seeded {
    let admin = node.user(Role::Admin, "admin@cd41.fr").await;
    let c1 = node.user(Role::Counsellor, "anne@cd41.fr").await;
    let c2 = node.user(Role::Counsellor, "bruno@cd41.fr").await;
    let id1 = node.get(&c1, "/api/v1/me").await.1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id2 = node.get(&c2, "/api/v1/me").await.1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let counsellors = [c1, c2];
    let base = chrono::Utc::now().date_naive();
    for (i, p) in KNOWN.iter().enumerate() {
        let token = &counsellors[p.counsellor];
        let start = day(base, p.start);
        let mut body = json!({
            "first_name": format!("Personne{i}"),
            "last_name": "Connue",
            "commune_insee": p.insee,
            "rome_codes": ["N1103"],
            "training_level": if i % 2 == 0 { "CAP" } else { "Bac" },
            "cv_text": "Préparation de commandes.",
        });
        if let Some(rsa) = p.rsa {
            body["sensitive"] = json!({"rsa_beneficiary": rsa});
        }
        if let Some(age) = p.age {
            body["birth_year"] = json!(start.year() - age);
        }
        let (st, v) = node.post(token, "/api/v1/candidates", &body).await;
        assert_eq!(st, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let registered = chrono::DateTime::from_timestamp_millis(v["created_at"].as_i64().unwrap())
            .unwrap()
            .date_naive();
        assert_eq!(base, registered, "the test ran across midnight UTC");
        let mut contract = json!({"start": ymd(start)});
        if let Some(h) = p.hours {
            contract["weekly_hours"] = json!(h);
        }
        if let Some(m) = p.months {
            // Date to date: the day before the same day `m` months later;
            // when that month is too short (29–31 December + 2 months),
            // its last day.
            let later = start.checked_add_months(Months::new(m)).unwrap();
            let end = if later.day() < start.day() {
                later
            } else {
                later.pred_opt().unwrap()
            };
            contract["end"] = json!(ymd(end));
        }
        let (st, v) = node
            .post(
                token,
                &format!("/api/v1/candidates/{id}/placement"),
                &json!({"outcome": p.outcome, "channel": p.channel, "contract": contract}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["placed_on"], ymd(start));
        if let Some(m) = p.months {
            assert_eq!(v["contract"]["duration_months"], m, "{v}");
        }
    }
    Seeded {
        admin,
        counsellors,
        counsellor_ids: [id1, id2],
        base,
    }
}

async fn report(node: &TestNode, token: &str, qs: &str) -> Value {
    let (st, v) = node.get(token, &format!("/api/v1/reports?{qs}")).await;
    assert_eq!(st, 200, "{qs}: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_over_a_known_set_of_placements() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let s = seed(&node).await;
        let b = s.base;
        let p1 = format!("from={}&to={}", ymd(day(b, 10)), ymd(day(b, 40)));
        let p2 = format!("from={}&to={}", ymd(day(b, 100)), ymd(day(b, 140)));

        // Period 1 by counsellor: every cell.
        let v = report(
            &node,
            &s.counsellors[0],
            &format!("{p1}&group_by=counsellor"),
        )
        .await;
        assert_eq!(
            v["period"],
            json!({"from": ymd(day(b, 10)), "to": ymd(day(b, 40))})
        );
        assert_eq!(v["group_by"], "counsellor");
        assert_eq!(
            v["total"],
            row(
                "total",
                "Total",
                [1, 1, 1, 1, 0, 0, 0, 0],
                (2, 2),
                2,
                2,
                [1, 1, 1, 1],
                Some(22),
                4
            ),
            "{backend:?}"
        );
        let mut expected = vec![
            row(
                &s.counsellor_ids[0],
                "Test anne@cd41.fr",
                [1, 1, 0, 0, 0, 0, 0, 0],
                (1, 1),
                2,
                1,
                [1, 1, 0, 0],
                Some(17),
                2,
            ),
            row(
                &s.counsellor_ids[1],
                "Test bruno@cd41.fr",
                [0, 0, 1, 1, 0, 0, 0, 0],
                (1, 1),
                0,
                1,
                [0, 0, 1, 1],
                Some(27),
                2,
            ),
        ];
        expected.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
        assert_eq!(v["groups"], json!(expected), "{backend:?}");

        // Period 2 by age band: every cell.
        let v = report(&node, &s.admin, &format!("{p2}&group_by=age_band")).await;
        assert_eq!(
            v["total"],
            row(
                "total",
                "Total",
                [1, 0, 0, 0, 1, 1, 1, 1],
                (2, 3),
                0,
                3,
                [2, 2, 1, 0],
                Some(130),
                0
            ),
            "{backend:?}"
        );
        assert_eq!(
            v["groups"],
            json!([
                row(
                    "16_25",
                    "16-25 ans",
                    [0, 0, 0, 0, 1, 0, 0, 1],
                    (1, 1),
                    0,
                    2,
                    [2, 0, 0, 0],
                    Some(122),
                    0
                ),
                row(
                    "26_49",
                    "26-49 ans",
                    [1, 0, 0, 0, 0, 1, 0, 0],
                    (0, 2),
                    0,
                    1,
                    [0, 2, 0, 0],
                    Some(127),
                    0
                ),
                row(
                    "50_plus",
                    "50 ans et plus",
                    [0, 0, 0, 0, 0, 0, 1, 0],
                    (1, 0),
                    0,
                    0,
                    [0, 0, 1, 0],
                    Some(130),
                    0
                ),
            ]),
            "{backend:?}"
        );

        // Both periods and the placement between them, other dimensions.
        let all = format!("from={}&to={}", ymd(day(b, 10)), ymd(day(b, 140)));
        let placed = |v: &Value| -> BTreeMap<String, i64> {
            v["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["key"].as_str().unwrap().to_string(),
                        r["placed"].as_i64().unwrap(),
                    )
                })
                .collect()
        };
        let map = |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> {
            pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
        };
        let v = report(&node, &s.admin, &format!("{all}&group_by=rsa")).await;
        assert_eq!(v["total"]["placed"], 10);
        assert_eq!(
            placed(&v),
            map(&[("not_rsa", 3), ("rsa", 6), ("unknown", 1)])
        );
        let v = report(&node, &s.admin, &format!("{all}&group_by=departement")).await;
        assert_eq!(placed(&v), map(&[("03", 3), ("41", 5), ("45", 2)]));
        let labels: Vec<&str> = v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["label"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["Allier (03)", "Loir-et-Cher (41)", "Loiret (45)"]);
        let v = report(&node, &s.admin, &format!("{all}&group_by=epci")).await;
        let t = vivier_node::referentials::territories::Territories::global();
        let epci = |insee: &str| t.epci(insee).unwrap().0;
        assert_eq!(
            placed(&v),
            map(&[(epci("41018"), 5), (epci("03185"), 3), (epci("45234"), 2)])
        );
        assert!(v.to_string().contains("Agglopolys"), "{v}");
        let v = report(&node, &s.admin, &format!("{all}&group_by=channel")).await;
        assert_eq!(placed(&v), map(&[("counsellor", 6), ("platform", 4)]));
        let v = report(&node, &s.admin, &format!("{all}&group_by=qualification")).await;
        assert_eq!(placed(&v), map(&[("Bac", 5), ("CAP", 5)]));
        let v = report(&node, &s.admin, &format!("{all}&group_by=rome_domain")).await;
        assert_eq!(placed(&v), map(&[("N", 10)]));
        let v = report(&node, &s.admin, &format!("{all}&group_by=outcome")).await;
        assert_eq!(
            placed(&v),
            map(&[
                ("apprenticeship", 1),
                ("business_creation", 1),
                ("cdd_6_months_or_more", 1),
                ("cdd_under_6_months", 1),
                ("cdi", 3),
                ("other", 1),
                ("professionalisation", 1),
                ("training", 1),
            ])
        );
        let months: i64 = placed(&report(&node, &s.admin, &format!("{all}&group_by=month")).await)
            .values()
            .sum();
        assert_eq!(months, 10);

        // Bad parameters: 400 naming the parameter; employers: 403.
        for (qs, field) in [
            ("group_by=shoe_size", "group_by"),
            ("from=2026-02-01", "to"),
            ("month=2026-13", "month"),
            ("year=2026&month=2026-01", "month"),
        ] {
            let (st, v) = node.get(&s.admin, &format!("/api/v1/reports?{qs}")).await;
            assert_eq!(st, 400, "{qs}: {v}");
            assert_eq!(v["errors"][0]["field"], field, "{qs}: {v}");
        }
        let employer = node.user(Role::Employer, "rh@entreprise.fr").await;
        assert_eq!(node.get(&employer, "/api/v1/reports").await.0, 403);
        assert_eq!(
            bytes(&node, &employer, "/api/v1/reports/export?format=csv")
                .await
                .0,
            403
        );
        node.stop().await;
    }
}

/// A local referral hire: one placement (home side), a position filled on
/// the node's offer, the referral answered; intérim counted as a short
/// contract; and the exports equal to the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_read_back_equal_the_api() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let s = seed(&node).await;
        let b = s.base;
        let employer = node.user(Role::Employer, "rh@logistique.fr").await;
        let mut offer = json!({
            "title": "Préparateur de commandes",
            "description": "Préparation des commandes en entrepôt.",
            "rome_code": "N1103",
            "contract_type": "MIS",
            "duration_months": 2,
            "weekly_hours": 35,
            "employer": {"name": "Logistique Val de Loire"},
            "workplaces": [{"commune_insee": "41018", "positions": 3}]
        });
        let (st, v) = node.post(&employer, "/api/v1/offers", &offer).await;
        assert_eq!(st, 201, "{v}");
        let offer_id = v["offer_id"].as_str().unwrap().to_string();
        offer["title"] = json!("Cariste");
        let (st, v) = node.post(&employer, "/api/v1/offers", &offer).await;
        assert_eq!(st, 201, "{v}");
        let (st, v) = node
            .post(
                &s.counsellors[1],
                "/api/v1/candidates",
                &json!({
                    "first_name": "Léa", "last_name": "Intérim", "commune_insee": "41018",
                    "rome_codes": ["N1103"], "cv_text": "Cariste.", "consent_scope": "network",
                    "birth_year": 1990
                }),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let cand = v["id"].as_str().unwrap().to_string();
        let (st, v) = node
            .post(
                &s.counsellors[1],
                "/api/v1/referrals",
                &json!({"offer_id": offer_id, "candidate_id": cand, "endorsement": "Sérieuse et ponctuelle, je la recommande."}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let referral = v["id"].as_str().unwrap().to_string();
        let start = ymd(day(b, 50));
        let (st, v) = node
            .post(
                &employer,
                &format!("/api/v1/referrals/{referral}/status"),
                &json!({"status": "accepted", "contract_type": "MIS", "start_date": start}),
            )
            .await;
        assert_eq!(st, 200, "{v}");

        let qs = format!(
            "from={}&to={}&group_by=counsellor",
            ymd(b),
            ymd(day(b, 140))
        );
        let api = report(&node, &s.admin, &qs).await;
        assert_eq!(api["total"]["placed"], 11);
        assert_eq!(api["total"]["by_outcome"]["cdd_under_6_months"], 2);
        assert_eq!(api["total"]["platform"], 5);
        assert_eq!(api["hires_through_network"], 0);
        assert_eq!(
            api["offers"],
            json!({"posted": 2, "positions_posted": 6, "positions_filled": 1,
                   "offers_with_hire": 1, "still_open": 2, "positions_still_open": 6})
        );
        assert_eq!(api["referrals"]["total"], 1);
        assert_eq!(api["referrals"]["by_direction"]["local"]["accepted"], 1);
        let bruno = api["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == s.counsellor_ids[1].as_str())
            .unwrap()
            .clone();
        assert_eq!(bruno["placed"], 5);

        // CSV: one figure per line, node and period on every line.
        let (st, ct, csv_bytes) = bytes(
            &node,
            &s.admin,
            &format!("/api/v1/reports/export?format=csv&{qs}"),
        )
        .await;
        assert_eq!(st, 200);
        assert!(ct.starts_with("text/csv"), "{ct}");
        let mut rd = csv::Reader::from_reader(csv_bytes.as_slice());
        let header: Vec<String> = rd.headers().unwrap().iter().map(str::to_string).collect();
        assert_eq!(
            header,
            [
                "node_id",
                "node_name",
                "period_from",
                "period_to",
                "group_by",
                "table",
                "group_key",
                "group_label",
                "figure",
                "value"
            ]
        );
        let mut from_csv: BTreeMap<(String, String, String), String> = BTreeMap::new();
        for rec in rd.records() {
            let rec = rec.unwrap();
            assert_eq!(&rec[0], "test-node");
            assert_eq!(&rec[2], ymd(b));
            assert_eq!(&rec[3], ymd(day(b, 140)));
            assert_eq!(&rec[4], "counsellor");
            from_csv.insert(
                (rec[5].to_string(), rec[6].to_string(), rec[8].to_string()),
                rec[9].to_string(),
            );
        }
        // Every cell of the API's table is in the CSV with the same value.
        let mut compared = 0;
        for r in std::iter::once(&api["total"]).chain(api["groups"].as_array().unwrap()) {
            let key = r["key"].as_str().unwrap().to_string();
            let cell = |fig: &str| {
                from_csv
                    .get(&("returns_to_work".into(), key.clone(), fig.into()))
                    .unwrap_or_else(|| panic!("{key} {fig} missing"))
                    .clone()
            };
            for (fig, v) in r["by_outcome"].as_object().unwrap() {
                assert_eq!(cell(fig), v.to_string());
                compared += 1;
            }
            for (band, v) in r["by_age_band"].as_object().unwrap() {
                assert_eq!(cell(&format!("age_{band}")), v.to_string());
                compared += 1;
            }
            for fig in [
                "placed",
                "platform",
                "counsellor_support",
                "aid_eligible",
                "rsa",
                "with_registration",
                "within_3_months",
            ] {
                assert_eq!(cell(fig), r[fig].to_string(), "{key} {fig}");
                compared += 1;
            }
            let median = r["median_days_to_placement"]
                .as_i64()
                .map(|m| m.to_string())
                .unwrap_or_default();
            assert_eq!(cell("median_days_to_placement"), median);
            compared += 1;
        }
        assert_eq!(compared, 3 * 20);
        let node_fig = |fig: &str| from_csv[&("node".into(), "total".into(), fig.into())].clone();
        assert_eq!(node_fig("positions_filled"), "1");
        assert_eq!(node_fig("positions_posted"), "6");
        assert_eq!(node_fig("referrals.local.accepted"), "1");
        assert_eq!(node_fig("hires_through_network"), "0");

        // XLSX read back with calamine: the same cells.
        let (st, ct, xlsx) = bytes(
            &node,
            &s.admin,
            &format!("/api/v1/reports/export?format=xlsx&{qs}"),
        )
        .await;
        assert_eq!(st, 200);
        assert!(ct.contains("spreadsheetml"), "{ct}");
        use calamine::{Data, Reader, Xlsx};
        let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(xlsx)).expect("xlsx");
        let sheet = wb.worksheet_range("Retours à l'emploi").expect("sheet");
        let text = |r: u32, c: u32| match sheet.get_value((r, c)) {
            Some(Data::String(s)) => s.clone(),
            Some(Data::Float(f)) => format!("{f}"),
            Some(Data::Int(i)) => i.to_string(),
            Some(Data::Empty) | None => String::new(),
            Some(other) => format!("{other:?}"),
        };
        assert_eq!(text(0, 1), "test-node");
        assert_eq!((text(1, 1), text(1, 2)), (ymd(b), ymd(day(b, 140))));
        let h = vivier_node::reports::export::XLSX_HEADER_ROW + 1;
        let ids: Vec<String> = (2..22).map(|c| text(h, c)).collect();
        assert_eq!(ids[0], "placed");
        let mut rows = 0;
        for line in h + 1.. {
            let key = text(line, 0);
            if key.is_empty() {
                break;
            }
            rows += 1;
            for (i, fig) in ids.iter().enumerate() {
                let xl = text(line, 2 + i as u32);
                let csv = &from_csv[&("returns_to_work".into(), key.clone(), fig.clone())];
                assert_eq!(&xl, csv, "{key} {fig}");
            }
        }
        assert_eq!(rows, 3);
        let sheet2 = wb
            .worksheet_range("Offres et mises en relation")
            .expect("sheet 2");
        let mut found = 0;
        for r in sheet2.rows() {
            if let (Some(Data::String(fig)), Some(Data::Float(v))) = (r.first(), r.get(1)) {
                let csv = &from_csv[&("node".into(), "total".into(), fig.clone())];
                assert_eq!(&format!("{v}"), csv, "{fig}");
                found += 1;
            }
        }
        assert!(found >= 8, "{found}");

        // Each export is audited (who, format, period), never with figures.
        let (st, audit) = node
            .get(&s.admin, "/api/v1/audit?action=report.export&per_page=10")
            .await;
        assert_eq!(st, 200, "{audit}");
        let entries = audit["items"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{audit}");
        assert_eq!(entries[0]["details"]["format"], "csv");
        assert_eq!(entries[1]["details"]["format"], "xlsx");
        assert_eq!(entries[1]["details"]["from"], ymd(b));

        // The page: the same figures, charts as inline SVG, no script.
        let cookie = node.ui_cookie("bruno@cd41.fr").await;
        let (st, html) = node
            .ui_get(
                &cookie,
                &format!(
                    "/ui/rapports?du={}&au={}&regrouper=counsellor",
                    ymd(b),
                    ymd(day(b, 140))
                ),
            )
            .await;
        assert_eq!(st, 200, "{html}");
        assert_eq!(html.matches("<svg").count(), 3, "{html}");
        assert!(!html.contains("<script"));
        assert!(html.contains("<p class=\"chiffre\">11</p>"), "{html}");
        assert!(html.contains("Test anne@cd41.fr"));
        assert!(html.contains("/ui/rapports/export?format=xlsx&amp;du="));
        let (st, html) = node.ui_get(&cookie, "/ui/rapports?du=2026-03-01").await;
        assert_eq!(st, 400);
        assert!(
            html.contains("Date de fin : indiquez les deux dates."),
            "{html}"
        );
        let r = node
            .client
            .get(node.url(&format!(
                "/ui/rapports/export?format=csv&du={}&au={}",
                ymd(b),
                ymd(day(b, 140))
            )))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body = r.text().await.unwrap();
        assert!(
            body.contains("returns_to_work,total,Total,placed,11"),
            "{body}"
        );
        let (_, audit) = node
            .get(&s.admin, "/api/v1/audit?action=report.export&per_page=10")
            .await;
        assert_eq!(audit["items"].as_array().unwrap().len(), 3);

        // Network figures from the page: an admin publishes the month (a
        // counsellor cannot), then the network table shows this member and
        // the network's total, small counts as « secret ».
        let month = ymd(day(b, 20))[..7].to_string();
        let admin_cookie = node.ui_cookie("admin@cd41.fr").await;
        let publish = |cookie: String| {
            let node = &node;
            let month = month.clone();
            async move {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap()
                    .post(node.url("/ui/rapports/publier"))
                    .header("origin", node.base.clone())
                    .header("cookie", cookie)
                    .form(&[("mois", month.as_str())])
                    .send()
                    .await
                    .unwrap()
            }
        };
        assert_eq!(publish(cookie.clone()).await.status().as_u16(), 403);
        let r = publish(admin_cookie.clone()).await;
        assert_eq!(r.status().as_u16(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        let (st, html) = node.ui_get(&admin_cookie, &to).await;
        assert_eq!(st, 200, "{html}");
        assert!(html.contains("Les chiffres du mois ont été publiés au réseau."));
        assert!(html.contains("<th scope=\"row\">test-node</th>"), "{html}");
        assert!(html.contains("<th scope=\"row\">Réseau</th>"));
        let (_, net) = node
            .get(&s.admin, &format!("/api/v1/reports/network?month={month}"))
            .await;
        assert_eq!(net["members"][0]["threshold"], 5, "{net}");
        // Fewer than 5 of anything this month: every non-zero count withheld.
        for c in net["members"][0]["cells"].as_array().unwrap() {
            assert!(c["suppressed"] == true || c["value"] == 0, "{c}");
        }
        if net["members"][0]["cells"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["suppressed"] == true)
        {
            // One member: nothing to add a withheld count to.
            assert!(html.contains("<td>secret</td>"), "{html}");
            assert!(html.contains("<td><strong>secret</strong></td>"), "{html}");
        }
        node.stop().await;
    }
}

/// Hiring aids (issue 18): two schemes configured; placements of every
/// contract type and the boundary cases (11 vs 12 months, 25 vs 26 h/week)
/// are assessed when recorded; a file moves requested → granted → paid,
/// an ineligible placement cannot be requested, a paid file is final; the
/// report counts each scheme; the record page shows the verdicts and moves
/// a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hiring_aids_are_assessed_on_every_placement_and_followed() {
    use vivier_node::aids::{AidScheme, Public};
    use vivier_node::candidates::PlacementOutcome::*;
    let schemes = vec![
        AidScheme {
            code: "cied-41".into(),
            name: "CIED".into(),
            funder: "Conseil départemental de Loir-et-Cher".into(),
            outcomes: vec![Cdi, Cdd6MonthsOrMore],
            min_months: Some(12),
            min_weekly_hours: Some(26),
            public: vec![Public::Rsa],
            departements: vec!["41".into()],
            amount_eur: Some(4000),
        },
        AidScheme {
            code: "jeunes".into(),
            name: "Aide à l'embauche des jeunes".into(),
            funder: "Région Centre-Val de Loire".into(),
            outcomes: vec![],
            min_months: None,
            min_weekly_hours: Some(20),
            public: vec![Public::Under26],
            departements: vec![],
            amount_eur: None,
        },
    ];
    for backend in backends() {
        let node = crate::support::start_node_with(&backend, |c| c.aids = schemes.clone()).await;
        let token = node.user(Role::Counsellor, "anne@cd41.fr").await;
        let (st, v) = node.get(&token, "/api/v1/aids").await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        let employer = node.user(Role::Employer, "rh@exemple.fr").await;
        assert_eq!(node.get(&employer, "/api/v1/aids").await.0, 403);

        let base = chrono::Utc::now().date_naive();
        // (outcome, months, hours, rsa, birth year offset) → (cied, jeunes)
        let cases: &[AidCase] = &[
            (
                "cdd_6_months_or_more",
                Some(12),
                Some(26),
                Some(true),
                40,
                "eligible",
                "not_eligible",
            ),
            (
                "cdd_6_months_or_more",
                Some(11),
                Some(26),
                Some(true),
                40,
                "not_eligible",
                "not_eligible",
            ),
            (
                "cdd_6_months_or_more",
                Some(12),
                Some(25),
                Some(true),
                40,
                "not_eligible",
                "not_eligible",
            ),
            (
                "cdi",
                None,
                Some(26),
                Some(true),
                22,
                "eligible",
                "eligible",
            ),
            ("cdi", None, None, Some(true), 22, "unknown", "unknown"),
            (
                "cdi",
                None,
                Some(35),
                Some(false),
                40,
                "not_eligible",
                "not_eligible",
            ),
            ("cdi", None, Some(35), None, 40, "unknown", "not_eligible"),
            (
                "cdd_under_6_months",
                Some(3),
                Some(35),
                Some(true),
                22,
                "not_eligible",
                "eligible",
            ),
            (
                "apprenticeship",
                Some(24),
                Some(35),
                Some(true),
                19,
                "not_eligible",
                "eligible",
            ),
            (
                "professionalisation",
                Some(12),
                Some(35),
                Some(true),
                40,
                "not_eligible",
                "not_eligible",
            ),
            (
                "training",
                None,
                None,
                Some(true),
                22,
                "not_eligible",
                "unknown",
            ),
            (
                "business_creation",
                None,
                None,
                Some(true),
                40,
                "not_eligible",
                "not_eligible",
            ),
            (
                "other",
                None,
                Some(30),
                Some(true),
                22,
                "not_eligible",
                "eligible",
            ),
        ];
        let mut placements = Vec::new();
        for (i, (outcome, months, hours, rsa, age, want_cied, want_young)) in
            cases.iter().enumerate()
        {
            let mut body = json!({"first_name": format!("Aide{i}"), "last_name": "Cas",
                "commune_insee": "41018", "rome_codes": ["N1103"], "cv_text": "Manutention.",
                "birth_year": base.year() - age});
            if let Some(r) = rsa {
                body["sensitive"] = json!({"rsa_beneficiary": r});
            }
            let (st, v) = node.post(&token, "/api/v1/candidates", &body).await;
            assert_eq!(st, 201, "{v}");
            let id = v["id"].as_str().unwrap().to_string();
            let mut contract = json!({"start": ymd(base)});
            if let Some(h) = hours {
                contract["weekly_hours"] = json!(h);
            }
            if let Some(m) = months {
                let end = base
                    .checked_add_months(Months::new(*m))
                    .unwrap()
                    .pred_opt()
                    .unwrap();
                contract["end"] = json!(ymd(end));
            }
            let (st, v) = node
                .post(
                    &token,
                    &format!("/api/v1/candidates/{id}/placement"),
                    &json!({"outcome": outcome, "contract": contract}),
                )
                .await;
            assert_eq!(st, 201, "{outcome}: {v}");
            let (st, v) = node
                .get(&token, &format!("/api/v1/candidates/{id}/placements"))
                .await;
            assert_eq!(st, 200, "{v}");
            let p = &v["items"][0];
            let got = |code: &str| {
                p["aids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["code"] == code)
                    .unwrap()
                    .clone()
            };
            assert_eq!(
                got("cied-41")["eligibility"],
                *want_cied,
                "case {i} {outcome}: {p}"
            );
            assert_eq!(
                got("jeunes")["eligibility"],
                *want_young,
                "case {i} {outcome}: {p}"
            );
            if *want_cied == "unknown" {
                assert!(!got("cied-41")["reasons"].as_array().unwrap().is_empty());
            }
            placements.push((id, p["placement_id"].as_str().unwrap().to_string()));
        }
        // Files: the first case (eligible) goes all the way.
        let (_, pid) = &placements[0];
        let mv = |pid: String, code: &'static str, to: &'static str| {
            let node = &node;
            let token = token.clone();
            async move {
                node.post(
                    &token,
                    &format!("/api/v1/placements/{pid}/aids/{code}"),
                    &json!({"state": to}),
                )
                .await
            }
        };
        for to in ["requested", "granted", "paid"] {
            let (st, v) = mv(pid.clone(), "cied-41", to).await;
            assert_eq!((st, v["state"].as_str()), (200, Some(to)), "{v}");
        }
        let (st, v) = mv(pid.clone(), "cied-41", "refused").await;
        assert_eq!(
            (st, v["code"].as_str()),
            (409, Some("aid_transition")),
            "{v}"
        );
        // An ineligible placement cannot be requested; an unknown one can.
        let (st, v) = mv(placements[1].1.clone(), "cied-41", "requested").await;
        assert_eq!(
            (st, v["code"].as_str()),
            (409, Some("aid_not_eligible")),
            "{v}"
        );
        let (st, _) = mv(placements[4].1.clone(), "cied-41", "requested").await;
        assert_eq!(st, 200);
        let (st, _) = mv(placements[4].1.clone(), "cied-41", "refused").await;
        assert_eq!(st, 200);
        let (st, v) = mv(placements[3].1.clone(), "nope", "requested").await;
        assert_eq!(st, 404, "{v}");
        let (st, _) = mv("no-such-placement".into(), "cied-41", "requested").await;
        assert_eq!(st, 404);
        let (st, v) = node
            .post(
                &employer,
                &format!("/api/v1/placements/{pid}/aids/cied-41"),
                &json!({"state": "refused"}),
            )
            .await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(
            count_audit(&node, "placement.aid").await,
            5,
            "each move audited once"
        );

        // The report's figures per scheme.
        let r = report(&node, &token, "").await;
        let cied = r["aids"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == "cied-41")
            .unwrap();
        assert_eq!(cied["assessed"], cases.len() as u64);
        assert_eq!(cied["eligible"], 2, "{cied}");
        assert_eq!(cied["unknown"], 2, "{cied}");
        assert_eq!(
            (
                cied["requested"].as_i64(),
                cied["granted"].as_i64(),
                cied["paid"].as_i64(),
                cied["refused"].as_i64(),
                cied["amount_paid_eur"].as_i64()
            ),
            (Some(2), Some(1), Some(1), Some(1), Some(4000)),
            "{cied}"
        );
        // The exports carry the same figures.
        let (st, _, csv) = bytes(&node, &token, "/api/v1/reports/export?format=csv").await;
        assert_eq!(st, 200);
        let csv = String::from_utf8(csv).unwrap();
        assert!(
            csv.lines()
                .any(|l| l.contains(",aids,cied-41,CIED,amount_paid_eur,4000")),
            "{csv}"
        );
        let (st, _, xlsx) = bytes(&node, &token, "/api/v1/reports/export?format=xlsx").await;
        assert_eq!(st, 200);
        {
            use calamine::{Data, Reader, Xlsx};
            let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(xlsx)).expect("xlsx");
            let sheet = wb.worksheet_range("Aides et programmes").expect("sheet");
            let paid = sheet.rows().find(|row| {
                row.first() == Some(&Data::String("aids".into()))
                    && row.get(1) == Some(&Data::String("cied-41".into()))
                    && row.get(3) == Some(&Data::String("amount_paid_eur".into()))
            });
            assert!(
                matches!(paid.and_then(|r| r.get(4)), Some(Data::Float(f)) if *f == 4000.0),
                "{paid:?}"
            );
        }
        let young = r["aids"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == "jeunes")
            .unwrap();
        assert_eq!(young["eligible"], 4, "{young}");

        // The record page: verdicts and the file moved through its form.
        let cookie = node.ui_cookie("anne@cd41.fr").await;
        let (cid, pid) = &placements[3];
        let (st, page) = node.ui_get(&cookie, &format!("/ui/candidats/{cid}")).await;
        assert_eq!(st, 200);
        assert!(page.contains("Retours à l'emploi enregistrés"), "{page}");
        assert!(
            page.contains("CIED (Conseil départemental de Loir-et-Cher), 4000 €"),
            "{page}"
        );
        assert!(page.contains("aide non demandée"), "{page}");
        assert!(page.contains("Demander l&#x27;aide"), "{page}");
        let resp = crate::support::browser()
            .post(node.url(&format!("/ui/retours-emploi/{pid}/aides/cied-41")))
            .header("origin", node.base.clone())
            .header("cookie", &cookie)
            .form(&[("etat", "requested"), ("fiche", cid.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303);
        let (_, page) = node
            .ui_get(&cookie, &format!("/ui/candidats/{cid}?ok=aide"))
            .await;
        assert!(
            page.contains("Le suivi de l&#x27;aide à l&#x27;embauche a été mis à jour."),
            "{page}"
        );
        assert!(page.contains("aide demandée"), "{page}");
        assert!(page.contains(">Aide accordée<"), "{page}");
        let (_, rapports) = node.ui_get(&cookie, "/ui/rapports").await;
        assert!(
            rapports.contains("Aides à l'embauche") && rapports.contains("4000 €"),
            "{rapports}"
        );
        node.stop().await;
    }
}

/// (outcome, contract months, weekly hours, RSA, age) → expected verdicts
/// of the two schemes (CIED, young people).
type AidCase = (
    &'static str,
    Option<u32>,
    Option<i64>,
    Option<bool>,
    i32,
    &'static str,
    &'static str,
);

async fn count_audit(node: &TestNode, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&node.state.db.pool)
        .await
        .unwrap()
}
