//! Loading the demo data through each node's HTTP API, as users would:
//! counsellors create the generated candidates of their territory, the
//! employers post their offers, counsellors refer candidates that matching
//! ranks for the national offers, and the national employer answers them.
//!
//! Every step is idempotent, so that a first start interrupted half-way is
//! completed by the next one: a candidate is created once (its external id,
//! `external_id_taken`), an offer once (its title, among the employer's
//! offers), a referral only while its node has fewer than planned for the
//! offer, and an answer only to a referral still `new`. The steps that
//! depend on the federation (an offer reaching the other nodes, a referral
//! reaching the employer, the answer coming back) wait for it, bounded.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use serde_json::{json, Value};

use super::accounts::Accounts;
use super::network::{offer, MemberSpec, OfferSpec, Outcome, ReferralSpec, OFFERS, REFERRALS};

/// Longest wait for something the federation or the index delivers.
const WAIT: Duration = Duration::from_secs(90);
/// Candidate creations in flight per node.
const PARALLEL: usize = 4;

/// A node's HTTP API, for one user.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    /// Base URL.
    pub base: String,
    /// Node id (for messages).
    pub node_id: String,
    token: String,
}

/// A non-2xx answer, with its status and problem JSON.
#[derive(Debug)]
pub struct Refused {
    /// HTTP status.
    pub status: u16,
    /// The body (problem JSON, or null).
    pub body: Value,
}

impl Api {
    /// The HTTP client of the demo: loopback only, never through a proxy.
    pub fn client() -> anyhow::Result<reqwest::Client> {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")
    }

    /// Logs `email` in at `base`.
    pub async fn login(
        client: &reqwest::Client,
        node_id: &str,
        base: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<Api> {
        let mut api = Api {
            client: client.clone(),
            base: base.to_string(),
            node_id: node_id.to_string(),
            token: String::new(),
        };
        let v = api
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                Some(&json!({ "email": email, "password": password })),
            )
            .await?
            .map_err(|r| {
                anyhow::anyhow!(
                    "logging in as {email} on {node_id}: HTTP {} {}",
                    r.status,
                    r.body
                )
            })?;
        api.token = v["token"]
            .as_str()
            .context("login answer without a token")?
            .to_string();
        Ok(api)
    }

    /// One request; `Ok(Err(_))` for an answer other than 2xx.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Result<Value, Refused>> {
        let url = format!("{}{path}", self.base);
        let mut req = self.client.request(method.clone(), &url);
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        Ok(if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Refused { status, body })
        })
    }

    /// A request that must succeed.
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        self.call(method.clone(), path, body).await?.map_err(|r| {
            anyhow::anyhow!(
                "{method} {path} on {}: HTTP {} {}",
                self.node_id,
                r.status,
                r.body
            )
        })
    }

    /// `GET` that must succeed.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.ok(reqwest::Method::GET, path, None).await
    }

    /// Every item of a paged list (`{items, total, page, per_page}`),
    /// page after page; `path` already has a query string.
    pub async fn get_all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut all = Vec::new();
        for page in 1.. {
            let v = self
                .get(&format!("{path}&page={page}&per_page=200"))
                .await?;
            let items = v["items"].as_array().context("a list without items")?;
            all.extend(items.iter().cloned());
            let total = v["total"].as_u64().context("a list without total")?;
            if items.is_empty() || all.len() as u64 >= total {
                break;
            }
        }
        Ok(all)
    }

    /// `POST` that must succeed.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.ok(reqwest::Method::POST, path, Some(body)).await
    }
}

/// The three users of one node, logged in.
pub struct Sessions {
    /// The member.
    pub member: MemberSpec,
    /// Its counsellor.
    pub counsellor: Api,
    /// Its employer.
    pub employer: Api,
}

/// Logs in the counsellor and the employer of each node (`urls[i]` for
/// `members[i]`).
pub async fn sessions(
    members: &[MemberSpec],
    urls: &[String],
    accounts: &Accounts,
) -> anyhow::Result<Vec<Sessions>> {
    let client = Api::client()?;
    let mut out = Vec::new();
    for (m, url) in members.iter().zip(urls) {
        let login = |i: usize| {
            let email = m.accounts[i].email;
            let account = accounts.get(m.node_id, email);
            let client = client.clone();
            async move {
                let a = account.with_context(|| format!("no password kept for {email}"))?;
                Api::login(&client, m.node_id, url, email, &a.password).await
            }
        };
        out.push(Sessions {
            member: *m,
            counsellor: login(1).await?,
            employer: login(2).await?,
        });
    }
    Ok(out)
}

/// What seeding did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Candidates created (per node, in order).
    pub candidates_created: Vec<u64>,
    /// Candidates that were already there.
    pub candidates_present: Vec<u64>,
    /// Offers created.
    pub offers_created: usize,
    /// Referrals created.
    pub referrals_created: usize,
    /// Referral answers given.
    pub answers_given: usize,
}

/// Loads everything (see the module documentation). `gen` makes the
/// candidates, `per_node` of them on each node.
pub async fn seed(
    nodes: &[Sessions],
    gen: &vivier_gen::Generator,
    per_node: u64,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    progress(&format!(
        "creating {per_node} candidates on each node (counsellors, through the API)…"
    ));
    let counts = futures::future::try_join_all(
        nodes
            .iter()
            .map(|s| candidates(&s.counsellor, &s.member, gen, per_node)),
    )
    .await?;
    for (created, present) in counts {
        report.candidates_created.push(created);
        report.candidates_present.push(present);
    }
    progress("posting the offers (employers, through the API)…");
    let mut offer_ids: HashMap<&'static str, String> = HashMap::new();
    for o in OFFERS {
        let owner = &nodes[o.owner];
        let (id, created) = post_offer(&owner.employer, &o).await?;
        report.offers_created += usize::from(created);
        offer_ids.insert(o.key, id);
    }
    progress("referring candidates to the national offers (matching, then referral)…");
    for s in nodes {
        for key in planned_offers(&s.member) {
            let (Some(spec), Some(id)) = (offer(key), offer_ids.get(key)) else {
                continue;
            };
            let plan: Vec<&ReferralSpec> = REFERRALS
                .iter()
                .filter(|r| r.offer == key && nodes[r.member].member.node_id == s.member.node_id)
                .collect();
            report.referrals_created += refer(&s.counsellor, &s.member, spec, id, &plan).await?;
        }
    }
    progress("answering the referrals (the national employer)…");
    for key in ["cariste", "preparateur"] {
        let (Some(spec), Some(id)) = (offer(key), offer_ids.get(key)) else {
            continue;
        };
        let owner = &nodes[spec.owner];
        report.answers_given += answer(&owner.employer, nodes, key, id).await?;
        for s in nodes {
            answered_at_home(&s.counsellor, &s.member, key, id).await?;
        }
    }
    Ok(report)
}

/// The offers `member` refers candidates to, in plan order, once each.
fn planned_offers(member: &MemberSpec) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for r in REFERRALS {
        if super::network::MEMBERS[r.member].node_id == member.node_id && !keys.contains(&r.offer) {
            keys.push(r.offer);
        }
    }
    keys
}

/// The external id of candidate `i` of `member`.
pub fn external_id(member: &MemberSpec, i: u64) -> String {
    format!("demo-{}-{i:04}", member.node_id)
}

/// Creates the generated candidates of `member` that are not there yet;
/// (created, already present).
async fn candidates(
    api: &Api,
    member: &MemberSpec,
    gen: &vivier_gen::Generator,
    n: u64,
) -> anyhow::Result<(u64, u64)> {
    let homes = member.homes()?;
    let results: Vec<anyhow::Result<bool>> = futures::stream::iter(0..n)
        .map(|i| {
            let mut c = gen.candidate_in(i, &homes);
            c.external_id = external_id(member, i);
            async move {
                let body = serde_json::to_value(&c)?;
                match api
                    .call(reqwest::Method::POST, "/api/v1/candidates", Some(&body))
                    .await?
                {
                    Ok(_) => Ok(true),
                    Err(r) if taken(&r) => Ok(false),
                    Err(r) => anyhow::bail!(
                        "creating candidate {} on {}: HTTP {} {}",
                        c.external_id,
                        member.node_id,
                        r.status,
                        r.body
                    ),
                }
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut created = 0;
    let mut present = 0;
    for r in results {
        if r? {
            created += 1;
        } else {
            present += 1;
        }
    }
    Ok((created, present))
}

/// The answer to a candidate whose external id is already used.
fn taken(r: &Refused) -> bool {
    r.body["errors"].as_array().is_some_and(|errs| {
        errs.iter()
            .any(|e| e["code"] == crate::candidates::EXTERNAL_ID_TAKEN)
    })
}

/// Posts `spec` as its employer unless an offer of that title is already
/// theirs; (offer id, created).
async fn post_offer(api: &Api, spec: &OfferSpec) -> anyhow::Result<(String, bool)> {
    let mine = api.get_all("/api/v1/offers?mine=true&status=all").await?;
    if let Some(o) = mine.iter().find(|o| o["title"] == spec.title) {
        let id = o["offer_id"].as_str().context("offer without an id")?;
        return Ok((id.to_string(), false));
    }
    let mut body = json!({
        "title": spec.title,
        "description": spec.description,
        "rome_code": spec.rome_code,
        "contract_type": spec.contract_type,
        "weekly_hours": spec.weekly_hours,
        "salary": { "min_cents": spec.salary_cents.0, "max_cents": spec.salary_cents.1, "period": "month" },
        "workplaces": spec.workplaces.iter()
            .map(|(insee, n)| json!({ "commune_insee": insee, "positions": n }))
            .collect::<Vec<_>>(),
    });
    if let Some(d) = spec.duration_months {
        body["duration_months"] = json!(d);
    }
    let o = api.post("/api/v1/offers", &body).await?;
    let id = o["offer_id"].as_str().context("offer without an id")?;
    Ok((id.to_string(), true))
}

/// Polls `f` until it answers `Some`, at most [`WAIT`]; `what` says what
/// was awaited when it never comes.
async fn wait_for<T, F, Fut>(what: impl Fn() -> String, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            anyhow::bail!("gave up after {} s waiting for {}", WAIT.as_secs(), what());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The referrals for `offer_id` made by node `node_id`, as `api` sees
/// them, oldest first.
async fn referrals_from(api: &Api, node_id: &str, offer_id: &str) -> anyhow::Result<Vec<Value>> {
    let mut list: Vec<Value> = api
        .get_all(&format!("/api/v1/referrals?offer_id={offer_id}"))
        .await?
        .into_iter()
        .filter(|r| r["referring_node"] == node_id)
        .collect();
    // Referral ids are UUIDv7 made by the referring node, the same on both
    // sides: in creation order everywhere.
    list.sort_by_key(|r| r["id"].as_str().map(str::to_string));
    Ok(list)
}

/// The counsellor of `member` refers, for each entry of `plan`, the
/// best-ranked eligible candidate of the offer's workplace in its
/// territory who is not referred yet, until the node has as many referrals
/// for the offer as planned. Returns how many it created.
async fn refer(
    api: &Api,
    member: &MemberSpec,
    spec: &OfferSpec,
    offer_id: &str,
    plan: &[&ReferralSpec],
) -> anyhow::Result<usize> {
    let existing = referrals_from(api, member.node_id, offer_id).await?;
    if existing.len() >= plan.len() {
        return Ok(0);
    }
    let workplace = member
        .workplace_in(spec)
        .context("the offer has no workplace in this territory")?;
    // The offer has reached this node, and matching finds candidates
    // (indexed) for it.
    let path = format!("/api/v1/offers/{offer_id}/matches?workplace={workplace}&limit=50");
    let referred: Vec<String> = existing
        .iter()
        .filter_map(|r| r["candidate_id"].as_str().map(str::to_string))
        .collect();
    let needed = plan.len() - existing.len();
    let chosen: Vec<String> = wait_for(
        || {
            format!(
                "the offer {offer_id} and candidates to match it on {}",
                member.node_id
            )
        },
        || async {
            let Ok(v) = api.call(reqwest::Method::GET, &path, None).await? else {
                return Ok(None);
            };
            let ids: Vec<String> = v["workplaces"][0]["matches"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["eligible"] == true)
                .filter_map(|m| m["candidate_id"].as_str().map(str::to_string))
                .filter(|id| !referred.contains(id))
                .take(needed)
                .collect();
            Ok((ids.len() == needed).then_some(ids))
        },
    )
    .await?;
    for (r, candidate_id) in plan[existing.len()..].iter().zip(&chosen) {
        api.post(
            "/api/v1/referrals",
            &json!({ "offer_id": offer_id, "candidate_id": candidate_id, "endorsement": r.endorsement }),
        )
        .await?;
    }
    Ok(chosen.len())
}

/// The body of the answer that takes a `new` referral to `outcome`.
pub fn answer_body(outcome: Outcome, today: chrono::NaiveDate) -> Option<Value> {
    Some(match outcome {
        Outcome::New => return None,
        Outcome::Processing => json!({ "status": "processing" }),
        Outcome::PriorToHire => json!({
            "status": "prior_to_hire",
            "comment": "Entretien prévu la semaine prochaine sur le site.",
        }),
        Outcome::Hired => json!({
            "status": "accepted",
            "contract_type": "CDI",
            "start_date": (today + chrono::Days::new(14)).format("%Y-%m-%d").to_string(),
            "comment": "Prise de poste dans deux semaines.",
        }),
        Outcome::Refused => json!({
            "status": "refused",
            "reason": "position_filled",
            "comment": "Poste pourvu sur ce site.",
        }),
    })
}

/// The offer's employer waits for the planned referrals of every node and
/// answers those still `new` as planned. Returns how many it answered.
async fn answer(
    employer: &Api,
    nodes: &[Sessions],
    key: &str,
    offer_id: &str,
) -> anyhow::Result<usize> {
    let today = chrono::Utc::now().date_naive();
    let mut answered = 0;
    for s in nodes {
        let plan: Vec<Outcome> = REFERRALS
            .iter()
            .filter(|r| {
                r.offer == key && super::network::MEMBERS[r.member].node_id == s.member.node_id
            })
            .map(|r| r.outcome)
            .collect();
        if plan.is_empty() {
            continue;
        }
        let node_id = s.member.node_id;
        let received = wait_for(
            || {
                format!(
                    "{} referral(s) from {node_id} to reach the employer of {key}",
                    plan.len()
                )
            },
            || async {
                let list = referrals_from(employer, node_id, offer_id).await?;
                Ok((list.len() >= plan.len()).then_some(list))
            },
        )
        .await?;
        for (r, outcome) in received.iter().zip(&plan) {
            let Some(body) = answer_body(*outcome, today) else {
                continue;
            };
            if r["status"] != "new" {
                continue;
            }
            let id = r["id"].as_str().context("referral without an id")?;
            employer
                .post(&format!("/api/v1/referrals/{id}/status"), &body)
                .await?;
            answered += 1;
        }
    }
    Ok(answered)
}

/// Waits until the referring node sees the planned outcomes of its
/// referrals for `key` (the answers travel back through the federation).
async fn answered_at_home(
    counsellor: &Api,
    member: &MemberSpec,
    key: &str,
    offer_id: &str,
) -> anyhow::Result<()> {
    let plan: Vec<&str> = REFERRALS
        .iter()
        .filter(|r| r.offer == key && super::network::MEMBERS[r.member].node_id == member.node_id)
        .map(|r| r.outcome.status())
        .collect();
    if plan.is_empty() {
        return Ok(());
    }
    wait_for(
        || format!("the answers to {key} to reach {}", member.node_id),
        || async {
            let list = referrals_from(counsellor, member.node_id, offer_id).await?;
            let seen: Vec<&str> = list.iter().filter_map(|r| r["status"].as_str()).collect();
            Ok((seen == plan).then_some(()))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_what_each_status_requires() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
        assert!(answer_body(Outcome::New, today).is_none());
        let hired = answer_body(Outcome::Hired, today).expect("hired");
        assert_eq!(hired["status"], "accepted");
        assert_eq!(hired["contract_type"], "CDI");
        assert_eq!(hired["start_date"], "2026-12-15");
        let refused = answer_body(Outcome::Refused, today).expect("refused");
        assert_eq!(refused["reason"], "position_filled");
        for o in [Outcome::Processing, Outcome::PriorToHire] {
            let b = answer_body(o, today).expect("body");
            assert_eq!(b["status"], o.status());
            assert!(b.get("contract_type").is_none() && b.get("reason").is_none());
        }
    }

    #[test]
    fn external_ids_name_the_node() {
        let m = &super::super::network::MEMBERS[2];
        assert_eq!(external_id(m, 7), "demo-ml-tours-0007");
    }

    #[test]
    fn a_taken_external_id_is_recognised_by_its_code() {
        let r = Refused {
            status: 400,
            body: json!({"errors": [{"field": "external_id", "code": "external_id_taken", "message": "…"}]}),
        };
        assert!(taken(&r));
        let other = Refused {
            status: 400,
            body: json!({"errors": [{"field": "commune_insee", "message": "unknown"}]}),
        };
        assert!(!taken(&other));
    }
}
