//! The member nodes as child processes: `<this binary> --config FILE serve`,
//! standard error to `node.log`, the bound URL read from the "listening on"
//! line of standard output.
//!
//! Nothing is left behind:
//! - the children stay in the demo's process group (a ctrl-c in the terminal
//!   reaches them too);
//! - each child asks the kernel for SIGTERM when the thread that started it
//!   ends (`prctl(PR_SET_PDEATHSIG)`): the demo starts them from its main
//!   thread, so a demo killed with SIGKILL still stops its nodes;
//! - [`Nodes::stop`] sends SIGTERM, waits, then SIGKILLs; and a child still
//!   running when its handle is dropped is killed (`kill_on_drop`).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

/// How long a node may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// One running node.
pub struct NodeProcess {
    /// Its node id.
    pub node_id: String,
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its log file.
    pub log: PathBuf,
    child: Child,
}

impl NodeProcess {
    /// The process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// The running nodes of the demo.
#[derive(Default)]
pub struct Nodes {
    /// In the order they were started.
    pub nodes: Vec<NodeProcess>,
}

/// The last `n` lines of a log file (for error messages).
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Nodes {
    /// Starts `exe --config config serve` for `node_id` and waits for its
    /// address. Must run on the thread that outlives the children (the
    /// demo's main thread): the parent-death signal is tied to it.
    pub async fn start(
        &mut self,
        exe: &Path,
        node_id: &str,
        config: &Path,
        log: &Path,
    ) -> anyhow::Result<&NodeProcess> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut cmd = Command::new(exe);
        cmd.arg("--config")
            .arg(config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file.try_clone()?))
            .kill_on_drop(true)
            // node.log is a file: no terminal colours in it.
            .env("NO_COLOR", "1");
        // The demo's configuration files say everything: no VIVIER_*
        // variable of the caller's shell (a database URL…) may override them.
        for (k, _) in std::env::vars_os() {
            if let Some(k) = k.to_str() {
                if k.starts_with("VIVIER_") && k != "VIVIER_LOG" {
                    cmd.env_remove(k);
                }
            }
        }
        let parent = std::process::id();
        // SAFETY: only async-signal-safe calls (prctl, getppid) between
        // fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The demo died before the signal was armed.
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    return Err(std::io::Error::other("the demo process exited"));
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {} for node {node_id}", exe.display()))?;
        let stdout = child.stdout.take().context("the node's standard output")?;
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        let mut copy = tokio::fs::File::from_std(log_file);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                match line.strip_prefix("listening on ") {
                    Some(url) if tx.is_some() => {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(url.trim().to_string());
                        }
                    }
                    _ => {
                        let _ = copy.write_all(format!("{line}\n").as_bytes()).await;
                    }
                }
            }
        });
        let url = tokio::select! {
            url = rx => url.ok(),
            status = child.wait() => {
                anyhow::bail!(
                    "node {node_id} stopped at start ({}); the end of {}:\n{}",
                    status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                    log.display(),
                    log_tail(log, 15)
                );
            }
            () = tokio::time::sleep(START_TIMEOUT) => None,
        };
        let Some(url) = url else {
            let _ = child.kill().await;
            anyhow::bail!(
                "node {node_id} did not start within {} s; see {}",
                START_TIMEOUT.as_secs(),
                log.display()
            );
        };
        self.nodes.push(NodeProcess {
            node_id: node_id.to_string(),
            url,
            log: log.to_path_buf(),
            child,
        });
        self.nodes.last().context("the node just started")
    }

    /// Waits until one node exits on its own; its id and exit status.
    pub async fn first_exit(&mut self) -> (String, std::io::Result<ExitStatus>) {
        if self.nodes.is_empty() {
            return std::future::pending().await;
        }
        let waits = self
            .nodes
            .iter_mut()
            .map(|n| Box::pin(async { (n.node_id.clone(), n.child.wait().await) }));
        futures::future::select_all(waits).await.0
    }

    /// Stops every node: SIGTERM, then SIGKILL for those still running
    /// after [`STOP_TIMEOUT`]. Returns the ids of the nodes that had to be
    /// killed.
    pub async fn stop(&mut self) -> Vec<String> {
        for n in &self.nodes {
            if let Some(pid) = n.child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
                // SAFETY: a signal to our own child, which we have not reaped.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
        let waits = self.nodes.iter_mut().map(|n| async move {
            match tokio::time::timeout(STOP_TIMEOUT, n.child.wait()).await {
                Ok(_) => None,
                Err(_) => {
                    let _ = n.child.kill().await;
                    Some(n.node_id.clone())
                }
            }
        });
        let killed = futures::future::join_all(waits)
            .await
            .into_iter()
            .flatten()
            .collect();
        self.nodes.clear();
        killed
    }
}
