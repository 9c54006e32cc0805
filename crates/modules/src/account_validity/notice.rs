//! Renewal notices and pages for `account_validity`: dates, the notice's text and HTML,
//! and the renewal pages. Notices are delivered through the server's `email:` settings
//! (`ModuleApi::send_mail`), or written to the log when it has none.

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
