//! The child side of sandboxed extraction: `vivier-node extract` (a hidden
//! subcommand) reads one file on standard input, extracts its text within
//! the [`Limits`] given on its command line and writes one framed answer on
//! standard output:
//!
//! ```text
//! VIVIER-EXTRACT/1\n
//! {"result":"ok","kind":"pdf","text_bytes":1234}\n     (a JSON header line)
//! <text_bytes bytes of UTF-8 text>
//! ```
//! or, when the file cannot be read, a header
//! `{"result":"error","error":{"code":"corrupt","detail":{…}}}` and no text.
//! It exits 0 whenever it wrote a frame; anything else (a signal, another
//! exit code, no frame) is a crash, classified by the parent
//! ([`super::sandbox`]). The OS limits are set by the parent before `exec`.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::{DocKind, ExtractError, Extracted, Limits, OcrSettings};

/// First line of every answer.
pub const MAGIC: &[u8] = b"VIVIER-EXTRACT/1\n";

/// The header line of an answer.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Header {
    /// Text follows.
    Ok {
        /// The document type.
        kind: DocKind,
        /// Length of the text that follows the header line.
        text_bytes: usize,
        /// The text was read by OCR.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ocr: bool,
    },
    /// The file could not be read; nothing follows.
    Error {
        /// Why.
        error: ExtractError,
    },
}

/// Arguments of `vivier-node extract` (set by the parent from `[uploads]`).
#[derive(Debug, Clone, clap::Args)]
pub struct ExtractArgs {
    /// Largest file read from standard input (bytes).
    #[arg(long)]
    pub max_input_bytes: usize,
    /// Total bytes the document may inflate to.
    #[arg(long)]
    pub max_decompressed_bytes: u64,
    /// Total PDF page content parsed into operators (bytes).
    #[arg(long)]
    pub max_pdf_content_bytes: u64,
    /// Largest text written (bytes).
    #[arg(long)]
    pub max_text_bytes: usize,
    /// The Tesseract program for scanned PDFs (no OCR without it).
    #[arg(long)]
    pub ocr_program: Option<std::path::PathBuf>,
    /// Tesseract language(s).
    #[arg(long, default_value = "fra")]
    pub ocr_language: String,
    /// Pages read by OCR at most.
    #[arg(long, default_value_t = 5)]
    pub ocr_max_pages: usize,
}

impl From<&ExtractArgs> for Limits {
    fn from(a: &ExtractArgs) -> Limits {
        Limits {
            max_input_bytes: a.max_input_bytes,
            max_decompressed_bytes: a.max_decompressed_bytes,
            max_pdf_content_bytes: a.max_pdf_content_bytes,
            max_text_bytes: a.max_text_bytes,
        }
    }
}

impl ExtractArgs {
    /// The OCR settings given, if any.
    pub fn ocr(&self) -> Option<OcrSettings> {
        self.ocr_program.as_ref().map(|program| OcrSettings {
            program: program.clone(),
            language: self.ocr_language.clone(),
            max_pages: self.ocr_max_pages.max(1),
        })
    }

    /// The command-line form of `limits` and `ocr` (what the parent passes).
    pub fn to_args(limits: &Limits, ocr: Option<&OcrSettings>) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "extract".into(),
            "--max-input-bytes".into(),
            limits.max_input_bytes.to_string().into(),
            "--max-decompressed-bytes".into(),
            limits.max_decompressed_bytes.to_string().into(),
            "--max-pdf-content-bytes".into(),
            limits.max_pdf_content_bytes.to_string().into(),
            "--max-text-bytes".into(),
            limits.max_text_bytes.to_string().into(),
        ];
        if let Some(o) = ocr {
            args.extend([
                "--ocr-program".into(),
                o.program.clone().into_os_string(),
                "--ocr-language".into(),
                o.language.clone().into(),
                "--ocr-max-pages".into(),
                o.max_pages.to_string().into(),
            ]);
        }
        args
    }
}

/// Run the child: read standard input, write the framed answer. Returns
/// the process exit code.
pub fn run(args: &ExtractArgs) -> i32 {
    // Panic messages may quote the file's content: keep them out of stderr.
    std::panic::set_hook(Box::new(|_| {
        let _ = std::io::stderr().write_all(b"vivier-node extract: parser panic\n");
    }));
    let limits = Limits::from(args);
    let ocr = args.ocr();
    let mut input = Vec::new();
    let cap = u64::try_from(limits.max_input_bytes).unwrap_or(u64::MAX);
    if let Err(e) = std::io::stdin()
        .lock()
        .take(cap.saturating_add(1))
        .read_to_end(&mut input)
    {
        let _ = writeln!(std::io::stderr(), "vivier-node extract: reading input: {e}");
        return 2;
    }
    let result =
        std::panic::catch_unwind(|| super::extract_document(&input, &limits, ocr.as_ref()))
            .unwrap_or_else(|_| {
                Err(ExtractError::Corrupt {
                    kind: super::sniff(&input).unwrap_or(DocKind::Pdf),
                    message: "the parser failed on this file".into(),
                })
            });
    let mut stdout = std::io::stdout().lock();
    match write_frame(&mut stdout, &result).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => 3,
    }
}

/// Write one answer.
pub fn write_frame(
    w: &mut impl Write,
    result: &Result<Extracted, ExtractError>,
) -> std::io::Result<()> {
    let header = match result {
        Ok(e) => Header::Ok {
            kind: e.kind,
            text_bytes: e.text.len(),
            ocr: e.ocr,
        },
        Err(e) => Header::Error { error: e.clone() },
    };
    w.write_all(MAGIC)?;
    serde_json::to_writer(&mut *w, &header)?;
    w.write_all(b"\n")?;
    if let Ok(e) = result {
        w.write_all(e.text.as_bytes())?;
    }
    Ok(())
}

/// Read one answer; `Err` says how the bytes are not a frame.
pub fn parse_frame(out: &[u8]) -> Result<Result<Extracted, ExtractError>, String> {
    let rest = out
        .strip_prefix(MAGIC)
        .ok_or("the answer does not start with the extractor's magic line")?;
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("the answer has no header line")?;
    let header: Header =
        serde_json::from_slice(&rest[..nl]).map_err(|e| format!("bad header line: {e}"))?;
    let body = &rest[nl + 1..];
    match header {
        Header::Ok {
            kind,
            text_bytes,
            ocr,
        } => {
            if body.len() != text_bytes {
                return Err(format!(
                    "the header announces {text_bytes} bytes of text, {} followed",
                    body.len()
                ));
            }
            let text = String::from_utf8(body.to_vec()).map_err(|_| "the text is not UTF-8")?;
            Ok(Ok(Extracted { kind, text, ocr }))
        }
        Header::Error { error } => Ok(Err(error)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        for result in [
            Ok(Extracted {
                kind: DocKind::Odt,
                text: "Aide-soignante\nDiplôme DEAS".to_string(),
                ocr: false,
            }),
            Ok(Extracted {
                kind: DocKind::Pdf,
                text: "Aide-soignante lue par OCR".to_string(),
                ocr: true,
            }),
            Ok(Extracted {
                kind: DocKind::Pdf,
                text: String::new(),
                ocr: false,
            }),
            Err(ExtractError::Unsupported("image".into())),
            Err(ExtractError::Corrupt {
                kind: DocKind::Docx,
                message: "bad zip".into(),
            }),
            Err(ExtractError::LimitExceeded {
                kind: DocKind::Pdf,
                what: "it expands to more than 64 MiB".into(),
            }),
        ] {
            let mut buf = Vec::new();
            write_frame(&mut buf, &result).expect("write");
            assert_eq!(parse_frame(&buf).expect("frame"), result);
        }
    }

    #[test]
    fn garbage_is_not_a_frame() {
        assert!(parse_frame(b"").is_err());
        assert!(parse_frame(b"running 0 tests\n").is_err());
        assert!(parse_frame(b"VIVIER-EXTRACT/1\n{\"result\":\"ok\"").is_err());
        // Truncated text.
        assert!(parse_frame(
            b"VIVIER-EXTRACT/1\n{\"result\":\"ok\",\"kind\":\"pdf\",\"text_bytes\":5}\nabc"
        )
        .is_err());
        // Not UTF-8.
        assert!(parse_frame(
            b"VIVIER-EXTRACT/1\n{\"result\":\"ok\",\"kind\":\"pdf\",\"text_bytes\":2}\n\xff\xfe"
        )
        .is_err());
    }
}
