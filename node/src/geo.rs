//! Geographic primitives shared by the whole node.
//!
//! Coordinates are stored everywhere in Vivier as integer **micro-degrees**
//! (`i64`, WGS84): `47.58163°` is `47_581_630`. Integers compare, hash, index
//! and serialise exactly, unlike floats; a micro-degree is about 11 cm, far
//! below the precision of the commune centres we use.
//!
//! Everything here is a pure function: no I/O, no global state.

use serde::{Deserialize, Serialize};

/// Mean earth radius (IUGG), in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Micro-degrees per degree.
const MICRO: f64 = 1_000_000.0;

/// Largest valid latitude, in micro-degrees.
pub const MAX_LAT_MICRO: i64 = 90_000_000;
/// Largest valid longitude, in micro-degrees.
pub const MAX_LON_MICRO: i64 = 180_000_000;

/// Degrees → micro-degrees, rounded to the nearest integer.
///
/// Non-finite inputs map to 0 (callers validate their inputs; this function
/// must not panic).
pub fn to_micro(deg: f64) -> i64 {
    if !deg.is_finite() {
        return 0;
    }
    (deg * MICRO).round() as i64
}

/// Micro-degrees → degrees.
pub fn from_micro(v: i64) -> f64 {
    v as f64 / MICRO
}

/// A WGS84 point in micro-degrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Point {
    pub lat_micro: i64,
    pub lon_micro: i64,
}

impl Point {
    /// A point from micro-degrees.
    pub fn new(lat_micro: i64, lon_micro: i64) -> Point {
        Point {
            lat_micro,
            lon_micro,
        }
    }

    /// A point from degrees (rounded to the micro-degree).
    pub fn from_degrees(lat: f64, lon: f64) -> Point {
        Point {
            lat_micro: to_micro(lat),
            lon_micro: to_micro(lon),
        }
    }

    /// Latitude in degrees.
    pub fn lat(&self) -> f64 {
        from_micro(self.lat_micro)
    }

    /// Longitude in degrees.
    pub fn lon(&self) -> f64 {
        from_micro(self.lon_micro)
    }

    /// Whether the latitude is within ±90° and the longitude within ±180°.
    pub fn is_valid(&self) -> bool {
        self.lat_micro.abs() <= MAX_LAT_MICRO && self.lon_micro.abs() <= MAX_LON_MICRO
    }
}

/// Great-circle distance in kilometres (haversine formula, spherical earth of
/// radius [`EARTH_RADIUS_KM`]). Accurate to about 0.5 % against the ellipsoid,
/// which is plenty for "within 30 km of home".
pub fn haversine_km(a: Point, b: Point) -> f64 {
    haversine_prepared(&a.prepared(), &b.prepared())
}

/// A point made ready for many distances ([`haversine_prepared`]): its
/// latitude in radians and that latitude's cosine computed once, so that
/// a distance from it costs two sines, a square root and an arc sine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prepared {
    lat_rad: f64,
    lon_deg: f64,
    cos_lat: f64,
}

impl Point {
    /// This point made ready for many distances.
    pub fn prepared(&self) -> Prepared {
        let lat_rad = self.lat().to_radians();
        Prepared {
            lat_rad,
            lon_deg: self.lon(),
            cos_lat: lat_rad.cos(),
        }
    }
}

/// [`haversine_km`] between prepared points: the same operations in the
/// same order, so the same bits.
pub fn haversine_prepared(a: &Prepared, b: &Prepared) -> f64 {
    let dlat = b.lat_rad - a.lat_rad;
    let dlon = (b.lon_deg - a.lon_deg).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + a.cos_lat * b.cos_lat * (dlon / 2.0).sin().powi(2);
    // Clamp: rounding can push h a hair above 1 for antipodal points.
    let h = h.clamp(0.0, 1.0);
    2.0 * EARTH_RADIUS_KM * h.sqrt().asin()
}

/// An axis-aligned box in micro-degrees, bounds inclusive.
///
/// It never wraps around the antimeridian: when a search circle would cross
/// it (or contain a pole), the longitude range is widened to the whole
/// `[-180°, 180°]`, which is still a correct (if loose) pre-filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BoundingBox {
    pub min_lat: i64,
    pub max_lat: i64,
    pub min_lon: i64,
    pub max_lon: i64,
}

impl BoundingBox {
    /// Whether `p` lies inside the box (bounds inclusive).
    pub fn contains(&self, p: Point) -> bool {
        p.lat_micro >= self.min_lat
            && p.lat_micro <= self.max_lat
            && p.lon_micro >= self.min_lon
            && p.lon_micro <= self.max_lon
    }
}

/// A centre and a radius as distance filters use them: the box holding
/// every point within the radius (a cheap rejection before any distance)
/// and the centre made ready for distances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    pub bbox: BoundingBox,
    pub centre: Prepared,
    pub radius_km: f64,
}

impl Area {
    /// The points within `radius_km` of `centre` ([`bounding_box`] for the box).
    pub fn around(centre: Point, radius_km: f64) -> Area {
        Area {
            bbox: bounding_box(centre, radius_km),
            centre: centre.prepared(),
            radius_km,
        }
    }

    /// The distance from the centre to `p` (prepared), when `p` lies within
    /// the radius: `None` outside the box without computing a distance.
    pub fn distance_within(&self, p: Point, prepared: &mut Option<Prepared>) -> Option<f64> {
        if !self.bbox.contains(p) {
            return None;
        }
        let p = prepared.get_or_insert_with(|| p.prepared());
        let d = haversine_prepared(&self.centre, p);
        (d <= self.radius_km).then_some(d)
    }

    /// [`Area::distance_within`] for a point used once.
    pub fn distance_to(&self, p: Point) -> Option<f64> {
        self.distance_within(p, &mut None)
    }
}

/// The smallest latitude/longitude box (plus a rounding margin) that contains
/// every point whose [`haversine_km`] distance to `center` is at most
/// `radius_km`. Use it as an indexed pre-filter (`lat BETWEEN … AND lon
/// BETWEEN …`), then check the exact distance.
///
/// - latitude: `center ± radius / R`, clamped to ±90°;
/// - longitude: `center ± asin(sin(radius / R) / cos(lat))`, the longitude of
///   the circle's tangent points (wider than the naive `radius / (R cos lat)`
///   away from the equator); if the circle contains a pole or crosses the
///   antimeridian, the whole longitude range.
///
/// A negative or NaN radius is treated as 0; an infinite one gives the whole
/// globe.
pub fn bounding_box(center: Point, radius_km: f64) -> BoundingBox {
    let radius_km = if radius_km.is_nan() || radius_km < 0.0 {
        0.0
    } else {
        radius_km
    };
    // Angular radius, with a tiny relative margin against float rounding.
    let ang = radius_km / EARTH_RADIUS_KM * (1.0 + 1e-9);
    const WHOLE: BoundingBox = BoundingBox {
        min_lat: -MAX_LAT_MICRO,
        max_lat: MAX_LAT_MICRO,
        min_lon: -MAX_LON_MICRO,
        max_lon: MAX_LON_MICRO,
    };
    if ang >= std::f64::consts::PI {
        return WHOLE;
    }
    let lat = center.lat().to_radians();
    let ang_deg = ang.to_degrees();
    // Margin of 1 micro-degree on every side covers the rounding of both the
    // bounds and the stored coordinates.
    let min_lat_deg = center.lat() - ang_deg;
    let max_lat_deg = center.lat() + ang_deg;
    let min_lat = (to_micro(min_lat_deg) - 1).max(-MAX_LAT_MICRO);
    let max_lat = (to_micro(max_lat_deg) + 1).min(MAX_LAT_MICRO);

    let full_lon = BoundingBox {
        min_lat,
        max_lat,
        min_lon: -MAX_LON_MICRO,
        max_lon: MAX_LON_MICRO,
    };
    // The circle contains a pole: every longitude is reachable.
    if max_lat_deg >= 90.0 || min_lat_deg <= -90.0 {
        return full_lon;
    }
    let cos_lat = lat.cos();
    let ratio = ang.sin() / cos_lat;
    if !ratio.is_finite() || ratio >= 1.0 {
        return full_lon;
    }
    let dlon_deg = ratio.asin().to_degrees();
    let min_lon_deg = center.lon() - dlon_deg;
    let max_lon_deg = center.lon() + dlon_deg;
    if min_lon_deg < -180.0 || max_lon_deg > 180.0 {
        // Crosses the antimeridian: no wrapping boxes, take everything.
        return full_lon;
    }
    BoundingBox {
        min_lat,
        max_lat,
        min_lon: (to_micro(min_lon_deg) - 1).max(-MAX_LON_MICRO),
        max_lon: (to_micro(max_lon_deg) + 1).min(MAX_LON_MICRO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The haversine as written before points could be prepared.
    fn haversine_reference(a: Point, b: Point) -> f64 {
        let lat1 = a.lat().to_radians();
        let lat2 = b.lat().to_radians();
        let dlat = lat2 - lat1;
        let dlon = (b.lon() - a.lon()).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * h.clamp(0.0, 1.0).sqrt().asin()
    }

    /// A reproducible draw in `[-range, range]` (an LCG seeded with `seed`).
    fn uniform(mut seed: u64) -> impl FnMut(i64) -> i64 {
        move |range: i64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) % (2 * range as u64 + 1)) as i64 - range
        }
    }

    #[test]
    fn prepared_points_give_the_same_bits() {
        let mut next = uniform(0x9e37_79b9);
        let mut points = vec![
            BLOIS,
            ORLEANS,
            PARIS,
            Point::new(90_000_000, 0),
            Point::new(-90_000_000, 180_000_000),
            Point::new(0, 180_000_000),
            Point::new(0, -180_000_000),
        ];
        for _ in 0..400 {
            points.push(Point::new(next(90_000_000), next(180_000_000)));
            // Metropolitan France, where nearly every distance is taken.
            points.push(Point::new(
                46_500_000 + next(5_000_000),
                2_500_000 + next(7_000_000),
            ));
        }
        for a in &points {
            let pa = a.prepared();
            for b in points.iter().step_by(3) {
                let want = haversine_reference(*a, *b);
                assert_eq!(
                    haversine_km(*a, *b).to_bits(),
                    want.to_bits(),
                    "{a:?} {b:?}"
                );
                assert_eq!(
                    haversine_prepared(&pa, &b.prepared()).to_bits(),
                    want.to_bits()
                );
            }
        }
    }

    #[test]
    fn an_area_gives_the_distance_of_exactly_the_points_within_its_radius() {
        let mut next = uniform(0x2545_f491);
        let centres = [
            BLOIS,
            MARSEILLE,
            Point::new(89_900_000, 10_000_000),
            Point::new(0, 179_900_000),
        ];
        for centre in centres {
            for radius_km in [0.0, 5.0, 30.0, 150.0, 1000.0, -1.0, f64::NAN] {
                let area = Area::around(centre, radius_km);
                let mut within = 0;
                for _ in 0..2_000 {
                    // Points near the centre, so that both sides of the radius occur.
                    // Longitudes wrap: near the antimeridian, points on
                    // both sides of it.
                    let lon = centre.lon_micro + next(4_000_000);
                    let lon = if lon > MAX_LON_MICRO {
                        lon - 2 * MAX_LON_MICRO
                    } else {
                        lon
                    };
                    let p = Point::new(
                        (centre.lat_micro + next(3_000_000)).clamp(-MAX_LAT_MICRO, MAX_LAT_MICRO),
                        lon,
                    );
                    let d = haversine_km(centre, p);
                    let want = (d <= radius_km).then_some(d);
                    assert_eq!(area.distance_to(p), want, "{centre:?} {radius_km} {p:?}");
                    let mut prepared = None;
                    assert_eq!(area.distance_within(p, &mut prepared), want);
                    within += usize::from(want.is_some());
                }
                if radius_km >= 150.0 {
                    assert!(within > 0, "{centre:?} {radius_km}");
                }
            }
        }
    }

    const BLOIS: Point = Point {
        lat_micro: 47_581_630,
        lon_micro: 1_306_210,
    };
    const ORLEANS: Point = Point {
        lat_micro: 47_882_340,
        lon_micro: 1_917_310,
    };
    const PARIS: Point = Point {
        lat_micro: 48_856_600,
        lon_micro: 2_352_200,
    };
    const MARSEILLE: Point = Point {
        lat_micro: 43_296_500,
        lon_micro: 5_369_800,
    };

    #[test]
    fn micro_round_trip() {
        assert_eq!(to_micro(47.58163), 47_581_630);
        assert_eq!(to_micro(-0.000_000_4), 0);
        assert_eq!(to_micro(-1.5), -1_500_000);
        assert_eq!(to_micro(f64::NAN), 0);
        assert!((from_micro(47_581_630) - 47.58163).abs() < 1e-12);
        assert_eq!(Point::from_degrees(47.58163, 1.30621), BLOIS);
    }

    #[test]
    fn known_distances() {
        let d = haversine_km(BLOIS, ORLEANS);
        assert!((d - 56.0).abs() < 3.0, "Blois–Orléans {d}");
        let d = haversine_km(PARIS, MARSEILLE);
        assert!((d - 661.0).abs() < 5.0, "Paris–Marseille {d}");
        assert_eq!(haversine_km(BLOIS, BLOIS), 0.0);
        assert!((haversine_km(BLOIS, ORLEANS) - haversine_km(ORLEANS, BLOIS)).abs() < 1e-9);
        // Antipodes: half the circumference.
        let d = haversine_km(Point::new(0, 0), Point::new(0, 180_000_000));
        assert!((d - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }

    /// Tiny deterministic PRNG (xorshift64*) so the test needs no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// Uniform in [lo, hi].
        fn range(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
        }
    }

    #[test]
    fn bbox_contains_every_point_within_radius() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2_000 {
            // Mostly France-like latitudes, but also high latitudes and the
            // antimeridian.
            let center = Point::from_degrees(rng.range(-89.9, 89.9), rng.range(-180.0, 180.0));
            let radius = match rng.next() % 3 {
                0 => rng.range(0.0, 5.0),
                1 => rng.range(0.0, 200.0),
                _ => rng.range(0.0, 3_000.0),
            };
            let bbox = bounding_box(center, radius);
            assert!(bbox.contains(center));
            for _ in 0..50 {
                // Random points near the box (or anywhere, half the time).
                let p = if rng.next() & 1 == 0 {
                    let span = radius / 111.0 * 3.0 + 0.01;
                    Point::from_degrees(
                        (center.lat() + rng.range(-span, span)).clamp(-90.0, 90.0),
                        (center.lon() + rng.range(-span * 4.0, span * 4.0)).clamp(-180.0, 180.0),
                    )
                } else {
                    Point::from_degrees(rng.range(-90.0, 90.0), rng.range(-180.0, 180.0))
                };
                if haversine_km(center, p) <= radius {
                    assert!(
                        bbox.contains(p),
                        "{p:?} at {} km of {center:?} outside {bbox:?} (radius {radius})",
                        haversine_km(center, p)
                    );
                }
            }
            // Points on the circle itself, in every direction (destination
            // point formula), must be inside too.
            let lat1 = center.lat().to_radians();
            let lon1 = center.lon().to_radians();
            let ang = radius / EARTH_RADIUS_KM;
            for k in 0..72 {
                let brg = (k as f64 * 5.0).to_radians();
                let lat2 = (lat1.sin() * ang.cos() + lat1.cos() * ang.sin() * brg.cos()).asin();
                let lon2 = lon1
                    + (brg.sin() * ang.sin() * lat1.cos())
                        .atan2(ang.cos() - lat1.sin() * lat2.sin());
                let mut lon2 = lon2.to_degrees();
                if lon2 > 180.0 {
                    lon2 -= 360.0;
                } else if lon2 < -180.0 {
                    lon2 += 360.0;
                }
                let p = Point::from_degrees(lat2.to_degrees(), lon2);
                if haversine_km(center, p) <= radius {
                    assert!(
                        bbox.contains(p),
                        "{p:?} on circle of {center:?} r={radius} outside {bbox:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn bbox_is_reasonably_tight_in_france() {
        let bbox = bounding_box(BLOIS, 30.0);
        // 30 km ≈ 0.27° of latitude, ≈ 0.40° of longitude at 47.6°N.
        let dlat = from_micro(bbox.max_lat - bbox.min_lat) / 2.0;
        let dlon = from_micro(bbox.max_lon - bbox.min_lon) / 2.0;
        assert!((dlat - 0.2698).abs() < 0.001, "{dlat}");
        assert!((dlon - 0.4).abs() < 0.01, "{dlon}");
        assert!(!bbox.contains(ORLEANS));
        assert!(bounding_box(BLOIS, 60.0).contains(ORLEANS));
    }

    #[test]
    fn bbox_edge_cases() {
        // Near a pole: whole longitude range, latitude clamped.
        let b = bounding_box(Point::from_degrees(89.99, 10.0), 50.0);
        assert_eq!(
            (b.min_lon, b.max_lon, b.max_lat),
            (-MAX_LON_MICRO, MAX_LON_MICRO, MAX_LAT_MICRO)
        );
        // Across the antimeridian (Wallis-et-Futuna is at -176°).
        let b = bounding_box(Point::from_degrees(-13.3, 179.9), 50.0);
        assert_eq!((b.min_lon, b.max_lon), (-MAX_LON_MICRO, MAX_LON_MICRO));
        // Degenerate radii.
        let b = bounding_box(BLOIS, -3.0);
        assert!(b.contains(BLOIS));
        assert_eq!(bounding_box(BLOIS, f64::NAN), b);
        let b = bounding_box(BLOIS, f64::INFINITY);
        assert!(b.contains(Point::from_degrees(-90.0, -180.0)));
    }
}
