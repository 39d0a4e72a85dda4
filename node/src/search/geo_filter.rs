//! A radius as a set of communes. A candidate's home is the centre of its
//! commune (the referential's point for its INSEE code), so the candidates
//! within `r` km of a point are exactly those whose commune centre is: the
//! communes are computed once per query from the referential (bounding box
//! first, then haversine) and searched as a set of terms ([`SegmentBits`]), which reads only
//! the postings of those communes instead of visiting every document's
//! coordinates.

use std::sync::Arc;

use tantivy::schema::Field;
use tantivy::Term;

use super::term_bits::SegmentBits;
use crate::geo::{bounding_box, haversine_km, Point};
use crate::referentials::Referentials;

/// INSEE codes (communes and municipal arrondissements) whose centre is
/// within `radius_km` of `center`. A small margin (1 m) is kept so that the
/// collector's exact distance check, not rounding here, has the last word.
/// In the referential's order.
pub(crate) fn communes_within(refs: &Referentials, center: Point, radius_km: f64) -> Vec<&str> {
    let bbox = bounding_box(center, radius_km + 0.001);
    let communes = refs.communes();
    let mut found: Vec<usize> = refs
        .communes_in_box(&bbox)
        .filter(|&i| {
            communes
                .get(i)
                .and_then(|c| c.point)
                .is_some_and(|p| haversine_km(center, p) <= radius_km + 0.001)
        })
        .collect();
    found.sort_unstable();
    found
        .into_iter()
        .filter_map(|i| communes.get(i).map(|c| c.insee.as_str()))
        .collect()
}

/// The documents of the communes within `radius_km` of `center`, per
/// segment: the radius's filter ([`super::term_bits::TermBitsQuery::of`])
/// and the word variants searched under it
/// ([`super::term_bits::WithinQuery`]).
pub(crate) fn commune_bits(field: Field, center: Point, radius_km: f64) -> Arc<SegmentBits> {
    let refs = Referentials::global();
    let communes = communes_within(refs, center, radius_km);
    Arc::new(SegmentBits::shared(
        field,
        communes
            .into_iter()
            .map(|c| Term::from_field_text(field, c)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one the table replaced: every commune's record read.
    fn communes_within_by_scan(refs: &Referentials, center: Point, radius_km: f64) -> Vec<&str> {
        let bbox = bounding_box(center, radius_km + 0.001);
        refs.communes()
            .iter()
            .filter_map(|c| {
                let p = c.point?;
                (bbox.contains(p) && haversine_km(center, p) <= radius_km + 0.001)
                    .then_some(c.insee.as_str())
            })
            .collect()
    }

    #[test]
    fn the_latitude_table_finds_what_a_scan_finds() {
        let refs = Referentials::global();
        let communes = refs.communes();
        // Centres at communes all over France (overseas included), at the
        // exact point of a commune (on a box's edge for a zero radius) and
        // between communes; radii from none to the whole country.
        let mut n = 0;
        for (k, c) in communes.iter().enumerate().step_by(997) {
            let Some(p) = c.point else { continue };
            for (j, r) in [0.0, 0.5, 3.0, 12.5, 30.0, 80.0, 150.0, 1000.0]
                .into_iter()
                .enumerate()
            {
                let off = Point::from_degrees(
                    p.lat() + 0.013 * (k % 7) as f64,
                    p.lon() - 0.021 * (j % 5) as f64,
                );
                for centre in [p, off] {
                    assert_eq!(
                        communes_within(refs, centre, r),
                        communes_within_by_scan(refs, centre, r),
                        "{} at {r} km",
                        c.insee
                    );
                    n += 1;
                }
            }
        }
        assert!(n > 400, "{n} cases");
        // A box beyond every commune, and one holding every commune.
        let pole = Point::from_degrees(89.0, 0.0);
        assert!(communes_within(refs, pole, 10.0).is_empty());
        let everything = communes_within(refs, Point::from_degrees(46.5, 2.5), 25_000.0);
        assert_eq!(
            everything.len(),
            communes.iter().filter(|c| c.point.is_some()).count()
        );
    }

    #[test]
    fn communes_around_blois() {
        let refs = Referentials::global();
        let blois = refs.commune("41018").and_then(|c| c.point).expect("Blois");
        let near = communes_within(refs, blois, 0.5);
        assert_eq!(near, vec!["41018"]);
        let wide = communes_within(refs, blois, 35.0);
        assert!(wide.contains(&"41269"), "Vendôme, ~31 km"); // Vendôme
        assert!(!wide.contains(&"45234"), "Orléans, ~57 km");
        for insee in wide {
            let p = refs.commune(insee).and_then(|c| c.point).expect("point");
            assert!(haversine_km(blois, p) <= 35.001);
        }
    }
}
