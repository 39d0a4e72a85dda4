//! The demo network end to end: the real `vivier-node demo` command brings up
//! the operator and three member nodes and prints the table; the guided tour
//! is followed through the HTTP API (search a candidate at the Mission
//! locale de Tours, see the national offer ranked for them, refer, switch to
//! the national employer's node, hire, see the hire back home); ctrl-c stops
//! everything and no process is left behind. A second start keeps the data,
//! and a demo killed with SIGKILL still takes its nodes with it.
//!
//! The tour's main pages are also opened in headless Chromium (Debian's
//! `chromium` + `chromium-driver`, skipped with a message on a developer's
//! machine without them, failing in CI), with an axe-core check of each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{wait_for, NODE_BIN};
use vivier_tests::browser::Browser;

/// A running `vivier-node demo`, and what its table said.
struct Demo {
    child: Child,
    /// Node id → base URL.
    urls: HashMap<String, String>,
    /// E-mail → (node id, role, password).
    accounts: HashMap<String, (String, String, String)>,
    /// What it printed before the table (its progress).
    stderr_path: std::path::PathBuf,
    /// Seconds to the table, as the command reported it.
    ready_secs: f64,
}

/// Starts the demo on `dir` (any free ports) and reads its table.
fn start_demo(dir: &Path, log: &Path, extra: &[&str]) -> Demo {
    let mut child = Command::new(NODE_BIN)
        .args(["demo", "--base-port", "0", "--candidates", "120", "--dir"])
        .arg(dir)
        .args(extra)
        .env_remove("VIVIER_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .expect("start vivier-node demo");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let ready = line.starts_with("Ready in ");
                lines.push(line);
                if ready {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "no table from vivier-node demo; stdout:\n{}\nstderr:\n{}",
                    lines.join("\n"),
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        }
    }
    let mut urls = HashMap::new();
    let mut accounts = HashMap::new();
    let mut ready_secs = 0.0;
    for line in &lines {
        let cols: Vec<&str> = line.split_whitespace().collect();
        match cols.as_slice() {
            [node, url, ..] if url.starts_with("http://127.0.0.1:") => {
                urls.insert(node.to_string(), url.trim_end_matches("/ui/").to_string());
            }
            [node, role, email, password] if email.contains('@') => {
                accounts.insert(
                    email.to_string(),
                    (node.to_string(), role.to_string(), password.to_string()),
                );
            }
            ["Ready", "in", secs, "s.", ..] => ready_secs = secs.parse().unwrap(),
            _ => {}
        }
    }
    // Keep draining stdout so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in rx {});
    Demo {
        child,
        urls,
        accounts,
        stderr_path: log.to_path_buf(),
        ready_secs,
    }
}

/// Process id and start time (clock ticks after boot, field 22 of
/// `/proc/PID/stat`) of every child of `parent`.
fn children(parent: u32) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Some((ppid, start, _)) = stat(pid) else {
            continue;
        };
        if ppid == parent {
            out.push((pid, start));
        }
    }
    out
}

/// Parent, start time and state of a process, if it exists.
fn stat(pid: u32) -> Option<(u32, u64, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let state = f.first()?.chars().next()?;
    Some((f.get(1)?.parse().ok()?, f.get(19)?.parse().ok()?, state))
}

/// Whether process `pid` started at `start` still exists (a zombie counts
/// as gone: it runs nothing).
fn alive(pid: u32, start: u64) -> bool {
    matches!(stat(pid), Some((_, s, state)) if s == start && state != 'Z')
}

/// Waits until none of `procs` runs any more, at most `secs`.
fn assert_all_gone(procs: &[(u32, u64)], secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left: Vec<u32> = procs
            .iter()
            .filter(|(p, s)| alive(*p, *s))
            .map(|(p, _)| *p)
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: processes left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` to `pid`.
fn signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {pid}");
}

/// Waits for the demo to exit, at most `secs`.
fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("vivier-node demo did not stop within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A logged-in user of one node.
struct User {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl User {
    async fn login(demo: &Demo, email: &str) -> User {
        let (node, _, password) = demo.accounts.get(email).expect(email);
        let base = demo.urls.get(node).expect(node).clone();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let r = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "login {email}");
        let v: Value = r.json().await.unwrap();
        User {
            client,
            base,
            token: v["token"].as_str().unwrap().to_string(),
        }
    }

    /// A GET without credentials.
    async fn public(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (s, v) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let (s, v) = self.send(reqwest::Method::POST, path, Some(body)).await;
        assert!((200..300).contains(&s), "POST {path}: {s} {v}");
        v
    }
}

/// Serious or critical axe-core violations of the page open in `b`.
async fn serious_violations(b: &Browser, page: &str) -> Vec<String> {
    b.axe()
        .await
        .unwrap_or_else(|e| panic!("axe on {page}: {e:#}"))
        .into_iter()
        .filter(|v| v.is_serious())
        .map(|v| format!("{page}: {v}"))
        .collect()
}

/// The guided tour's pages in one headless Chromium: the Mission locale de
/// Tours' dashboard with the tour, the search, the record with the national
/// offer, then the employer's node (the referral, hired), then back at
/// Tours — still logged in — where the referral shows the hire.
async fn pages_in_the_browser(demo: &Demo, candidate_id: &str, referral_id: &str) {
    let tours_base = &demo.urls["ml-tours"];
    let Some(b) = Browser::start(tours_base).await.unwrap() else {
        return;
    };
    let mut serious = Vec::new();
    let (_, _, password) = &demo.accounts[TOURS_COUNSELLOR];
    b.login(TOURS_COUNSELLOR, password).await.unwrap();
    let main = b.text("main").await.unwrap();
    assert!(main.contains("Visite guidée de la démonstration"), "{main}");
    assert!(b
        .text("body")
        .await
        .unwrap()
        .contains("Démonstration : les personnes et les entreprises sont fictives"),);
    serious.extend(serious_violations(&b, "tableau de bord (Tours)").await);
    b.screenshot("demo-1-tableau-de-bord").await.unwrap();

    b.click_link("Recherchez un candidat").await.unwrap();
    let found = b.text("main").await.unwrap();
    assert!(found.to_lowercase().contains("cariste"), "{found}");
    serious.extend(serious_violations(&b, "recherche (Tours)").await);
    b.screenshot("demo-2-recherche").await.unwrap();

    b.goto(&format!("/ui/candidats/{candidate_id}"))
        .await
        .unwrap();
    let record = b.text("main").await.unwrap();
    assert!(record.contains("Cariste H/F"), "{record}");
    serious.extend(serious_violations(&b, "fiche (Tours)").await);
    b.screenshot("demo-3-fiche").await.unwrap();

    // The employer's node, in the same browser.
    let employer_base = &demo.urls["cd41"];
    let (_, _, password) = &demo.accounts[NATIONAL_EMPLOYER];
    b.goto(&format!("{employer_base}/ui/connexion"))
        .await
        .unwrap();
    b.submit_form(
        "form[action='/ui/connexion']",
        &[("#email", NATIONAL_EMPLOYER), ("#password", password)],
    )
    .await
    .unwrap();
    b.goto(&format!(
        "{employer_base}/ui/mises-en-relation/{referral_id}"
    ))
    .await
    .unwrap();
    let inbound = b.text("main").await.unwrap();
    assert!(inbound.contains("Embauche"), "{inbound}");
    serious.extend(serious_violations(&b, "mise en relation (employeur)").await);
    b.screenshot("demo-4-employeur").await.unwrap();

    // Back at Tours: still logged in (each node has its own session
    // cookie), and the referral shows the hire.
    b.goto(&format!("/ui/mises-en-relation/{referral_id}"))
        .await
        .unwrap();
    assert_eq!(
        b.path().await.unwrap(),
        format!("/ui/mises-en-relation/{referral_id}"),
        "logged out of Tours by the employer's login"
    );
    let home = b.text("main").await.unwrap();
    assert!(home.contains("Embauche"), "{home}");
    serious.extend(serious_violations(&b, "mise en relation (Tours)").await);
    b.screenshot("demo-5-retour").await.unwrap();
    b.close().await;
    assert!(
        serious.is_empty(),
        "serious or critical accessibility violations:\n{}",
        serious.join("\n")
    );
}

const TOURS_COUNSELLOR: &str = "conseiller@ml-tours.demo.test";
const NATIONAL_EMPLOYER: &str = "recrutement@logivia.demo.test";

#[tokio::test]
async fn the_demo_network_in_one_command() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("vivier-demo");
    let mut demo = start_demo(&dir, &root.path().join("demo-1.log"), &[]);
    let pid = demo.child.id();
    eprintln!("table after {} s (debug build)", demo.ready_secs);

    // The table: three nodes on loopback, three accounts each.
    assert_eq!(demo.urls.len(), 3, "{:?}", demo.urls);
    for node in ["cd41", "petr-montlucon", "ml-tours"] {
        assert!(demo.urls[node].starts_with("http://127.0.0.1:"));
        let roles: Vec<&str> = demo
            .accounts
            .values()
            .filter(|(n, _, _)| n == node)
            .map(|(_, r, _)| r.as_str())
            .collect();
        assert_eq!(roles.len(), 3, "{node}: {roles:?}");
        for r in ["admin", "counsellor", "employer"] {
            assert!(roles.contains(&r), "{node} {r}");
        }
    }
    let nodes = children(pid);
    assert_eq!(nodes.len(), 3, "three node processes: {nodes:?}");
    let progress = std::fs::read_to_string(&demo.stderr_path).unwrap();
    assert!(
        progress.contains("federate with loopback peers only"),
        "{progress}"
    );

    // Every node is in demo mode and holds the membership of all three.
    let tours = User::login(&demo, TOURS_COUNSELLOR).await;
    let employer = User::login(&demo, NATIONAL_EMPLOYER).await;
    let login_page = tours.public("/ui/connexion").await.text().await.unwrap();
    assert!(login_page.contains("Démonstration : les personnes et les entreprises sont fictives"));
    let wk: Value = tours
        .public("/.well-known/vivier")
        .await
        .json()
        .await
        .unwrap();
    assert!(wk["membership_serial"].as_i64().unwrap() >= 2, "{wk}");

    // The data loaded at first start: referrals at every stage on the
    // national employer's node.
    let received = employer.get("/api/v1/referrals?per_page=200").await;
    let mut stages: Vec<String> = received["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect();
    stages.sort();
    assert_eq!(
        stages,
        ["accepted", "new", "prior_to_hire", "processing", "refused"],
        "{received}"
    );

    // 1. Search a candidate at the Mission locale de Tours.
    let hits = tours
        .get("/api/v1/candidates/search?q=cariste&per_page=50")
        .await;
    let hits = hits["items"].as_array().unwrap().clone();
    assert!(!hits.is_empty(), "no cariste in Tours");
    // 2. The national offer is ranked for them (matching, both nodes).
    let mut chosen = None;
    for h in &hits {
        let id = h["id"].as_str().unwrap();
        let referred = tours
            .get(&format!("/api/v1/referrals?candidate_id={id}"))
            .await;
        if referred["total"].as_i64() != Some(0) {
            continue;
        }
        let m = tours.get(&format!("/api/v1/candidates/{id}/matches")).await;
        let national = m["matches"].as_array().unwrap().iter().find(|o| {
            o["title"] == "Cariste H/F" && o["origin_node"] == "cd41" && o["eligible"] == true
        });
        if let Some(o) = national {
            assert_eq!(o["employer_name"], "Logivia");
            assert_eq!(o["workplace_commune_insee"], "37261", "the Tours workplace");
            assert!(o["score"].as_f64().unwrap() > 0.0);
            chosen = Some((id.to_string(), o["offer_id"].as_str().unwrap().to_string()));
            break;
        }
    }
    let (candidate_id, offer_id) =
        chosen.expect("a cariste of Tours with the national offer ranked");
    // 3. Refer.
    let referral = tours
        .post(
            "/api/v1/referrals",
            &json!({
                "offer_id": offer_id,
                "candidate_id": candidate_id,
                "endorsement": "Vu en entretien cette semaine : motivé, CACES à jour.",
            }),
        )
        .await;
    assert_eq!(referral["status"], "new");
    let referral_id = referral["id"].as_str().unwrap().to_string();
    // 4. Switch to the employer's node: the referral arrives there.
    let path = format!("/api/v1/referrals/{referral_id}");
    let arrived = wait_for(60, "the referral at the employer's node", || async {
        let (s, v) = employer.send(reqwest::Method::GET, &path, None).await;
        (s == 200).then_some(v)
    })
    .await;
    assert_eq!(arrived["direction"], "inbound");
    assert_eq!(arrived["referring_node"], "ml-tours");
    // 5. Hire.
    let hired = employer
        .post(
            &format!("{path}/status"),
            &json!({ "status": "accepted", "contract_type": "CDI", "start_date": "2027-01-04" }),
        )
        .await;
    assert_eq!(hired["status"], "accepted");
    // 6. The hire, back home.
    let home = wait_for(60, "the hire back at the Mission locale", || async {
        let v = tours.get(&path).await;
        (v["status"] == "accepted").then_some(v)
    })
    .await;
    assert_eq!(home["contract_type"], "CDI");
    let record = tours
        .get(&format!("/api/v1/candidates/{candidate_id}"))
        .await;
    assert_eq!(record["status"], "placed", "{record}");

    // The same tour's main pages in headless Chromium, both nodes in one
    // browser (as a newcomer would follow it), each checked with axe-core.
    pages_in_the_browser(&demo, &candidate_id, &referral_id).await;

    // Ctrl-C stops everything, cleanly.
    signal(pid, "INT");
    let status = wait_exit(&mut demo.child, 60);
    assert!(status.success(), "{status}");
    assert_all_gone(&nodes, 5, "after ctrl-c");
    let stopped = std::fs::read_to_string(&demo.stderr_path).unwrap();
    assert!(stopped.contains("stopped."), "{stopped}");

    // A second start keeps the data (nothing is loaded again)…
    let mut again = start_demo(&dir, &root.path().join("demo-2.log"), &[]);
    let log = std::fs::read_to_string(&again.stderr_path).unwrap();
    assert!(log.contains("data already loaded"), "{log}");
    let tours = User::login(&again, TOURS_COUNSELLOR).await;
    let kept = tours.get(&path).await;
    assert_eq!(kept["status"], "accepted");
    let listed = tours.get("/api/v1/candidates?per_page=200").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 120);
    // …and a demo killed outright still takes its nodes with it
    // (parent-death signal).
    let pid = again.child.id();
    let nodes = children(pid);
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    signal(pid, "KILL");
    wait_exit(&mut again.child, 10);
    assert_all_gone(&nodes, 30, "after SIGKILL of the demo");

    // `--reset` starts again from scratch: data loaded anew, the tour's
    // referral gone, new passwords.
    let mut fresh = start_demo(&dir, &root.path().join("demo-3.log"), &["--reset"]);
    let log = std::fs::read_to_string(&fresh.stderr_path).unwrap();
    assert!(!log.contains("data already loaded"), "{log}");
    assert_ne!(
        fresh.accounts[TOURS_COUNSELLOR].2, again.accounts[TOURS_COUNSELLOR].2,
        "new passwords"
    );
    let tours = User::login(&fresh, TOURS_COUNSELLOR).await;
    let (status, _) = tours.send(reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404, "the tour's referral is gone after --reset");
    let listed = tours.get("/api/v1/candidates?per_page=200").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 120);
    let pid = fresh.child.id();
    let nodes = children(pid);
    signal(pid, "INT");
    assert!(wait_exit(&mut fresh.child, 60).success());
    assert_all_gone(&nodes, 5, "after ctrl-c of the reset demo");
}
