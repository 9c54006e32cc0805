//! The HTTP client modules use (Synapse's `SimpleHttpClient`): JSON in, JSON out,
//! bounded by a timeout. Plain `http://` only.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
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

/// A pooled HTTP/1 client.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client with a 30 s per-request timeout.
    pub fn new() -> Self {
        Self { client: Client::builder(TokioExecutor::new()).build_http(), timeout: Duration::from_secs(30) }
    }

    /// The same client with another per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends a request and reads the whole answer, whatever its status.
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
            let body = body
                .collect()
                .await
                .map_err(|error| HttpError::Connection { uri: uri.clone(), message: error_chain(&error) })?;
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
