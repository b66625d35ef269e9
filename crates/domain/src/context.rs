//! The context of an attempt as the client describes it (device, location) and as the server
//! observes it (network).

use serde::{Deserialize, Serialize};

/// A point on Earth. Latitude in [-90, 90], longitude in [-180, 180], both finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCoordinates", into = "RawCoordinates")]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

#[derive(Serialize, Deserialize)]
struct RawCoordinates {
    latitude: f64,
    longitude: f64,
}

impl TryFrom<RawCoordinates> for Coordinates {
    type Error = String;
    fn try_from(raw: RawCoordinates) -> Result<Self, String> {
        Coordinates::new(raw.latitude, raw.longitude)
    }
}

impl From<Coordinates> for RawCoordinates {
    fn from(c: Coordinates) -> Self {
        RawCoordinates { latitude: c.latitude, longitude: c.longitude }
    }
}

impl Coordinates {
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, String> {
        if !(latitude.is_finite() && (-90.0..=90.0).contains(&latitude)) {
            return Err("latitude must be a number between -90 and 90".into());
        }
        if !(longitude.is_finite() && (-180.0..=180.0).contains(&longitude)) {
            return Err("longitude must be a number between -180 and 180".into());
        }
        Ok(Coordinates { latitude, longitude })
    }

    pub fn latitude(self) -> f64 {
        self.latitude
    }

    pub fn longitude(self) -> f64 {
        self.longitude
    }
}

/// What the SDK tells about the device. Free-form strings are bounded when parsed at the API edge.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInput {
    pub kind: Option<String>,
    pub fingerprint: Option<String>,
    pub user_agent: Option<String>,
    pub provided_info: ProvidedInfo,
    pub emulator: bool,
    pub rooted: bool,
    /// The browser is driven by automation (`navigator.webdriver`, headless traits), as the SDK saw it.
    #[serde(default)]
    pub automation: bool,
    /// User-Agent Client Hints, from the `Sec-CH-UA*` headers (SDK calls) or the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_hints: Option<ClientHints>,
    /// The RFC 7638 thumbprint of the device key that signed this attempt's challenge, once the server
    /// has checked the signature (device binding). `None` when the attempt carried no binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// User-Agent Client Hints as sent: the brand list (`Sec-CH-UA` or, with full versions,
/// `Sec-CH-UA-Full-Version-List`), the platform and its version, the model, and whether it is a phone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientHints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brands: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_version_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvidedInfo {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub operating_system: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationInput {
    pub coordinates: Coordinates,
    pub accuracy: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttemptContext {
    pub device: Option<DeviceInput>,
    pub location: Option<LocationInput>,
}

/// What the server knows about the client's network address. Unknown facts are `None`: the rules
/// then neither approve nor refuse on them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkFacts {
    pub ip: String,
    pub country_code: Option<String>,
    pub is_vpn: Option<bool>,
    pub is_proxy: Option<bool>,
    pub is_tor: Option<bool>,
    pub is_hosting: Option<bool>,
}
