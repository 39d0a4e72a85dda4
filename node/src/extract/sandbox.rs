//! The parent side of sandboxed extraction: run `vivier-node extract` as a
//! child process under OS limits, feed it the file, read its bounded
//! answer, and turn every way it can end into one [`ExtractError`].
//!
//! Limits on the child (set with `setrlimit` between `fork` and `exec`):
//! address space (`RLIMIT_AS`), CPU seconds (`RLIMIT_CPU`: `SIGXCPU`, then
//! `SIGKILL` one second later), no file writes (`RLIMIT_FSIZE` 0), no core
//! dumps, a handful of descriptors; an empty environment; its own process
//! group. On top, the
//! parent kills it at a wall-clock timeout or as soon as it writes more
//! than the output cap, and always reaps it (no zombies; a dropped request
//! kills its child too). A semaphore bounds how many run at once; a request
//! that waits longer than the timeout for a slot gets
//! [`ExtractError::Busy`].

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use super::child::{parse_frame, ExtractArgs};
use super::{ExtractError, Extracted, Limits, OcrSettings};

/// Header line and slack the parent reads beyond the text cap.
const FRAME_OVERHEAD: usize = 64 * 1024;
/// Bytes of the child's standard error kept to classify a crash.
const STDERR_KEEP: usize = 16 * 1024;
/// Descriptors the child may hold (it needs its three standard streams).
const CHILD_NOFILE: u64 = 16;

/// The OS-level limits of one child process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsLimits {
    /// Address space (`RLIMIT_AS`), bytes.
    pub memory_bytes: u64,
    /// CPU time (`RLIMIT_CPU`), seconds.
    pub cpu_secs: u64,
    /// Wall-clock time before the parent kills it.
    pub wall: Duration,
    /// Bytes of standard output read at most; more kills the child.
    pub max_output_bytes: usize,
}

/// How a child process ended, when it ended on its own.
#[derive(Debug)]
pub struct Finished {
    /// Its standard output (at most `max_output_bytes`).
    pub stdout: Vec<u8>,
    /// The first bytes of its standard error.
    pub stderr: Vec<u8>,
    /// Its exit status.
    pub status: std::process::ExitStatus,
}

/// Run `program args…` with `input` on its standard input under `limits`.
/// `Ok` when it exited on its own (whatever the status); `Err` for a
/// timeout, too much output, or a failure to start it.
pub async fn run_limited(
    program: &std::path::Path,
    args: &[OsString],
    input: &[u8],
    limits: &OsLimits,
) -> Result<Finished, ExtractError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("LC_ALL", "C")
        .env("RUST_BACKTRACE", "0")
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a kill reaches anything it forked.
        .process_group(0)
        .kill_on_drop(true);
    let (mem, cpu) = (limits.memory_bytes, limits.cpu_secs);
    // SAFETY: the closure runs in the forked child before exec and only
    // calls getrlimit/setrlimit, which are async-signal-safe; it allocates
    // nothing.
    unsafe {
        cmd.pre_exec(move || apply_rlimits(mem, cpu));
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| ExtractError::Extractor(format!("cannot start {}: {e}", program.display())))?;
    let pid = child.id();
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(ExtractError::Extractor("child pipes missing".into()));
    };
    let cap = limits.max_output_bytes;
    let write = async move {
        // The child may stop reading early (a refused file): EPIPE is fine.
        let _ = stdin.write_all(input).await;
        let _ = stdin.shutdown().await;
    };
    let read_out = async move {
        let (bytes, over) = read_capped(stdout, cap).await;
        if over {
            kill(pid);
        }
        (bytes, over)
    };
    let read_err = async move { read_capped(stderr, STDERR_KEEP).await.0 };
    let run = async {
        let ((), (out, over), err) = tokio::join!(write, read_out, read_err);
        let status = child.wait().await;
        (out, over, err, status)
    };
    match tokio::time::timeout(limits.wall, run).await {
        Ok((_, true, _, _)) => Err(ExtractError::OutputTooLarge { limit: cap }),
        Ok((stdout, false, stderr, Ok(status))) => Ok(Finished {
            stdout,
            stderr,
            status,
        }),
        Ok((_, false, _, Err(e))) => Err(ExtractError::Extractor(format!(
            "waiting for the extractor: {e}"
        ))),
        Err(_elapsed) => {
            // Kill and reap before answering: no orphan keeps running.
            kill(pid);
            let _ = child.start_kill();
            let _ = child.wait().await;
            Err(ExtractError::Timeout {
                secs: limits.wall.as_secs().max(1),
            })
        }
    }
}

/// Read until EOF, keeping at most `cap` bytes; past it, stop and report.
/// Standard error is drained past its cap so the child never blocks on it.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return (kept, false),
            Ok(n) => {
                if kept.len() + n > cap {
                    if cap == STDERR_KEEP {
                        let room = cap.saturating_sub(kept.len());
                        kept.extend_from_slice(&chunk[..room]);
                        continue;
                    }
                    return (kept, true);
                }
                kept.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// SIGKILL the child's process group (the child leads it).
fn kill(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: plain syscall. The child is not reaped yet (its `Child`
        // is waited on only after this), so its pid, which is also its
        // process group id, cannot have been reused.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// In the child, before exec.
fn apply_rlimits(memory_bytes: u64, cpu_secs: u64) -> std::io::Result<()> {
    fn set(resource: RlimitResource, soft: u64, hard: u64) -> std::io::Result<()> {
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: valid pointer to a local struct.
        if unsafe { libc::getrlimit(resource, &mut cur) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Never ask for more than the current hard limit (that needs
        // privileges); lowering is always allowed.
        let hard = (hard as libc::rlim_t).min(cur.rlim_max);
        let soft = (soft as libc::rlim_t).min(hard);
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: valid pointer to a local struct.
        if unsafe { libc::setrlimit(resource, &new) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
    set(libc::RLIMIT_AS, memory_bytes, memory_bytes)?;
    set(libc::RLIMIT_CPU, cpu_secs, cpu_secs.saturating_add(1))?;
    set(libc::RLIMIT_FSIZE, 0, 0)?;
    set(libc::RLIMIT_CORE, 0, 0)?;
    set(libc::RLIMIT_NOFILE, CHILD_NOFILE, CHILD_NOFILE)?;
    Ok(())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
type RlimitResource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type RlimitResource = libc::c_int;

/// Turn how a child ended into the extraction's result.
pub fn classify(finished: &Finished, limits: &OsLimits) -> Result<Extracted, ExtractError> {
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&finished.stderr);
    let out_of_memory = stderr.contains("memory allocation of");
    if finished.status.success() {
        return match parse_frame(&finished.stdout) {
            Ok(result) => result,
            Err(why) => Err(ExtractError::Extractor(format!(
                "the extractor's answer is not readable ({why}); is [uploads] extractor_path a vivier-node binary?"
            ))),
        };
    }
    if out_of_memory {
        return Err(ExtractError::MemoryLimit {
            mib: limits.memory_bytes / (1024 * 1024),
        });
    }
    if stderr.contains("has overflowed its stack") {
        return Err(ExtractError::Crashed(
            "stack overflow: the file is nested too deeply".into(),
        ));
    }
    match finished.status.signal() {
        Some(libc::SIGXCPU) => Err(ExtractError::CpuLimit {
            secs: limits.cpu_secs,
        }),
        Some(sig) => Err(ExtractError::Crashed(format!("killed by signal {sig}"))),
        None => Err(ExtractError::Crashed(format!(
            "exit status {}",
            finished.status.code().unwrap_or(-1)
        ))),
    }
}

/// Runs CV text extraction in sandboxed child processes, a bounded number
/// at a time. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Extractor {
    program: PathBuf,
    limits: Limits,
    os: OsLimits,
    ocr: Option<OcrSettings>,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for Extractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extractor")
            .field("program", &self.program)
            .field("limits", &self.limits)
            .field("os", &self.os)
            .field("ocr", &self.ocr)
            .field("slots", &self.slots.available_permits())
            .finish()
    }
}

impl Extractor {
    /// An extractor running `program extract …`.
    pub fn new(program: PathBuf, limits: Limits, os: OsLimits, max_concurrent: usize) -> Extractor {
        Extractor {
            program,
            limits,
            os,
            ocr: None,
            slots: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    /// From the `[uploads]` configuration; the program defaults to the
    /// running executable (the node binary itself): `/proc/self/exe` on
    /// Linux, which still runs this very binary after an upgrade replaced
    /// the file on disk.
    pub fn from_config(c: &crate::config::UploadConfig) -> std::io::Result<Extractor> {
        let self_exe = std::path::Path::new("/proc/self/exe");
        let program = match &c.extractor_path {
            Some(p) => p.clone(),
            None if self_exe.exists() => self_exe.to_path_buf(),
            None => std::env::current_exe()?,
        };
        let limits = Limits {
            max_input_bytes: c.max_cv_bytes,
            max_decompressed_bytes: c.extract_max_decompressed_mb.saturating_mul(1024 * 1024),
            max_pdf_content_bytes: c.extract_max_pdf_content_mb.saturating_mul(1024 * 1024),
            max_text_bytes: c.extract_max_text_bytes,
        };
        let os = OsLimits {
            memory_bytes: c.extract_memory_mb.saturating_mul(1024 * 1024),
            cpu_secs: c.extract_cpu_secs.max(1),
            wall: Duration::from_secs(c.extract_timeout_secs.max(1)),
            max_output_bytes: c.extract_max_text_bytes.saturating_add(FRAME_OVERHEAD),
        };
        let ocr = if c.ocr {
            let program = c.ocr_program.clone().unwrap_or_else(|| "tesseract".into());
            match super::ocr::detect(&program, &c.ocr_language, c.ocr_max_pages) {
                Ok(o) => {
                    tracing::info!(program = %o.program.display(), language = %o.language,
                        "OCR of scanned PDF CVs: on (Tesseract)");
                    Some(o)
                }
                Err(why) => {
                    tracing::info!(%why, "OCR of scanned PDF CVs: off; scanned files are flagged as unreadable");
                    None
                }
            }
        } else {
            tracing::info!("OCR of scanned PDF CVs: off ([uploads] ocr = false)");
            None
        };
        Ok(Extractor::new(program, limits, os, c.extract_max_concurrent).with_ocr(ocr))
    }

    /// The same extractor reading scanned PDFs with `ocr` (`None`: off).
    pub fn with_ocr(mut self, ocr: Option<OcrSettings>) -> Extractor {
        self.ocr = ocr;
        self
    }

    /// The OCR settings in force, if OCR is on.
    pub fn ocr(&self) -> Option<&OcrSettings> {
        self.ocr.as_ref()
    }

    /// The limits checked inside the child.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The OS limits of the child.
    pub fn os_limits(&self) -> &OsLimits {
        &self.os
    }

    /// Extract the text of `bytes` in a child process.
    pub async fn extract(&self, bytes: &[u8]) -> Result<Extracted, ExtractError> {
        let _slot = tokio::time::timeout(self.os.wall, self.slots.acquire())
            .await
            .map_err(|_| ExtractError::Busy)?
            .map_err(|_| ExtractError::Busy)?;
        let args: Vec<OsString> = ExtractArgs::to_args(&self.limits, self.ocr.as_ref());
        let finished = run_limited(&self.program, &args, bytes, &self.os).await?;
        let res = classify(&finished, &self.os);
        if let Err(e) = &res {
            if !matches!(
                e,
                ExtractError::Unsupported(_)
                    | ExtractError::Corrupt { .. }
                    | ExtractError::LimitExceeded { .. }
            ) {
                tracing::warn!(error = %e, "CV text extraction stopped by the sandbox");
            }
        }
        res
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn limits(wall_ms: u64) -> OsLimits {
        OsLimits {
            memory_bytes: 256 * 1024 * 1024,
            cpu_secs: 1,
            wall: Duration::from_millis(wall_ms),
            max_output_bytes: 1000,
        }
    }

    async fn sh(script: &str, input: &[u8], l: &OsLimits) -> Result<Finished, ExtractError> {
        run_limited(
            std::path::Path::new("/bin/sh"),
            &["-c".into(), script.into()],
            input,
            l,
        )
        .await
    }

    /// Pid of the live process whose command line is exactly `cmdline`.
    fn find_process(cmdline: &str) -> Option<u32> {
        let want = cmdline.replace(' ', "\0") + "\0";
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            (cmd == want.as_bytes()).then_some(pid)
        })
    }

    /// Run `script` (which starts `marker`, a unique `sleep` command line)
    /// under a 2 s timeout; returns the pid of `marker` and the answer.
    async fn run_until_timeout(script: String, marker: &str) -> (u32, ExtractError) {
        let run = tokio::spawn(async move { sh(&script, b"", &limits(2_000)).await });
        let mut pid = None;
        for _ in 0..1000 {
            pid = find_process(marker);
            if pid.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pid = pid.expect("the sleeper started");
        (pid, run.await.expect("join").expect_err("timeout"))
    }

    #[tokio::test]
    async fn wall_clock_timeout_kills_and_reaps() {
        let marker = format!("sleep 600.{}", std::process::id());
        let (pid, err) = run_until_timeout(format!("exec {marker}"), &marker).await;
        assert_eq!(err, ExtractError::Timeout { secs: 2 });
        // Killed and reaped: not even a zombie entry is left in /proc.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} still present"
        );
    }

    #[tokio::test]
    async fn what_the_child_forked_dies_with_it() {
        // The child forks a sleeper that keeps the output pipe open, then
        // hangs: the timeout kills the whole process group.
        let marker = format!("sleep 601.{}", std::process::id());
        let (pid, err) = run_until_timeout(format!("{marker} & wait"), &marker).await;
        assert_eq!(err, ExtractError::Timeout { secs: 2 });
        // Killed (a zombie until init reaps it, but no longer running).
        let state = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit(')').next().map(|r| r.trim().chars().next()))
                .flatten()
        };
        for _ in 0..500 {
            if matches!(state(pid), None | Some('Z')) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("grandchild {pid} still running: {:?}", state(pid));
    }

    #[tokio::test]
    async fn echoes_within_limits() {
        let f = sh("cat", b"bonjour", &limits(30_000)).await.expect("ran");
        assert!(f.status.success());
        assert_eq!(f.stdout, b"bonjour");
    }

    #[tokio::test]
    async fn output_cap_kills_a_chatty_child() {
        let err = sh("exec yes", b"", &limits(30_000))
            .await
            .expect_err("too much");
        assert_eq!(err, ExtractError::OutputTooLarge { limit: 1000 });
    }

    #[tokio::test]
    async fn cpu_limit_is_sigxcpu() {
        let l = limits(30_000);
        let f = sh("while :; do :; done", b"", &l)
            .await
            .expect("ended on its own");
        assert_eq!(
            classify(&f, &l),
            Err(ExtractError::CpuLimit { secs: 1 }),
            "{:?}",
            f.status
        );
    }

    #[tokio::test]
    async fn signals_and_exit_codes_are_crashes() {
        let l = limits(30_000);
        let f = sh("kill -SEGV $$", b"", &l).await.expect("ran");
        assert_eq!(
            classify(&f, &l),
            Err(ExtractError::Crashed("killed by signal 11".into()))
        );
        let f = sh("exit 7", b"", &l).await.expect("ran");
        assert_eq!(
            classify(&f, &l),
            Err(ExtractError::Crashed("exit status 7".into()))
        );
        let f = sh(
            "echo 'memory allocation of 123 bytes failed' >&2; kill -ABRT $$",
            b"",
            &l,
        )
        .await
        .expect("ran");
        assert_eq!(
            classify(&f, &l),
            Err(ExtractError::MemoryLimit { mib: 256 })
        );
        // Exit 0 without a frame: the extractor is misconfigured (500).
        let f = sh("echo hello", b"", &l).await.expect("ran");
        assert!(matches!(classify(&f, &l), Err(ExtractError::Extractor(_))));
    }

    #[tokio::test]
    async fn rlimits_apply_in_the_child() {
        let l = limits(30_000);
        let f = sh(
            "ulimit -v; ulimit -t; ulimit -f; ulimit -c; ulimit -n",
            b"",
            &l,
        )
        .await
        .expect("ran");
        let out = String::from_utf8_lossy(&f.stdout).to_string();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines, vec!["262144", "1", "0", "0", "16"], "{out}");
        // No file can be written.
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("x");
        let f = sh(&format!("echo data > {}", target.display()), b"", &l)
            .await
            .expect("ran");
        assert!(!f.status.success());
        assert_eq!(std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0), 0);
    }

    #[tokio::test]
    async fn missing_program_is_an_extractor_error() {
        let err = run_limited(
            std::path::Path::new("/nonexistent/vivier-node"),
            &[],
            &[],
            &limits(1000),
        )
        .await
        .expect_err("no program");
        assert!(matches!(err, ExtractError::Extractor(_)), "{err:?}");
    }

    #[tokio::test]
    async fn slots_bound_concurrency_and_waiting_is_busy() {
        let ex = Extractor::new("/bin/false".into(), Limits::default(), limits(200), 1);
        let held = ex.slots.clone().acquire_owned().await.expect("slot");
        assert_eq!(ex.extract(b"x").await, Err(ExtractError::Busy));
        drop(held);
        // With the slot free, /bin/false runs and exits 1.
        assert_eq!(
            ex.extract(b"x").await,
            Err(ExtractError::Crashed("exit status 1".into()))
        );
    }
}
