//! Builders of small test documents, good and hostile (used by unit,
//! HTTP and end-to-end tests; nothing here runs in the server).
//!
//! Hostile files are generated, not committed: the decompression bombs are
//! built from one compressed chunk repeated (a full flush resets the
//! compressor, so every later chunk compresses to the same bytes), with
//! the Adler-32 / CRC-32 combined arithmetically — a 10 GiB bomb takes
//! milliseconds to make.

use std::io::Write;

use flate2::{Compress, Compression, FlushCompress};

/// A minimal DOCX whose paragraphs are `paragraphs`.
pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
    let mut body = String::new();
    for p in paragraphs {
        body.push_str("<w:p><w:r><w:t xml:space=\"preserve\">");
        body.push_str(&xml_escape(p));
        body.push_str("</w:t></w:r></w:p>");
    }
    docx_with_xml(&docx_document(&body))
}

/// `word/document.xml` around `body`.
pub fn docx_document(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{body}</w:body></w:document>"
    )
}

const DOCX_CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
    <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
    <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
    <Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
    </Types>";

/// A DOCX whose `word/document.xml` is `xml` (any bytes).
pub fn docx_with_xml(xml: &str) -> Vec<u8> {
    zip_of(&[
        ("[Content_Types].xml", DOCX_CONTENT_TYPES.as_bytes()),
        ("word/document.xml", xml.as_bytes()),
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
    odt_with_xml(&odt_content(&body))
}

const ODT_MIMETYPE: &[u8] = b"application/vnd.oasis.opendocument.text";

/// `content.xml` around `body`.
pub fn odt_content(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\">\
         <office:body><office:text>{body}</office:text></office:body></office:document-content>"
    )
}

/// An ODT whose `content.xml` is `xml`.
pub fn odt_with_xml(xml: &str) -> Vec<u8> {
    zip_of(&[("mimetype", ODT_MIMETYPE), ("content.xml", xml.as_bytes())])
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A ZIP of `entries` (`mimetype` stored, the rest deflated).
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
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

/// A one-page PDF (Helvetica, WinAnsi) with one line per entry of `lines`.
pub fn pdf(lines: &[&[u8]]) -> Vec<u8> {
    let mut content = b"BT /F1 14 Tf 72 760 Td 16 TL\n".to_vec();
    for l in lines {
        content.extend_from_slice(&pdf_string(l));
        content.extend_from_slice(b" Tj T*\n");
    }
    content.extend_from_slice(b"ET\n");
    pdf_with_content(&zlib(&content), "/Filter /FlateDecode", &[])
}

/// `bytes` as a PDF literal string.
fn pdf_string(bytes: &[u8]) -> Vec<u8> {
    let mut s = vec![b'('];
    for &b in bytes {
        if matches!(b, b'(' | b')' | b'\\') {
            s.push(b'\\');
        }
        s.push(b);
    }
    s.push(b')');
    s
}

/// A one-page PDF whose page content stream holds `stream` (already
/// encoded as `filter` says), plus `extra` objects numbered from 6.
pub fn pdf_with_content(stream: &[u8], filter: &str, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
            .to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
        stream_object(filter, stream),
    ];
    objects.extend(extra.iter().cloned());
    raw_pdf(&objects)
}

/// A one-page "scanned" PDF: no text, only `jpeg` (a `width` × `height`
/// JPEG) drawn over the page, as a scanner or a phone produces.
pub fn pdf_scanned(jpeg: &[u8], width: u32, height: u32) -> Vec<u8> {
    let draw = b"q 595 0 0 200 0 600 cm /Scan Do Q".to_vec();
    raw_pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Resources << /XObject << /Scan 5 0 R >> >> /Contents 4 0 R >>"
            .to_vec(),
        stream_object("", &draw),
        stream_object(
            &format!(
                "/Type /XObject /Subtype /Image /Width {width} /Height {height} \
                 /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode"
            ),
            jpeg,
        ),
    ])
}

/// `<< /Length n {dict} >> stream … endstream`.
pub fn stream_object(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut o = format!("<< /Length {} {dict} >>\nstream\n", data.len()).into_bytes();
    o.extend_from_slice(data);
    o.extend_from_slice(b"\nendstream");
    o
}

/// A PDF of `objects` (numbered 1…n, object 1 the catalog) with a correct
/// cross-reference table.
pub fn raw_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// zlib (RFC 1950) of `data`.
pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Raw deflate of `chunk` repeated `times`, made by compressing `chunk`
/// twice: the chunks after a full flush all compress to the same bytes.
pub fn deflate_repeated(chunk: &[u8], times: usize) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let first = compress_step(&mut c, chunk, FlushCompress::Full);
    let next = compress_step(&mut c, chunk, FlushCompress::Full);
    let end = compress_step(&mut c, &[], FlushCompress::Finish);
    let mut out = Vec::with_capacity(first.len() + next.len() * times + end.len());
    if times > 0 {
        out.extend_from_slice(&first);
        for _ in 1..times {
            out.extend_from_slice(&next);
        }
    }
    out.extend_from_slice(&end);
    out
}

fn compress_step(c: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len() / 4 + 1024);
    let start_in = c.total_in();
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = usize::try_from(c.total_in() - start_in).unwrap_or(usize::MAX);
        let before_out = out.len();
        if c.compress_vec(&input[consumed..], &mut out, flush).is_err() {
            return out;
        }
        let consumed = usize::try_from(c.total_in() - start_in).unwrap_or(usize::MAX);
        // Done when all input is in and the flush left room to spare.
        if consumed == input.len() && out.len() - before_out < out.capacity() - before_out {
            return out;
        }
    }
}

/// zlib of `chunk` repeated `times` (see [`deflate_repeated`]).
pub fn zlib_repeated(chunk: &[u8], times: usize) -> Vec<u8> {
    let mut out = vec![0x78, 0xDA];
    out.extend_from_slice(&deflate_repeated(chunk, times));
    let one = adler32(chunk);
    let mut sum = 1u32; // Adler-32 of nothing
    for _ in 0..times {
        sum = adler32_combine(sum, one, chunk.len() as u64);
    }
    out.extend_from_slice(&sum.to_be_bytes());
    out
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u64, 0u64);
    for &x in data {
        a = (a + u64::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    ((b << 16) | a) as u32
}

/// zlib's `adler32_combine`: the checksum of A‖B from those of A and B.
fn adler32_combine(a1: u32, a2: u32, len2: u64) -> u32 {
    const BASE: u64 = 65521;
    let rem = len2 % BASE;
    let (a1, a2) = (u64::from(a1), u64::from(a2));
    let mut sum1 = a1 & 0xffff;
    let mut sum2 = (rem * sum1) % BASE;
    sum1 += (a2 & 0xffff) + BASE - 1;
    sum2 += ((a1 >> 16) & 0xffff) + ((a2 >> 16) & 0xffff) + BASE - rem;
    if sum1 >= BASE {
        sum1 -= BASE;
    }
    if sum1 >= BASE {
        sum1 -= BASE;
    }
    if sum2 >= BASE << 1 {
        sum2 -= BASE << 1;
    }
    if sum2 >= BASE {
        sum2 -= BASE;
    }
    (sum1 | (sum2 << 16)) as u32
}

/// One entry of a hand-made ZIP: everything as declared, nothing checked.
pub struct RawEntry<'a> {
    /// Entry name.
    pub name: &'a str,
    /// 0 stored, 8 deflated, 12 bzip2…
    pub method: u16,
    /// The bytes as stored.
    pub data: &'a [u8],
    /// CRC-32 of the uncompressed data.
    pub crc: u32,
    /// Declared uncompressed size.
    pub uncompressed: u32,
}

impl RawEntry<'_> {
    /// A stored entry (CRC and size computed).
    pub fn stored<'a>(name: &'a str, data: &'a [u8]) -> RawEntry<'a> {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        RawEntry {
            name,
            method: 0,
            data,
            crc: crc.sum(),
            uncompressed: u32::try_from(data.len()).unwrap_or(u32::MAX),
        }
    }
}

/// A ZIP archive written by hand, so that sizes, CRCs and methods can lie.
pub fn raw_zip(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let csize = u32::try_from(e.data.len()).unwrap_or(u32::MAX);
        let name_len = u16::try_from(e.name.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // time
        out.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
        out.extend_from_slice(&e.crc.to_le_bytes());
        out.extend_from_slice(&csize.to_le_bytes());
        out.extend_from_slice(&e.uncompressed.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(e.data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        central.extend_from_slice(&20u16.to_le_bytes()); // needed
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&e.method.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0x21u16.to_le_bytes());
        central.extend_from_slice(&e.crc.to_le_bytes());
        central.extend_from_slice(&csize.to_le_bytes());
        central.extend_from_slice(&e.uncompressed.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0u8; 8]); // extra, comment, disk, internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(e.name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
    let cd_size = u32::try_from(central.len()).unwrap_or(u32::MAX);
    let count = u16::try_from(entries.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]); // disk numbers
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A deflated entry of `chunk` repeated `times` (a zip bomb entry):
/// (compressed bytes, CRC-32, uncompressed size).
pub fn deflated_repeated_entry(chunk: &[u8], times: usize) -> (Vec<u8>, u32, u32) {
    let data = deflate_repeated(chunk, times);
    let mut one = flate2::Crc::new();
    one.update(chunk);
    let mut crc = flate2::Crc::new();
    for _ in 0..times {
        crc.combine(&one);
    }
    let size = u32::try_from(chunk.len() as u64 * times as u64).unwrap_or(u32::MAX);
    (data, crc.sum(), size)
}

// ---------------------------------------------------------------------------
// The hostile files of the issue.

/// A valid one-page PDF with one more object made of `depth` `[` then
/// `depth` `]` (the issue's case: 1000, 2.4 KB; it aborted the node with a
/// stack overflow).
pub fn pdf_deep_brackets(depth: usize) -> Vec<u8> {
    let mut arr = "[".repeat(depth).into_bytes();
    arr.extend_from_slice("]".repeat(depth).as_bytes());
    pdf_with_content(b"BT ET", "", &[arr])
}

/// A PDF whose page content is `decompressed` bytes of text operators,
/// compressed (the issue's case: 64 MiB of operators in a 191 KiB file,
/// which took 45 s and 5.8 GB).
pub fn pdf_operator_bomb(decompressed: usize) -> Vec<u8> {
    let op: &[u8] = b"BT /F1 12 Tf 72 700 Td (Cariste CACES) Tj ET\n";
    let chunk: Vec<u8> = op.iter().copied().cycle().take(op.len() * 1489).collect();
    let times = decompressed.div_ceil(chunk.len()).max(1);
    pdf_with_content(&zlib_repeated(&chunk, times), "/Filter /FlateDecode", &[])
}

/// A PDF whose page content inflates to `decompressed` zero bytes (the
/// issue's case: 510 KiB → 512 MiB, 1.15 GB peak; the 10 MiB variant
/// inflates to 10 GiB).
pub fn pdf_zero_bomb(decompressed: u64) -> Vec<u8> {
    let chunk = vec![0u8; 1024 * 1024];
    let times = usize::try_from(decompressed.div_ceil(chunk.len() as u64)).unwrap_or(usize::MAX);
    pdf_with_content(&zlib_repeated(&chunk, times), "/Filter /FlateDecode", &[])
}

/// An ODT whose paragraph repeats `<text:s text:c="100"/>` `count` times
/// (the issue's case: 159 KiB, 930 MB peak).
pub fn odt_space_bomb(count: usize) -> Vec<u8> {
    let whole = odt_content("\u{0}");
    let (before, after) = whole.split_once('\u{0}').unwrap_or_default();
    let head = format!("{before}<text:p>");
    let tail = format!("</text:p>{after}");
    let unit = "<text:s text:c=\"100\"/>";
    let per_chunk = 1 << 15;
    let chunk = unit.repeat(per_chunk);
    let times = count.div_ceil(per_chunk).max(1);
    // head, chunk × times, tail: each part ends with a full flush, so the
    // repeated middle is the same bytes every time.
    let mut c = Compress::new(Compression::best(), false);
    let mut data = compress_step(&mut c, head.as_bytes(), FlushCompress::Full);
    let first = compress_step(&mut c, chunk.as_bytes(), FlushCompress::Full);
    let next = compress_step(&mut c, chunk.as_bytes(), FlushCompress::Full);
    data.extend_from_slice(&first);
    for _ in 1..times {
        data.extend_from_slice(&next);
    }
    data.extend_from_slice(&compress_step(
        &mut c,
        tail.as_bytes(),
        FlushCompress::Finish,
    ));
    let crc_of = |b: &[u8]| {
        let mut c = flate2::Crc::new();
        c.update(b);
        c
    };
    let mut crc = crc_of(head.as_bytes());
    let one = crc_of(chunk.as_bytes());
    for _ in 0..times {
        crc.combine(&one);
    }
    crc.combine(&crc_of(tail.as_bytes()));
    let size = head.len() as u64 + chunk.len() as u64 * times as u64 + tail.len() as u64;
    raw_zip(&[
        RawEntry::stored("mimetype", ODT_MIMETYPE),
        RawEntry {
            name: "content.xml",
            method: 8,
            data: &data,
            crc: crc.sum(),
            uncompressed: u32::try_from(size).unwrap_or(u32::MAX),
        },
    ])
}

/// The hostile files of the issue, with the name they are uploaded under:
/// deep brackets, the operator bomb, the zero bomb, the ODT space bomb,
/// and the zero bomb grown to fill (not exceed) the 10 MiB upload limit.
pub fn issue_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("crochets.pdf", pdf_deep_brackets(1000)),
        ("operateurs.pdf", pdf_operator_bomb(64 * 1024 * 1024)),
        ("zeros.pdf", pdf_zero_bomb(512 * 1024 * 1024)),
        ("espaces.odt", odt_space_bomb(9_300_000)),
        ("zeros-10mio.pdf", pdf_zero_bomb(9_728 * 1024 * 1024)),
    ]
}

/// A PDF whose page draws a form XObject that draws itself
/// (`pdf-extract` recurses without end).
pub fn pdf_self_drawing_form() -> Vec<u8> {
    raw_pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Resources << /XObject << /X1 5 0 R >> >> /Contents 4 0 R >>"
            .to_vec(),
        stream_object("", b"/X1 Do"),
        stream_object(
            "/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X1 5 0 R >> >>",
            b"/X1 Do",
        ),
    ])
}

/// A PDF whose page's `Parent` chain loops (page → pages → page).
pub fn pdf_parent_cycle() -> Vec<u8> {
    raw_pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 3 0 R >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>".to_vec(),
        stream_object("", b"BT /F1 12 Tf (Cariste) Tj ET"),
    ])
}

/// A PDF with an object stream that inflates to `decompressed` bytes
/// (lopdf expands object streams while loading).
pub fn pdf_object_stream_bomb(decompressed: u64) -> Vec<u8> {
    let chunk = vec![b' '; 1024 * 1024];
    let times = usize::try_from(decompressed.div_ceil(chunk.len() as u64)).unwrap_or(usize::MAX);
    pdf_with_content(
        b"BT ET",
        "",
        &[stream_object(
            "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
            &zlib_repeated(&chunk, times),
        )],
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn repeated_zlib_inflates_to_the_repetition_with_a_valid_checksum() {
        let chunk: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let z = zlib_repeated(&chunk, 5);
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_end(&mut out)
            .expect("valid zlib, checksum included");
        assert_eq!(out.len(), chunk.len() * 5);
        assert!(out.chunks(chunk.len()).all(|c| c == chunk));
    }

    #[test]
    fn zip_bombs_are_valid_archives() {
        let odt = odt_space_bomb(10_000);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(odt)).expect("zip");
        let mut xml = String::new();
        zip.by_name("content.xml")
            .expect("entry")
            .read_to_string(&mut xml)
            .expect("CRC checks out");
        assert!(xml.starts_with("<?xml"));
        assert!(xml.ends_with("</office:document-content>"));
        assert_eq!(xml.matches("<text:s text:c=\"100\"/>").count(), 32_768);
    }

    #[test]
    fn issue_files_have_the_issue_sizes() {
        let deep = pdf_deep_brackets(1000);
        assert!((2_000..3_000).contains(&deep.len()), "{}", deep.len());
        let ops = pdf_operator_bomb(64 * 1024 * 1024);
        assert!(ops.len() < 400 * 1024, "{}", ops.len());
        let zeros = pdf_zero_bomb(512 * 1024 * 1024);
        assert!(zeros.len() < 600 * 1024, "{}", zeros.len());
    }
}
