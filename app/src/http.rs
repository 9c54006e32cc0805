//! HTTP plumbing shared by the handlers: the Matrix error response and the extractors
//! that turn bad input into the Matrix answer (never a panic).

mod client_ip;
mod error;
mod extract;

pub(crate) use self::{
    client_ip::{ClientIp, ClientListener, Peer},
    error::{ApiError, ApiResult},
    extract::{extract_user, parse_id},
    extract::{Auth, AuthNoExpiry, JsonBody, MPath, MQuery, OptionalJsonBody},
};
