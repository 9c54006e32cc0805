//! A loopback HTTP service for module tests: answers each request with a closure.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;

/// A request as the fake service saw it.
pub(crate) type Seen = http::Request<Bytes>;

/// Starts a service on 127.0.0.1 (free port) answering with `reply`; returns its base URL.
pub(crate) async fn serve<F>(reply: F) -> String
where
    F: Fn(Seen) -> http::Response<Bytes> + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let address = listener.local_addr().unwrap();
    let reply = Arc::new(reply);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let reply = reply.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<Incoming>| {
                    let reply = reply.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        Ok::<_, Infallible>(reply(http::Request::from_parts(parts, body)).map(Full::new))
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    format!("http://{address}")
}

/// A JSON response.
pub(crate) fn json(status: u16, value: serde_json::Value) -> http::Response<Bytes> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Bytes::from(value.to_string()))
        .unwrap()
}
