//! OCR of scanned PDFs with Tesseract, when it is installed.
//!
//! A scanned CV is a PDF whose pages are pictures: [`super::pdf`] reads no
//! text from it. When the node finds the `tesseract` program with the
//! configured language (Debian: `tesseract-ocr` + `tesseract-ocr-fra`), the
//! sandboxed child ([`super::child`]) takes the picture of each page (the
//! largest image it draws), hands it to `tesseract stdin stdout -l fra` and
//! keeps what it reads. Tesseract runs as a child of the sandboxed child: it
//! inherits its OS limits (address space, CPU time per process, no file
//! writes) and its process group, which the parent kills at the wall-clock
//! timeout. Without Tesseract the file is flagged as unreadable, as before.
//!
//! Pictures handed over: JPEG (`DCTDecode`) and JPEG 2000 (`JPXDecode`)
//! streams as they are stored; uncompressed or Flate-compressed samples
//! (gray, RGB, 1-bit masks; `ICCBased` with 1 or 3 components) rewritten as
//! PNM. CCITT fax and JBIG2 pages are not read (flagged): they are rare in
//! CVs scanned by phones and office copiers, which produce JPEG.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lopdf::{Document, Object, Stream};

/// How the child runs Tesseract (from `[uploads]`, checked by the parent
/// with [`detect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrSettings {
    /// The `tesseract` executable.
    pub program: PathBuf,
    /// Tesseract language(s), e.g. `fra` or `fra+eng`.
    pub language: String,
    /// Pages read at most (the first ones).
    pub max_pages: usize,
}

/// Largest picture handed to Tesseract, in pixels (a page scanned at
/// 600 dpi is about 35 million).
pub const MAX_PIXELS: u64 = 40_000_000;

/// Find `program` (a path, or a name looked up in `PATH`) and check that it
/// is Tesseract and knows every language of `language`. `Err` says why OCR
/// is off, in words for the log.
pub fn detect(program: &Path, language: &str, max_pages: usize) -> Result<OcrSettings, String> {
    let path = resolve(program).ok_or_else(|| {
        format!(
            "{} not found (install Debian's tesseract-ocr and tesseract-ocr-fra)",
            program.display()
        )
    })?;
    let out = Command::new(&path)
        .arg("--list-langs")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} could not be run: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} --list-langs failed ({})",
            path.display(),
            out.status
        ));
    }
    // Tesseract 4 prints the list on stderr, 5 on stdout.
    let listed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let known: Vec<&str> = listed.lines().map(str::trim).collect();
    for lang in language.split('+') {
        if lang.is_empty() || !known.contains(&lang) {
            return Err(format!(
                "{} has no language {lang:?} (install tesseract-ocr-{lang})",
                path.display()
            ));
        }
    }
    Ok(OcrSettings {
        program: path,
        language: language.to_string(),
        max_pages: max_pages.max(1),
    })
}

/// `program` itself when it names a path, else the first match in `PATH`.
fn resolve(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// The picture of each of the first `max_pages` pages, in a format
/// Tesseract reads; pages without a picture it can read are skipped.
/// `max_bytes` caps the decoded size of each picture.
pub fn page_images(doc: &Document, max_pages: usize, max_bytes: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for page_id in doc.get_pages().into_values().take(max_pages) {
        let Ok((own, inherited)) = doc.get_page_resources(page_id) else {
            continue;
        };
        let dicts = own.into_iter().chain(
            inherited
                .iter()
                .filter_map(|id| doc.get_dictionary(*id).ok()),
        );
        let mut best: Option<(u64, &Stream)> = None;
        for resources in dicts {
            let Ok(xobjects) = resources
                .get_deref(b"XObject", doc)
                .and_then(Object::as_dict)
            else {
                continue;
            };
            for (_, x) in xobjects.iter() {
                let Some(s) = x
                    .as_reference()
                    .ok()
                    .and_then(|id| doc.get_object(id).ok())
                    .and_then(|o| o.as_stream().ok())
                else {
                    continue;
                };
                if s.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Image") {
                    continue;
                }
                let px = dim(s, b"Width").saturating_mul(dim(s, b"Height"));
                if best.is_none_or(|(b, _)| px > b) {
                    best = Some((px, s));
                }
            }
        }
        if let Some(img) = best.and_then(|(_, s)| image_file(doc, s, max_bytes)) {
            out.push(img);
        }
    }
    out
}

fn dim(s: &Stream, key: &[u8]) -> u64 {
    s.dict
        .get(key)
        .and_then(Object::as_i64)
        .ok()
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0)
}

/// One image XObject as a file Tesseract reads (JPEG, JPEG 2000 or PNM).
fn image_file(doc: &Document, s: &Stream, max_bytes: u64) -> Option<Vec<u8>> {
    let (w, h) = (dim(s, b"Width"), dim(s, b"Height"));
    if w == 0 || h == 0 || w.saturating_mul(h) > MAX_PIXELS {
        return None;
    }
    let filters: Vec<Vec<u8>> = s
        .filters()
        .map(|f| f.into_iter().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    match filters.last().map(Vec::as_slice) {
        Some(b"DCTDecode" | b"JPXDecode") if filters.len() == 1 => {
            return (s.content.len() as u64 <= max_bytes).then(|| s.content.clone());
        }
        None => {}
        Some(b"FlateDecode") if filters.len() == 1 => {}
        _ => return None,
    }
    let mask = s
        .dict
        .get(b"ImageMask")
        .and_then(Object::as_bool)
        .unwrap_or(false);
    let bpc = if mask {
        1
    } else {
        s.dict
            .get(b"BitsPerComponent")
            .and_then(Object::as_i64)
            .unwrap_or(8)
    };
    let colours = if mask {
        1
    } else {
        colour_components(doc, s.dict.get(b"ColorSpace").ok())?
    };
    let row = match (bpc, colours) {
        (8, 1 | 3) => w.checked_mul(colours)?,
        (1, 1) => w.div_ceil(8),
        _ => return None,
    };
    let size = row.checked_mul(h)?;
    if size > max_bytes {
        return None;
    }
    let samples = if filters.is_empty() {
        s.content.clone()
    } else {
        // Predictors (PNG/TIFF) are undone by lopdf; the size was checked
        // against the budget when the document was loaded.
        s.decompressed_content().ok()?
    };
    let size = usize::try_from(size).ok()?;
    if samples.len() < size {
        return None;
    }
    let samples = &samples[..size];
    let mut file = match (bpc, colours) {
        (8, 1) => format!("P5\n{w} {h}\n255\n"),
        (8, _) => format!("P6\n{w} {h}\n255\n"),
        _ => format!("P4\n{w} {h}\n"),
    }
    .into_bytes();
    if bpc == 1 {
        // PDF: a 0 sample is black (gray) or painted (mask, default Decode);
        // PBM: 1 is black. An inverted Decode array flips it back.
        let decode_inverted = s
            .dict
            .get(b"Decode")
            .and_then(Object::as_array)
            .ok()
            .and_then(|a| a.first())
            .and_then(|v| v.as_float().ok())
            .is_some_and(|v| v > 0.5);
        file.extend(
            samples
                .iter()
                .map(|b| if decode_inverted { *b } else { !b }),
        );
    } else {
        file.extend_from_slice(samples);
    }
    Some(file)
}

/// Components of a colour space Tesseract can be given as PNM: 1 (gray) or
/// 3 (RGB); `None` for the others (CMYK, indexed, Lab…).
fn colour_components(doc: &Document, cs: Option<&Object>) -> Option<u64> {
    let cs = match cs? {
        Object::Reference(id) => doc.get_object(*id).ok()?,
        o => o,
    };
    match cs {
        Object::Name(n) => match n.as_slice() {
            b"DeviceGray" | b"CalGray" | b"G" => Some(1),
            b"DeviceRGB" | b"CalRGB" | b"RGB" => Some(3),
            _ => None,
        },
        Object::Array(a) => match a.first().and_then(|o| o.as_name().ok())? {
            b"ICCBased" => {
                let stream = a.get(1)?.as_reference().ok()?;
                let n = doc
                    .get_object(stream)
                    .ok()?
                    .as_stream()
                    .ok()?
                    .dict
                    .get(b"N")
                    .and_then(Object::as_i64)
                    .ok()?;
                matches!(n, 1 | 3).then(|| n as u64)
            }
            b"CalGray" => Some(1),
            b"CalRGB" => Some(3),
            _ => None,
        },
        _ => None,
    }
}

/// Read one picture with Tesseract; at most `max_bytes` of text are kept.
/// `None` when Tesseract fails on it (the page is then skipped).
pub fn read_image(settings: &OcrSettings, image: &[u8], max_bytes: usize) -> Option<String> {
    let mut child = Command::new(&settings.program)
        .args(["stdin", "stdout", "-l", &settings.language])
        // One thread: OpenMP threads each reserve memory the sandbox's
        // address-space limit counts.
        .env("OMP_THREAD_LIMIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // Feed the picture from a thread, so a Tesseract that writes before it
    // has read everything cannot deadlock with us.
    let mut stdin = child.stdin.take()?;
    let image = image.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&image);
    });
    let mut text = Vec::new();
    let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    let read = child
        .stdout
        .take()
        .map(|out| out.take(cap.saturating_add(1)).read_to_end(&mut text));
    let _ = feeder.join();
    if text.len() > max_bytes {
        let _ = child.kill();
    }
    let status = child.wait().ok()?;
    if !status.success() || !matches!(read, Some(Ok(_))) || text.len() > max_bytes {
        return None;
    }
    Some(String::from_utf8_lossy(&text).into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use lopdf::{dictionary, Stream};

    /// A one-page document drawing `image`.
    fn doc_with(image: Stream) -> Document {
        let mut doc = Document::with_version("1.5");
        let img = doc.add_object(image);
        let pages = doc.new_object_id();
        let content = doc.add_object(Stream::new(
            dictionary! {},
            b"q 100 0 0 100 0 0 cm /Im1 Do Q".to_vec(),
        ));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages, "Contents" => content,
            "Resources" => dictionary! { "XObject" => dictionary! { "Im1" => img } },
        });
        doc.objects.insert(
            pages,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        doc.trailer.set("Root", catalog);
        doc
    }

    #[test]
    fn gray_samples_become_pgm_and_masks_pbm() {
        let gray = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 2, "Height" => 2,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
            vec![0, 255, 255, 0],
        );
        let imgs = page_images(&doc_with(gray), 5, 1 << 20);
        assert_eq!(imgs, vec![b"P5\n2 2\n255\n\x00\xff\xff\x00".to_vec()]);

        let mut flate = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 1, "Height" => 1,
            "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 8 },
            vec![1, 2, 3],
        );
        flate.compress().expect("compress");
        let imgs = page_images(&doc_with(flate), 5, 1 << 20);
        assert_eq!(imgs, vec![b"P6\n1 1\n255\n\x01\x02\x03".to_vec()]);

        let mask = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 9, "Height" => 1,
            "ImageMask" => true },
            vec![0b0000_1111, 0b1000_0000],
        );
        let imgs = page_images(&doc_with(mask), 5, 1 << 20);
        assert_eq!(imgs, vec![b"P4\n9 1\n\xf0\x7f".to_vec()]);
    }

    #[test]
    fn jpeg_is_passed_as_stored_and_oversized_or_unknown_pictures_are_skipped() {
        let jpeg = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 10, "Height" => 10,
            "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 8, "Filter" => "DCTDecode" },
            b"\xff\xd8\xff\xe0fake".to_vec(),
        );
        assert_eq!(
            page_images(&doc_with(jpeg.clone()), 5, 1 << 20),
            vec![b"\xff\xd8\xff\xe0fake".to_vec()]
        );
        assert!(
            page_images(&doc_with(jpeg), 5, 4).is_empty(),
            "over the byte cap"
        );
        let huge = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 100_000, "Height" => 100_000,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
            vec![0; 16],
        );
        assert!(page_images(&doc_with(huge), 5, u64::MAX).is_empty());
        let cmyk = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 1, "Height" => 1,
            "ColorSpace" => "DeviceCMYK", "BitsPerComponent" => 8 },
            vec![0; 4],
        );
        assert!(page_images(&doc_with(cmyk), 5, 1 << 20).is_empty());
        let short = Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 4, "Height" => 4,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
            vec![0; 3],
        );
        assert!(
            page_images(&doc_with(short), 5, 1 << 20).is_empty(),
            "truncated samples"
        );
    }

    #[test]
    fn a_missing_program_or_language_turns_ocr_off_with_a_reason() {
        let err = detect(Path::new("no-such-tesseract-xyz"), "fra", 5).expect_err("missing");
        assert!(err.contains("not found"), "{err}");
        // `true` is a program that lists no language.
        if let Some(t) = resolve(Path::new("true")) {
            let err = detect(&t, "fra", 5).expect_err("no language");
            assert!(err.contains("no language"), "{err}");
        }
    }
}
