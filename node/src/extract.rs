//! CV text extraction from uploaded files: PDF (`pdf-extract`), DOCX (zip +
//! `word/document.xml`) and ODT (zip + `content.xml`).
//!
//! The type is decided by the content, never by the file name or the
//! declared MIME type: `%PDF` → PDF; a ZIP holding `word/document.xml` →
//! DOCX; a ZIP whose `mimetype` entry is
//! `application/vnd.oasis.opendocument.text` → ODT. Anything else is
//! [`ExtractError::Unsupported`].
//!
//! Extraction is CPU-bound: call it from `spawn_blocking`.

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::Reader;

/// Largest decompressed XML part read from a DOCX/ODT (zip-bomb guard).
const MAX_XML_BYTES: u64 = 64 * 1024 * 1024;

/// The kinds of document accepted as CVs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// PDF.
    Pdf,
    /// Office Open XML word processing document.
    Docx,
    /// OpenDocument text.
    Odt,
}

impl DocKind {
    /// MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            DocKind::Pdf => "application/pdf",
            DocKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            DocKind::Odt => "application/vnd.oasis.opendocument.text",
        }
    }

    /// File extension (without dot).
    pub fn extension(self) -> &'static str {
        match self {
            DocKind::Pdf => "pdf",
            DocKind::Docx => "docx",
            DocKind::Odt => "odt",
        }
    }
}

/// Why text could not be extracted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExtractError {
    /// Not a PDF, DOCX or ODT.
    #[error("unsupported file type ({0}); accepted CV formats are PDF, DOCX and ODT")]
    Unsupported(String),
    /// The file claims a supported type but cannot be read.
    #[error("the {kind} file could not be read: {message}")]
    Corrupt {
        /// Which type it looked like.
        kind: &'static str,
        /// What failed.
        message: String,
    },
}

fn corrupt(kind: DocKind, message: impl std::fmt::Display) -> ExtractError {
    ExtractError::Corrupt {
        kind: match kind {
            DocKind::Pdf => "PDF",
            DocKind::Docx => "DOCX",
            DocKind::Odt => "ODT",
        },
        message: message.to_string(),
    }
}

/// Decide the document kind from the content (magic bytes and ZIP entries).
pub fn sniff(bytes: &[u8]) -> Result<DocKind, ExtractError> {
    if bytes.starts_with(b"%PDF") {
        return Ok(DocKind::Pdf);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| ExtractError::Unsupported(format!("unreadable ZIP archive: {e}")))?;
        if zip.by_name("word/document.xml").is_ok() {
            return Ok(DocKind::Docx);
        }
        if let Ok(mut f) = zip.by_name("mimetype") {
            let mut s = String::new();
            let _ = f.by_ref().take(200).read_to_string(&mut s);
            if s.trim() == "application/vnd.oasis.opendocument.text" {
                return Ok(DocKind::Odt);
            }
            return Err(ExtractError::Unsupported(format!(
                "OpenDocument of type {:?}",
                s.trim()
            )));
        }
        return Err(ExtractError::Unsupported("ZIP archive".into()));
    }
    let what = if bytes.is_empty() {
        "empty file".to_string()
    } else if bytes.starts_with(b"\xD0\xCF\x11\xE0") {
        "legacy Microsoft Office (.doc) file".to_string()
    } else if bytes.starts_with(b"{\\rtf") {
        "RTF file".to_string()
    } else if bytes.starts_with(b"\x89PNG") || bytes.starts_with(b"\xFF\xD8\xFF") {
        "image".to_string()
    } else {
        "unrecognised content".to_string()
    };
    Err(ExtractError::Unsupported(what))
}

/// Sniff the type and extract the plain text.
pub fn extract_text(bytes: &[u8]) -> Result<(DocKind, String), ExtractError> {
    let kind = sniff(bytes)?;
    let text = match kind {
        DocKind::Pdf => pdf_text(bytes)?,
        DocKind::Docx => {
            let xml = zip_entry(bytes, "word/document.xml", kind)?;
            docx_xml_text(&xml).map_err(|e| corrupt(kind, e))?
        }
        DocKind::Odt => {
            let xml = zip_entry(bytes, "content.xml", kind)?;
            odt_xml_text(&xml).map_err(|e| corrupt(kind, e))?
        }
    };
    Ok((kind, tidy(&text)))
}

fn pdf_text(bytes: &[u8]) -> Result<String, ExtractError> {
    // pdf-extract panics on some malformed inputs: contain it.
    let owned = bytes.to_vec();
    let res = std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem(&owned));
    match res {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(corrupt(DocKind::Pdf, e)),
        Err(_) => Err(corrupt(DocKind::Pdf, "the PDF parser failed on this file")),
    }
}

fn zip_entry(bytes: &[u8], name: &str, kind: DocKind) -> Result<Vec<u8>, ExtractError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| corrupt(kind, e))?;
    let f = zip
        .by_name(name)
        .map_err(|e| corrupt(kind, format!("{name}: {e}")))?;
    let mut out = Vec::new();
    f.take(MAX_XML_BYTES)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(kind, format!("{name}: {e}")))?;
    Ok(out)
}

fn local(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn prefix(name: &[u8]) -> &[u8] {
    match name.iter().position(|&b| b == b':') {
        Some(i) => &name[..i],
        None => b"",
    }
}

/// Text of a DOCX `word/document.xml`: the content of `w:t` runs, a line
/// break per paragraph (`w:p`), tabs and breaks kept.
pub fn docx_xml_text(xml: &[u8]) -> Result<String, quick_xml::Error> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = String::new();
    let mut in_t = 0usize;
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) if e.name().as_ref() == b"w:t" => in_t += 1,
            Event::End(e) => match e.name().as_ref() {
                b"w:t" => in_t = in_t.saturating_sub(1),
                b"w:p" => out.push('\n'),
                _ => {}
            },
            Event::Empty(e) => match e.name().as_ref() {
                b"w:tab" => out.push('\t'),
                b"w:br" | b"w:cr" => out.push('\n'),
                b"w:p" => out.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_t > 0 => {
                out.push_str(&t.unescape()?);
            }
            Event::CData(t) if in_t > 0 => {
                out.push_str(&String::from_utf8_lossy(&t));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// Text of an ODT `content.xml`: paragraphs and headings (`text:p`,
/// `text:h`) with their spans; `text:s` (with `text:c`), `text:tab` and
/// `text:line-break` rendered as spaces, tab and newline.
pub fn odt_xml_text(xml: &[u8]) -> Result<String, quick_xml::Error> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = String::new();
    let mut depth = 0usize; // inside text:p / text:h
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) => {
                let name = e.name();
                if prefix(name.as_ref()) == b"text" && matches!(local(name.as_ref()), b"p" | b"h") {
                    depth += 1;
                }
            }
            Event::End(e) => {
                let name = e.name();
                if prefix(name.as_ref()) == b"text" && matches!(local(name.as_ref()), b"p" | b"h") {
                    depth = depth.saturating_sub(1);
                    out.push('\n');
                }
            }
            Event::Empty(e) => {
                let name = e.name();
                if prefix(name.as_ref()) == b"text" {
                    match local(name.as_ref()) {
                        b"s" => {
                            let mut n = 1usize;
                            for a in e.attributes().flatten() {
                                if a.key.as_ref() == b"text:c" {
                                    n = String::from_utf8_lossy(&a.value)
                                        .trim()
                                        .parse()
                                        .unwrap_or(1)
                                        .min(100);
                                }
                            }
                            for _ in 0..n {
                                out.push(' ');
                            }
                        }
                        b"tab" => out.push('\t'),
                        b"line-break" => out.push('\n'),
                        b"p" | b"h" => out.push('\n'),
                        _ => {}
                    }
                }
            }
            Event::Text(t) if depth > 0 => {
                out.push_str(&t.unescape()?);
            }
            Event::CData(t) if depth > 0 => {
                out.push_str(&String::from_utf8_lossy(&t));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// Normalise extracted text: NUL and other control characters removed
/// (tabs and newlines kept), trailing spaces trimmed, at most one empty line
/// in a row.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0usize;
    for line in text.lines() {
        let line: String = line
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect();
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
            out.push('\n');
        } else {
            blank_run = 0;
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}

/// Builders of small test documents (used by unit and integration tests).
#[doc(hidden)]
pub mod testdocs {
    use std::io::Write;

    /// A minimal DOCX whose paragraphs are `paragraphs`.
    pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
        let mut body = String::new();
        for p in paragraphs {
            body.push_str("<w:p><w:r><w:t xml:space=\"preserve\">");
            body.push_str(&xml_escape(p));
            body.push_str("</w:t></w:r></w:p>");
        }
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
             <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
             <w:body>{body}</w:body></w:document>"
        );
        let ct = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
            <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
            <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
            <Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
            </Types>";
        zip_of(&[
            ("[Content_Types].xml", ct.as_bytes()),
            ("word/document.xml", doc.as_bytes()),
        ])
    }

    /// A minimal ODT whose paragraphs are `paragraphs` (the first one a
    /// heading).
    pub fn odt(paragraphs: &[&str]) -> Vec<u8> {
        let mut body = String::new();
        for (i, p) in paragraphs.iter().enumerate() {
            if i == 0 {
                body.push_str(&format!(
                    "<text:h text:outline-level=\"1\">{}</text:h>",
                    xml_escape(p)
                ));
            } else {
                body.push_str(&format!(
                    "<text:p><text:span>{}</text:span></text:p>",
                    xml_escape(p)
                ));
            }
        }
        let content = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
             xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\">\
             <office:body><office:text>{body}</office:text></office:body></office:document-content>"
        );
        zip_of(&[
            (
                "mimetype",
                b"application/vnd.oasis.opendocument.text".as_slice(),
            ),
            ("content.xml", content.as_bytes()),
        ])
    }

    fn xml_escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            for (name, data) in entries {
                let opts = if *name == "mimetype" {
                    zip::write::SimpleFileOptions::default()
                        .compression_method(zip::CompressionMethod::Stored)
                } else {
                    zip::write::SimpleFileOptions::default()
                        .compression_method(zip::CompressionMethod::Deflated)
                };
                if w.start_file(*name, opts).is_err() || w.write_all(data).is_err() {
                    return Vec::new();
                }
            }
            if w.finish().is_err() {
                return Vec::new();
            }
        }
        buf.into_inner()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pdf(text_latin1: &[u8]) -> Vec<u8> {
        use lopdf::content::{Content, Operation};
        use lopdf::{dictionary, Document, Object, Stream, StringFormat};
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        let resources_id = doc.add_object(dictionary! {
            "Font" => dictionary! { "F1" => font_id },
        });
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 14.into()]),
                Operation::new("Td", vec![72.into(), 700.into()]),
                Operation::new(
                    "Tj",
                    vec![Object::String(text_latin1.to_vec(), StringFormat::Literal)],
                ),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            content.encode().expect("encode"),
        ));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        let pages = dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        };
        doc.objects.insert(pages_id, Object::Dictionary(pages));
        let catalog_id = doc.add_object(dictionary! {
            "Type" => "Catalog",
            "Pages" => pages_id,
        });
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).expect("save");
        out
    }

    #[test]
    fn docx_text_with_accents_and_paragraphs() {
        let bytes = testdocs::docx(&["Cariste expérimenté CACES 3", "Permis B & véhicule"]);
        let (kind, text) = extract_text(&bytes).expect("extract");
        assert_eq!(kind, DocKind::Docx);
        assert_eq!(text, "Cariste expérimenté CACES 3\nPermis B & véhicule");
    }

    #[test]
    fn odt_text_with_heading_spans_and_spaces() {
        let bytes = testdocs::odt(&["Électricienne", "Cariste expérimenté CACES 3"]);
        let (kind, text) = extract_text(&bytes).expect("extract");
        assert_eq!(kind, DocKind::Odt);
        assert_eq!(text, "Électricienne\nCariste expérimenté CACES 3");
        let xml = br#"<office:document-content xmlns:office="o" xmlns:text="t"><office:body><text:p>a<text:s text:c="3"/>b<text:tab/>c<text:line-break/>d</text:p></office:body></office:document-content>"#;
        assert_eq!(odt_xml_text(xml).expect("xml"), "a   b\tc\nd\n");
    }

    #[test]
    fn pdf_text_with_accents() {
        // "Cariste expérimenté CACES 3" in WinAnsi (é = 0xE9).
        let bytes = pdf(b"Cariste exp\xE9riment\xE9 CACES 3");
        let (kind, text) = extract_text(&bytes).expect("extract");
        assert_eq!(kind, DocKind::Pdf);
        assert!(text.contains("Cariste expérimenté CACES 3"), "{text:?}");
    }

    #[test]
    fn other_types_are_unsupported() {
        assert!(matches!(sniff(b"hello"), Err(ExtractError::Unsupported(_))));
        assert!(matches!(sniff(b""), Err(ExtractError::Unsupported(_))));
        assert!(matches!(
            sniff(b"\x89PNG\r\n\x1a\n...."),
            Err(ExtractError::Unsupported(_))
        ));
        // A ZIP that is neither DOCX nor ODT.
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            w.start_file("a.txt", zip::write::SimpleFileOptions::default())
                .expect("start");
            std::io::Write::write_all(&mut w, b"x").expect("write");
            w.finish().expect("finish");
        }
        assert!(matches!(
            sniff(&buf.into_inner()),
            Err(ExtractError::Unsupported(_))
        ));
        // Truncated PDF: recognised, but corrupt.
        assert!(matches!(
            extract_text(b"%PDF-1.5 garbage"),
            Err(ExtractError::Corrupt { .. })
        ));
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy("\n\na  \n\n\n\nb\u{0}c\n"), "a\n\nbc");
    }
}
