//! The bearer-token path for the fuzz targets (`crate::fuzzing`): `verify_tenant_token`'s own steps,
//! with the client given instead of looked up.

use super::*;

pub fn verify(token: &str, client: &Arc<ActiveClient>, now: i64) -> Result<Option<PersonId>, ApiError> {
    let issuer = token_issuer(token)?;
    if issuer != client.id {
        return Err(unauthorized("invalid token"));
    }
    tenant_for(token, &issuer, client.clone(), now * 1000).map(|tenant| tenant.person)
}
