//! HTTP plumbing shared by the handlers: the Matrix error response and the extractors
//! that turn bad input into the Matrix answer (never a panic).

mod client_ip;
pub(crate) mod connections;
pub(crate) mod cors;
mod error;
mod extract;

pub(crate) use self::{
    client_ip::{ClientIp, Peer},
    error::{error_chain, ApiError, ApiResult},
    extract::{body_error, extract_user, parse_id},
    extract::{Auth, AuthNoExpiry, FormPairs, JsonBody, MPath, MQuery, MaybeAuth, OptionalJsonBody},
};
