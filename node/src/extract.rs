//! CV text extraction from uploaded files: PDF (`lopdf` + `pdf-extract`),
//! DOCX (zip + `word/document.xml`) and ODT (zip + `content.xml`).
//!
//! The type is decided by the content, never by the file name or the
//! declared MIME type: `%PDF` → PDF; a ZIP holding `word/document.xml` →
//! DOCX; a ZIP whose `mimetype` entry is
//! `application/vnd.oasis.opendocument.text` → ODT. Anything else is
//! [`ExtractError::Unsupported`].
//!
//! **The server never parses an uploaded file itself.** A hostile file can
//! overflow a parser's stack (which `catch_unwind` cannot catch) or expand
//! to gigabytes, so the node runs [`extract_text`] in a child process
//! (`vivier-node extract`, see [`child`]) under OS limits (address space,
//! CPU seconds, wall-clock timeout, output size, concurrency): see
//! [`sandbox::Extractor`]. Inside the child, [`extract_text`] also caps
//! what it inflates and produces ([`Limits`]), so a bomb fails fast with
//! [`ExtractError::LimitExceeded`] rather than only at the OS limit.

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::{Deserialize, Serialize};

pub mod child;
pub mod ocr;
mod pdf;
pub mod sandbox;
#[doc(hidden)]
pub mod testdocs;

pub use ocr::OcrSettings;
pub use sandbox::Extractor;

/// Most entries a DOCX/ODT archive may hold (a real one has a few dozen).
pub const MAX_ZIP_ENTRIES: usize = 10_000;
/// Deepest XML element nesting read in a DOCX/ODT (real ones stay under 30).
pub const MAX_XML_DEPTH: usize = 256;

/// What one extraction may consume, checked inside the extractor as it
/// goes (the OS limits of the sandbox come on top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read (bytes).
    pub max_input_bytes: usize,
    /// Total bytes the compressed parts of a document may inflate to: the
    /// XML entry of a DOCX/ODT, every stream of a PDF together.
    pub max_decompressed_bytes: u64,
    /// Total bytes of PDF page content (the part parsed into operators, about
    /// 100 bytes of memory per byte of content).
    pub max_pdf_content_bytes: u64,
    /// Largest text produced, before tidying (bytes).
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 10 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_pdf_content_bytes: 2 * 1024 * 1024,
            max_text_bytes: 1024 * 1024,
        }
    }
}

/// The kinds of document accepted as CVs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl std::fmt::Display for DocKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DocKind::Pdf => "PDF",
            DocKind::Docx => "DOCX",
            DocKind::Odt => "ODT",
        })
    }
}

/// Why text could not be extracted: one variant per way it can fail, in
/// the extractor itself or in the sandbox around it. The first three are
/// decided by the child and travel to the parent in its framed answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", content = "detail", rename_all = "snake_case")]
pub enum ExtractError {
    /// Not a PDF, DOCX or ODT.
    #[error("unsupported file type ({0}); accepted CV formats are PDF, DOCX and ODT")]
    Unsupported(String),
    /// The file claims a supported type but cannot be read.
    #[error("the {kind} file could not be read: {message}")]
    Corrupt {
        /// Which type it looked like.
        kind: DocKind,
        /// What failed.
        message: String,
    },
    /// The file would need more than a cap of the extractor
    /// ([`Limits`], [`MAX_ZIP_ENTRIES`], [`MAX_XML_DEPTH`]).
    #[error("the {kind} file exceeds a safety limit: {what}")]
    LimitExceeded {
        /// Which type it looked like.
        kind: DocKind,
        /// Which limit, in plain words.
        what: String,
    },
    /// The extractor ran past its wall-clock timeout and was killed.
    #[error("reading the file took longer than {secs} s")]
    Timeout {
        /// The timeout.
        secs: u64,
    },
    /// The extractor ran out of its address-space limit.
    #[error("reading the file needed more than {mib} MiB of memory")]
    MemoryLimit {
        /// The limit.
        mib: u64,
    },
    /// The extractor used up its CPU-time limit.
    #[error("reading the file used more than {secs} s of CPU time")]
    CpuLimit {
        /// The limit.
        secs: u64,
    },
    /// The extractor died (signal, stack overflow, abnormal exit).
    #[error("the text extractor stopped abnormally ({0})")]
    Crashed(String),
    /// The extractor wrote more than the parent reads.
    #[error("the text extractor produced more than {limit} bytes")]
    OutputTooLarge {
        /// Bytes read at most.
        limit: usize,
    },
    /// Every extraction slot stayed busy for the whole wait.
    #[error("too many CV files are being read at the moment; try again shortly")]
    Busy,
    /// The extractor could not be started or answered garbage: a node
    /// problem, not a problem of the file.
    #[error("the text extractor could not be run: {0}")]
    Extractor(String),
}

impl From<ExtractError> for crate::error::Error {
    /// 415 for a type that is not a CV format; 422 `cv_unreadable` for a
    /// file that cannot be read safely; 503 `extraction_busy` when every
    /// slot is taken; 500 when the extractor itself cannot run.
    fn from(e: ExtractError) -> Self {
        use crate::error::Error;
        match e {
            ExtractError::Unsupported(_) => Error::UnsupportedMediaType(e.to_string()),
            ExtractError::Busy => Error::Unavailable {
                code: "extraction_busy",
                message: e.to_string(),
            },
            ExtractError::Extractor(_) => Error::Internal(anyhow::anyhow!("{e}")),
            other => Error::Unprocessable {
                code: "cv_unreadable",
                field: "file".into(),
                message: format!("this file could not be read: {other}"),
            },
        }
    }
}

fn corrupt(kind: DocKind, message: impl std::fmt::Display) -> ExtractError {
    ExtractError::Corrupt {
        kind,
        message: message.to_string(),
    }
}

fn limit(kind: DocKind, what: impl Into<String>) -> ExtractError {
    ExtractError::LimitExceeded {
        kind,
        what: what.into(),
    }
}

/// `n` bytes in words (`64 MiB`, `1500 bytes`).
pub fn human_bytes(n: u64) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Decide the document kind from the content (magic bytes and ZIP entries).
pub fn sniff(bytes: &[u8]) -> Result<DocKind, ExtractError> {
    if bytes.starts_with(b"%PDF") {
        return Ok(DocKind::Pdf);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
            // A damaged archive (e.g. truncated) still names its entries in
            // its local headers: say which format it was meant to be.
            let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
            if has(b"word/document.xml") {
                corrupt(DocKind::Docx, format!("unreadable ZIP archive: {e}"))
            } else if has(b"application/vnd.oasis.opendocument.text") {
                corrupt(DocKind::Odt, format!("unreadable ZIP archive: {e}"))
            } else {
                ExtractError::Unsupported(format!("unreadable ZIP archive: {e}"))
            }
        })?;
        if zip.index_for_name("word/document.xml").is_some() {
            return Ok(DocKind::Docx);
        }
        if let Ok(f) = zip.by_name("mimetype") {
            let mut s = String::new();
            let _ = f.take(200).read_to_string(&mut s);
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

/// Sniff the type and extract the plain text, within `limits` (no OCR).
///
/// This parses hostile input in the calling process: the server must use
/// [`Extractor`] (a sandboxed child process) instead; this function is what
/// the child runs.
pub fn extract_text(bytes: &[u8], limits: &Limits) -> Result<(DocKind, String), ExtractError> {
    extract_document(bytes, limits, None).map(|e| (e.kind, e.text))
}

/// What was read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The document type.
    pub kind: DocKind,
    /// Its text, tidied.
    pub text: String,
    /// The text was read by OCR from the pictures of a scanned PDF (worth a
    /// counsellor's second look).
    pub ocr: bool,
}

/// Whether text read from a file is worth searching: at least 10 letters (a
/// scanned PDF yields none, or a few stray characters such as page
/// numbers).
pub fn readable_text(text: &str) -> bool {
    text.chars().filter(|c| c.is_alphabetic()).take(10).count() >= 10
}

/// [`extract_text`], then, for a PDF without readable text and with `ocr`
/// set, the text Tesseract reads from the pictures of its first pages.
pub fn extract_document(
    bytes: &[u8],
    limits: &Limits,
    ocr: Option<&OcrSettings>,
) -> Result<Extracted, ExtractError> {
    if bytes.len() > limits.max_input_bytes {
        let kind = sniff(bytes).unwrap_or(DocKind::Pdf);
        return Err(limit(
            kind,
            format!(
                "the file is larger than {}",
                human_bytes(limits.max_input_bytes as u64)
            ),
        ));
    }
    let kind = sniff(bytes)?;
    let mut out = TextBuf::new(kind, limits.max_text_bytes);
    let mut scanned = None;
    match kind {
        DocKind::Pdf => scanned = Some(pdf::text(bytes, limits, &mut out)?),
        DocKind::Docx => {
            let xml = zip_entry(bytes, "word/document.xml", kind, limits)?;
            docx_xml_text(&xml, &mut out)?;
        }
        DocKind::Odt => {
            let xml = zip_entry(bytes, "content.xml", kind, limits)?;
            odt_xml_text(&xml, &mut out)?;
        }
    }
    let text = tidy(&out.text);
    if let (Some(doc), Some(settings)) = (scanned, ocr) {
        if !readable_text(&text) {
            let mut read = TextBuf::new(kind, limits.max_text_bytes);
            for image in ocr::page_images(&doc, settings.max_pages, limits.max_decompressed_bytes) {
                let room = read.max.saturating_sub(read.text.len());
                match ocr::read_image(settings, &image, room) {
                    Some(page) => {
                        read.push_str(&page)?;
                        read.push('\n')?;
                    }
                    None => continue,
                }
            }
            let ocr_text = tidy(&read.text);
            if readable_text(&ocr_text) {
                return Ok(Extracted {
                    kind,
                    text: ocr_text,
                    ocr: true,
                });
            }
        }
    }
    Ok(Extracted {
        kind,
        text,
        ocr: false,
    })
}

/// Extracted text that refuses to grow past its cap.
struct TextBuf {
    kind: DocKind,
    text: String,
    max: usize,
}

impl TextBuf {
    fn new(kind: DocKind, max: usize) -> TextBuf {
        TextBuf {
            kind,
            text: String::new(),
            max,
        }
    }

    fn too_long(&self) -> ExtractError {
        limit(
            self.kind,
            format!(
                "it yields more than {} of text",
                human_bytes(self.max as u64)
            ),
        )
    }

    fn push_str(&mut self, s: &str) -> Result<(), ExtractError> {
        if self.text.len().saturating_add(s.len()) > self.max {
            return Err(self.too_long());
        }
        self.text.push_str(s);
        Ok(())
    }

    fn push(&mut self, c: char) -> Result<(), ExtractError> {
        self.push_str(c.encode_utf8(&mut [0u8; 4]))
    }

    fn push_repeated(&mut self, c: char, n: usize) -> Result<(), ExtractError> {
        if self
            .text
            .len()
            .saturating_add(n.saturating_mul(c.len_utf8()))
            > self.max
        {
            return Err(self.too_long());
        }
        self.text.extend(std::iter::repeat_n(c, n));
        Ok(())
    }
}

fn zip_entry(
    bytes: &[u8],
    name: &str,
    kind: DocKind,
    limits: &Limits,
) -> Result<Vec<u8>, ExtractError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| corrupt(kind, e))?;
    if zip.len() > MAX_ZIP_ENTRIES {
        return Err(limit(
            kind,
            format!("the archive holds more than {MAX_ZIP_ENTRIES} entries"),
        ));
    }
    let cap = limits.max_decompressed_bytes;
    let too_big = || {
        limit(
            kind,
            format!("{name} expands to more than {}", human_bytes(cap)),
        )
    };
    let f = zip
        .by_name(name)
        .map_err(|e| corrupt(kind, format!("{name}: {e}")))?;
    // The declared size may lie: it only allows an early refusal; the read
    // below is capped whatever it says.
    if f.size() > cap {
        return Err(too_big());
    }
    let mut out = Vec::new();
    f.take(cap + 1).read_to_end(&mut out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::OutOfMemory {
            out_of_memory()
        } else {
            corrupt(kind, format!("{name}: {e}"))
        }
    })?;
    if out.len() as u64 > cap {
        return Err(too_big());
    }
    Ok(out)
}

/// A failed allocation seen as an error rather than an abort: the
/// address-space limit of this (sandboxed) process was reached.
fn out_of_memory() -> ExtractError {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to a local struct.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0;
    let mib = if ok && lim.rlim_cur != libc::RLIM_INFINITY {
        lim.rlim_cur / (1024 * 1024)
    } else {
        0
    };
    ExtractError::MemoryLimit { mib }
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

/// Element depth of an XML part, refused past [`MAX_XML_DEPTH`]; the root
/// element must have the local name the format requires.
struct Depth {
    kind: DocKind,
    depth: usize,
    root: &'static [u8],
    seen_root: bool,
}

impl Depth {
    fn new(kind: DocKind, root: &'static [u8]) -> Depth {
        Depth {
            kind,
            depth: 0,
            root,
            seen_root: false,
        }
    }

    /// An element starts (`Start` or `Empty`).
    fn element(&mut self, name: &[u8]) -> Result<(), ExtractError> {
        if !self.seen_root {
            if local(name) != self.root {
                return Err(self.not_the_format());
            }
            self.seen_root = true;
        }
        Ok(())
    }

    fn not_the_format(&self) -> ExtractError {
        corrupt(
            self.kind,
            format!(
                "its main part is not a {} document (no <{}> root element)",
                self.kind,
                String::from_utf8_lossy(self.root)
            ),
        )
    }

    /// At the end of the part: was there a root at all?
    fn finish(&self) -> Result<(), ExtractError> {
        if self.seen_root {
            Ok(())
        } else {
            Err(self.not_the_format())
        }
    }

    fn enter(&mut self, name: &[u8]) -> Result<(), ExtractError> {
        self.element(name)?;
        self.depth += 1;
        if self.depth > MAX_XML_DEPTH {
            return Err(limit(
                self.kind,
                format!("its XML nests elements deeper than {MAX_XML_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

/// Text of a DOCX `word/document.xml`: the content of `w:t` runs, a line
/// break per paragraph (`w:p`), tabs and breaks kept.
fn docx_xml_text(xml: &[u8], out: &mut TextBuf) -> Result<(), ExtractError> {
    let kind = out.kind;
    let xml_err = |e: quick_xml::Error| corrupt(kind, e);
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut depth = Depth::new(kind, b"document");
    let mut in_t = 0usize;
    loop {
        match reader.read_event_into(&mut buf).map_err(xml_err)? {
            Event::Start(e) => {
                depth.enter(e.name().as_ref())?;
                if e.name().as_ref() == b"w:t" {
                    in_t += 1;
                }
            }
            Event::End(e) => {
                depth.leave();
                match e.name().as_ref() {
                    b"w:t" => in_t = in_t.saturating_sub(1),
                    b"w:p" => out.push('\n')?,
                    _ => {}
                }
            }
            Event::Empty(e) => {
                depth.element(e.name().as_ref())?;
                match e.name().as_ref() {
                    b"w:tab" => out.push('\t')?,
                    b"w:br" | b"w:cr" | b"w:p" => out.push('\n')?,
                    _ => {}
                }
            }
            Event::Text(t) if in_t > 0 => {
                out.push_str(&t.unescape().map_err(xml_err)?)?;
            }
            Event::CData(t) if in_t > 0 => {
                out.push_str(&String::from_utf8_lossy(&t))?;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    depth.finish()
}

/// Text of an ODT `content.xml`: paragraphs and headings (`text:p`,
/// `text:h`) with their spans; `text:s` (with `text:c`, at most 100 each),
/// `text:tab` and `text:line-break` rendered as spaces, tab and newline.
fn odt_xml_text(xml: &[u8], out: &mut TextBuf) -> Result<(), ExtractError> {
    let kind = out.kind;
    let xml_err = |e: quick_xml::Error| corrupt(kind, e);
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut depth = Depth::new(kind, b"document-content");
    let mut in_par = 0usize; // inside text:p / text:h
    let is_par = |name: &[u8]| prefix(name) == b"text" && matches!(local(name), b"p" | b"h");
    loop {
        match reader.read_event_into(&mut buf).map_err(xml_err)? {
            Event::Start(e) => {
                depth.enter(e.name().as_ref())?;
                if is_par(e.name().as_ref()) {
                    in_par += 1;
                }
            }
            Event::End(e) => {
                depth.leave();
                if is_par(e.name().as_ref()) {
                    in_par = in_par.saturating_sub(1);
                    out.push('\n')?;
                }
            }
            Event::Empty(e) => {
                let name = e.name();
                depth.element(name.as_ref())?;
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
                            out.push_repeated(' ', n)?;
                        }
                        b"tab" => out.push('\t')?,
                        b"line-break" | b"p" | b"h" => out.push('\n')?,
                        _ => {}
                    }
                }
            }
            Event::Text(t) if in_par > 0 => {
                out.push_str(&t.unescape().map_err(xml_err)?)?;
            }
            Event::CData(t) if in_par > 0 => {
                out.push_str(&String::from_utf8_lossy(&t))?;
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    depth.finish()
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn extract(bytes: &[u8]) -> Result<(DocKind, String), ExtractError> {
        extract_text(bytes, &Limits::default())
    }

    fn xml_text(
        f: fn(&[u8], &mut TextBuf) -> Result<(), ExtractError>,
        kind: DocKind,
        xml: &[u8],
        max: usize,
    ) -> Result<String, ExtractError> {
        let mut out = TextBuf::new(kind, max);
        f(xml, &mut out)?;
        Ok(out.text)
    }

    #[test]
    fn docx_text_with_accents_and_paragraphs() {
        let bytes = testdocs::docx(&["Cariste expérimenté CACES 3", "Permis B & véhicule"]);
        let (kind, text) = extract(&bytes).expect("extract");
        assert_eq!(kind, DocKind::Docx);
        assert_eq!(text, "Cariste expérimenté CACES 3\nPermis B & véhicule");
    }

    #[test]
    fn odt_text_with_heading_spans_and_spaces() {
        let bytes = testdocs::odt(&["Électricienne", "Cariste expérimenté CACES 3"]);
        let (kind, text) = extract(&bytes).expect("extract");
        assert_eq!(kind, DocKind::Odt);
        assert_eq!(text, "Électricienne\nCariste expérimenté CACES 3");
        let xml = br#"<office:document-content xmlns:office="o" xmlns:text="t"><office:body><text:p>a<text:s text:c="3"/>b<text:tab/>c<text:line-break/>d</text:p></office:body></office:document-content>"#;
        assert_eq!(
            xml_text(odt_xml_text, DocKind::Odt, xml, 1000).expect("xml"),
            "a   b\tc\nd\n"
        );
    }

    #[test]
    fn pdf_text_with_accents() {
        // "Cariste expérimenté CACES 3" in WinAnsi (é = 0xE9).
        let bytes = testdocs::pdf(&[b"Cariste exp\xE9riment\xE9 CACES 3"]);
        let (kind, text) = extract(&bytes).expect("extract");
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
        let zip = testdocs::zip_of(&[("a.txt", b"x".as_slice())]);
        assert!(matches!(sniff(&zip), Err(ExtractError::Unsupported(_))));
        // Truncated PDF: recognised, but corrupt.
        assert!(matches!(
            extract(b"%PDF-1.5 garbage"),
            Err(ExtractError::Corrupt { .. })
        ));
    }

    #[test]
    fn text_is_capped_not_truncated() {
        let xml = br#"<office:document-content xmlns:text="t"><text:p>abcdef</text:p></office:document-content>"#;
        assert_eq!(
            xml_text(odt_xml_text, DocKind::Odt, xml, 7).expect("fits"),
            "abcdef\n"
        );
        let err = xml_text(odt_xml_text, DocKind::Odt, xml, 6).expect_err("too long");
        assert!(matches!(err, ExtractError::LimitExceeded { .. }), "{err:?}");
        // Repeated `text:s` counts add up against the same cap.
        let mut xml = String::from(r#"<office:document-content xmlns:text="t"><text:p>"#);
        for _ in 0..100 {
            xml.push_str(r#"<text:s text:c="100000"/>"#);
        }
        xml.push_str("</text:p></office:document-content>");
        let err = xml_text(odt_xml_text, DocKind::Odt, xml.as_bytes(), 9_999).expect_err("cap");
        assert!(err.to_string().contains("text"), "{err}");
        assert_eq!(
            xml_text(odt_xml_text, DocKind::Odt, xml.as_bytes(), 10_001)
                .expect("100 × 100 spaces")
                .len(),
            10_001
        );
    }

    #[test]
    fn deep_xml_and_unknown_entities_are_refused() {
        let deep = format!(
            "<w:document>{}{}</w:document>",
            "<w:x>".repeat(MAX_XML_DEPTH + 1),
            "</w:x>".repeat(MAX_XML_DEPTH + 1)
        );
        let err = xml_text(docx_xml_text, DocKind::Docx, deep.as_bytes(), 1000).expect_err("deep");
        assert!(err.to_string().contains("deeper"), "{err}");
        let laughs = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;">]><w:document><w:p><w:r><w:t>&lol1;</w:t></w:r></w:p></w:document>"#;
        let err = xml_text(docx_xml_text, DocKind::Docx, laughs, 1_000_000).expect_err("entities");
        assert!(matches!(err, ExtractError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn a_part_that_is_not_the_format_is_corrupt() {
        for xml in ["", "just text", "<html><body>CV</body></html>"] {
            let err = extract(&testdocs::docx_with_xml(xml)).expect_err("not a DOCX");
            assert!(err.to_string().contains("<document>"), "{err}");
            let err = extract(&testdocs::odt_with_xml(xml)).expect_err("not an ODT");
            assert!(err.to_string().contains("<document-content>"), "{err}");
        }
        // Truncated archives keep their kind.
        let docx = testdocs::docx(&["Cariste"]);
        let err = extract(&docx[..docx.len() / 2]).expect_err("truncated");
        assert!(
            matches!(
                err,
                ExtractError::Corrupt {
                    kind: DocKind::Docx,
                    ..
                }
            ),
            "{err:?}"
        );
        let odt = testdocs::odt(&["Cariste"]);
        let err = extract(&odt[..odt.len() - 30]).expect_err("truncated");
        assert!(
            matches!(
                err,
                ExtractError::Corrupt {
                    kind: DocKind::Odt,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn pdf_issue_files_fail_fast_inside_the_extractor() {
        let limits = Limits::default();
        for (name, bytes) in [
            ("deep brackets", testdocs::pdf_deep_brackets(1000)),
            ("64 MiB of operators", testdocs::pdf_operator_bomb(64 << 20)),
            ("512 MiB of zeros", testdocs::pdf_zero_bomb(512 << 20)),
        ] {
            let err = extract_text(&bytes, &limits).expect_err(name);
            assert!(
                matches!(
                    err,
                    ExtractError::LimitExceeded {
                        kind: DocKind::Pdf,
                        ..
                    }
                ),
                "{name}: {err:?}"
            );
        }
        let odt = testdocs::odt_space_bomb(9_300_000);
        let err = extract_text(&odt, &limits).expect_err("ODT bomb");
        assert!(
            matches!(
                err,
                ExtractError::LimitExceeded {
                    kind: DocKind::Odt,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn zip_entry_inflation_is_capped() {
        let limits = Limits {
            max_decompressed_bytes: 1000,
            ..Limits::default()
        };
        let big = testdocs::docx(&[&"x".repeat(2000)]);
        let err = extract_text(&big, &limits).expect_err("over");
        assert!(err.to_string().contains("expands to more than"), "{err}");
        let small = testdocs::docx(&["x"]);
        extract_text(&small, &limits).expect("under");
    }

    #[test]
    fn errors_map_to_stable_http_answers() {
        use crate::error::Error;
        let e: Error = ExtractError::Unsupported("x".into()).into();
        assert_eq!(e.status_code().as_u16(), 415);
        let e: Error = ExtractError::Timeout { secs: 3 }.into();
        assert_eq!((e.status_code().as_u16(), e.code()), (422, "cv_unreadable"));
        let e: Error = ExtractError::Crashed("signal 11".into()).into();
        assert_eq!((e.status_code().as_u16(), e.code()), (422, "cv_unreadable"));
        let e: Error = ExtractError::Busy.into();
        assert_eq!(
            (e.status_code().as_u16(), e.code()),
            (503, "extraction_busy")
        );
        let e: Error = ExtractError::Extractor("missing".into()).into();
        assert_eq!(e.status_code().as_u16(), 500);
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy("\n\na  \n\n\n\nb\u{0}c\n"), "a\n\nbc");
    }
}
