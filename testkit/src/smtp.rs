//! A real SMTP server for tests: it listens on a loopback port, speaks the
//! part of RFC 5321 that a submitting client uses (EHLO/HELO, MAIL, RCPT,
//! DATA with dot-unstuffing, RSET, NOOP, VRFY, QUIT; 8BITMIME and SIZE
//! announced, no TLS, no AUTH), keeps every message it accepts and hands
//! them back parsed by `mail-parser`.
//!
//! Why not a crate: the embeddable servers on crates.io either bring their
//! own rustls with the aws-lc provider (which, unified with the workspace's
//! ring-only rustls, makes the default crypto provider ambiguous in every
//! test build) or cannot be stopped; a test also needs to stop the server
//! and start it again on the same port ("SMTP down, then back").
//!
//! ```text
//! let sink = SmtpSink::start().await;           // 127.0.0.1:<free port>
//! // … configure the node with sink.port() …
//! let mail = sink.next_message(Duration::from_secs(30)).await;
//! assert_eq!(mail.to, vec!["claire@mission-emploi.fr"]);
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

/// Largest message accepted (bytes); larger ones get 552.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Longest command line accepted (RFC 5321 §4.5.3.1.4: 512 with CRLF).
const MAX_LINE_BYTES: usize = 4096;

/// One delivered message: the SMTP envelope, the raw bytes and the parts a
/// test reads.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// `MAIL FROM` address.
    pub envelope_from: String,
    /// `RCPT TO` addresses.
    pub envelope_to: Vec<String>,
    /// The message as received (after dot-unstuffing).
    pub raw: Vec<u8>,
    /// `From:` address.
    pub from: Option<String>,
    /// `From:` display name.
    pub from_name: Option<String>,
    /// `To:` addresses.
    pub to: Vec<String>,
    /// Decoded `Subject:`.
    pub subject: String,
    /// The text/plain body, decoded.
    pub text: String,
    /// The text/html body, decoded (empty when none).
    pub html: String,
    /// `Message-ID:`, when present.
    pub message_id: Option<String>,
}

impl ReceivedMail {
    fn parse(envelope_from: String, envelope_to: Vec<String>, raw: Vec<u8>) -> ReceivedMail {
        let parsed = mail_parser::MessageParser::default().parse(&raw[..]);
        let (mut from, mut from_name, mut to, mut subject, mut text, mut html, mut id) = (
            None,
            None,
            Vec::new(),
            String::new(),
            String::new(),
            String::new(),
            None,
        );
        if let Some(m) = &parsed {
            if let Some(a) = m.from().and_then(|a| a.first()) {
                from = a.address().map(str::to_string);
                from_name = a.name().map(str::to_string);
            }
            if let Some(list) = m.to() {
                to = list
                    .iter()
                    .filter_map(|a| a.address().map(str::to_string))
                    .collect();
            }
            subject = m.subject().unwrap_or_default().to_string();
            if m.text_body_count() > 0 {
                text = m.body_text(0).map(|c| c.into_owned()).unwrap_or_default();
            }
            if m.html_body_count() > 0 {
                html = m.body_html(0).map(|c| c.into_owned()).unwrap_or_default();
            }
            id = m.message_id().map(str::to_string);
        }
        ReceivedMail {
            envelope_from,
            envelope_to,
            raw,
            from,
            from_name,
            to,
            subject,
            text,
            html,
            message_id: id,
        }
    }

    /// The first `http(s)://` link in the text body that contains `needle`.
    pub fn link_containing(&self, needle: &str) -> Option<String> {
        self.text
            .split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"')
            .find(|w| (w.starts_with("http://") || w.starts_with("https://")) && w.contains(needle))
            .map(str::to_string)
    }
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    arrived: Notify,
    connections: AtomicUsize,
    refused: Mutex<Vec<String>>,
}

/// A running SMTP server on 127.0.0.1; stops when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    taken: usize,
}

impl SmtpSink {
    /// Start on a free loopback port.
    pub async fn start() -> SmtpSink {
        SmtpSink::start_on(0).await
    }

    /// Start on `port` of 127.0.0.1 (0: a free one), e.g. again on the port
    /// of a sink that was stopped.
    pub async fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("SMTP sink: cannot listen on 127.0.0.1:{port}: {e}"));
        let addr = listener.local_addr().expect("SMTP sink address");
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        SmtpSink {
            addr,
            shared,
            stop,
            task: Some(task),
            taken: 0,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far (a node that must not send shows 0).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Answer `550` (mailbox unavailable, a permanent refusal) to
    /// `RCPT TO:<address>` from now on.
    pub fn refuse_recipient(&self, address: &str) {
        self.shared
            .refused
            .lock()
            .expect("sink lock")
            .push(address.to_ascii_lowercase());
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages.lock().expect("sink lock").clone()
    }

    /// The next message not yet returned by this method, waiting up to
    /// `within` for it to arrive; panics when none comes.
    pub async fn next_message(&mut self, within: Duration) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.shared.arrived.notified();
            if let Some(m) = self.messages().get(self.taken).cloned() {
                self.taken += 1;
                return m;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "SMTP sink: no message arrived within {within:?} ({} received before)",
                    self.taken
                );
            }
        }
    }

    /// The next message addressed to `address`, skipping (and consuming)
    /// messages to anyone else, waiting up to `within`; panics when none
    /// comes.
    pub async fn next_message_to(&mut self, address: &str, within: Duration) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.next_message(left).await;
            if m.envelope_to
                .iter()
                .any(|a| a.eq_ignore_ascii_case(address))
            {
                return m;
            }
        }
    }

    /// Stop listening (the port is free again when this returns).
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = shared.clone();
                sessions.spawn(async move {
                    // A broken or slow client only ends its own session.
                    let _ = tokio::time::timeout(Duration::from_secs(60), session(stream, shared)).await;
                });
            }
        }
    }
    sessions.abort_all();
}

/// One SMTP session (RFC 5321 §3, §4.1).
async fn session(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write
        .write_all(b"220 vivier-test-sink ESMTP ready\r\n")
        .await?;
    let mut from: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut read)
            .take(MAX_LINE_BYTES as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
            None => (text.to_ascii_uppercase(), ""),
        };
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if !arg.is_empty() => {
                from = None;
                rcpts.clear();
                b"250-vivier-test-sink\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n250 SMTPUTF8\r\n"
            }
            "HELO" if !arg.is_empty() => {
                from = None;
                rcpts.clear();
                b"250 vivier-test-sink\r\n"
            }
            "EHLO" | "HELO" => b"501 5.5.4 a domain is required\r\n",
            "MAIL" => match path_arg(arg, "FROM:") {
                Some(p) => {
                    from = Some(p);
                    rcpts.clear();
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" if from.is_none() => b"503 5.5.1 MAIL first\r\n",
            "RCPT" => match path_arg(arg, "TO:") {
                Some(p)
                    if shared
                        .refused
                        .lock()
                        .expect("sink lock")
                        .contains(&p.to_ascii_lowercase()) =>
                {
                    b"550 5.1.1 mailbox unavailable\r\n"
                }
                Some(p) if !p.is_empty() => {
                    rcpts.push(p);
                    b"250 2.1.5 OK\r\n"
                }
                _ => b"501 5.5.4 syntax: RCPT TO:<address>\r\n",
            },
            "DATA" if rcpts.is_empty() => b"503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                match read_data(&mut read).await? {
                    Some(raw) => {
                        let mail = ReceivedMail::parse(
                            from.take().unwrap_or_default(),
                            std::mem::take(&mut rcpts),
                            raw,
                        );
                        shared.messages.lock().expect("sink lock").push(mail);
                        shared.arrived.notify_waiters();
                        b"250 2.0.0 queued\r\n"
                    }
                    None => {
                        from = None;
                        rcpts.clear();
                        b"552 5.3.4 message too big\r\n"
                    }
                }
            }
            "RSET" => {
                from = None;
                rcpts.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "VRFY" => b"252 2.1.5 cannot verify\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// `FROM:<a@b> SIZE=12` → `a@b` (the null path `<>` gives "").
fn path_arg(arg: &str, prefix: &str) -> Option<String> {
    let rest = arg.get(..prefix.len())?;
    if !rest.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}

/// The message after DATA, up to the lone `.` line, dot-unstuffed
/// (RFC 5321 §4.5.2); `None` when it is larger than the limit.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut too_big = false;
    loop {
        line.clear();
        let n = read.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(if too_big { None } else { Some(out) });
        }
        let body = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        if out.len() + body.len() > MAX_MESSAGE_BYTES {
            too_big = true;
        } else if !too_big {
            out.extend_from_slice(body);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    async fn say(
        read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        write: &mut tokio::net::tcp::OwnedWriteHalf,
        line: &str,
    ) -> String {
        write.write_all(line.as_bytes()).await.unwrap();
        let mut reply = String::new();
        loop {
            let mut l = String::new();
            read.read_line(&mut l).await.unwrap();
            reply.push_str(&l);
            if l.as_bytes().get(3) != Some(&b'-') {
                return reply;
            }
        }
    }

    #[tokio::test]
    async fn a_session_delivers_a_dot_unstuffed_message() {
        let mut sink = SmtpSink::start().await;
        let stream = TcpStream::connect(("127.0.0.1", sink.port()))
            .await
            .unwrap();
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        let mut greeting = String::new();
        r.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("220 "));
        assert!(say(&mut r, &mut w, "EHLO client.test\r\n")
            .await
            .contains("250 SMTPUTF8"));
        assert!(say(&mut r, &mut w, "RCPT TO:<x@y.fr>\r\n")
            .await
            .starts_with("503"));
        assert!(say(&mut r, &mut w, "MAIL FROM:<a@b.fr> SIZE=10\r\n")
            .await
            .starts_with("250"));
        assert!(say(&mut r, &mut w, "RCPT TO:<c@d.fr>\r\n")
            .await
            .starts_with("250"));
        assert!(say(&mut r, &mut w, "DATA\r\n").await.starts_with("354"));
        let body = "From: A <a@b.fr>\r\nTo: c@d.fr\r\nSubject: =?utf-8?q?R=C3=A9initialisation?=\r\n\r\nligne\r\n..point\r\n.\r\n";
        assert!(say(&mut r, &mut w, body).await.starts_with("250"));
        assert!(say(&mut r, &mut w, "QUIT\r\n").await.starts_with("221"));
        let m = sink.next_message(Duration::from_secs(5)).await;
        assert_eq!(m.envelope_from, "a@b.fr");
        assert_eq!(m.envelope_to, vec!["c@d.fr"]);
        assert_eq!(m.subject, "Réinitialisation");
        assert_eq!(m.from_name.as_deref(), Some("A"));
        assert!(
            m.text.contains("ligne\r\n.point") || m.text.contains("ligne\n.point"),
            "{:?}",
            m.text
        );
        assert_eq!(sink.connections(), 1);
    }

    #[tokio::test]
    async fn stops_and_starts_again_on_the_same_port() {
        let sink = SmtpSink::start().await;
        let port = sink.port();
        sink.stop().await;
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
        let again = SmtpSink::start_on(port).await;
        assert_eq!(again.port(), port);
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_ok());
    }

    #[test]
    fn paths_and_links() {
        assert_eq!(
            path_arg("FROM:<a@b.fr> BODY=8BITMIME", "FROM:").as_deref(),
            Some("a@b.fr")
        );
        assert_eq!(path_arg("from: <>", "FROM:").as_deref(), Some(""));
        assert_eq!(path_arg("TO:a@b.fr", "TO:"), None);
        let m = ReceivedMail::parse(
            String::new(),
            vec![],
            b"Subject: x\r\n\r\nVoir http://127.0.0.1:1/ui/reinitialisation?jeton=abc.1.def ici\r\n".to_vec(),
        );
        assert_eq!(
            m.link_containing("jeton=").as_deref(),
            Some("http://127.0.0.1:1/ui/reinitialisation?jeton=abc.1.def")
        );
    }
}
