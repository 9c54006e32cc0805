//! The floor `cargo xtask bench-http` compares the server against: a bare hyper 1.x
//! HTTP/1.1 server on tokio's default multi-threaded runtime that answers every request
//! with `200`, `content-type: application/json` and the body given as its one argument.
//!
//! `bare-hyper '{"hello":"x"}'` binds a free loopback port, prints `http://127.0.0.1:PORT`
//! on its first stdout line, and serves until it is killed.

use std::{convert::Infallible, io::Write};

use http_body_util::Full;
use hyper::{body::Bytes, header, server::conn::http1, service::service_fn, Response};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let Some(body) = std::env::args().nth(1) else {
        eprintln!("usage: bare-hyper BODY");
        std::process::exit(2);
    };
    let body = Bytes::from(body);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "http://{}", listener.local_addr()?)?;
    stdout.flush()?;
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let body = body.clone();
                async move {
                    let mut response = Response::new(Full::new(body));
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
