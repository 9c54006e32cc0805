//! [`smtp_sink`]: a loopback SMTP server for tests of mail a module (or the server) sends
//! through [`ModuleApi::send_mail`](crate::ModuleApi::send_mail): it speaks just enough
//! SMTP to accept messages (no `STARTTLS`, so the default `enable_tls` sends in plain) and
//! hands each one over a channel.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

/// One message the sink accepted.
#[derive(Clone, Debug)]
pub struct SentMail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message (headers and body), dot-unstuffed, CRLF line ends.
    pub data: String,
}

impl SentMail {
    /// The message with quoted-printable soft breaks and `=3D` undone, enough to read
    /// URLs back.
    pub fn readable(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }
}

/// Starts a sink on 127.0.0.1 (a free port) inside the current runtime; returns the port
/// and the accepted messages. Give the port to an `email:` section (`smtp_host:
/// 127.0.0.1`) or [`HarnessBuilder::email`](crate::testing::HarnessBuilder::email).
pub async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<SentMail>) {
    // A test helper: no loopback port is a broken test machine, reported as an assertion would.
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("a loopback port");
    let port = listener.local_addr().expect("the bound address").port();
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let sender = sender.clone();
            tokio::spawn(async move {
                let _ = session(stream, sender).await;
            });
        }
    });
    (port, receiver)
}

/// The address inside `<...>` of a `MAIL FROM:`/`RCPT TO:` argument.
fn address(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument.rfind('>').unwrap_or(argument.len());
    argument[start..end.max(start)].to_owned()
}

async fn session(stream: TcpStream, sender: mpsc::UnboundedSender<SentMail>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP test sink\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250 sink\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command[8..]));
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let _ = sender.send(SentMail { from: std::mem::take(&mut from), to: std::mem::take(&mut to), data });
            b"250 OK queued\r\n"
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}
