use serde::{Deserialize, Serialize};

/// WGS84 position in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

/// Great-circle distance in km (haversine on a 6371 km sphere: within 0.5% of the
/// ellipsoid, far below the slack of real fibre routes).
pub fn great_circle_km(a: GeoPoint, b: GeoPoint) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_york_to_chicago_is_about_1150_km() {
        let ny = GeoPoint {
            lat: 40.71427,
            lon: -74.00597,
        };
        let chi = GeoPoint {
            lat: 41.85003,
            lon: -87.65005,
        };
        let d = great_circle_km(ny, chi);
        assert!((d - 1147.0).abs() < 10.0, "{d}");
        assert_eq!(great_circle_km(ny, ny), 0.0);
    }
}
