//! `vivier-node demo`: the whole demo network in one command.
//!
//! 1. the demo directory (`./vivier-demo`, `--reset` wipes it first; a
//!    marker file guards against wiping anything else, a lock against two
//!    demos on one directory);
//! 2. the operator's network (first start);
//! 3. per member, its configuration (`<dir>/<node>/node.toml`, demo mode,
//!    loopback) and its accounts, created with the node's library;
//! 4. the three nodes as child processes ([`super::procs`]);
//! 5. the membership document, updated and published with `vivier-admin`'s
//!    library ([`super::operator`]);
//! 6. the data, through the HTTP API ([`super::seed`]), unless already
//!    loaded (`<dir>/seeded`);
//! 7. the table of URLs and accounts; then it waits for ctrl-c (or SIGTERM)
//!    and stops the nodes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use super::accounts::Accounts;
use super::network::{MemberSpec, MEMBERS};
use super::procs::Nodes;
use crate::config::{Config, OperatorKeyConfig};
use crate::referentials::Referentials;

/// Start a demo network on this machine: an operator and three members
/// (Conseil départemental de Loir-et-Cher, PETR du Pays de la Vallée de
/// Montluçon et du Cher, Mission locale de Tours), each a real node process
/// on 127.0.0.1 in demo mode, loaded with fictional candidates, offers and
/// referrals. Prints the URLs and the demo accounts; ctrl-c stops
/// everything. Re-running keeps the data.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Directory of the demo (a directory per node, the operator's, the
    /// accounts).
    #[arg(long, default_value = "vivier-demo")]
    pub dir: PathBuf,
    /// Delete the demo directory first and start from scratch.
    #[arg(long)]
    pub reset: bool,
    /// Port of the first node, the others follow; 0 picks free ports (new
    /// ones at every start).
    #[arg(long, default_value_t = 8081)]
    pub base_port: u16,
    /// Candidates generated for each node at first start.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=5000))]
    pub candidates: u64,
    /// Seed of the data generator.
    #[arg(long, default_value_t = vivier_gen::DEFAULT_SEED)]
    pub seed: u64,
}

/// Name of the file that marks a directory as a demo directory.
const MARKER: &str = "VIVIER-DEMO";
/// Name of the file written once the data is loaded.
const SEEDED: &str = "seeded";

fn say(msg: &str) {
    eprintln!("vivier demo: {msg}");
}

/// Runs the demo until ctrl-c. Starts the nodes from the calling thread,
/// which must outlive them (the binary's main thread: see
/// [`super::procs`]).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = prepare_dir(&args.dir, args.reset)?;
    let _lock = lock(&dir)?;
    let mut nodes = Nodes::default();
    let outcome = tokio::select! {
        r = start(&args, &dir, &mut nodes) => r,
        () = crate::cli::shutdown_signal() => Err(anyhow::anyhow!(
            "interrupted before the network was ready; the nodes are stopped \
             (run again to finish, the data loaded so far is kept)"
        )),
    };
    let table = match outcome {
        Ok(table) => table,
        Err(e) => {
            stop(&mut nodes).await;
            return Err(e);
        }
    };
    println!("{table}");
    println!(
        "Ready in {:.1} s. Ctrl-C stops the network; the data stays in {} \
         (run again to continue, --reset to start from scratch).",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let ended = tokio::select! {
        () = crate::cli::shutdown_signal() => None,
        exit = nodes.first_exit() => Some(exit),
    };
    stop(&mut nodes).await;
    if let Some((node, status)) = ended {
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        anyhow::bail!(
            "node {node} stopped on its own ({status}); see {}",
            dir.join(node.as_str()).join("node.log").display()
        );
    }
    Ok(())
}

async fn stop(nodes: &mut Nodes) {
    if nodes.nodes.is_empty() {
        return;
    }
    say("stopping the nodes…");
    let killed = nodes.stop().await;
    if killed.is_empty() {
        say("stopped.");
    } else {
        say(&format!(
            "stopped ({} did not stop in time and were killed).",
            killed.join(", ")
        ));
    }
}

/// Creates (or, with `reset`, re-creates) the demo directory; refuses a
/// directory that holds something else. Returns its absolute path.
pub fn prepare_dir(dir: &Path, reset: bool) -> anyhow::Result<PathBuf> {
    let is_demo = dir.join(MARKER).exists();
    let is_empty = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
    if dir.exists() && !is_demo && !is_empty {
        anyhow::bail!(
            "{} exists and is not a demo directory (no {MARKER} file in it): \
             refusing to use or delete it; choose another --dir",
            dir.display()
        );
    }
    if reset && dir.exists() {
        // Never under a running demo.
        let _running = if is_demo { Some(lock(dir)?) } else { None };
        say(&format!("--reset: deleting {}", dir.display()));
        std::fs::remove_dir_all(dir).with_context(|| format!("deleting {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "This directory belongs to `vivier-node demo`: the demo network's nodes, operator and \
         accounts (fictional data). `vivier-node demo --reset` deletes it and starts again.\n",
    )?;
    std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))
}

/// An exclusive lock on the demo directory for as long as the demo runs.
fn lock(dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd as _;
    let path = dir.join(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a descriptor we own, for the life of `f`.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        anyhow::bail!(
            "another `vivier-node demo` is running on {}: stop it first (ctrl-c)",
            dir.display()
        );
    }
    Ok(f)
}

/// The configuration of `member`'s node: demo mode, loopback, its own data
/// directory, quick delivery retries, small index writers (three nodes
/// share the machine).
pub fn node_config(
    dir: &Path,
    member: &MemberSpec,
    port: u16,
    operator: &OperatorKeyConfig,
) -> Config {
    let mut c = Config {
        node_id: member.node_id.to_string(),
        display_name: member.display_name.to_string(),
        data_dir: dir.join(member.node_id).join("data"),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        sqlite_synchronous: "normal".into(),
        ..Config::default()
    };
    c.federation.operator_keys = vec![operator.clone()];
    c.federation.allow_loopback_http = true;
    c.federation.poll_interval_ms = 200;
    c.federation.catch_up_interval_secs = 15;
    c.federation.backoff_initial_secs = 1;
    c.federation.backoff_max_secs = 15;
    c.search.writer_heap_mb = 15;
    c.search.writer_threads = 1;
    c.demo.enabled = true;
    c
}

/// Everything up to the table.
async fn start(args: &DemoArgs, dir: &Path, nodes: &mut Nodes) -> anyhow::Result<String> {
    say(&format!(
        "demo mode: fictional people and companies; the nodes listen on 127.0.0.1 and \
         federate with loopback peers only ({})",
        dir.display()
    ));
    let d = dir.to_path_buf();
    let (key_id, public_key) =
        tokio::task::spawn_blocking(move || super::operator::ensure_network(&d)).await??;
    let operator = OperatorKeyConfig { key_id, public_key };
    let mut accounts = Accounts::load(dir)?;
    let mut configs = Vec::new();
    for (i, m) in MEMBERS.iter().enumerate() {
        let port = match args.base_port {
            0 => 0,
            p => p
                .checked_add(u16::try_from(i)?)
                .context("--base-port is too high")?,
        };
        let config = node_config(dir, m, port, &operator);
        let node_dir = dir.join(m.node_id);
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let path = node_dir.join("node.toml");
        let text = format!(
            "# Written by `vivier-node demo` at every start (edits are overwritten).\n{}",
            toml::to_string(&config).context("writing the node configuration")?
        );
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        super::accounts::ensure(dir, m, &config, &mut accounts).await?;
        configs.push(path);
    }
    let exe = std::env::current_exe().context("locating the vivier-node binary")?;
    for (m, config) in MEMBERS.iter().zip(&configs) {
        let log = dir.join(m.node_id).join("node.log");
        let n = nodes.start(&exe, m.node_id, config, &log).await?;
        say(&format!("{} listening on {}", m.node_id, n.url));
    }
    let urls: Vec<String> = nodes.nodes.iter().map(|n| n.url.clone()).collect();
    let d = dir.to_path_buf();
    let u = urls.clone();
    let serial =
        tokio::task::spawn_blocking(move || super::operator::publish(&d, &MEMBERS, &u)).await??;
    say(&format!(
        "membership document serial {serial} published to the 3 nodes"
    ));
    if dir.join(SEEDED).exists() {
        say("data already loaded (kept from a previous start)");
    } else {
        let gen = vivier_gen::Generator::new(args.seed, Referentials::global())?;
        let sessions = super::seed::sessions(&MEMBERS, &urls, &accounts).await?;
        let report = super::seed::seed(&sessions, &gen, args.candidates, &say).await?;
        std::fs::write(
            dir.join(SEEDED),
            format!(
                "candidates per node: {}\ncreated: {:?}\noffers created: {}\nreferrals created: {}\nanswers given: {}\n",
                args.candidates,
                report.candidates_created,
                report.offers_created,
                report.referrals_created,
                report.answers_given
            ),
        )?;
    }
    Ok(table(&urls, &accounts))
}

/// The table printed once the network is up.
pub fn table(urls: &[String], accounts: &Accounts) -> String {
    use vivier_admin::display::table as render;
    let nodes: Vec<Vec<String>> = MEMBERS
        .iter()
        .zip(urls)
        .map(|(m, url)| {
            vec![
                m.node_id.to_string(),
                format!("{url}/ui/"),
                m.display_name.to_string(),
            ]
        })
        .collect();
    let rows: Vec<Vec<String>> = accounts
        .accounts
        .iter()
        .map(|a| {
            vec![
                a.node_id.clone(),
                a.role.clone(),
                a.email.clone(),
                a.password.clone(),
            ]
        })
        .collect();
    format!(
        "\nVivier demo network: 3 nodes on 127.0.0.1, demo mode (fictional people and \
         companies; no federation off loopback)\n\n{}\nDemo accounts (passwords generated at \
         first start, kept in accounts.json):\n\n{}\nGuided tour: the dashboard of each node, \
         or README.md (\"Try it\").\n",
        render(&["node", "url", "name"], &nodes),
        render(&["node", "role", "email", "password"], &rows)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_directory_is_guarded() {
        let root = tempfile::tempdir().expect("tempdir");
        // Something else: neither used nor deleted.
        let other = root.path().join("photos");
        std::fs::create_dir_all(&other).expect("dir");
        std::fs::write(other.join("a.jpg"), b"x").expect("file");
        for reset in [false, true] {
            let e = prepare_dir(&other, reset).expect_err("not a demo dir");
            assert!(e.to_string().contains("not a demo directory"), "{e}");
            assert!(other.join("a.jpg").exists());
        }
        // A new directory becomes a demo directory; --reset empties it.
        let demo = root.path().join("vivier-demo");
        let abs = prepare_dir(&demo, false).expect("new");
        assert!(abs.is_absolute() && abs.join(MARKER).exists());
        std::fs::write(demo.join(SEEDED), b"").expect("seeded");
        prepare_dir(&demo, false).expect("again");
        assert!(demo.join(SEEDED).exists(), "kept without --reset");
        prepare_dir(&demo, true).expect("reset");
        assert!(!demo.join(SEEDED).exists(), "wiped by --reset");
        assert!(demo.join(MARKER).exists());
        // One demo per directory.
        let held = lock(&abs).expect("lock");
        let e = lock(&abs).expect_err("second demo");
        assert!(e.to_string().contains("another"), "{e}");
        drop(held);
        lock(&abs).expect("free again");
    }

    #[test]
    fn node_configurations_are_demo_loopback_and_load_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let op = OperatorKeyConfig {
            key_id: "ed25519:1".into(),
            public_key: "x".repeat(43),
        };
        for (i, m) in MEMBERS.iter().enumerate() {
            let c = node_config(dir.path(), m, 8081 + u16::try_from(i).expect("i"), &op);
            let path = dir.path().join(format!("{}.toml", m.node_id));
            std::fs::write(&path, toml::to_string(&c).expect("toml")).expect("write");
            let back = Config::load(Some(&path)).expect("the node reads it");
            assert!(back.demo.enabled);
            assert_eq!(back.node_id, m.node_id);
            assert!(back.listen.ip().is_loopback());
            assert_eq!(back.federation.operator_keys.len(), 1);
            assert_eq!(back.data_dir, dir.path().join(m.node_id).join("data"));
        }
    }

    #[test]
    fn the_table_lists_every_node_and_account() {
        let accounts = Accounts {
            accounts: vec![super::super::accounts::Account {
                node_id: "cd41".into(),
                role: "counsellor".into(),
                email: "conseiller@cd41.demo.test".into(),
                password: "abcd-efgh-ijkm-npqr".into(),
            }],
        };
        let urls: Vec<String> = (1..=3)
            .map(|p| format!("http://127.0.0.1:808{p}"))
            .collect();
        let t = table(&urls, &accounts);
        for m in MEMBERS {
            assert!(t.contains(m.display_name), "{t}");
        }
        assert!(t.contains("http://127.0.0.1:8083/ui/"));
        assert!(
            t.contains("conseiller@cd41.demo.test  abcd-efgh-ijkm-npqr"),
            "{t}"
        );
    }
}
