//! Headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, with `fantoccini`), for browser tests, accessibility
//! checks (axe-core, vendored in `tests/assets/axe.min.js`) and
//! screenshots.
//!
//! [`Browser::start`] runs `/usr/bin/chromedriver --port=0` (it picks a
//! free port and prints it), opens one headless session in a fresh profile
//! directory, and stops both when dropped (or with [`Browser::close`]).
//! Without Chromium it returns `None` with a message on a developer's
//! machine, and fails when `CI` is set: `.ci/run` installs both packages.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use fantoccini::{Client, ClientBuilder, Locator};
use serde::Deserialize;

/// Debian's ChromeDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// axe-core, run in the page by [`Browser::axe`].
const AXE_SOURCE: &str = include_str!("../assets/axe.min.js");

/// Desktop window (CSS pixels).
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone (CSS pixels, about an iPhone 12–15).
pub const PHONE: (u32, u32) = (390, 844);

/// One axe-core rule that failed on a page.
#[derive(Clone, Debug, Deserialize)]
pub struct Violation {
    /// Rule id (`color-contrast`, `label`…).
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for.
    pub help: String,
    /// CSS selectors of the offending elements.
    pub nodes: Vec<String>,
}

impl Violation {
    /// `serious` or `critical`.
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}] {}: {} — {}",
            self.impact.as_deref().unwrap_or("?"),
            self.id,
            self.help,
            self.nodes.join(", ")
        )
    }
}

/// A headless Chromium session and the ChromeDriver behind it.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    base: String,
}

/// Where screenshots go: `VIVIER_SCREENSHOTS_DIR`, else
/// `$CARGO_TARGET_DIR/screenshots`, else `target/screenshots` at the
/// workspace root.
pub fn screenshots_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VIVIER_SCREENSHOTS_DIR") {
        return PathBuf::from(d);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t).join("screenshots"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target")
            .join("screenshots"),
    }
}

impl Browser {
    /// Start ChromeDriver and a headless Chromium whose relative URLs go to
    /// `base` (`http://127.0.0.1:<port>`). `Ok(None)` when Chromium is not
    /// installed on a developer's machine (a message says so); an error in
    /// CI.
    pub async fn start(base: &str) -> anyhow::Result<Option<Browser>> {
        let missing: Vec<&str> = [CHROMEDRIVER, CHROMIUM]
            .into_iter()
            .filter(|p| !std::path::Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            let msg = format!(
                "{} not installed (Debian packages chromium and chromium-driver; .ci/run installs them)",
                missing.join(" and ")
            );
            if std::env::var_os("CI").is_some() {
                bail!("CI: browser tests cannot run: {msg}");
            }
            eprintln!("browser tests skipped: {msg}");
            return Ok(None);
        }
        let mut driver = Command::new(CHROMEDRIVER)
            .args(["--port=0", "--log-level=WARNING"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let port = match read_port(&mut driver) {
            Ok(p) => p,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                return Err(e);
            }
        };
        let profile = tempfile::tempdir()?;
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--lang=fr-FR",
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": { "intl.accept_languages": "fr-FR,fr" },
            }),
        );
        let connected =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
        let client = match connected {
            Ok(c) => c,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                return Err(anyhow!("opening a Chromium session: {e}"));
            }
        };
        let browser = Browser {
            client,
            driver,
            _profile: profile,
            base: base.trim_end_matches('/').to_string(),
        };
        browser
            .client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(60)),
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(0)),
            ))
            .await?;
        Ok(Some(browser))
    }

    /// Open `path` (relative to the node) or an absolute URL.
    pub async fn goto(&self, path: &str) -> anyhow::Result<()> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.client
            .goto(&url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// The current path (and query).
    pub async fn path(&self) -> anyhow::Result<String> {
        let u = self.client.current_url().await?;
        Ok(match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        })
    }

    /// Type `value` into the field matched by `css` (after clearing it).
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("no field {css}"))?;
        e.clear().await?;
        e.send_keys(value).await?;
        Ok(())
    }

    /// Click what `locator` finds and wait for the page it leads to (a
    /// button submits its form, a link navigates).
    async fn click_and_wait(&self, locator: Locator<'_>, what: &str) -> anyhow::Result<()> {
        let element = self
            .client
            .find(locator)
            .await
            .with_context(|| format!("nothing matches {what}"))?;
        // Mark this document; the next one will not carry the mark.
        self.client
            .execute("window.__vivierLeaving = true; return true;", vec![])
            .await?;
        element.click().await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let loaded = self
                .client
                .execute(
                    "return document.readyState === 'complete' && !window.__vivierLeaving;",
                    vec![],
                )
                .await;
            if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                bail!("no new page within 30 s after clicking {what}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Click the element matched by `css` on this page (a radio button, a
    /// checkbox, an `<option>`): no new page is awaited.
    pub async fn choose(&self, css: &str) -> anyhow::Result<()> {
        self.client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("nothing matches {css}"))?
            .click()
            .await?;
        Ok(())
    }

    /// Click the element matched by `css` and wait for the next page.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.click_and_wait(Locator::Css(css), css).await
    }

    /// Click the link whose text is `text` and wait for the next page.
    pub async fn click_link(&self, text: &str) -> anyhow::Result<()> {
        self.click_and_wait(Locator::LinkText(text), &format!("the link « {text} »"))
            .await
    }

    /// Fill the form fields `(css, value)` and press its submit button.
    pub async fn submit_form(&self, form_css: &str, fields: &[(&str, &str)]) -> anyhow::Result<()> {
        for (css, value) in fields {
            self.fill(&format!("{form_css} {css}"), value).await?;
        }
        self.click(&format!("{form_css} button[type=submit]")).await
    }

    /// The visible text of the element matched by `css`.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self
            .client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("nothing matches {css}"))?
            .text()
            .await?)
    }

    /// The page's `<h1>`.
    pub async fn heading(&self) -> anyhow::Result<String> {
        self.text("h1").await
    }

    /// Log in through the form of `/ui/connexion`.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<()> {
        self.goto("/ui/connexion").await?;
        self.submit_form(
            "form[action='/ui/connexion']",
            &[("#email", email), ("#password", password)],
        )
        .await?;
        let path = self.path().await?;
        if path != "/ui/" {
            bail!(
                "login as {email} did not reach the dashboard (at {path}): {}",
                self.text("main").await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Log out (the button in the header).
    pub async fn logout(&self) -> anyhow::Result<()> {
        self.click("form[action='/ui/deconnexion'] button").await
    }

    /// Resize the window to `(width, height)` CSS pixels ([`PHONE`], [`DESKTOP`]).
    pub async fn viewport(&self, (width, height): (u32, u32)) -> anyhow::Result<()> {
        self.client.set_window_size(width, height).await?;
        Ok(())
    }

    /// Save a PNG of the viewport as `<screenshots_dir>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Run axe-core on the current page; every violation, worst first.
    pub async fn axe(&self) -> anyhow::Result<Vec<Violation>> {
        let loaded = self
            .client
            .execute("return typeof window.axe === 'object';", vec![])
            .await?;
        if loaded != serde_json::Value::Bool(true) {
            self.client
                .execute(&format!("{AXE_SOURCE}\nreturn true;"), vec![])
                .await
                .context("injecting axe-core")?;
        }
        let out = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                   axe.run(document, { resultTypes: ['violations'] })
                     .then(r => done(JSON.stringify(r.violations.map(v => ({
                        id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(' ')) })))))
                     .catch(e => done('axe failed: ' + e));"#,
                vec![],
            )
            .await?;
        let text = out.as_str().unwrap_or_default();
        let mut v: Vec<Violation> =
            serde_json::from_str(text).map_err(|_| anyhow!("axe-core: {text}"))?;
        let rank = |v: &Violation| match v.impact.as_deref() {
            Some("critical") => 0,
            Some("serious") => 1,
            Some("moderate") => 2,
            _ => 3,
        };
        v.sort_by_key(rank);
        Ok(v)
    }

    /// End the session and ChromeDriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing ChromeDriver also ends the Chromium it started.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The port ChromeDriver prints ("… started successfully on port 36757.").
fn read_port(driver: &mut Child) -> anyhow::Result<u16> {
    let stdout = driver.stdout.take().context("chromedriver stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // Not "Starting ChromeDriver … on port 0": the line after it.
            if !line.contains("started successfully") {
                continue;
            }
            if let Some(rest) = line.split("on port ").nth(1) {
                let port = rest.trim_end_matches('.').trim().parse::<u16>().ok();
                let _ = tx.send(port);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(port)) => Ok(port),
        Ok(None) => bail!("chromedriver printed no usable port"),
        Err(_) => bail!("chromedriver did not start within 30 s"),
    }
}
