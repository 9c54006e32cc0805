//! Renewal notices and pages for `account_validity`: dates,
//! the notice's text and HTML, the renewal pages, and how notices are delivered (SMTP
//! through `lettre`, or the log).

use std::time::Duration;

use lettre::{
    message::{Mailbox, MultiPart},
    transport::smtp::{authentication::Credentials, extension::ClientId},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use serde::Deserialize;

/// `DD-MM-YYYY` (UTC) of a millisecond timestamp, the templates' `format_ts("%d-%m-%Y")`.
pub fn format_date(ts_ms: i64) -> String {
    // Howard Hinnant's civil-from-days.
    let days = ts_ms.div_euclid(86_400_000) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{day:02}-{month:02}-{year:04}")
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A renewal notice, rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Notice {
    /// The subject line.
    pub(super) subject: String,
    /// The plain-text body.
    pub(super) text: String,
    /// The HTML body.
    pub(super) html: String,
}

impl Notice {
    /// The notice of the original's `notice_expiry` templates.
    pub(super) fn render(subject: &str, display_name: &str, expiration_ts: i64, url: &str) -> Self {
        let date = format_date(expiration_ts);
        let text = format!(
            "Hi {display_name},\n\n\
             Your account will expire on {date}. This means that you will lose access to your account after this \
             date.\n\n\
             To extend the validity of your account, please click on the link below (or copy and paste it to a new \
             browser tab):\n\n\
             {url}\n"
        );
        let (name, url) = (escape(display_name), escape(url));
        let html = format!(
            "<!doctype html>\n<html lang=\"en\">\n<body>\n\
             <div class=\"salutation\">Hi {name},</div>\n\
             <div class=\"noticetext\">Your account will expire on {date}. This means that you will lose access to \
             your account after this date.</div>\n\
             <div class=\"noticetext\">To extend the validity of your account, please click on the link below (or \
             copy and paste it into a new browser tab):</div>\n\
             <div class=\"noticetext\"><a href=\"{url}\">{url}</a></div>\n\
             </body>\n</html>\n"
        );
        Self { subject: subject.to_owned(), text, html }
    }
}

/// The page after a successful renewal.
pub(super) fn renewed_page(expiration_ts: i64) -> String {
    format!(
        "<html><body>Your account has been successfully renewed and is valid until {}.</body></html>",
        format_date(expiration_ts)
    )
}

/// The page for a valid token that was already used.
pub(super) fn previously_renewed_page(expiration_ts: i64) -> String {
    format!("<html><body>Your account is valid until {}.</body></html>", format_date(expiration_ts))
}

/// The page for an unknown token.
pub(super) const INVALID_TOKEN_PAGE: &str = "<html><body>Invalid renewal token.</body></html>";

/// The `smtp:` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The mail server (plain SMTP, no TLS: use a local relay).
    pub host: String,
    /// Its port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Login, with `password`.
    #[serde(default)]
    pub username: Option<String>,
    /// Password, with `username`.
    #[serde(default)]
    pub password: Option<String>,
    /// The sender, e.g. `"%(app)s <noreply@example.com>"`; `%(app)s` becomes `app_name`.
    pub notif_from: String,
}

fn default_port() -> u16 {
    25
}

/// Why a notice was not delivered.
#[derive(Debug, thiserror::Error)]
pub(super) enum MailError {
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
    Build(#[from] lettre::error::Error),
    /// The SMTP exchange failed.
    #[error("SMTP delivery failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// Where notices go.
pub(super) enum Mailer {
    /// An SMTP server.
    Smtp {
        /// The transport (one connection per message).
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The sender.
        from: Mailbox,
    },
    /// No `smtp` configured: notices are written to the log.
    Log,
}

impl Mailer {
    /// The sender mailbox of an `smtp` section, `%(app)s` replaced.
    pub(super) fn sender(config: &SmtpConfig, app_name: &str) -> Result<Mailbox, String> {
        let from = config.notif_from.replace("%(app)s", app_name);
        from.parse().map_err(|error| format!("`{from}` is not a mailbox such as `Name <user@example.com>`: {error}"))
    }

    /// A mailer for the config (`None`: the log).
    pub(super) fn new(config: Option<&SmtpConfig>, app_name: &str, hello_name: &str) -> Result<Self, String> {
        let Some(config) = config else { return Ok(Mailer::Log) };
        let from = Self::sender(config, app_name)?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            .port(config.port)
            .hello_name(ClientId::Domain(hello_name.to_owned()))
            .timeout(Some(Duration::from_secs(30)));
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
        }
        Ok(Mailer::Smtp { transport: builder.build(), from })
    }

    /// Delivers a notice to one address.
    pub(super) async fn send(&self, to: &str, notice: &Notice) -> Result<(), MailError> {
        match self {
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = to.parse().map_err(|error: lettre::address::AddressError| MailError::Address {
                    address: to.to_owned(),
                    message: error.to_string(),
                })?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(notice.subject.as_str())
                    .multipart(MultiPart::alternative_plain_html(notice.text.clone(), notice.html.clone()))?;
                transport.send(message).await?;
                Ok(())
            }
            Mailer::Log => {
                tracing::info!(
                    "account validity notice for {to} (no `smtp` configured): {}\n{}",
                    notice.subject,
                    notice.text
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_day_month_year() {
        assert_eq!(format_date(0), "01-01-1970");
        assert_eq!(format_date(951_782_400_000), "29-02-2000");
        assert_eq!(format_date(1_767_225_599_000), "31-12-2025");
        assert_eq!(format_date(-86_400_000), "31-12-1969");
    }

    #[test]
    fn the_notice_escapes_html_but_not_text() {
        let notice = Notice::render("Renew", "<b>Bob</b>", 0, "https://x.org/renew?token=a&b");
        assert!(notice.text.starts_with("Hi <b>Bob</b>,\n\nYour account will expire on 01-01-1970."));
        assert!(notice.text.ends_with("https://x.org/renew?token=a&b\n"));
        assert!(notice.html.contains("Hi &lt;b&gt;Bob&lt;/b&gt;,"));
        assert!(notice.html.contains("<a href=\"https://x.org/renew?token=a&amp;b\">"));
    }
}
