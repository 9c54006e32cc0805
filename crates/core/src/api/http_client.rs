//! The HTTP client modules use (Synapse's `SimpleHttpClient`): JSON in, JSON out,
//! bounded by a timeout. `http://` and `https://` (rustls, TLS 1.2 and 1.3, certificates
//! checked against the Mozilla root store of `webpki-roots`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use serde::{de::DeserializeOwned, Serialize};

/// Why an outgoing request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URI or request could not be built.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The connection failed or broke.
    #[error("request to {uri} failed: {message}")]
    Connection {
        /// Where to.
        uri: String,
        /// What happened.
        message: String,
    },
    /// No answer within the timeout.
    #[error("request to {uri} timed out after {timeout:?}")]
    Timeout {
        /// Where to.
        uri: String,
        /// The limit.
        timeout: Duration,
    },
    /// The answer's body was larger than the client's limit.
    #[error("{uri} answered more than {limit} bytes")]
    TooLarge {
        /// Where to.
        uri: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The server answered with a non-2xx status (Synapse's `HttpResponseException`).
    #[error("{uri} answered {status}")]
    Status {
        /// Where to.
        uri: String,
        /// The status.
        status: u16,
        /// The body.
        body: Bytes,
    },
    /// The body was not the JSON expected.
    #[error("{uri} answered something that is not the expected JSON: {message}")]
    Json {
        /// Where to.
        uri: String,
        /// The parse error.
        message: String,
    },
}

/// A pooled HTTP/1.1 client for `http://` and `https://` URIs.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    max_answer_size: usize,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// The default cap on an answer's body: a module asking a service for JSON never
    /// needs more, and a hostile service cannot make the server hold more.
    pub const DEFAULT_MAX_ANSWER_SIZE: usize = 10 * 1024 * 1024;

    /// A client with a 30 s total time per request (connecting, sending, reading the
    /// whole answer) and answers capped at [`Self::DEFAULT_MAX_ANSWER_SIZE`].
    pub fn new() -> Self {
        // The provider is named, not taken from the process default, so a binary that also
        // links another rustls provider still builds this client.
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("ring supports the default TLS versions")
            .https_or_http()
            .enable_http1()
            .build();
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(30),
            max_answer_size: Self::DEFAULT_MAX_ANSWER_SIZE,
        }
    }

    /// Whether this client can request `url`: an absolute `http://` or `https://` URL
    /// with a host. The error completes a sentence naming the config key, e.g.
    /// ``format!("`endpoint` {problem}")``.
    ///
    /// ```
    /// use mxmod::api::HttpClient;
    /// assert!(HttpClient::check_url("https://antispam.example.org/api").is_ok());
    /// assert!(HttpClient::check_url("http://127.0.0.1:8080").is_ok());
    /// let problem = HttpClient::check_url("ftp://files.example.org").unwrap_err();
    /// assert_eq!(problem, "must be an `http://` or `https://` URL, not `ftp://files.example.org`");
    /// ```
    pub fn check_url(url: &str) -> Result<(), String> {
        let uri: http::Uri = url.parse().map_err(|error| format!("is not a URL (`{url}`: {error})"))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none_or(str::is_empty) {
            return Err(format!("must be an `http://` or `https://` URL, not `{url}`"));
        }
        Ok(())
    }

    /// The same client with another per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same client with another cap on an answer's body, in bytes.
    pub fn with_max_answer_size(mut self, bytes: usize) -> Self {
        self.max_answer_size = bytes;
        self
    }

    /// Sends a request and reads the whole answer, whatever its status; an answer over
    /// the size cap is [`HttpError::TooLarge`], read no further.
    pub async fn request(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, HttpError> {
        let uri = request.uri().to_string();
        let request = request.map(Full::new);
        let send = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| HttpError::Connection { uri: uri.clone(), message: error_chain(&error) })?;
            let (parts, body) = response.into_parts();
            let limit = self.max_answer_size;
            let body = http_body_util::Limited::new(body, limit).collect().await.map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    HttpError::TooLarge { uri: uri.clone(), limit }
                } else {
                    HttpError::Connection { uri: uri.clone(), message: error_chain(&*error) }
                }
            })?;
            Ok(http::Response::from_parts(parts, body.to_bytes()))
        };
        match tokio::time::timeout(self.timeout, send).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Timeout { uri, timeout: self.timeout }),
        }
    }

    /// `POST uri` with a JSON body; the 2xx answer parsed as JSON
    /// (Synapse's `post_json_get_json`). Extra headers are added as given.
    pub async fn post_json_get_json<B: Serialize, T: DeserializeOwned>(
        &self,
        uri: &str,
        body: &B,
        headers: &[(&str, &str)],
    ) -> Result<T, HttpError> {
        let bytes = serde_json::to_vec(body).map_err(|error| HttpError::Invalid(error.to_string()))?;
        let mut builder = http::Request::post(uri).header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Bytes::from(bytes)).map_err(|error| HttpError::Invalid(error.to_string()))?;
        self.expect_json(uri, request).await
    }

    /// `GET uri`; the 2xx answer parsed as JSON (Synapse's `get_json`).
    pub async fn get_json<T: DeserializeOwned>(&self, uri: &str) -> Result<T, HttpError> {
        let request =
            http::Request::get(uri).body(Bytes::new()).map_err(|error| HttpError::Invalid(error.to_string()))?;
        self.expect_json(uri, request).await
    }

    async fn expect_json<T: DeserializeOwned>(&self, uri: &str, request: http::Request<Bytes>) -> Result<T, HttpError> {
        let response = self.request(request).await?;
        if !response.status().is_success() {
            return Err(HttpError::Status {
                uri: uri.to_owned(),
                status: response.status().as_u16(),
                body: response.into_body(),
            });
        }
        serde_json::from_slice(response.body())
            .map_err(|error| HttpError::Json { uri: uri.to_owned(), message: error.to_string() })
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use tokio::{io::AsyncReadExt, net::TcpListener};

    use super::*;

    /// An `https://` URI gets a TLS handshake naming the host (SNI), not plain HTTP; the
    /// fake server then hangs up, which the client reports as a connection failure.
    #[tokio::test]
    async fn https_uris_speak_tls_and_name_the_host() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut hello = vec![0; 4096];
            let read = stream.read(&mut hello).await.unwrap();
            hello.truncate(read);
            hello
        });
        let client = HttpClient::new().with_timeout(Duration::from_secs(10));
        let answer = client.get_json::<serde_json::Value>(&format!("https://localhost:{port}/ping")).await;
        let hello = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the client connected to the https:// port")
            .unwrap();
        assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record, not `GET /ping`");
        assert!(hello.windows(b"localhost".len()).any(|w| w == b"localhost"), "the ClientHello names the host");
        assert!(matches!(answer, Err(HttpError::Connection { .. })), "{answer:?}");
    }

    /// Plain `http://` still works, with JSON both ways.
    #[tokio::test]
    async fn http_uris_are_plain_http() {
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let read = stream.read(&mut request).await.unwrap();
            assert!(request[..read].starts_with(b"GET /ping HTTP/1.1\r\n"));
            let body = br#"{"ok":true}"#;
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.write_all(body).await.unwrap();
        });
        let answer: serde_json::Value =
            HttpClient::new().get_json(&format!("http://127.0.0.1:{port}/ping")).await.unwrap();
        assert_eq!(answer, serde_json::json!({"ok": true}));
    }

    /// Answers a request with headers announcing `length` bytes, then writes
    /// 64 KiB pieces, one every `every`, until the client hangs up.
    async fn endless_answer(length: u64, every: Duration) -> u16 {
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let _ = stream.read(&mut request).await;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 64 * 1024];
            while stream.write_all(&chunk).await.is_ok() {
                tokio::time::sleep(every).await;
            }
        });
        port
    }

    /// A 300 MiB answer is cut at the cap, not read whole.
    #[tokio::test]
    async fn answers_over_the_cap_are_refused() {
        let port = endless_answer(300 * 1024 * 1024, Duration::ZERO).await;
        let client = HttpClient::new().with_max_answer_size(1024 * 1024);
        let answer = client.get_json::<serde_json::Value>(&format!("http://127.0.0.1:{port}/big")).await;
        assert!(matches!(answer, Err(HttpError::TooLarge { limit: 1_048_576, .. })), "{answer:?}");
    }

    /// An answer that trickles in is cut at the total time, however steadily it comes.
    #[tokio::test]
    async fn a_trickling_answer_is_cut_at_the_total_time() {
        let port = endless_answer(1024 * 1024 * 1024, Duration::from_millis(100)).await;
        let client = HttpClient::new().with_timeout(Duration::from_millis(700)).with_max_answer_size(usize::MAX);
        let started = std::time::Instant::now();
        let answer = client.get_json::<serde_json::Value>(&format!("http://127.0.0.1:{port}/slow")).await;
        assert!(matches!(answer, Err(HttpError::Timeout { .. })), "{answer:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
}
