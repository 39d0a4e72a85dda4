//! Screenshots of the web interface's main pages, for a person to look at:
//! starts a node in this process with seeded accounts and data, opens every
//! page as each role in headless Chromium (desktop, and the dashboard and
//! lists on a phone), and writes PNGs to `target/screenshots/`
//! (`$CARGO_TARGET_DIR/screenshots`, or `VIVIER_SCREENSHOTS_DIR`).
//!
//! `cargo run -p vivier-tests --bin vivier-screenshots`

use anyhow::Context as _;
use vivier_tests::browser::{screenshots_dir, Browser, PHONE};

/// Tall enough for most pages in one picture.
const DESKTOP_TALL: (u32, u32) = (1280, 1400);
use vivier_tests::webnode::{public_pages, WebNode, PASSWORD};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = WebNode::start(|_| {}).await?;
    let browser = Browser::start(&node.base)
        .await?
        .context("Chromium is not installed (Debian packages chromium and chromium-driver)")?;
    browser.viewport(DESKTOP_TALL).await?;
    let mut written = Vec::new();
    for page in public_pages() {
        browser.goto(&page.path).await?;
        written.push(browser.screenshot(&page.name).await?);
    }
    for who in [&node.counsellor, &node.employer, &node.admin] {
        browser.login(&who.email, PASSWORD).await?;
        for page in node.pages(who) {
            browser.goto(&page.path).await?;
            written.push(browser.screenshot(&page.name).await?);
            // The reports pages and the records are long (cards, charts,
            // tables; programmes, returns to work and aids): the rest of
            // the page, one screen at a time.
            if page.name.ends_with("rapports")
                || page.name.ends_with("rapports-reseau")
                || page.name.ends_with("candidat-fiche")
                || page.name.ends_with("candidat-retour-emploi-aides")
            {
                for n in 2..=4 {
                    let more = browser
                        .client
                        .execute(
                            "const before = window.scrollY; window.scrollTo({top: before + window.innerHeight - 80, behavior: 'instant'}); return window.scrollY > before;",
                            vec![],
                        )
                        .await?;
                    if more != serde_json::Value::Bool(true) {
                        break;
                    }
                    written.push(browser.screenshot(&format!("{}-{n}", page.name)).await?);
                }
            }
        }
        browser.viewport(PHONE).await?;
        for page in node.pages(who).iter().take(3) {
            browser.goto(&page.path).await?;
            written.push(
                browser
                    .screenshot(&format!("{}-telephone", page.name))
                    .await?,
            );
        }
        browser.viewport(DESKTOP_TALL).await?;
        browser.logout().await?;
    }
    browser.close().await;
    node.stop().await;
    println!(
        "{} screenshots in {}",
        written.len(),
        screenshots_dir().display()
    );
    Ok(())
}
