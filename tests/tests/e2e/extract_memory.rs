//! Peak memory of a real `vivier-node serve` process while the hostile CV
//! files of the issue are uploaded to it: CV text is read in a sandboxed
//! child process, so the node's own high-water mark (`VmHWM` in
//! `/proc/<pid>/status`) stays under 300 MB, and it keeps serving with its
//! data unchanged. (In-process extraction used to take 5.8 GB on one of
//! these files.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use serde_json::json;
use support::*;
use vivier_node::extract::testdocs;

/// `VmHWM` (peak resident set) of `pid`, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

#[tokio::test]
async fn hostile_cv_uploads_keep_the_node_process_under_300_mb() {
    let root = tempfile::tempdir().unwrap();
    let mut node = NodeProcess::start(root.path(), "ml-tours", None, &NodeOptions::default());
    let pid = node.pid().expect("running");
    let token = node.user("counsellor", "conseillere@ml-tours.fr", None);
    let (st, c) = node
        .post(
            &token,
            "/api/v1/candidates",
            &json!({
                "first_name": "Léa",
                "last_name": "Martin",
                "commune_insee": "37261",
                "rome_codes": ["N1101"],
                "consent_scope": "local",
            }),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let (st, v) = node
        .upload_cv(
            &token,
            &id,
            "cv.odt",
            testdocs::odt(&["Cariste", "CACES 3"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let baseline = vm_hwm_kib(pid);

    let mut files = testdocs::issue_files();
    files.push((
        "objstm.pdf",
        testdocs::pdf_object_stream_bomb(512 * 1024 * 1024),
    ));
    files.push(("forme.pdf", testdocs::pdf_self_drawing_form()));
    for (name, bytes) in files {
        let size = bytes.len();
        assert!(size <= 10 * 1024 * 1024, "{name}: within the upload limit");
        let (st, v) = node.upload_cv(&token, &id, name, bytes).await;
        assert_eq!(st, 422, "{name} ({size} bytes): {v}");
        assert_eq!(v["type"], "urn:vivier:problem:cv_unreadable", "{name}: {v}");
        let (st, _) = node.get(&token, "/health").await;
        assert_eq!(st, 200, "{name}: node still serving");
        eprintln!(
            "{name:>16} ({size:>8} bytes): 422, node VmHWM {} KiB",
            vm_hwm_kib(pid)
        );
    }

    let peak = vm_hwm_kib(pid);
    eprintln!(
        "vivier-node serve VmHWM: {} KiB before the hostile uploads, {} KiB after (limit 300 MB)",
        baseline, peak
    );
    assert!(
        peak * 1024 < 300 * 1000 * 1000,
        "node peak memory {peak} KiB is over 300 MB"
    );
    // Nothing changed: the record keeps its CV text and its one file.
    let (st, rec) = node.get(&token, &format!("/api/v1/candidates/{id}")).await;
    assert_eq!(st, 200, "{rec}");
    assert_eq!(rec["cv_text"], "Cariste\nCACES 3");
    assert_eq!(rec["files"].as_array().map(Vec::len), Some(1), "{rec}");
    // No extractor child is left behind (children of every node thread).
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace() {
            let cmd = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&cmd).contains("extract"),
                "extractor child {child} still there"
            );
        }
    }
    node.stop();
}
