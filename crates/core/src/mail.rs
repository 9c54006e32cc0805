//! Outgoing email through the server's SMTP settings: Synapse's `email:` section
//! ([`EmailConfig`]) and the [`Mailer`] behind [`ModuleApi::send_mail`](crate::ModuleApi::send_mail)
//! and the server's own validation mails.
//!
//! The transport follows Synapse's `sendmail`: `force_tls` speaks TLS from the first byte
//! (SMTPS, port 465 by default); otherwise `enable_tls` upgrades with `STARTTLS` when the
//! server offers it, and `require_transport_security` refuses to send without it. TLS is
//! rustls (ring) against the webpki roots. A send is bounded in time as a whole, since the
//! mail server is not ours: a server that stalls makes it fail with [`MailError::Timeout`].

use std::time::Duration;

use lettre::{
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
        extension::ClientId,
    },
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::Deserialize;

use crate::config::ConfigDuration;

/// How long one send may take by default, from connecting to the server's last reply.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Synapse's `email:` section (the keys the server uses; others are refused).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The mail server. Default `localhost`.
    #[serde(default = "default_host")]
    pub smtp_host: String,
    /// Its port. Default 25, or 465 with `force_tls`.
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// Login, with `smtp_pass`.
    #[serde(default)]
    pub smtp_user: Option<String>,
    /// Password, with `smtp_user`.
    #[serde(default)]
    pub smtp_pass: Option<String>,
    /// Refuse to send unless the connection is upgraded with `STARTTLS`. Default false.
    #[serde(default)]
    pub require_transport_security: bool,
    /// Upgrade with `STARTTLS` when the server offers it. Default true.
    #[serde(default = "yes")]
    pub enable_tls: bool,
    /// TLS from the first byte (SMTPS). Default false.
    #[serde(default)]
    pub force_tls: bool,
    /// The sender, e.g. `"%(app)s <noreply@example.com>"` (`%(app)s` becomes `app_name`). Required.
    #[serde(default)]
    pub notif_from: Option<String>,
    /// The application name in mails. Default `Matrix`.
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// How long a validation token sent by mail stays usable. Default 1h.
    #[serde(default = "default_token_lifetime")]
    pub validation_token_lifetime: ConfigDuration,
}

fn default_host() -> String {
    "localhost".to_owned()
}
fn yes() -> bool {
    true
}
fn default_app_name() -> String {
    "Matrix".to_owned()
}
fn default_token_lifetime() -> ConfigDuration {
    ConfigDuration::from_millis(3_600_000)
}

impl EmailConfig {
    /// The port: `smtp_port`, or 465 with `force_tls` and 25 without.
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(if self.force_tls { 465 } else { 25 })
    }

    /// The sender mailbox, `%(app)s` replaced by `app_name`.
    pub fn sender(&self) -> Result<Mailbox, String> {
        let Some(from) = &self.notif_from else {
            return Err("`notif_from` is required: the sender of the server's mails, e.g. \
                        `\"%(app)s <noreply@example.com>\"`"
                .to_owned());
        };
        let from = from.replace("%(app)s", &self.app_name);
        from.parse().map_err(|error| format!("`{from}` is not a mailbox such as `Name <user@example.com>`: {error}"))
    }

    /// Every inconsistency, as `(key, message)`: a missing or malformed `notif_from`,
    /// TLS options that need `enable_tls`, a login without its password.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Err(message) = self.sender() {
            problems.push(("notif_from", message));
        }
        if self.force_tls && !self.enable_tls {
            problems.push(("force_tls", "`force_tls` requires `enable_tls` to be true".to_owned()));
        }
        if self.require_transport_security && !self.enable_tls {
            problems.push((
                "require_transport_security",
                "`require_transport_security` requires `enable_tls` to be true".to_owned(),
            ));
        }
        if self.smtp_user.is_some() != self.smtp_pass.is_some() {
            let key = if self.smtp_user.is_some() { "smtp_user" } else { "smtp_pass" };
            problems.push((key, "`smtp_user` and `smtp_pass` go together".to_owned()));
        }
        if self.smtp_host.trim().is_empty() {
            problems.push(("smtp_host", "`smtp_host` must not be empty".to_owned()));
        }
        if self.validation_token_lifetime.is_zero() {
            problems
                .push(("validation_token_lifetime", "`validation_token_lifetime` must be longer than zero".to_owned()));
        }
        problems
    }
}

/// Why a mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The server has no `email:` section.
    #[error("the server sends no email: its config has no `email:` section")]
    NotConfigured,
    /// The `email:` section is inconsistent.
    #[error("invalid `email:` config: {0}")]
    Config(String),
    /// The recipient is not an address.
    #[error("`{address}` is not an email address: {message}")]
    Address {
        /// The address.
        address: String,
        /// Why.
        message: String,
    },
    /// The message could not be built.
    #[error("cannot build the message: {0}")]
    Build(String),
    /// The SMTP exchange failed.
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
    /// The SMTP exchange took longer than the send timeout.
    #[error("SMTP delivery took longer than {0:?}")]
    Timeout(Duration),
}

/// Sends mail through the configured SMTP server (one connection per message).
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    app_name: String,
    token_lifetime: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).field("timeout", &self.timeout).finish()
    }
}

impl Mailer {
    /// A mailer for `config`, greeting the SMTP server as `hello_name` (the server name),
    /// each send bounded by `timeout`.
    pub fn new(config: &EmailConfig, hello_name: &str, timeout: Duration) -> Result<Self, MailError> {
        if let Some((key, message)) = config.problems().into_iter().next() {
            return Err(MailError::Config(format!("{key}: {message}")));
        }
        let from = config.sender().map_err(MailError::Config)?;
        let tls = if config.enable_tls || config.force_tls {
            let parameters =
                TlsParameters::new(config.smtp_host.clone()).map_err(|error| MailError::Config(error.to_string()))?;
            if config.force_tls {
                Tls::Wrapper(parameters)
            } else if config.require_transport_security {
                Tls::Required(parameters)
            } else {
                Tls::Opportunistic(parameters)
            }
        } else {
            Tls::None
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.smtp_host.as_str())
            .port(config.port())
            .tls(tls)
            .hello_name(ClientId::Domain(hello_name.to_owned()))
            .timeout(Some(timeout));
        if let (Some(user), Some(pass)) = (&config.smtp_user, &config.smtp_pass) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            app_name: config.app_name.clone(),
            token_lifetime: config.validation_token_lifetime.as_duration(),
            timeout,
        })
    }

    /// `email.app_name`.
    pub fn app_name(&self) -> &str {
        &self.app_name
    }

    /// `email.validation_token_lifetime`.
    pub fn validation_token_lifetime(&self) -> Duration {
        self.token_lifetime
    }

    /// Sends one message with a plain-text and an HTML part (Synapse's `send_mail`).
    pub async fn send(&self, recipient: &str, subject: &str, html: &str, text: &str) -> Result<(), MailError> {
        let to: Mailbox = recipient.parse().map_err(|error: lettre::address::AddressError| MailError::Address {
            address: recipient.to_owned(),
            message: error.to_string(),
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text.to_owned(), html.to_owned()))
            .map_err(|error| MailError::Build(error.to_string()))?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) if error.is_timeout() => Err(MailError::Timeout(self.timeout)),
            Ok(Err(error)) => Err(MailError::Smtp(error.to_string())),
            Err(_) => Err(MailError::Timeout(self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> EmailConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_are_synapses() {
        let config = parse("notif_from: a@b.org");
        assert_eq!((config.smtp_host.as_str(), config.port()), ("localhost", 25));
        assert!(config.enable_tls && !config.force_tls && !config.require_transport_security);
        assert_eq!(config.app_name, "Matrix");
        assert_eq!(config.validation_token_lifetime.as_millis(), 3_600_000);
        assert_eq!(parse("notif_from: a@b.org\nforce_tls: true").port(), 465);
        assert_eq!(parse("notif_from: a@b.org\nforce_tls: true\nsmtp_port: 2465").port(), 2465);
        assert!(config.problems().is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = serde_yaml::from_str::<EmailConfig>("notif_from: a@b.org\nsmtp_hots: x").unwrap_err();
        assert!(error.to_string().contains("unknown field `smtp_hots`"), "{error}");
    }

    #[test]
    fn inconsistent_settings_are_listed() {
        let keys = |yaml: &str| parse(yaml).problems().into_iter().map(|(key, _)| key).collect::<Vec<_>>();
        assert_eq!(keys("smtp_host: h"), ["notif_from"]);
        assert_eq!(keys("notif_from: not a mailbox"), ["notif_from"]);
        assert_eq!(keys("notif_from: a@b.org\nenable_tls: false\nforce_tls: true"), ["force_tls"]);
        assert_eq!(
            keys("notif_from: a@b.org\nenable_tls: false\nrequire_transport_security: true"),
            ["require_transport_security"]
        );
        assert_eq!(keys("notif_from: a@b.org\nsmtp_user: u"), ["smtp_user"]);
        let sender = parse("notif_from: '%(app)s <n@b.org>'\napp_name: Acme").sender().unwrap();
        assert_eq!(sender.to_string(), "Acme <n@b.org>");
    }

    #[tokio::test]
    async fn a_stalled_server_fails_the_send_within_the_timeout() {
        // Accepts the connection, never greets.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(stream);
        });
        let config = parse(&format!("smtp_host: 127.0.0.1\nsmtp_port: {port}\nenable_tls: false\nnotif_from: a@b.org"));
        let mailer = Mailer::new(&config, "example.com", Duration::from_millis(300)).unwrap();
        let started = std::time::Instant::now();
        let error = mailer.send("c@d.org", "s", "<p>h</p>", "t").await.unwrap_err();
        assert_eq!(error, MailError::Timeout(Duration::from_millis(300)));
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        held.abort();
    }

    #[tokio::test]
    async fn a_message_reaches_the_server_with_both_parts() {
        let (port, mut mails) = crate::testing::smtp_sink().await;
        let config = parse(&format!(
            "smtp_host: 127.0.0.1\nsmtp_port: {port}\nnotif_from: '%(app)s <noreply@example.com>'\napp_name: Acme"
        ));
        let mailer = Mailer::new(&config, "example.com", DEFAULT_SEND_TIMEOUT).unwrap();
        mailer.send("bob@example.org", "Hello", "<p>Hi <b>Bob</b></p>", "Hi Bob").await.unwrap();
        let mail = mails.recv().await.unwrap();
        assert_eq!(
            (mail.from.as_str(), mail.to.as_slice()),
            ("noreply@example.com", &["bob@example.org".to_owned()][..])
        );
        let data = mail.readable();
        for expected in ["From: Acme <noreply@example.com>", "To: bob@example.org", "Subject: Hello", "Hi Bob"] {
            assert!(data.contains(expected), "{expected} missing from\n{data}");
        }
        assert!(data.contains("text/plain") && data.contains("text/html") && data.contains("<b>Bob</b>"), "{data}");
    }

    #[tokio::test]
    async fn a_bad_recipient_is_refused_before_connecting() {
        let config = parse("smtp_host: 127.0.0.1\nsmtp_port: 9\nnotif_from: a@b.org");
        let mailer = Mailer::new(&config, "example.com", DEFAULT_SEND_TIMEOUT).unwrap();
        let error = mailer.send("not an address", "s", "h", "t").await.unwrap_err();
        assert!(matches!(error, MailError::Address { .. }), "{error:?}");
    }
}
