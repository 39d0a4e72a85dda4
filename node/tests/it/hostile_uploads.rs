//! Hostile CV uploads against a real node (in-process, port 0), whose CV
//! files are read by the real `vivier-node extract` child process: every
//! file gets its documented answer, the node keeps serving, and nothing
//! stored changes — on SQLite and PostgreSQL. Files are generated here,
//! none is committed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{backends, start_node, start_node_with, TestNode};
use serde_json::json;
use vivier_node::auth::Role;
use vivier_node::extract::testdocs::{self, RawEntry};

/// One hostile upload and the answer it must get: status, problem code,
/// and a phrase of the message saying why.
struct Case {
    what: &'static str,
    file_name: &'static str,
    bytes: Vec<u8>,
    status: u16,
    code: &'static str,
    why: &'static str,
}

fn unreadable(
    what: &'static str,
    file_name: &'static str,
    bytes: Vec<u8>,
    why: &'static str,
) -> Case {
    Case {
        what,
        file_name,
        bytes,
        status: 422,
        code: "cv_unreadable",
        why,
    }
}

fn unsupported(what: &'static str, file_name: &'static str, bytes: Vec<u8>) -> Case {
    Case {
        what,
        file_name,
        bytes,
        status: 415,
        code: "unsupported_media_type",
        why: "accepted CV formats are PDF, DOCX and ODT",
    }
}

const INFLATES: &str = "expands to more than 64 MiB";

/// The four files of the issue and the 10 MiB variant of the bomb.
fn issue_cases() -> Vec<Case> {
    let why = [
        "nests arrays or dictionaries deeper than 100 levels",
        INFLATES,
        INFLATES,
        INFLATES,
        INFLATES,
    ];
    testdocs::issue_files()
        .into_iter()
        .zip(why)
        .map(|((name, bytes), why)| unreadable(name, name, bytes, why))
        .collect()
}

/// Hostile files of every accepted type beyond the issue's.
fn own_cases() -> Vec<Case> {
    let good_pdf = testdocs::pdf(&[b"Cariste CACES 3"]);
    let good_docx = testdocs::docx(&["Cariste CACES 3"]);
    let good_odt = testdocs::odt(&["Cariste", "CACES 3"]);

    // DOCX with 20 000 entries besides its document.
    let names: Vec<String> = (0..20_000)
        .map(|i| format!("word/media/f{i}.xml"))
        .collect();
    let doc_xml = testdocs::docx_document("<w:p><w:r><w:t>Cariste</w:t></w:r></w:p>");
    let mut entries = vec![RawEntry::stored("word/document.xml", doc_xml.as_bytes())];
    entries.extend(names.iter().map(|n| RawEntry::stored(n, b"x")));
    let many_entries = testdocs::raw_zip(&entries);

    // DOCX whose document declares 4 GB once inflated.
    let small = testdocs::deflate_repeated(doc_xml.as_bytes(), 1);
    let huge_declared = testdocs::raw_zip(&[RawEntry {
        name: "word/document.xml",
        method: 8,
        data: &small,
        crc: 0,
        uncompressed: 4_000_000_000,
    }]);

    // DOCX whose document is itself a zip bomb.
    let (bomb, crc, size) = testdocs::deflated_repeated_entry(&[0u8; 1 << 20], 200);
    let inner = testdocs::raw_zip(&[RawEntry {
        name: "zeros.bin",
        method: 8,
        data: &bomb,
        crc,
        uncompressed: size,
    }]);
    let nested_zip = testdocs::raw_zip(&[RawEntry::stored("word/document.xml", &inner)]);

    // A DOCX zip bomb: document.xml inflating to 1 GiB.
    let (xml_bomb, crc, size) = testdocs::deflated_repeated_entry(&[b' '; 1 << 20], 1024);
    let docx_bomb = testdocs::raw_zip(&[RawEntry {
        name: "word/document.xml",
        method: 8,
        data: &xml_bomb,
        crc,
        uncompressed: size,
    }]);

    let deep_docx = testdocs::docx_with_xml(&format!(
        "<w:document xmlns:w=\"w\">{}{}</w:document>",
        "<w:r>".repeat(100_000),
        "</w:r>".repeat(100_000)
    ));
    let deep_odt = testdocs::odt_with_xml(&testdocs::odt_content(&format!(
        "{}{}",
        "<text:span>".repeat(50_000),
        "</text:span>".repeat(50_000)
    )));
    let mut lol = String::from("<!ENTITY lol0 \"lol\">");
    for i in 1..10 {
        lol.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&lol{};", i - 1).repeat(10)
        ));
    }
    let laughs_docx = testdocs::docx_with_xml(&format!(
        "<?xml version=\"1.0\"?><!DOCTYPE w:document [{lol}]>{}",
        testdocs::docx_document("<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>")
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>")
    ));
    let laughs_odt = testdocs::odt_with_xml(&format!(
        "<?xml version=\"1.0\"?><!DOCTYPE office:document-content [{lol}]>{}",
        testdocs::odt_content("<text:p>&lol9;</text:p>")
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
    ));
    let odt_without_content = testdocs::zip_of(&[(
        "mimetype",
        b"application/vnd.oasis.opendocument.text".as_slice(),
    )]);
    let bzip2_docx = testdocs::raw_zip(&[RawEntry {
        name: "word/document.xml",
        method: 12,
        data: b"BZh91AY&SY not really",
        crc: 0,
        uncompressed: 100,
    }]);
    let mut wrong_magic = good_pdf.clone();
    wrong_magic[..4].copy_from_slice(b"%PDX");
    let mut garbage_pdf = b"%PDF-1.7\n".to_vec();
    garbage_pdf.extend((0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));

    vec![
        unreadable(
            "truncated PDF",
            "cv.pdf",
            good_pdf[..good_pdf.len() / 2].to_vec(),
            "cross reference table",
        ),
        unreadable(
            "truncated DOCX",
            "cv.docx",
            good_docx[..good_docx.len() / 2].to_vec(),
            "the DOCX file could not be read: unreadable ZIP archive",
        ),
        unreadable(
            "truncated ODT",
            "cv.odt",
            good_odt[..good_odt.len() - 40].to_vec(),
            "the ODT file could not be read: unreadable ZIP archive",
        ),
        unreadable(
            "ZIP with 20 000 entries",
            "cv.docx",
            many_entries,
            "holds more than 10000 entries",
        ),
        unreadable("entry declaring 4 GB", "cv.docx", huge_declared, INFLATES),
        unreadable(
            "DOCX whose document is a zip bomb",
            "cv.docx",
            nested_zip,
            "not a DOCX document",
        ),
        unreadable("DOCX bomb named .pdf", "cv.pdf", docx_bomb, INFLATES),
        unreadable(
            "XML nested 100 000 deep (DOCX)",
            "cv.docx",
            deep_docx,
            "deeper than 256 levels",
        ),
        unreadable(
            "XML nested 50 000 deep (ODT)",
            "cv.odt",
            deep_odt,
            "deeper than 256 levels",
        ),
        unreadable(
            "billion laughs (DOCX)",
            "cv.docx",
            laughs_docx,
            "unrecognized entity",
        ),
        unreadable(
            "billion laughs (ODT)",
            "cv.odt",
            laughs_odt,
            "unrecognized entity",
        ),
        unreadable(
            "ODT without content.xml",
            "cv.odt",
            odt_without_content,
            "content.xml",
        ),
        unreadable(
            "DOCX entry compressed with bzip2",
            "cv.docx",
            bzip2_docx,
            "Compression method not supported",
        ),
        unreadable(
            "PDF page tree loop",
            "cv.pdf",
            testdocs::pdf_parent_cycle(),
            "page tree loops",
        ),
        unreadable(
            "PDF object stream bomb",
            "cv.pdf",
            testdocs::pdf_object_stream_bomb(512 * 1024 * 1024),
            INFLATES,
        ),
        unreadable(
            "PDF form drawing itself (stack overflow in the child)",
            "cv.pdf",
            testdocs::pdf_self_drawing_form(),
            "stack overflow",
        ),
        unreadable(
            "random bytes after a PDF header",
            "cv.pdf",
            garbage_pdf,
            "the PDF file could not be read",
        ),
        unsupported("PDF with wrong magic bytes", "cv.pdf", wrong_magic),
        unsupported("empty file", "cv.pdf", Vec::new()),
    ]
}

/// Files kept on disk for the node's CVs.
fn stored_files(node: &TestNode) -> Vec<String> {
    let mut out = Vec::new();
    let root = node.dir.path().join("files");
    for d in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            out.push(f.path().display().to_string());
        }
    }
    out.sort();
    out
}

/// A counsellor and a candidate whose CV (a good DOCX) is already stored.
async fn record_with_cv(node: &TestNode) -> (String, String) {
    let c = node.user(Role::Counsellor, "c@mission-emploi.fr").await;
    let (st, v) = node
        .post(
            &c,
            "/api/v1/candidates",
            &json!({
                "first_name": "Léa",
                "last_name": "Martin",
                "commune_insee": "41018",
                "rome_codes": ["N1101"],
                "consent_scope": "local",
            }),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let (st, v) = node
        .upload_cv(
            &c,
            &id,
            "cv.docx",
            testdocs::docx(&["Cariste expérimentée", "CACES 3"]),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    (c, id)
}

async fn assert_refused(node: &TestNode, token: &str, id: &str, cases: Vec<Case>) {
    let before = node.snapshot().await;
    let files_before = stored_files(node);
    for case in cases {
        let size = case.bytes.len();
        assert!(
            size <= 10 * 1024 * 1024,
            "{}: within the upload limit",
            case.what
        );
        let (st, v) = node.upload_cv(token, id, case.file_name, case.bytes).await;
        assert_eq!(st, case.status, "{} ({size} bytes): {v}", case.what);
        assert_eq!(
            v["type"],
            format!("urn:vivier:problem:{}", case.code),
            "{}: {v}",
            case.what
        );
        if case.status == 422 {
            assert_eq!(v["errors"][0]["field"], "file", "{}: {v}", case.what);
            let msg = v["errors"][0]["message"].as_str().unwrap_or("");
            assert!(
                msg.starts_with("this file could not be read: "),
                "{}: {v}",
                case.what
            );
        }
        let detail = v["detail"].as_str().unwrap_or("");
        assert!(detail.contains(case.why), "{}: {detail}", case.what);
        node.assert_alive_and_unchanged(&before).await;
        assert_eq!(
            stored_files(node),
            files_before,
            "{}: no file kept",
            case.what
        );
    }
    // The record still has its CV text.
    let (st, rec) = node.get(token, &format!("/api/v1/candidates/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(rec["cv_text"], "Cariste expérimentée\nCACES 3");
}

#[tokio::test]
async fn issue_files_are_refused_and_the_node_keeps_serving() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let (c, id) = record_with_cv(&node).await;
        assert_refused(&node, &c, &id, issue_cases()).await;
        node.stop().await;
    }
}

#[tokio::test]
async fn hostile_pdf_docx_odt_get_their_documented_answer() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let (c, id) = record_with_cv(&node).await;
        assert_refused(&node, &c, &id, own_cases()).await;
        node.stop().await;
    }
}

#[tokio::test]
async fn a_file_past_the_memory_limit_is_refused_not_fatal() {
    // 60 MiB of XML is within the inflation cap (64 MiB) but not within an
    // extractor allowed 96 MiB of address space: the child aborts on a
    // failed allocation, the parent says why.
    let body = " ".repeat(60 * 1024 * 1024);
    let (deflated, crc, size) = testdocs::deflated_repeated_entry(body.as_bytes(), 1);
    let docx = testdocs::raw_zip(&[RawEntry {
        name: "word/document.xml",
        method: 8,
        data: &deflated,
        crc,
        uncompressed: size,
    }]);
    for backend in backends() {
        let node = start_node_with(&backend, |cfg| cfg.uploads.extract_memory_mb = 96).await;
        let (c, id) = record_with_cv(&node).await;
        let case = unreadable(
            "60 MiB of XML in 96 MiB",
            "cv.docx",
            docx.clone(),
            "needed more than 96 MiB of memory",
        );
        assert_refused(&node, &c, &id, vec![case]).await;
        node.stop().await;
    }
}

#[tokio::test]
async fn web_upload_of_an_unreadable_file_says_so_in_french() {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for backend in backends() {
        let node = start_node(&backend).await;
        let (_c, id) = record_with_cv(&node).await;
        let r = browser
            .post(node.url("/ui/connexion"))
            .header("origin", node.base.clone())
            .form(&[
                ("email", "c@mission-emploi.fr"),
                ("password", "motdepasse-solide"),
            ])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status().as_u16(), 303);
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("cookie")
            .to_string();
        let before = node.snapshot().await;
        for (name, bytes) in testdocs::issue_files() {
            let form = reqwest::multipart::Form::new().part(
                "fichier",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
            let r = browser
                .post(node.url(&format!("/ui/candidats/{id}/cv")))
                .header("origin", node.base.clone())
                .header("cookie", &cookie)
                .multipart(form)
                .send()
                .await
                .expect("send");
            assert_eq!(r.status().as_u16(), 422, "{name}");
            let body = r.text().await.expect("body");
            assert!(body.contains("pas pu être lu"), "{name}: {body}");
            assert!(body.contains("pas été enregistré"), "{name}");
            node.assert_alive_and_unchanged(&before).await;
        }
        node.stop().await;
    }
}

#[tokio::test]
async fn good_cvs_still_work_and_are_searchable() {
    for backend in backends() {
        let node = start_node(&backend).await;
        let (c, id) = record_with_cv(&node).await;
        for (name, bytes, word) in [
            (
                "cv.pdf",
                testdocs::pdf(&[b"Soudeuse TIG qualifi\xE9e"]),
                "soudeuse",
            ),
            (
                "cv.docx",
                testdocs::docx(&["Boulangère", "CAP boulanger"]),
                "boulangere",
            ),
            (
                "cv.odt",
                testdocs::odt(&["Électricienne", "Habilitation B1V"]),
                "electricienne",
            ),
        ] {
            let (st, v) = node.upload_cv(&c, &id, name, bytes).await;
            assert_eq!(st, 201, "{name}: {v}");
            node.sync_index().await;
            let found = crate::support::eventually(10, || async {
                let (st, r) = node
                    .get(&c, &format!("/api/v1/candidates/search?q={word}"))
                    .await;
                let one = r["items"].as_array().is_some_and(|h| h.len() == 1);
                (st == 200 && one).then_some(r)
            })
            .await;
            let r = found.unwrap_or_else(|| panic!("{word} not found after uploading {name}"));
            assert_eq!(r["items"][0]["id"], id.as_str(), "{r}");
        }
        node.stop().await;
    }
}
