use crate::context::Coordinates;

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Half the Equator: no two points on Earth are farther apart, so a distance or an accuracy beyond
/// it says nothing (and 1e308 is a typo or a probe).
pub const MAX_DISTANCE_M: f64 = 20_037_508.0;

/// Great-circle distance in metres (haversine; error well under 0.5 % for our purpose).
pub fn distance_m(a: Coordinates, b: Coordinates) -> f64 {
    let (la1, lo1) = (a.latitude().to_radians(), a.longitude().to_radians());
    let (la2, lo2) = (b.latitude().to_radians(), b.longitude().to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// The most that one fix's accuracy may excuse of a distance, in metres. A coarse network fix is 1-5 km wide,
/// and a rural cell's up to about 20 km; a claimed accuracy beyond this does not make a farther jump plausible
/// (an attacker could otherwise claim 100 km of inaccuracy).
pub const ACCURACY_EXCUSE_CAP_M: f64 = 25_000.0;
/// A fix with no accuracy is taken as this wide: old history, and clients that do not say.
pub const UNKNOWN_ACCURACY_M: f64 = 2_000.0;
/// What two fixes can tell apart at best: below this, a move is noise, not travel.
pub const TRAVEL_FLOOR_M: f64 = 1_000.0;

/// The distance two fixes show for certain: the distance between them less both accuracy radii (each at most
/// [`ACCURACY_EXCUSE_CAP_M`], a missing one [`UNKNOWN_ACCURACY_M`]), never below zero. The radii are taken
/// as the browser reports them (W3C: 95% confidence).
pub fn travelled_m(distance: f64, accuracy_a: Option<f64>, accuracy_b: Option<f64>) -> f64 {
    let excuse = |a: Option<f64>| {
        a.filter(|a| a.is_finite() && *a >= 0.0).unwrap_or(UNKNOWN_ACCURACY_M).min(ACCURACY_EXCUSE_CAP_M)
    };
    (distance - excuse(accuracy_a) - excuse(accuracy_b)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_excuses_what_the_fixes_cannot_tell_apart_and_no_more_than_the_cap() {
        // Two precise fixes 16 km apart: 16 km travelled.
        assert!((travelled_m(16_000.0, Some(15.0), Some(15.0)) - 15_970.0).abs() < 1e-6);
        // A precise fix and a 20 km-wide one 16 km apart may be the same place.
        assert_eq!(travelled_m(16_000.0, Some(15.0), Some(20_000.0)), 0.0);
        // Overlapping circles: nothing travelled.
        assert_eq!(travelled_m(3_000.0, Some(1_500.0), Some(1_500.0)), 0.0);
        // A claimed accuracy of the Earth excuses 25 km, not 600.
        assert_eq!(travelled_m(600_000.0, Some(MAX_DISTANCE_M), Some(0.0)), 575_000.0);
        // Unknown accuracy counts as 2 km each: 5 km between two such fixes is 1 km, the old threshold's edge.
        assert_eq!(travelled_m(5_000.0, None, None), TRAVEL_FLOOR_M);
        // Nonsense accuracies are unknown ones.
        assert_eq!(travelled_m(10_000.0, Some(f64::NAN), Some(-5.0)), 6_000.0);
        assert_eq!(travelled_m(0.0, Some(0.0), Some(0.0)), 0.0);
    }

    #[test]
    fn sao_paulo_to_rio_is_about_360_km() {
        let sp = Coordinates::new(-23.5505, -46.6333).unwrap();
        let rio = Coordinates::new(-22.9068, -43.1729).unwrap();
        let d = distance_m(sp, rio);
        assert!((355_000.0..365_000.0).contains(&d), "{d}");
        assert_eq!(distance_m(sp, sp), 0.0);
    }
}
