//! Street-level reverse geocoding through an external, Nominatim-compatible endpoint the operator
//! runs (`SMARTAUTH_GEOCODER_URL`). It is optional: without it the street fields of
//! `reverseGeolocation` are `null`, and city, region and country still come from the offline
//! places table. A slow or failing geocoder never fails an attempt: after a short timeout the
//! attempt goes on without street detail.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use smartauth_context::geo::StreetAddress;
use smartauth_domain::Coordinates;

/// The longest an attempt waits for the geocoder.
pub const TIMEOUT: Duration = Duration::from_millis(1500);

pub struct Geocoder {
    http: reqwest::Client,
    base: String,
    /// Keyed by the point rounded to about 10 m: people repeat places.
    cache: quick_cache::sync::Cache<(i32, i32), Option<Arc<StreetAddress>>>,
}

#[derive(Deserialize)]
struct NominatimReply {
    address: Option<NominatimAddress>,
}

#[derive(Deserialize)]
struct NominatimAddress {
    road: Option<String>,
    pedestrian: Option<String>,
    house_number: Option<String>,
    suburb: Option<String>,
    neighbourhood: Option<String>,
    quarter: Option<String>,
    postcode: Option<String>,
}

impl Geocoder {
    pub fn new(base: &str) -> anyhow::Result<Geocoder> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("smartauth/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Geocoder { http, base: base.trim_end_matches('/').to_owned(), cache: quick_cache::sync::Cache::new(10_000) })
    }

    /// The street address at a point, or `None` when the geocoder has none or does not answer in time.
    pub async fn reverse(&self, at: Coordinates) -> Option<Arc<StreetAddress>> {
        let key = ((at.latitude() * 10_000.0).round() as i32, (at.longitude() * 10_000.0).round() as i32);
        if let Some(hit) = self.cache.get(&key) {
            return hit;
        }
        // reqwest's timeout covers the request; this one covers the name lookup and parsing too.
        let fetched = tokio::time::timeout(TIMEOUT, self.fetch(at))
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {} ms", TIMEOUT.as_millis())));
        let found = match fetched {
            Ok(found) => found.map(Arc::new),
            Err(e) => {
                // Not cached: the next attempt tries again.
                tracing::warn!(error = %e, "the street geocoder did not answer; street fields stay null");
                return None;
            }
        };
        self.cache.insert(key, found.clone());
        found
    }

    async fn fetch(&self, at: Coordinates) -> anyhow::Result<Option<StreetAddress>> {
        let url = format!("{}/reverse", self.base);
        let reply = self
            .http
            .get(url)
            .query(&[
                ("format", "jsonv2".to_owned()),
                ("addressdetails", "1".to_owned()),
                ("lat", format!("{:.6}", at.latitude())),
                ("lon", format!("{:.6}", at.longitude())),
            ])
            .send()
            .await?
            .error_for_status()?;
        let body = reply.bytes().await?;
        if body.len() > 64 * 1024 {
            anyhow::bail!("the geocoder's answer is larger than 64 KiB");
        }
        let reply: NominatimReply = serde_json::from_slice(&body)?;
        Ok(reply.address.map(|a| StreetAddress {
            street_name: a.road.or(a.pedestrian),
            street_number: a.house_number,
            neighborhood: a.suburb.or(a.neighbourhood).or(a.quarter),
            zipcode: a.postcode,
        }))
    }
}
