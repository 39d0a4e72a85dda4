//! PDF text with every expansion capped before `pdf-extract` sees the file.
//!
//! `lopdf` and `pdf-extract` inflate whatever a file asks for: a 191 KiB
//! PDF of compressed text operators once took 5.8 GB, and deeply nested
//! arrays overflowed the stack. So, in order:
//! 1. a byte scan refuses arrays/dictionaries nested deeper than
//!    [`MAX_NESTING`] (the parsers recurse once per level);
//! 2. the document is loaded with a filter that charges every parsed object
//!    and every inflated object stream to the [`Limits::max_decompressed_bytes`]
//!    budget, and stops the load as soon as the budget is spent;
//! 3. an encrypted document is decrypted here (empty user password), its
//!    object streams charged the same way;
//! 4. every other stream's inflated size is measured with a capped decoder
//!    (nothing is kept) and charged, and the page content that
//!    `pdf-extract` will parse into operators is charged per page against
//!    [`Limits::max_pdf_content_bytes`];
//! 5. a page tree whose `Parent` chain loops (which `pdf-extract` follows
//!    recursively) is refused;
//! 6. the text is written into a sink that refuses to grow past
//!    [`Limits::max_text_bytes`].
//!
//! What still escapes these checks (CPU spent on forms drawn thousands of
//! times, a parser bug) is stopped by the sandbox's OS limits.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lopdf::{Document, Object, ObjectId, Stream};

use super::{corrupt, human_bytes, limit, DocKind, ExtractError, Limits, TextBuf};

/// Deepest nesting of arrays and dictionaries accepted (real files stay
/// under 10; the parsers recurse once per level).
pub const MAX_NESTING: usize = 100;
/// Longest `Parent` chain followed from a page.
const MAX_TREE_DEPTH: usize = 64;

const KIND: DocKind = DocKind::Pdf;

/// Write the text of the PDF in `bytes` into `out`; the loaded document is
/// returned for a second look (the pictures of a scanned file, for OCR).
pub(super) fn text(
    bytes: &[u8],
    limits: &Limits,
    out: &mut TextBuf,
) -> Result<Document, ExtractError> {
    let depth = max_nesting(bytes);
    if depth > MAX_NESTING {
        return Err(limit(
            KIND,
            format!("it nests arrays or dictionaries deeper than {MAX_NESTING} levels"),
        ));
    }
    let mut budget = Budget::new(limits.max_decompressed_bytes);
    let mut doc = load(bytes, &mut budget)?;
    if doc.is_encrypted() {
        decrypt(&mut doc, &mut budget)?;
    }
    charge_streams(&doc, &mut budget)?;
    check_pages(&doc, limits.max_pdf_content_bytes)?;

    let mut sink = CappedSink::new(limits.max_text_bytes as u64, true);
    let res = catch_unwind(AssertUnwindSafe(|| {
        let mut output = pdf_extract::PlainTextOutput::new(&mut sink as &mut dyn std::io::Write);
        pdf_extract::output_doc(&doc, &mut output)
    }));
    if sink.over {
        return Err(out.too_long());
    }
    match res {
        Ok(Ok(())) => out.push_str(&String::from_utf8_lossy(&sink.bytes))?,
        Ok(Err(e)) => return Err(corrupt(KIND, e)),
        Err(_) => return Err(corrupt(KIND, "the PDF parser failed on this file")),
    }
    Ok(doc)
}

/// Bytes the document may still expand to.
struct Budget {
    left: u64,
    max: u64,
}

impl Budget {
    fn new(max: u64) -> Budget {
        Budget { left: max, max }
    }

    fn charge(&mut self, n: u64) -> Result<(), ExtractError> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(self.exceeded()),
        }
    }

    fn exceeded(&self) -> ExtractError {
        limit(
            KIND,
            format!("it expands to more than {}", human_bytes(self.max)),
        )
    }

    /// Charge an object stream's inflated size (lopdf expands those itself).
    fn charge_object_stream(&mut self, stream: &Stream) -> Result<(), ExtractError> {
        match inflated_len(stream, self.left) {
            Some(n) => self.charge(n),
            None => Err(self.exceeded()),
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Nesting scan.

/// Deepest `[`/`<<` nesting outside strings, comments and stream data.
pub fn max_nesting(bytes: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut i = 0usize;
    let n = bytes.len();
    let is_delim = |b: u8| b.is_ascii_whitespace() || b"()<>[]{}/%".contains(&b);
    while i < n {
        match bytes[i] {
            b'%' => {
                while i < n && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'(' => {
                // Literal string: balanced parentheses, backslash escapes.
                let mut level = 0usize;
                while i < n {
                    match bytes[i] {
                        b'\\' => i += 1,
                        b'(' => level += 1,
                        b')' => {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                depth += 1;
                max = max.max(depth);
                i += 2;
            }
            b'<' => {
                // Hexadecimal string.
                while i < n && bytes[i] != b'>' {
                    i += 1;
                }
                i += 1;
            }
            b'>' if bytes.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 2;
            }
            b'[' => {
                depth += 1;
                max = max.max(depth);
                i += 1;
            }
            b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b if is_delim(b) => i += 1,
            _ => {
                let start = i;
                while i < n && !is_delim(bytes[i]) {
                    i += 1;
                }
                if &bytes[start..i] == b"stream" {
                    // Stream data is opaque: skip to `endstream`.
                    match find(&bytes[i..], b"endstream") {
                        Some(at) => i += at + b"endstream".len(),
                        None => i = n,
                    }
                }
            }
        }
    }
    max
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// 2. Loading under a budget.

thread_local! {
    /// The load filter is a plain `fn`: its budget lives here, for the one
    /// load running on this thread (lopdf is built without rayon).
    static LOAD_LEFT: Cell<u64> = const { Cell::new(0) };
}

/// Raised (as a panic payload) from the load filter to stop the load early.
struct BudgetSpent;

fn load(bytes: &[u8], budget: &mut Budget) -> Result<Document, ExtractError> {
    LOAD_LEFT.with(|c| c.set(budget.left));
    let res = catch_unwind(AssertUnwindSafe(|| {
        lopdf::Reader {
            buffer: bytes,
            document: Document::new(),
        }
        .read(Some(load_filter))
    }));
    let left = LOAD_LEFT.with(|c| c.get());
    match res {
        Ok(Ok(doc)) => {
            budget.left = left;
            Ok(doc)
        }
        Ok(Err(e)) => Err(corrupt(KIND, e)),
        Err(payload) if payload.is::<BudgetSpent>() => Err(budget.exceeded()),
        Err(_) => Err(corrupt(KIND, "the PDF parser failed on this file")),
    }
}

/// Charge each object as it is parsed, and each object stream's inflated
/// size before lopdf expands it; stop the load once the budget is spent.
fn load_filter(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    let mut cost = object_size(object);
    if let Object::Stream(s) = &*object {
        if s.dict.has_type(b"ObjStm") {
            let left = LOAD_LEFT.with(|c| c.get());
            cost = cost.saturating_add(inflated_len(s, left).unwrap_or(u64::MAX));
        }
    }
    let left = LOAD_LEFT.with(|c| c.get());
    match left.checked_sub(cost) {
        Some(l) => LOAD_LEFT.with(|c| c.set(l)),
        None => std::panic::panic_any(BudgetSpent),
    }
    // lopdf ignores what this returns for top-level objects (it keeps its
    // own) but uses it for the objects of an object stream, which are never
    // streams: clone only those.
    match object {
        Object::Stream(_) => Some((id, Object::Null)),
        other => Some((id, other.clone())),
    }
}

/// Approximate memory held by a parsed object (iterative: no recursion on
/// hostile nesting).
fn object_size(object: &Object) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![object];
    while let Some(o) = stack.pop() {
        total = total.saturating_add(32);
        match o {
            Object::Name(v) | Object::String(v, _) => total = total.saturating_add(v.len() as u64),
            Object::Array(items) => stack.extend(items.iter()),
            Object::Dictionary(d) => {
                for (k, v) in d.iter() {
                    total = total.saturating_add(k.len() as u64);
                    stack.push(v);
                }
            }
            Object::Stream(s) => {
                total = total.saturating_add(s.content.len() as u64);
                for (k, v) in s.dict.iter() {
                    total = total.saturating_add(k.len() as u64);
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    total
}

// ---------------------------------------------------------------------------
// 3. Decryption with the empty user password, object streams charged.

fn decrypt(doc: &mut Document, budget: &mut Budget) -> Result<(), ExtractError> {
    let locked = || corrupt(KIND, "the PDF is protected by a password");
    doc.authenticate_raw_password(b"").map_err(|_| locked())?;
    let enc_id = doc
        .trailer
        .get(b"Encrypt")
        .and_then(Object::as_reference)
        .map_err(|e| corrupt(KIND, e))?;
    let state = lopdf::EncryptionState::decode(&*doc, b"").map_err(|_| locked())?;
    for (&id, obj) in doc.objects.iter_mut() {
        if id != enc_id {
            lopdf::encryption::decrypt_object(&state, id, obj).map_err(|e| corrupt(KIND, e))?;
        }
    }
    let mut expanded = Vec::new();
    for obj in doc.objects.values_mut() {
        let Ok(stream) = obj.as_stream_mut() else {
            continue;
        };
        if stream.dict.has_type(b"ObjStm") {
            budget.charge_object_stream(stream)?;
            if let Ok(os) = lopdf::ObjectStream::new(stream) {
                expanded.extend(os.objects);
            }
        }
    }
    for (id, o) in expanded {
        doc.objects.entry(id).or_insert(o);
    }
    doc.trailer.remove(b"Encrypt");
    doc.objects.remove(&enc_id);
    doc.encryption_state = Some(state);
    Ok(())
}

// ---------------------------------------------------------------------------
// 4. Inflated sizes.

fn charge_streams(doc: &Document, budget: &mut Budget) -> Result<(), ExtractError> {
    for obj in doc.objects.values() {
        if let Object::Stream(s) = obj {
            if s.dict.has_type(b"ObjStm") || !is_inflated(s) {
                continue; // charged while loading
            }
            match inflated_len(s, budget.left) {
                Some(n) => budget.charge(n)?,
                None => return Err(budget.exceeded()),
            }
        }
    }
    Ok(())
}

/// What `pdf-extract` parses into operators, page by page: the page's
/// content streams and the form XObjects of its resources. A stream shared
/// by many pages counts once per page, as it is parsed once per page.
fn check_pages(doc: &Document, max_content: u64) -> Result<(), ExtractError> {
    let too_much = || {
        limit(
            KIND,
            format!("its page content exceeds {}", human_bytes(max_content)),
        )
    };
    let mut sizes: HashMap<ObjectId, u64> = HashMap::new();
    let mut size_of = |id: ObjectId| -> Option<u64> {
        if let Some(n) = sizes.get(&id) {
            return Some(*n);
        }
        let n = match doc.get_object(id).and_then(Object::as_stream) {
            Ok(s) => decoded_len(s, max_content)?,
            Err(_) => 0,
        };
        sizes.insert(id, n);
        Some(n)
    };
    let mut total = 0u64;
    for page_id in doc.get_pages().into_values() {
        check_parent_chain(doc, page_id)?;
        let mut streams: BTreeSet<ObjectId> = doc.get_page_contents(page_id).into_iter().collect();
        if let Ok((own, inherited)) = doc.get_page_resources(page_id) {
            let dicts = own.into_iter().chain(
                inherited
                    .iter()
                    .filter_map(|id| doc.get_dictionary(*id).ok()),
            );
            for resources in dicts {
                if let Ok(xobjects) = resources
                    .get_deref(b"XObject", doc)
                    .and_then(Object::as_dict)
                {
                    for (_, x) in xobjects.iter() {
                        if let Ok(id) = x.as_reference() {
                            let is_form = doc
                                .get_object(id)
                                .and_then(Object::as_stream)
                                .map(|s| {
                                    s.dict.get(b"Subtype").and_then(Object::as_name).ok()
                                        == Some(b"Form")
                                })
                                .unwrap_or(false);
                            if is_form {
                                streams.insert(id);
                            }
                        }
                    }
                }
            }
        }
        for id in streams {
            let n = size_of(id).ok_or_else(too_much)?;
            total = total.saturating_add(n);
            if total > max_content {
                return Err(too_much());
            }
        }
    }
    Ok(())
}

/// `pdf-extract` looks up inherited attributes by recursing on `Parent`:
/// refuse a chain that loops or is absurdly long.
fn check_parent_chain(doc: &Document, page_id: ObjectId) -> Result<(), ExtractError> {
    let mut seen = HashSet::new();
    let mut id = page_id;
    loop {
        if !seen.insert(id) || seen.len() > MAX_TREE_DEPTH {
            return Err(corrupt(KIND, "its page tree loops on itself"));
        }
        match doc
            .get_dictionary(id)
            .and_then(|d| d.get(b"Parent"))
            .and_then(Object::as_reference)
        {
            Ok(parent) => id = parent,
            Err(_) => return Ok(()),
        }
    }
}

/// Whether lopdf inflates this stream (its first filter is one it decodes).
fn is_inflated(stream: &Stream) -> bool {
    matches!(
        stream.filters().ok().as_deref().and_then(<[_]>::first),
        Some(&(b"FlateDecode" | b"LZWDecode" | b"ASCII85Decode"))
    )
}

/// The size of a stream once decoded as lopdf decodes it (through its
/// leading Flate / LZW / ASCII85 filters; a stream with no filter, or one
/// lopdf does not decode such as an image, is its stored bytes), or `None`
/// past `cap`.
fn decoded_len(stream: &Stream, cap: u64) -> Option<u64> {
    if !is_inflated(stream) {
        let n = stream.content.len() as u64;
        return (n <= cap).then_some(n);
    }
    inflated_len(stream, cap)
}

/// The size a stream inflates to through its leading Flate / LZW /
/// ASCII85 filters, or `None` past `cap`; 0 when it has none of them.
fn inflated_len(stream: &Stream, cap: u64) -> Option<u64> {
    let filters = match stream.filters() {
        Ok(f) if !f.is_empty() => f,
        _ => return Some(0),
    };
    let early_change = stream
        .dict
        .get(b"DecodeParms")
        .and_then(Object::as_dict)
        .and_then(|p| p.get(b"EarlyChange"))
        .and_then(Object::as_i64)
        .map(|v| v != 0)
        .unwrap_or(true);
    let mut data: Vec<u8> = Vec::new();
    let mut len = 0u64;
    for (i, filter) in filters.iter().enumerate() {
        let input: &[u8] = if i == 0 { &stream.content } else { &data };
        let keep = i + 1 < filters.len();
        let mut sink = CappedSink::new(cap, keep);
        match *filter {
            b"FlateDecode" => {
                let mut dec = flate2::read::ZlibDecoder::new(input);
                let mut buf = [0u8; 64 * 1024];
                loop {
                    match dec.read(&mut buf) {
                        Ok(0) | Err(_) => break, // lopdf keeps what it got
                        Ok(k) => {
                            if std::io::Write::write_all(&mut sink, &buf[..k]).is_err() {
                                return None;
                            }
                        }
                    }
                }
            }
            b"LZWDecode" => {
                let mut dec = if early_change {
                    weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
                } else {
                    weezl::decode::Decoder::new(weezl::BitOrder::Msb, 8)
                };
                let _ = dec.into_stream(&mut sink).decode_all(input);
            }
            b"ASCII85Decode" => {
                // At most 4 bytes per input byte (`z`): bounded, decode it.
                for chunk in ascii85(input).chunks(64 * 1024) {
                    if std::io::Write::write_all(&mut sink, chunk).is_err() {
                        return None;
                    }
                }
            }
            _ => break,
        }
        if sink.over {
            return None;
        }
        len = sink.written;
        data = sink.bytes;
    }
    Some(len)
}

fn ascii85(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut group = [0u32; 5];
    let mut count = 0usize;
    for &c in input {
        match c {
            b'~' => break,
            b'z' if count == 0 => out.extend_from_slice(&[0, 0, 0, 0]),
            b'!'..=b'u' => {
                group[count] = u32::from(c - b'!');
                count += 1;
                if count == 5 {
                    let v = group
                        .iter()
                        .fold(0u32, |acc, d| acc.wrapping_mul(85).wrapping_add(*d));
                    out.extend_from_slice(&v.to_be_bytes());
                    count = 0;
                }
            }
            _ => {}
        }
    }
    if count > 1 {
        for g in group.iter_mut().skip(count) {
            *g = 84;
        }
        let v = group
            .iter()
            .fold(0u32, |acc, d| acc.wrapping_mul(85).wrapping_add(*d));
        out.extend_from_slice(&v.to_be_bytes()[..count - 1]);
    }
    out
}

/// A writer that fails once more than `max` bytes were written; keeps the
/// bytes unless told to count only.
struct CappedSink {
    bytes: Vec<u8>,
    max: u64,
    over: bool,
    written: u64,
    keep: bool,
}

impl CappedSink {
    fn new(max: u64, keep: bool) -> CappedSink {
        CappedSink {
            bytes: Vec::new(),
            max,
            over: false,
            written: 0,
            keep,
        }
    }
}

impl std::io::Write for CappedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.over || self.written.saturating_add(buf.len() as u64) > self.max {
            self.over = true;
            return Err(std::io::Error::other("output limit reached"));
        }
        self.written += buf.len() as u64;
        if self.keep {
            self.bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::extract::testdocs;

    fn limits() -> Limits {
        Limits::default()
    }

    fn run(bytes: &[u8], limits: &Limits) -> Result<String, ExtractError> {
        let mut out = TextBuf::new(KIND, limits.max_text_bytes);
        text(bytes, limits, &mut out)?;
        Ok(out.text)
    }

    #[test]
    fn nesting_scan_skips_strings_comments_and_streams() {
        assert_eq!(max_nesting(b"<< /A [1 [2] << /B 3 >>] >>"), 3);
        // Brackets inside strings, hex strings, comments and stream data
        // do not count.
        assert_eq!(max_nesting(b"(a[[[[b) <5B5B5B> % [[[[[[\n[1]"), 1);
        assert_eq!(max_nesting(b"(a (nested [[[[) b) [1]"), 1);
        assert_eq!(max_nesting(b"(a \\) [[[[ b) [x]"), 1);
        let mut s = b"<< /Length 8 >>\nstream\n[[[[[[[[\nendstream\n".to_vec();
        s.extend_from_slice(b"[[]]");
        assert_eq!(max_nesting(&s), 2);
        // A name ending in "stream" is not the keyword.
        assert_eq!(max_nesting(b"/Xstream [[[ ]]]"), 3);
        assert_eq!(max_nesting(&testdocs::pdf_deep_brackets(1000)), 1000);
        assert!(max_nesting(&testdocs::pdf(&[b"[[[[ (x)"])) < 5);
    }

    #[test]
    fn inflated_sizes_are_capped_for_every_decoder() {
        let zeros = vec![0u8; 1 << 20];
        let flate = Stream::new(
            lopdf::dictionary! { "Filter" => "FlateDecode" },
            testdocs::zlib(&zeros),
        );
        assert_eq!(inflated_len(&flate, 2 << 20), Some(1 << 20));
        assert_eq!(inflated_len(&flate, (1 << 20) - 1), None);

        let mut lzw = Vec::new();
        let mut enc = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
        enc.into_stream(&mut lzw)
            .encode_all(&zeros[..])
            .status
            .expect("lzw");
        let lzw = Stream::new(lopdf::dictionary! { "Filter" => "LZWDecode" }, lzw);
        assert_eq!(inflated_len(&lzw, 2 << 20), Some(1 << 20));
        assert_eq!(inflated_len(&lzw, 1000), None);

        // ASCII85 then Flate: `z` is four zero bytes.
        let a85 = Stream::new(
            lopdf::dictionary! { "Filter" => "ASCII85Decode" },
            b"zzzz~>".to_vec(),
        );
        assert_eq!(inflated_len(&a85, 100), Some(16));
        assert_eq!(inflated_len(&a85, 15), None);
        assert_eq!(ascii85(b"87cURD]i,\"Ebo80~>"), b"Hello World!");

        // Unknown filters (images) and plain streams inflate nothing: they
        // decode to their stored bytes.
        let jpeg = Stream::new(
            lopdf::dictionary! { "Filter" => "DCTDecode" },
            vec![0xFF; 1000],
        );
        assert_eq!(inflated_len(&jpeg, 10), Some(0));
        assert_eq!(decoded_len(&jpeg, 1000), Some(1000));
        assert_eq!(decoded_len(&jpeg, 999), None);
        let plain = Stream::new(lopdf::dictionary! {}, vec![b'x'; 1000]);
        assert_eq!(inflated_len(&plain, 10), Some(0));
        assert_eq!(decoded_len(&plain, 1000), Some(1000));
        assert_eq!(decoded_len(&flate, 2 << 20), Some(1 << 20));
    }

    #[test]
    fn text_content_and_budget_caps_apply() {
        let pdf = testdocs::pdf(&[b"Cariste", b"CACES 3"]);
        assert!(run(&pdf, &limits()).expect("text").contains("Cariste"));
        let tiny_text = Limits {
            max_text_bytes: 5,
            ..limits()
        };
        let err = run(&pdf, &tiny_text).expect_err("text cap");
        assert!(err.to_string().contains("of text"), "{err}");
        let tiny_content = Limits {
            max_pdf_content_bytes: 10,
            ..limits()
        };
        let err = run(&pdf, &tiny_content).expect_err("content cap");
        assert!(err.to_string().contains("page content"), "{err}");
        let tiny_budget = Limits {
            max_decompressed_bytes: 100,
            ..limits()
        };
        let err = run(&pdf, &tiny_budget).expect_err("budget");
        assert!(err.to_string().contains("expands to more than"), "{err}");
    }

    #[test]
    fn page_content_shared_by_many_pages_counts_per_page() {
        // 2 000 pages drawing the same 2 KiB stream: 4 MB parsed in all.
        let n = 2_000;
        let kids: String = (0..n).map(|i| format!("{} 0 R ", i + 4)).collect();
        let mut objects = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            format!("<< /Type /Pages /Kids [{kids}] /Count {n} /MediaBox [0 0 595 842] >>")
                .into_bytes(),
            testdocs::stream_object("", &b"0 0 m ".repeat(340)),
        ];
        for _ in 0..n {
            objects.push(b"<< /Type /Page /Parent 2 0 R /Contents 3 0 R >>".to_vec());
        }
        let pdf = testdocs::raw_pdf(&objects);
        let err = run(&pdf, &limits()).expect_err("content cap");
        assert!(
            err.to_string().contains("page content exceeds 2 MiB"),
            "{err}"
        );
    }

    #[test]
    fn object_stream_bomb_stops_the_load() {
        let err = run(&testdocs::pdf_object_stream_bomb(80 << 20), &limits()).expect_err("bomb");
        assert!(
            err.to_string().contains("expands to more than 64 MiB"),
            "{err}"
        );
    }

    fn encrypted(user_password: &str) -> Vec<u8> {
        let mut doc = Document::load_mem(&testdocs::pdf(&[b"Cariste chiffr\xE9"])).expect("load");
        let id = Object::String(
            b"0123456789abcdef".to_vec(),
            lopdf::StringFormat::Hexadecimal,
        );
        doc.trailer.set("ID", vec![id.clone(), id]);
        let state = lopdf::EncryptionState::try_from(lopdf::EncryptionVersion::V2 {
            document: &doc,
            owner_password: "proprietaire",
            user_password,
            key_length: 128,
            permissions: lopdf::Permissions::all(),
        })
        .expect("state");
        doc.encrypt(&state).expect("encrypt");
        let mut out = Vec::new();
        doc.save_to(&mut out).expect("save");
        out
    }

    #[test]
    fn encrypted_pdfs_open_with_the_empty_password_only() {
        let open = encrypted("");
        assert!(!String::from_utf8_lossy(&open).contains("Cariste"));
        assert!(run(&open, &limits())
            .expect("text")
            .contains("Cariste chiffré"));
        let locked = encrypted("secret");
        let err = run(&locked, &limits()).expect_err("password");
        assert!(err.to_string().contains("protected by a password"), "{err}");
    }

    #[test]
    fn objects_inside_object_streams_are_read() {
        // The page (6) and its font (7) live in an object stream (3), as
        // PDF 1.5 writers (Word, LibreOffice) do.
        let page = b"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 7 0 R >> >> /Contents 5 0 R >>";
        let font =
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";
        let index = format!("6 0 7 {} ", page.len() + 1);
        let mut body = index.clone().into_bytes();
        body.extend_from_slice(page);
        body.push(b' ');
        body.extend_from_slice(font);
        let pdf = testdocs::raw_pdf(&[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [6 0 R] /Count 1 /MediaBox [0 0 595 842] >>".to_vec(),
            testdocs::stream_object(
                &format!(
                    "/Type /ObjStm /N 2 /First {} /Filter /FlateDecode",
                    index.len()
                ),
                &testdocs::zlib(&body),
            ),
            b"null".to_vec(),
            testdocs::stream_object("", b"BT /F1 12 Tf 72 700 Td (Magasinier cariste) Tj ET"),
        ]);
        let text = run(&pdf, &limits()).expect("text");
        assert!(text.contains("Magasinier cariste"), "{text:?}");
    }

    #[test]
    fn page_tree_loops_are_refused() {
        let err = run(&testdocs::pdf_parent_cycle(), &limits()).expect_err("loop");
        assert!(err.to_string().contains("loops"), "{err}");
    }
}
