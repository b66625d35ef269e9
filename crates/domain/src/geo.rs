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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sao_paulo_to_rio_is_about_360_km() {
        let sp = Coordinates::new(-23.5505, -46.6333).unwrap();
        let rio = Coordinates::new(-22.9068, -43.1729).unwrap();
        let d = distance_m(sp, rio);
        assert!((355_000.0..365_000.0).contains(&d), "{d}");
        assert_eq!(distance_m(sp, sp), 0.0);
    }
}
