//! French reference data: communes (INSEE codes, postcodes, centre
//! coordinates) and the ROME 4.0 job codes with their appellations.
//!
//! The data ships **inside the binary**: `node/data/*.csv.gz` are embedded with
//! `include_bytes!`, decompressed (flate2) and parsed (csv) once, on first use
//! of [`Referentials::global`] (or explicitly with [`Referentials::load`]).
//! Nothing is read from disk at run time. Sources and licences are in
//! `node/data/README.md` and the repository's `NOTICE`.
//!
//! Look-ups by INSEE code, postcode and ROME code are `HashMap` hits; commune
//! name prefix search is a binary search over a sorted vector of folded names;
//! ROME suggestion scans the ~14,700 folded labels and appellations (well under
//! a millisecond in release).
//!
//! Text matching always goes through [`fold`] (lower case, no accents,
//! hyphens/apostrophes as spaces), which other modules reuse.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::geo::{self, Point};

pub mod certifications;
mod synthetic;
pub mod territories;

pub use certifications::{Certification, Certifications};

// ---------------------------------------------------------------------------
// Embedded data
// ---------------------------------------------------------------------------

const COMMUNES_CSV_GZ: &[u8] = include_bytes!("../data/communes.csv.gz");
const ARRONDISSEMENTS_CSV_GZ: &[u8] = include_bytes!("../data/arrondissements_municipaux.csv.gz");
const FORMER_COMMUNES_CSV_GZ: &[u8] = include_bytes!("../data/communes_anciennes.csv.gz");
const ROME_CSV_GZ: &[u8] = include_bytes!("../data/rome.csv.gz");
const ROME_APPELLATIONS_CSV_GZ: &[u8] = include_bytes!("../data/rome_appellations.csv.gz");
const ROME_PARENTS_CSV_GZ: &[u8] = include_bytes!("../data/rome_parents.csv.gz");

const COMMUNE_COLUMNS: &[&str] = &["insee", "name", "departement", "postcodes", "lat", "lon"];

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// Why the embedded reference data could not be loaded. Only a corrupt build
/// can produce one of these.
#[derive(Debug, thiserror::Error)]
pub enum ReferentialError {
    #[error("cannot decompress embedded {file}: {source}")]
    Decompress {
        file: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse embedded {file}: {source}")]
    Csv {
        file: &'static str,
        #[source]
        source: csv::Error,
    },
    #[error("invalid embedded {file}, line {line}: {message}")]
    Invalid {
        file: &'static str,
        line: u64,
        message: String,
    },
}

/// A French commune, or a municipal arrondissement of Paris, Lyon or
/// Marseille (75101–75120, 69381–69389, 13201–13216).
///
/// JSON shape (the `Serialize`/`Deserialize` implementations):
///
/// ```json
/// {"insee": "41018", "name": "Blois", "departement": "41",
///  "postcodes": ["41000"],
///  "lat": 47.58163, "lon": 1.30621,
///  "lat_micro": 47581630, "lon_micro": 1306210}
/// ```
///
/// `lat`/`lon` are WGS84 degrees rounded to 5 decimals (for display and map
/// libraries); `lat_micro`/`lon_micro` are the exact integer micro-degrees
/// Vivier computes with. When the centre is unknown (98 overseas or newly
/// re-created communes) all four are `null`: the distance is unknown, never
/// measured from 0,0. On input, the micro-degree fields win; `lat`/`lon` are
/// only used if both micro fields are absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commune {
    /// INSEE code, 5 characters (`2A`/`2B` prefixes in Corsica).
    pub insee: String,
    pub name: String,
    /// Département code: `01`…`95`, `2A`, `2B`, `971`…`989`.
    pub departement: String,
    /// La Poste postcodes, possibly several (Saint-Étienne has three).
    pub postcodes: Vec<String>,
    /// Centre of the commune; `None` = distance unknown, never `0,0`.
    pub point: Option<Point>,
}

#[derive(Serialize)]
struct CommuneOut<'a> {
    insee: &'a str,
    name: &'a str,
    departement: &'a str,
    postcodes: &'a [String],
    lat: Option<f64>,
    lon: Option<f64>,
    lat_micro: Option<i64>,
    lon_micro: Option<i64>,
}

#[derive(Deserialize)]
struct CommuneIn {
    insee: String,
    name: String,
    departement: String,
    #[serde(default)]
    postcodes: Vec<String>,
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    #[serde(default)]
    lat_micro: Option<i64>,
    #[serde(default)]
    lon_micro: Option<i64>,
}

/// Degrees rounded to 5 decimals (≈ 1 m), as in the source data.
fn degrees_5(micro: i64) -> f64 {
    (geo::from_micro(micro) * 100_000.0).round() / 100_000.0
}

impl Serialize for Commune {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CommuneOut {
            insee: &self.insee,
            name: &self.name,
            departement: &self.departement,
            postcodes: &self.postcodes,
            lat: self.point.map(|p| degrees_5(p.lat_micro)),
            lon: self.point.map(|p| degrees_5(p.lon_micro)),
            lat_micro: self.point.map(|p| p.lat_micro),
            lon_micro: self.point.map(|p| p.lon_micro),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Commune {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let c = CommuneIn::deserialize(deserializer)?;
        let point = match (c.lat_micro, c.lon_micro, c.lat, c.lon) {
            (Some(lat), Some(lon), _, _) => Some(Point::new(lat, lon)),
            (None, None, Some(lat), Some(lon)) => Some(Point::from_degrees(lat, lon)),
            _ => None,
        };
        Ok(Commune {
            insee: c.insee,
            name: c.name,
            departement: c.departement,
            postcodes: c.postcodes,
            point,
        })
    }
}

/// A ROME 4.0 code (France Travail's job repertoire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RomeCode {
    /// e.g. `N1101`.
    pub code: String,
    /// e.g. `Conducteur / Conductrice de chariot élévateur`.
    pub label: String,
    /// The historical (ROME v3, 532 codes) parent code; may equal `code`.
    pub parent: String,
    /// Job titles people actually type ("Cariste", "Aide à domicile"), in
    /// source order.
    pub appellations: Vec<String>,
}

/// One answer of [`Referentials::suggest_rome`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RomeSuggestion {
    pub code: String,
    /// The code's label.
    pub label: String,
    /// The appellation (or the label, or the code) that matched the query.
    pub matched: String,
}

/// What a typed commune resolves to ([`Referentials::resolve_commune`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommuneMatch<'a> {
    /// Exactly one commune.
    One(&'a Commune),
    /// Several communes could be meant (homonyms, a shared postcode, a
    /// name prefix): the person chooses.
    Several(Vec<&'a Commune>),
    /// No commune.
    None,
}

/// How close two ROME codes are, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RomeRelation {
    /// The same code.
    Same,
    /// Different codes with the same historical parent.
    SameParent,
    /// Same domain: the first three characters (letter + two digits, `N11`).
    SameDomain,
    /// Unrelated, or one of the codes is malformed.
    None,
}

impl RomeRelation {
    /// 3 for `Same` down to 0 for `None`, for comparisons and scoring.
    pub fn strength(self) -> u8 {
        match self {
            RomeRelation::Same => 3,
            RomeRelation::SameParent => 2,
            RomeRelation::SameDomain => 1,
            RomeRelation::None => 0,
        }
    }
}

// ---------------------------------------------------------------------------
// Folding
// ---------------------------------------------------------------------------

/// Normalises text for matching: lower case, accents stripped (NFD, combining
/// marks dropped), `œ`→`oe`, `æ`→`ae`, `ß`→`ss`, hyphens, dashes and
/// apostrophes turned into spaces, whitespace collapsed and trimmed.
/// Other punctuation is kept.
///
/// `fold("Œuvre Saint-Étienne") == "oeuvre saint etienne"`,
/// `fold("L'Haÿ-les-Roses") == "l hay les roses"`.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Start as if after a space so leading separators are dropped.
    let mut pending_space = false;
    for c in s.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        for lc in c.to_lowercase() {
            let replacement: Option<&str> = match lc {
                'œ' => Some("oe"),
                'æ' => Some("ae"),
                'ß' => Some("ss"),
                _ => None,
            };
            let is_sep = lc.is_whitespace()
                || matches!(
                    lc,
                    '-' | '\'' | '\u{2010}'
                        ..='\u{2015}'
                            | '\u{2018}'
                            | '\u{2019}'
                            | '\u{02BC}'
                            | '\u{2212}'
                            | '`'
                            | '´'
                );
            if is_sep {
                pending_space = !out.is_empty();
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            match replacement {
                Some(r) => out.push_str(r),
                None => out.push(lc),
            }
        }
    }
    out
}

/// Words of an already folded string: maximal runs of alphanumerics.
fn words(folded: &str) -> impl Iterator<Item = &str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

// ---------------------------------------------------------------------------
// The referential
// ---------------------------------------------------------------------------

/// One searchable text of a ROME code (its label or an appellation).
#[derive(Debug)]
struct RomeText {
    rome: usize,
    /// Original text, returned as `matched`.
    text: String,
    /// Folded full text plus, for "Masculin / Féminin suffixe" texts, the two
    /// gendered forms ("agent a domicile", "agente a domicile").
    forms: Vec<String>,
    /// Folded words of the full text.
    words: Vec<String>,
    /// Whether this is the code's label (preferred over an appellation of
    /// the same rank: it names the job the code is about).
    is_label: bool,
}

/// All reference data, indexed. Build once ([`Referentials::global`]) and
/// share; it is immutable.
#[derive(Debug)]
pub struct Referentials {
    communes: Vec<Commune>,
    by_insee: HashMap<String, usize>,
    by_postcode: HashMap<String, Vec<usize>>,
    /// (folded name key, commune index), sorted. Each commune appears under
    /// its folded name and, if it starts with an article (le, la, les, l),
    /// also without it ("abergement clemenciat"), and under the names of
    /// the former communes merged into it ("onzain" → Veuzain-sur-Loire).
    names: Vec<(String, usize)>,
    /// Folded former names of a commune (communes déléguées or associées
    /// of a commune nouvelle), by commune index.
    former: HashMap<usize, Vec<String>>,
    /// The communes with a centre, as (latitude, longitude) in
    /// micro-degrees and commune index, sorted by latitude: a box's
    /// communes are a slice of it, found without reading every commune
    /// ([`Referentials::communes_in_box`]).
    by_lat: Vec<(i32, i32, u32)>,
    romes: Vec<RomeCode>,
    by_rome: HashMap<String, usize>,
    rome_texts: Vec<RomeText>,
}

static GLOBAL: OnceLock<Referentials> = OnceLock::new();

impl Referentials {
    /// Decompresses, parses, validates and indexes the embedded data
    /// (about 100 ms in release). Prefer [`Referentials::global`].
    pub fn load() -> Result<Referentials, ReferentialError> {
        let mut communes = parse_communes("communes.csv", COMMUNES_CSV_GZ)?;
        let first_arrondissement = communes.len();
        communes.extend(parse_communes(
            "arrondissements_municipaux.csv",
            ARRONDISSEMENTS_CSV_GZ,
        )?);

        let mut by_insee = HashMap::with_capacity(communes.len());
        let mut by_postcode: HashMap<String, Vec<usize>> = HashMap::new();
        let mut names = Vec::with_capacity(communes.len() + communes.len() / 8);
        for (i, c) in communes.iter().enumerate() {
            if by_insee.insert(c.insee.clone(), i).is_some() {
                return Err(ReferentialError::Invalid {
                    file: "communes.csv",
                    line: 0,
                    message: format!("duplicate INSEE code {}", c.insee),
                });
            }
            for pc in &c.postcodes {
                by_postcode.entry(pc.clone()).or_default().push(i);
            }
            let folded = fold(&c.name);
            if let Some(rest) = strip_article(&folded) {
                names.push((rest.to_owned(), i));
            }
            names.push((folded, i));
        }
        let mut former: HashMap<usize, Vec<String>> = HashMap::new();
        for (line, r) in read_csv(
            "communes_anciennes.csv",
            FORMER_COMMUNES_CSV_GZ,
            &["name", "departement", "insee"],
        )? {
            let Some(&i) = by_insee.get(field(&r, 2)) else {
                return Err(ReferentialError::Invalid {
                    file: "communes_anciennes.csv",
                    line,
                    message: format!("unknown current commune {}", field(&r, 2)),
                });
            };
            let folded = fold(field(&r, 0));
            if let Some(rest) = strip_article(&folded) {
                names.push((rest.to_owned(), i));
            }
            names.push((folded.clone(), i));
            former.entry(i).or_default().push(folded);
        }
        names.sort_unstable();
        // Paris, Lyon and Marseille list every postcode of their
        // arrondissements: put the arrondissements (where people actually
        // live) before the whole city.
        for v in by_postcode.values_mut() {
            v.sort_by_key(|&i| (i < first_arrondissement, i));
        }

        let mut by_lat: Vec<(i32, i32, u32)> = communes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let p = c.point?;
                Some((
                    i32::try_from(p.lat_micro).ok()?,
                    i32::try_from(p.lon_micro).ok()?,
                    u32::try_from(i).ok()?,
                ))
            })
            .collect();
        by_lat.sort_unstable();

        let (romes, by_rome) = parse_romes()?;
        let mut rome_texts = Vec::with_capacity(romes.len() * 10);
        for (i, r) in romes.iter().enumerate() {
            let mut seen = HashSet::new();
            for (n, text) in std::iter::once(&r.label)
                .chain(r.appellations.iter())
                .enumerate()
            {
                let folded = fold(text);
                if !seen.insert(folded.clone()) {
                    continue;
                }
                let words = words(&folded).map(str::to_owned).collect();
                let mut forms = vec![folded.clone()];
                forms.extend(gendered_forms(&folded));
                rome_texts.push(RomeText {
                    rome: i,
                    text: text.clone(),
                    forms,
                    words,
                    is_label: n == 0,
                });
            }
        }

        Ok(Referentials {
            communes,
            by_insee,
            by_postcode,
            names,
            former,
            by_lat,
            romes,
            by_rome,
            rome_texts,
        })
    }

    /// The process-wide referential, loaded on first call.
    ///
    /// # Panics
    /// Only if the data embedded at build time is corrupt (a build defect,
    /// caught by this module's tests).
    #[allow(clippy::expect_used)]
    pub fn global() -> &'static Referentials {
        GLOBAL.get_or_init(|| {
            let started = std::time::Instant::now();
            let r = Referentials::load()
                .expect("embedded referential data (node/data/*.csv.gz) is corrupt");
            tracing::debug!(
                communes = r.communes.len(),
                rome_codes = r.romes.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "referentials loaded"
            );
            r
        })
    }

    // ----- communes --------------------------------------------------------

    /// All communes then all municipal arrondissements, in INSEE order.
    pub fn communes(&self) -> &[Commune] {
        &self.communes
    }

    /// The indexes in [`Referentials::communes`] of the communes whose
    /// centre lies in `bbox` (bounds inclusive), in no particular order:
    /// a binary search for the box's latitudes in a table sorted by
    /// latitude, then the longitudes of that band (12 bytes a commune)
    /// instead of every commune's record.
    pub fn communes_in_box(
        &self,
        bbox: &crate::geo::BoundingBox,
    ) -> impl Iterator<Item = usize> + '_ {
        let clamp =
            |v: i64| i32::try_from(v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))).unwrap_or(0);
        let (lo, hi) = (clamp(bbox.min_lat), clamp(bbox.max_lat));
        let (west, east) = (bbox.min_lon, bbox.max_lon);
        let start = self.by_lat.partition_point(|e| e.0 < lo);
        let end = self.by_lat.partition_point(|e| e.0 <= hi);
        self.by_lat
            .get(start..end.max(start))
            .unwrap_or(&[])
            .iter()
            .filter(move |e| {
                let lon = i64::from(e.1);
                lon >= west && lon <= east
            })
            .map(|e| e.2 as usize)
    }

    /// A commune or municipal arrondissement by INSEE code (case-insensitive
    /// for `2a`/`2b`, surrounding spaces ignored).
    pub fn commune(&self, insee: &str) -> Option<&Commune> {
        let insee = insee.trim();
        match self.by_insee.get(insee) {
            Some(&i) => self.communes.get(i),
            None if insee.bytes().any(|b| b.is_ascii_lowercase()) => self
                .by_insee
                .get(&insee.to_ascii_uppercase())
                .and_then(|&i| self.communes.get(i)),
            None => None,
        }
    }

    /// Communes and arrondissements served by a postcode: municipal
    /// arrondissements first, then communes, each in INSEE order. `75015`
    /// gives `75115` (Paris 15e) then `75056` (Paris, which the source lists
    /// under all its postcodes).
    pub fn communes_by_postcode(&self, postcode: &str) -> Vec<&Commune> {
        self.by_postcode
            .get(postcode.trim())
            .map(|v| v.iter().filter_map(|&i| self.communes.get(i)).collect())
            .unwrap_or_default()
    }

    /// Free-text commune search, at most `limit` results:
    ///
    /// - a 5-character INSEE code (`41018`, `2A004`) → that commune first;
    /// - a 5-digit postcode → the communes it serves (after the INSEE hit, if
    ///   the string is both);
    /// - otherwise a name prefix, insensitive to case, accents, hyphens and
    ///   apostrophes, with or without the leading article ("abergement"
    ///   finds "L'Abergement-Clémenciat"); a leading "St"/"Ste" word also
    ///   searches "Saint"/"Sainte". Exact name matches come first, then
    ///   shorter names, then alphabetical order, then INSEE order.
    pub fn search_communes(&self, q: &str, limit: usize) -> Vec<&Commune> {
        let q = q.trim();
        if limit == 0 || q.is_empty() {
            return Vec::new();
        }
        if q.len() == 5 && is_code_like(q) {
            let mut out: Vec<&Commune> = Vec::new();
            if let Some(c) = self.commune(q) {
                out.push(c);
            }
            if q.bytes().all(|b| b.is_ascii_digit()) {
                for c in self.communes_by_postcode(q) {
                    if !out.iter().any(|o| o.insee == c.insee) {
                        out.push(c);
                    }
                }
            }
            out.truncate(limit);
            return out;
        }
        let fq = fold(q);
        if fq.is_empty() {
            return Vec::new();
        }
        // "St Etienne", "Ste Foy": the usual abbreviations of Saint(e).
        let mut queries = vec![fq.clone()];
        for (abbr, full) in [("st ", "saint "), ("ste ", "sainte ")] {
            if let Some(rest) = fq.strip_prefix(abbr) {
                queries.push(format!("{full}{rest}"));
            }
        }
        let mut hits: Vec<(bool, usize, &str, usize)> = Vec::new();
        let mut seen = HashSet::new();
        for fq in &queries {
            let start = self
                .names
                .partition_point(|(n, _)| n.as_str() < fq.as_str());
            for (name, i) in self.names[start..].iter() {
                if !name.starts_with(fq.as_str()) {
                    break;
                }
                hits.push((name.len() != fq.len(), name.len(), name.as_str(), *i));
            }
        }
        // Best key first, then keep one entry per commune.
        hits.sort_unstable();
        hits.into_iter()
            .filter(|h| seen.insert(h.3))
            .filter_map(|h| self.communes.get(h.3))
            .take(limit)
            .collect()
    }

    /// What a person typed for a commune — an INSEE code, a postcode, a
    /// name, or a name with its département as the forms offer it
    /// (« Saint-Aignan (41) ») — resolved without guessing: one commune
    /// when it is unambiguous, the choices when several communes bear that
    /// name or share that postcode (homonyms are never settled silently),
    /// nothing when none matches. Names are compared insensitive to case,
    /// accents, hyphens and apostrophes; a name with no exact match offers
    /// the communes whose name starts with it.
    pub fn resolve_commune(&self, typed: &str) -> CommuneMatch<'_> {
        const MAX_CHOICES: usize = 12;
        let typed = typed.trim();
        if typed.is_empty() {
            return CommuneMatch::None;
        }
        if typed.len() == 5 && is_code_like(typed) {
            // An INSEE code, a postcode, or both (41110 is a commune's code
            // and Saint-Aignan's postcode): every commune it may mean.
            let mut meant: Vec<&Commune> = self.commune(typed).into_iter().collect();
            for c in self.communes_by_postcode(typed) {
                if !meant.iter().any(|m| m.insee == c.insee) {
                    meant.push(c);
                }
            }
            return match meant.len() {
                0 => CommuneMatch::None,
                1 => CommuneMatch::One(meant[0]),
                _ => CommuneMatch::Several(meant.into_iter().take(MAX_CHOICES).collect()),
            };
        }
        // « Nom (41) »: the département given with the name.
        let (name, dep) = match typed.strip_suffix(')').and_then(|t| t.rsplit_once('(')) {
            Some((n, d)) if !n.trim().is_empty() && !d.trim().is_empty() => {
                (n.trim(), Some(d.trim().to_ascii_uppercase()))
            }
            _ => (typed, None),
        };
        let folded = fold(name);
        let found: Vec<&Commune> = self
            .search_communes(name, 200)
            .into_iter()
            .filter(|c| dep.as_deref().is_none_or(|d| c.departement == d))
            .collect();
        let exact: Vec<&Commune> = found
            .iter()
            .copied()
            .filter(|c| fold(&c.name) == folded || self.former_names(c).contains(&folded))
            .collect();
        match (exact.len(), found.len()) {
            (1, _) => CommuneMatch::One(exact[0]),
            (0, 0) => CommuneMatch::None,
            (0, _) => CommuneMatch::Several(found.into_iter().take(MAX_CHOICES).collect()),
            _ => CommuneMatch::Several(exact.into_iter().take(MAX_CHOICES).collect()),
        }
    }

    /// The folded names of the former communes merged into `c` (its
    /// communes déléguées or associées: « onzain » for Veuzain-sur-Loire).
    pub fn former_names(&self, c: &Commune) -> &[String] {
        self.by_insee
            .get(&c.insee)
            .and_then(|i| self.former.get(i))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    // ----- ROME -----------------------------------------------------------

    /// All ROME codes, in code order.
    pub fn rome_codes(&self) -> &[RomeCode] {
        &self.romes
    }

    /// A ROME code (case-insensitive, surrounding spaces ignored).
    pub fn rome(&self, code: &str) -> Option<&RomeCode> {
        let code = code.trim();
        match self.by_rome.get(code) {
            Some(&i) => self.romes.get(i),
            None if code.bytes().any(|b| b.is_ascii_lowercase()) => self
                .by_rome
                .get(&code.to_ascii_uppercase())
                .and_then(|&i| self.romes.get(i)),
            None => None,
        }
    }

    /// Whether `code` is a ROME 4.0 code.
    pub fn rome_exists(&self, code: &str) -> bool {
        self.rome(code).is_some()
    }

    /// The historical parent of a ROME code (may be the code itself).
    pub fn rome_parent(&self, code: &str) -> Option<&str> {
        self.rome(code).map(|r| r.parent.as_str())
    }

    /// Job suggestions for what a counsellor or employer types, at most
    /// `limit`, one per ROME code, best first.
    ///
    /// - A full code (`N1101`, case-insensitive) gives that code first; a code
    ///   prefix (`N11`, `n1`) gives the codes starting with it.
    /// - Otherwise the folded query is matched against every label and
    ///   appellation, and against their gendered forms ("Agent / Agente à
    ///   domicile" is also "agent a domicile" and "agente a domicile"). Rank:
    ///   exact match > text starting with the query > every query word is a
    ///   prefix of a word of the text ("carist", "aide domicile") > the query
    ///   is a substring. Ties: a code's label before its appellations, then
    ///   shorter text, then code order.
    pub fn suggest_rome(&self, q: &str, limit: usize) -> Vec<RomeSuggestion> {
        let q = q.trim();
        if limit == 0 || q.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if is_rome_prefix(q) {
            let upper = q.to_ascii_uppercase();
            for r in self.romes.iter().filter(|r| r.code.starts_with(&upper)) {
                out.push(RomeSuggestion {
                    code: r.code.clone(),
                    label: r.label.clone(),
                    matched: r.code.clone(),
                });
                if out.len() >= limit {
                    break;
                }
            }
            if q.len() == 5 || !out.is_empty() {
                return out;
            }
        }
        let fq = fold(q);
        let qwords: Vec<&str> = words(&fq).collect();
        if fq.is_empty() || qwords.is_empty() {
            return out;
        }
        // Best (rank, not the label, text length, text index) per ROME index.
        let mut best: HashMap<usize, (u8, bool, usize, usize)> = HashMap::new();
        for (ti, t) in self.rome_texts.iter().enumerate() {
            let Some(rank) = rank_text(t, &fq, &qwords) else {
                continue;
            };
            let key = (rank, !t.is_label, t.text.chars().count(), ti);
            best.entry(t.rome)
                .and_modify(|k| {
                    if key < *k {
                        *k = key;
                    }
                })
                .or_insert(key);
        }
        let mut ranked: Vec<((u8, bool, usize, usize), usize)> =
            best.into_iter().map(|(r, k)| (k, r)).collect();
        ranked.sort_unstable_by(|(ka, ra), (kb, rb)| {
            (ka.0, ka.1, ka.2, ra).cmp(&(kb.0, kb.1, kb.2, rb))
        });
        for (k, ri) in ranked.into_iter().take(limit) {
            let (Some(r), Some(t)) = (self.romes.get(ri), self.rome_texts.get(k.3)) else {
                continue;
            };
            out.push(RomeSuggestion {
                code: r.code.clone(),
                label: r.label.clone(),
                matched: t.text.clone(),
            });
        }
        out
    }

    /// How related two ROME codes are: `Same` (equal codes) > `SameParent`
    /// (equal historical parent) > `SameDomain` (same first three characters,
    /// e.g. `N11`) > `None`. Codes are compared case-insensitively; a
    /// malformed code is related to nothing. Codes absent from the
    /// referential can still be `Same` or `SameDomain`.
    pub fn rome_relation(&self, a: &str, b: &str) -> RomeRelation {
        let a = upper_code(a);
        let b = upper_code(b);
        if !is_rome_code(&a) || !is_rome_code(&b) {
            return RomeRelation::None;
        }
        relation_of(&a, self.rome_parent(&a), &b, self.rome_parent(&b))
    }

    /// The ROME codes related to any of `codes` ([`Self::rome_relation`]
    /// not `None`), in the referential's order: one walk of the codes, each
    /// of `codes` normalised and looked up once.
    pub fn rome_codes_related_to(&self, codes: &[String]) -> Vec<String> {
        let wanted: Vec<(std::borrow::Cow<'_, str>, Option<&str>)> = codes
            .iter()
            .map(|c| upper_code(c))
            .filter(|c| is_rome_code(c))
            .map(|c| {
                let parent = self.rome_parent(&c);
                (c, parent)
            })
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        self.romes
            .iter()
            .filter(|r| is_rome_code(&r.code))
            .filter(|r| {
                wanted.iter().any(|(c, parent)| {
                    relation_of(&r.code, Some(r.parent.as_str()), c, *parent) != RomeRelation::None
                })
            })
            .map(|r| r.code.clone())
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Rank of a ROME text for a folded query, lower is better.
fn rank_text(t: &RomeText, fq: &str, qwords: &[&str]) -> Option<u8> {
    if t.forms.iter().any(|f| f == fq) {
        return Some(0);
    }
    if t.forms.iter().any(|f| f.starts_with(fq)) {
        return Some(1);
    }
    if qwords
        .iter()
        .all(|qw| t.words.iter().any(|w| w.starts_with(qw)))
    {
        return Some(2);
    }
    if t.forms.first().is_some_and(|f| f.contains(fq)) {
        return Some(3);
    }
    None
}

/// "Masculin [mots] / Féminin [mots] suite" → the two complete gendered forms,
/// assuming the feminine side repeats as many words as the masculine side:
/// "agent / agente a domicile" → "agent a domicile", "agente a domicile";
/// "cariste bobinier / cariste bobiniere" → "cariste bobinier", "cariste
/// bobiniere". Empty when there is no " / ".
fn gendered_forms(folded: &str) -> Vec<String> {
    let Some((left, right)) = folded.split_once(" / ") else {
        return Vec::new();
    };
    let n = left.split(' ').count();
    let right_words: Vec<&str> = right.split(' ').collect();
    if right_words.len() < n {
        return vec![left.to_owned(), right.to_owned()];
    }
    let suffix = right_words[n..].join(" ");
    let masculine = if suffix.is_empty() {
        left.to_owned()
    } else {
        format!("{left} {suffix}")
    };
    vec![masculine, right.to_owned()]
}

/// The folded name without a leading French article, if it has one.
fn strip_article(folded: &str) -> Option<&str> {
    ["l ", "le ", "la ", "les "]
        .iter()
        .find_map(|a| folded.strip_prefix(a))
        .filter(|rest| !rest.is_empty())
}

/// Looks like an INSEE code or postcode: ASCII digits, or `2A`/`2B` + digits.
fn is_code_like(q: &str) -> bool {
    let b = q.as_bytes();
    let corsica = b.len() >= 2 && b[0] == b'2' && matches!(b[1], b'A' | b'B' | b'a' | b'b');
    let from = if corsica { 2 } else { 0 };
    b[from..].iter().all(u8::is_ascii_digit)
}

/// A code trimmed and in upper case (borrowed when it already is).
fn upper_code(code: &str) -> std::borrow::Cow<'_, str> {
    let code = code.trim();
    if code.bytes().any(|b| b.is_ascii_lowercase()) {
        std::borrow::Cow::Owned(code.to_ascii_uppercase())
    } else {
        std::borrow::Cow::Borrowed(code)
    }
}

/// The relation of two valid, upper-case codes with their parents (when
/// the referential knows them).
fn relation_of(a: &str, pa: Option<&str>, b: &str, pb: Option<&str>) -> RomeRelation {
    if a == b {
        return RomeRelation::Same;
    }
    if let (Some(pa), Some(pb)) = (pa, pb) {
        if pa == pb {
            return RomeRelation::SameParent;
        }
    }
    if a.get(..3) == b.get(..3) {
        RomeRelation::SameDomain
    } else {
        RomeRelation::None
    }
}

/// A full ROME code: an ASCII upper-case letter and four digits.
fn is_rome_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
}

/// A ROME code or code prefix as typed: a letter followed by 1 to 4 digits
/// (a lone letter is a word, not a code).
fn is_rome_prefix(q: &str) -> bool {
    let b = q.as_bytes();
    (2..=5).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1..].iter().all(u8::is_ascii_digit)
}

fn gunzip(file: &'static str, bytes: &[u8]) -> Result<Vec<u8>, ReferentialError> {
    let mut out = Vec::with_capacity(bytes.len() * 3);
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|source| ReferentialError::Decompress { file, source })?;
    Ok(out)
}

/// Reads a gzipped CSV, checks its header, returns (line, record) pairs.
fn read_csv(
    file: &'static str,
    gz: &[u8],
    columns: &[&str],
) -> Result<Vec<(u64, csv::StringRecord)>, ReferentialError> {
    let data = gunzip(file, gz)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(data.as_slice());
    let headers = reader
        .headers()
        .map_err(|source| ReferentialError::Csv { file, source })?;
    if headers.iter().ne(columns.iter().copied()) {
        return Err(ReferentialError::Invalid {
            file,
            line: 1,
            message: format!("expected columns {columns:?}, found {headers:?}"),
        });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|source| ReferentialError::Csv { file, source })?;
        let line = record.position().map_or(0, |p| p.line());
        rows.push((line, record));
    }
    Ok(rows)
}

fn field(record: &csv::StringRecord, i: usize) -> &str {
    record.get(i).unwrap_or("").trim()
}

fn parse_coordinate(
    file: &'static str,
    line: u64,
    what: &str,
    s: &str,
    max: f64,
) -> Result<f64, ReferentialError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= max => Ok(v),
        _ => Err(ReferentialError::Invalid {
            file,
            line,
            message: format!("bad {what} {s:?}"),
        }),
    }
}

fn parse_communes(file: &'static str, gz: &[u8]) -> Result<Vec<Commune>, ReferentialError> {
    let rows = read_csv(file, gz, COMMUNE_COLUMNS)?;
    let mut out = Vec::with_capacity(rows.len());
    for (line, r) in rows {
        let invalid = |message: String| ReferentialError::Invalid {
            file,
            line,
            message,
        };
        let insee = field(&r, 0);
        if insee.len() != 5 || !is_code_like(insee) {
            return Err(invalid(format!("bad INSEE code {insee:?}")));
        }
        let name = field(&r, 1);
        if name.is_empty() {
            return Err(invalid(format!("empty name for {insee}")));
        }
        let postcodes: Vec<String> = field(&r, 3)
            .split('|')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let point = match (field(&r, 4), field(&r, 5)) {
            ("", "") => None,
            (lat, lon) => Some(Point::from_degrees(
                parse_coordinate(file, line, "latitude", lat, 90.0)?,
                parse_coordinate(file, line, "longitude", lon, 180.0)?,
            )),
        };
        out.push(Commune {
            insee: insee.to_owned(),
            name: name.to_owned(),
            departement: field(&r, 2).to_owned(),
            postcodes,
            point,
        });
    }
    Ok(out)
}

type RomeIndex = (Vec<RomeCode>, HashMap<String, usize>);

fn parse_romes() -> Result<RomeIndex, ReferentialError> {
    let mut romes = Vec::new();
    let mut by_rome = HashMap::new();
    for (line, r) in read_csv("rome.csv", ROME_CSV_GZ, &["code", "label"])? {
        let code = field(&r, 0);
        if !is_rome_code(code) || by_rome.contains_key(code) {
            return Err(ReferentialError::Invalid {
                file: "rome.csv",
                line,
                message: format!("bad or duplicate ROME code {code:?}"),
            });
        }
        by_rome.insert(code.to_owned(), romes.len());
        romes.push(RomeCode {
            code: code.to_owned(),
            label: field(&r, 1).to_owned(),
            parent: code.to_owned(),
            appellations: Vec::new(),
        });
    }
    let lookup = |file: &'static str, line: u64, code: &str| {
        by_rome
            .get(code)
            .copied()
            .ok_or_else(|| ReferentialError::Invalid {
                file,
                line,
                message: format!("unknown ROME code {code:?}"),
            })
    };
    for (line, r) in read_csv(
        "rome_parents.csv",
        ROME_PARENTS_CSV_GZ,
        &["code", "parent_code"],
    )? {
        let i = lookup("rome_parents.csv", line, field(&r, 0))?;
        let parent = field(&r, 1);
        if !is_rome_code(parent) {
            return Err(ReferentialError::Invalid {
                file: "rome_parents.csv",
                line,
                message: format!("bad parent code {parent:?}"),
            });
        }
        if let Some(rome) = romes.get_mut(i) {
            rome.parent = parent.to_owned();
        }
    }
    for (line, r) in read_csv(
        "rome_appellations.csv",
        ROME_APPELLATIONS_CSV_GZ,
        &["code", "appellation"],
    )? {
        let i = lookup("rome_appellations.csv", line, field(&r, 0))?;
        let appellation = field(&r, 1);
        if let (Some(rome), false) = (romes.get_mut(i), appellation.is_empty()) {
            rome.appellations.push(appellation.to_owned());
        }
    }
    Ok((romes, by_rome))
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> &'static Referentials {
        Referentials::global()
    }

    fn codes(s: &[RomeSuggestion]) -> Vec<&str> {
        s.iter().map(|s| s.code.as_str()).collect()
    }

    #[test]
    fn related_codes_are_the_pairwise_relations() {
        let cases: [&[&str]; 6] = [
            &["N1101"],
            &[" j1501 "],
            &["K1302", "N4101"],
            &["Z9999"],
            &["not a code"],
            &[],
        ];
        for case in cases {
            let wanted: Vec<String> = case.iter().map(|c| (*c).to_string()).collect();
            let pairwise: Vec<String> = r()
                .rome_codes()
                .iter()
                .filter(|code| {
                    wanted
                        .iter()
                        .any(|c| r().rome_relation(&code.code, c) != RomeRelation::None)
                })
                .map(|code| code.code.clone())
                .collect();
            assert_eq!(r().rome_codes_related_to(&wanted), pairwise, "{case:?}");
        }
        assert!(r()
            .rome_codes_related_to(&["N1101".to_string()])
            .contains(&"N1101".to_string()));
    }

    #[test]
    fn homonyms_are_offered_never_guessed() {
        let r = r();
        let CommuneMatch::Several(choices) = r.resolve_commune("Saint-Aignan") else {
            panic!("Saint-Aignan is the name of several communes");
        };
        let deps: Vec<&str> = choices.iter().map(|c| c.departement.as_str()).collect();
        assert!(deps.contains(&"41") && deps.contains(&"08"), "{deps:?}");
        assert!(choices.iter().all(|c| c.name == "Saint-Aignan"));
        // The form's own choice label comes back resolved.
        assert!(
            matches!(r.resolve_commune("Saint-Aignan (41)"), CommuneMatch::One(c) if c.insee == "41198")
        );
        assert!(
            matches!(r.resolve_commune("saint aignan (08)"), CommuneMatch::One(c) if c.insee == "08377")
        );
        assert!(matches!(r.resolve_commune("41018"), CommuneMatch::One(c) if c.insee == "41018"));
        assert!(matches!(r.resolve_commune("blois"), CommuneMatch::One(c) if c.insee == "41018"));
        // A postcode shared by several communes (and here another
        // commune's INSEE code too): a choice.
        let CommuneMatch::Several(v) = r.resolve_commune("41110") else {
            panic!("41110 means several communes");
        };
        assert!(v.iter().any(|c| c.insee == "41198") && v.iter().any(|c| c.insee == "41110"));
        assert!(matches!(r.resolve_commune("37000"), CommuneMatch::One(c) if c.name == "Tours"));
        // No exact name: the names that start with it.
        assert!(
            matches!(r.resolve_commune("Saint-Aignan-sur"), CommuneMatch::Several(v) if !v.is_empty())
        );
        assert_eq!(r.resolve_commune("Zzyzx"), CommuneMatch::None);
        assert_eq!(r.resolve_commune("Saint-Aignan (99)"), CommuneMatch::None);
    }

    #[test]
    fn former_communes_resolve_to_the_commune_nouvelle() {
        let r = r();
        // Onzain merged into Veuzain-sur-Loire (41167) in 2017.
        assert!(
            matches!(r.resolve_commune("Onzain"), CommuneMatch::One(c) if c.insee == "41167" && c.name == "Veuzain-sur-Loire")
        );
        assert!(
            matches!(r.resolve_commune("onzain (41)"), CommuneMatch::One(c) if c.insee == "41167")
        );
        assert!(r
            .search_communes("Onza", 5)
            .iter()
            .any(|c| c.insee == "41167"));
        assert!(r
            .former_names(r.commune("41167").expect("41167"))
            .contains(&"onzain".to_string()));
        // The current name still resolves, and a commune never merged has no
        // former name.
        assert!(
            matches!(r.resolve_commune("Veuzain-sur-Loire"), CommuneMatch::One(c) if c.insee == "41167")
        );
        assert!(r
            .former_names(r.commune("41018").expect("41018"))
            .is_empty());
    }

    #[test]
    fn fold_examples() {
        assert_eq!(fold("Œuvre Saint-Étienne"), "oeuvre saint etienne");
        assert_eq!(fold("  L'Haÿ-les-Roses "), "l hay les roses");
        assert_eq!(fold("SAINT   ÉTIENNE"), "saint etienne");
        assert_eq!(fold("Ex-æquo – aujourd’hui"), "ex aequo aujourd hui");
        assert_eq!(
            fold("Électricien / Électricienne"),
            "electricien / electricienne"
        );
        assert_eq!(fold("-'-"), "");
        assert_eq!(fold(""), "");
    }

    #[test]
    fn counts() {
        let r = r();
        assert_eq!(r.communes().len(), 34_969 + 45);
        assert_eq!(r.rome_codes().len(), 1_584);
        let appellations: usize = r.rome_codes().iter().map(|c| c.appellations.len()).sum();
        assert_eq!(appellations, 13_116);
        let without_point = r.communes().iter().filter(|c| c.point.is_none()).count();
        assert_eq!(without_point, 98);
    }

    #[test]
    fn load_again_gives_the_same_data() {
        let again = Referentials::load().expect("load");
        assert_eq!(again.communes(), r().communes());
        assert_eq!(again.rome_codes(), r().rome_codes());
    }

    #[test]
    fn blois() {
        let c = r().commune("41018").expect("Blois");
        assert_eq!(c.name, "Blois");
        assert_eq!(c.departement, "41");
        assert_eq!(c.postcodes, vec!["41000".to_owned()]);
        assert_eq!(c.point, Some(Point::new(47_581_630, 1_306_210)));
        let hits = r().search_communes("blois", 10);
        assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("41018"));
        let hits = r().search_communes("41018", 10);
        assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("41018"));
        let hits = r().search_communes("41000", 10);
        assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("41018"));
    }

    #[test]
    fn distances_between_real_communes() {
        let point = |insee: &str| r().commune(insee).and_then(|c| c.point).expect(insee);
        let d = geo::haversine_km(point("41018"), point("45234"));
        assert!((d - 56.0).abs() < 3.0, "Blois–Orléans {d}");
        let d = geo::haversine_km(point("75056"), point("13055"));
        assert!((d - 661.0).abs() < 10.0, "Paris–Marseille {d}");
    }

    #[test]
    fn saint_etienne_spellings() {
        for q in [
            "saint-etienne",
            "saint etienne",
            "SAINT ÉTIENNE",
            "Saint-Étienne",
        ] {
            let hits = r().search_communes(q, 5);
            assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("42218"), "{q}");
            assert!(hits.len() == 5, "{q}: prefix matches follow");
        }
        let c = r().commune("42218").expect("Saint-Étienne");
        assert_eq!(c.postcodes.len(), 3);
        for pc in &c.postcodes {
            assert!(r()
                .communes_by_postcode(pc)
                .iter()
                .any(|c| c.insee == "42218"));
        }
    }

    #[test]
    fn name_search_ranking_and_articles() {
        // Prefix results are ordered: exact, then shorter names.
        let hits = r().search_communes("bloi", 10);
        assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("41018"));
        let lens: Vec<usize> = r()
            .search_communes("saint e", 50)
            .iter()
            .map(|c| fold(&c.name).len())
            .collect();
        assert!(lens.windows(2).all(|w| w[0] <= w[1]), "{lens:?}");
        // Leading article optional.
        let hits = r().search_communes("abergement clemenciat", 3);
        assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("01001"));
        // No duplicates when both keys match.
        let hits = r().search_communes("l", 100_000);
        let unique: HashSet<&str> = hits.iter().map(|c| c.insee.as_str()).collect();
        assert_eq!(unique.len(), hits.len());
        // Limits and empty queries.
        assert_eq!(r().search_communes("saint", 7).len(), 7);
        assert!(r().search_communes("saint", 0).is_empty());
        assert!(r().search_communes("   ", 10).is_empty());
        assert!(r().search_communes("zzzzqx", 10).is_empty());
        // Saint abbreviations.
        let hits = r().search_communes("St-Étienne", 3);
        assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("42218"));
    }

    #[test]
    fn arrondissements() {
        let hits: Vec<&str> = r()
            .communes_by_postcode("75015")
            .iter()
            .map(|c| c.insee.as_str())
            .collect();
        assert_eq!(hits, vec!["75115", "75056"]);
        let hits = r().communes_by_postcode("69003");
        assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("69383"));
        assert!(r().communes_by_postcode("00000").is_empty());
        let hits = r().search_communes("75015", 5);
        assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("75115"));
        assert!(r().commune("13201").is_some());
        assert!(r().commune("69381").is_some());
        // "paris" → the commune first, arrondissements after.
        let hits = r().search_communes("paris", 30);
        assert_eq!(hits.first().map(|c| c.insee.as_str()), Some("75056"));
        assert!(hits.iter().any(|c| c.insee == "75115"));
    }

    #[test]
    fn corsica_codes() {
        let c = r()
            .communes()
            .iter()
            .find(|c| c.insee.starts_with("2A"))
            .expect("a Corse-du-Sud commune");
        assert_eq!(
            r().commune(&c.insee.to_ascii_lowercase()).map(|c| &c.insee),
            Some(&c.insee)
        );
        let hits = r().search_communes(&c.insee, 3);
        assert_eq!(hits.first().map(|h| &h.insee), Some(&c.insee));
    }

    #[test]
    fn commune_without_coordinates() {
        let c = r().commune("15031").expect("Celles");
        assert_eq!(c.point, None);
        let json = serde_json::to_value(c).expect("json");
        assert!(json["lat"].is_null() && json["lon_micro"].is_null());
        let back: Commune = serde_json::from_value(json).expect("back");
        assert_eq!(&back, c);
    }

    #[test]
    fn commune_json_shape() {
        let c = r().commune("41018").expect("Blois");
        let json = serde_json::to_value(c).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "insee": "41018", "name": "Blois", "departement": "41",
                "postcodes": ["41000"],
                "lat": 47.58163, "lon": 1.30621,
                "lat_micro": 47581630, "lon_micro": 1306210
            })
        );
        let back: Commune = serde_json::from_value(json).expect("back");
        assert_eq!(&back, c);
    }

    #[test]
    fn rome_lookups() {
        let n = r().rome("N1101").expect("N1101");
        assert!(n.appellations.iter().any(|a| a == "Cariste"));
        assert!(r().rome_exists("n1101"));
        assert!(!r().rome_exists("Z9999"));
        assert!(!r().rome_exists(""));
        assert_eq!(r().rome_parent("A1102"), Some("A1101"));
        assert_eq!(r().rome_parent("A1101"), Some("A1101"));
        assert_eq!(r().rome_parent("Z9999"), None);
    }

    #[test]
    fn suggest_cariste() {
        let s = r().suggest_rome("cariste", 10);
        assert_eq!(s.first().map(|s| s.code.as_str()), Some("N1101"));
        assert_eq!(s[0].matched, "Cariste");
        // One entry per code.
        let unique: HashSet<&str> = codes(&s).into_iter().collect();
        assert_eq!(unique.len(), s.len());
        // Word prefix.
        assert!(codes(&r().suggest_rome("carist", 10)).contains(&"N1101"));
        assert!(codes(&r().suggest_rome("CARISTE", 10)).contains(&"N1101"));
    }

    #[test]
    fn suggest_aide_a_domicile() {
        for q in ["aide a domicile", "Aide à domicile", "aide domicile"] {
            let s = r().suggest_rome(q, 10);
            assert!(codes(&s).contains(&"K1304"), "{q}: {s:?}");
        }
        let s = r().suggest_rome("aide à domicile", 10);
        assert_eq!(s[0].code, "K1304");
        assert_eq!(s[0].matched, "Aide à domicile");
    }

    #[test]
    fn suggest_gendered_and_accents() {
        // "Agent / Agente à domicile" is K1304: the feminine form matches exactly.
        let s = r().suggest_rome("agente a domicile", 5);
        assert_eq!(s.first().map(|s| s.code.as_str()), Some("K1304"));
        let s = r().suggest_rome("Électricien", 10);
        assert!(!s.is_empty());
        // Codes whose label starts with the query come before appellations.
        assert!(fold(&s[0].label).starts_with("electricien"), "{s:?}");
        assert!(
            s.iter().all(|s| fold(&s.matched).contains("electricien")),
            "{s:?}"
        );
        assert!(r().suggest_rome("", 10).is_empty());
        assert!(r().suggest_rome("cariste", 0).is_empty());
        assert!(r().suggest_rome("xqzwv", 10).is_empty());
    }

    #[test]
    fn suggest_by_code() {
        let s = r().suggest_rome("N1101", 10);
        assert_eq!(codes(&s), vec!["N1101"]);
        let s = r().suggest_rome("n11", 100);
        assert!(!s.is_empty() && s.iter().all(|s| s.code.starts_with("N11")));
        assert!(r().suggest_rome("Z9999", 10).is_empty());
    }

    #[test]
    fn relations() {
        let r = r();
        assert_eq!(r.rome_relation("N1101", "N1101"), RomeRelation::Same);
        assert_eq!(r.rome_relation("n1101", "N1101 "), RomeRelation::Same);
        // A1102's historical parent is A1101 (rome_parents.csv).
        assert_eq!(r.rome_relation("A1101", "A1102"), RomeRelation::SameParent);
        // A1206's parent is F1101: different domain, same parent.
        assert_eq!(r.rome_relation("A1206", "F1101"), RomeRelation::SameParent);
        assert_eq!(r.rome_relation("N1101", "N1103"), RomeRelation::SameDomain);
        assert_eq!(r.rome_relation("N1101", "K1304"), RomeRelation::None);
        assert_eq!(r.rome_relation("N1101", "garbage"), RomeRelation::None);
        assert_eq!(
            serde_json::to_string(&RomeRelation::SameParent).expect("json"),
            "\"same_parent\""
        );
        assert!(RomeRelation::Same.strength() > RomeRelation::SameParent.strength());
    }
}
