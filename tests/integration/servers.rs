//! Real servers for the notification tests, on 127.0.0.1 with a port the OS picks, started by
//! a test and stopped when dropped:
//!
//! - [`HttpReceiver`] (tiny_http): records every request and answers from a script of
//!   [`Reply`]s, or with a body that never ends;
//! - [`SmtpServer`] (mailin): records every message, its envelope and the AUTH seen;
//! - [`Tarpit`]: accepts TCP connections and never says a word, or trickles an endless answer
//!   (an HTTP or SMTP server that hangs).
//!
//! Every wait here is bounded and every thread is joined on drop, so a failing test leaves
//! nothing behind.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the servers' loops look at their stop flag.
const POLL: Duration = Duration::from_millis(20);

/// Sleeps `total` in small steps, returning early once `stop` is set.
fn sleep_unless(stop: &AtomicBool, total: Duration) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
}

/// Polls `f` until it returns `Some`, for at most `limit`; panics naming `what` past it.
fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up after {limit:?} waiting for {what}");
        std::thread::sleep(POLL);
    }
}

// --- HTTP ----------------------------------------------------------------------------------

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), delay: Duration::ZERO, body: String::new() }
    }

    pub fn ok() -> Reply {
        Reply::status(200)
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Answers with this body.
    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.to_owned();
        self
    }

    /// Waits this long after reading the request before answering.
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// One request as the receiver got it.
#[derive(Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Every header, in the order sent, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// When the request arrived.
    pub at: Instant,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Received")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field("body", &self.body_text())
            .finish_non_exhaustive()
    }
}

impl Received {
    /// The only value of header `name` (any case); panics if it was sent more than once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let values = self.headers_named(name);
        assert!(values.len() <= 1, "header {name} sent {} times: {:?}", values.len(), self.headers);
        values.first().copied()
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {}", self.body_text()))
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Scripted,
    /// `200`, a huge `Content-Length`, then a byte every 50 ms until stopped.
    EndlessBody,
}

/// An HTTP server on 127.0.0.1 that records what it gets and answers from a script.
pub struct HttpReceiver {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Received>>>,
    main: Option<JoinHandle<()>>,
}

impl HttpReceiver {
    /// Answers `200` to everything.
    pub fn ok() -> HttpReceiver {
        HttpReceiver::scripted(vec![Reply::ok()])
    }

    /// Answers the n-th request with `script[n]`; the last reply repeats.
    pub fn scripted(script: Vec<Reply>) -> HttpReceiver {
        assert!(!script.is_empty(), "a script needs at least one reply");
        HttpReceiver::start(Mode::Scripted, script)
    }

    /// Answers `200` with headers at once, then a body that trickles and never ends.
    pub fn endless_body() -> HttpReceiver {
        HttpReceiver::start(Mode::EndlessBody, vec![Reply::ok()])
    }

    fn start(mode: Mode, script: Vec<Reply>) -> HttpReceiver {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("start the HTTP receiver");
        let addr = server.server_addr().to_ip().expect("an IP address");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let main = {
            let (stop, log) = (Arc::clone(&stop), Arc::clone(&log));
            std::thread::spawn(move || serve(&server, mode, &script, &stop, &log))
        };
        HttpReceiver { addr, stop, log, main: Some(main) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// The requests once there are at least `n`, waiting at most `limit`.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        wait_for(limit, &format!("{n} requests at {}", self.url()), || {
            let log = self.log.lock().unwrap();
            (log.len() >= n).then(|| log.clone())
        })
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(main) = self.main.take() {
            let _ = main.join();
        }
    }
}

/// The accept loop: a thread per request (so a delayed answer holds up no other), all joined
/// before it returns.
fn serve(
    server: &tiny_http::Server,
    mode: Mode,
    script: &[Reply],
    stop: &Arc<AtomicBool>,
    log: &Arc<Mutex<Vec<Received>>>,
) {
    let mut handlers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let Ok(Some(mut request)) = server.recv_timeout(POLL) else { continue };
        let at = Instant::now();
        let mut body = Vec::new();
        let _ = request.as_reader().read_to_end(&mut body);
        let received = Received {
            method: request.method().as_str().to_owned(),
            path: request.url().to_owned(),
            headers: request
                .headers()
                .iter()
                .map(|h| (h.field.as_str().as_str().to_owned(), h.value.as_str().to_owned()))
                .collect(),
            body,
            at,
        };
        let reply = {
            let mut log = log.lock().unwrap();
            let reply = script[log.len().min(script.len() - 1)].clone();
            log.push(received);
            reply
        };
        let stop = Arc::clone(stop);
        handlers.push(std::thread::spawn(move || match mode {
            Mode::Scripted => answer(request, &reply, &stop),
            Mode::EndlessBody => endless(request, &stop),
        }));
    }
    for handler in handlers {
        let _ = handler.join();
    }
}

fn answer(request: tiny_http::Request, reply: &Reply, stop: &AtomicBool) {
    sleep_unless(stop, reply.delay);
    let mut response = tiny_http::Response::from_string(reply.body.clone()).with_status_code(reply.status);
    for (name, value) in &reply.headers {
        response.add_header(
            tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header"),
        );
    }
    let _ = request.respond(response);
}

fn endless(request: tiny_http::Request, stop: &AtomicBool) {
    let mut out = request.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n";
    if out.write_all(head.as_bytes()).and_then(|()| out.flush()).is_err() {
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        if out.write_all(b" ").and_then(|()| out.flush()).is_err() {
            return;
        }
        sleep_unless(stop, Duration::from_millis(50));
    }
}

// --- a server that never speaks, or speaks too slowly ----------------------------------------

/// Accepts TCP connections on 127.0.0.1 and never finishes a sentence: silent (an HTTP server
/// that never answers, an SMTP server that never greets), or trickling an endless answer a
/// byte at a time, each byte well within any per-read timeout, as a tarpit does.
pub struct Tarpit {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    main: Option<JoinHandle<()>>,
}

impl Tarpit {
    pub fn silent() -> Tarpit {
        Tarpit::start(Vec::new(), Duration::ZERO)
    }

    /// Sends `head`, then `repeat` over and over, one byte per `every`, to every connection.
    pub fn trickling(head: &[u8], repeat: &[u8], every: Duration) -> Tarpit {
        let speech: Vec<u8> = head.iter().chain(repeat.iter().cycle().take(1 << 16)).copied().collect();
        Tarpit::start(speech, every)
    }

    fn start(speech: Vec<u8>, every: Duration) -> Tarpit {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let main = {
            let (stop, accepted) = (Arc::clone(&stop), Arc::clone(&accepted));
            std::thread::spawn(move || {
                // Held open, unread, until the test is done; each with how much it was told.
                let mut open: Vec<(TcpStream, usize)> = Vec::new();
                let mut next_byte = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                            open.push((stream, 0));
                        }
                        Err(_) => std::thread::sleep(POLL),
                    }
                    if !speech.is_empty() && Instant::now() >= next_byte {
                        next_byte = Instant::now() + every;
                        for (stream, told) in &mut open {
                            if let Some(&byte) = speech.get(*told) {
                                let _ = stream.write_all(&[byte]);
                                *told += 1;
                            }
                        }
                    }
                }
            })
        };
        Tarpit { addr, stop, accepted, main: Some(main) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// How many connections it has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Tarpit {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(main) = self.main.take() {
            let _ = main.join();
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (bound once, then released).
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

// --- SMTP ----------------------------------------------------------------------------------

/// One message as the SMTP server got it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The envelope: `MAIL FROM` and every `RCPT TO`.
    pub from: String,
    pub to: Vec<String>,
    /// Everything between `DATA` and the final dot, dot-unstuffed.
    pub data: Vec<u8>,
    /// `(authentication id, password)` of the session's AUTH PLAIN, if any.
    pub auth: Option<(String, String)>,
}

impl Mail {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The header block and the body, split at the first empty line.
    fn parts(&self) -> (String, String) {
        let text = self.text().replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        (head.to_owned(), body.to_owned())
    }

    /// Header `name` (any case), continuation lines joined.
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.parts();
        let mut unfolded: Vec<String> = Vec::new();
        for line in head.lines() {
            match unfolded.last_mut() {
                Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
                _ => unfolded.push(line.to_owned()),
            }
        }
        unfolded.iter().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The body, decoded from its Content-Transfer-Encoding, with `\n` line ends.
    pub fn body(&self) -> String {
        let (_, body) = self.parts();
        let encoding = self.header("Content-Transfer-Encoding").unwrap_or_default().to_ascii_lowercase();
        match encoding.as_str() {
            "" | "7bit" | "8bit" => body,
            "quoted-printable" => quoted_printable(&body),
            "base64" => base64(&body),
            other => panic!("unexpected Content-Transfer-Encoding {other}"),
        }
    }
}

fn quoted_printable(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        if !soft {
            out.push(b'\n');
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut bits, mut count, mut out) = (0u32, 0, Vec::new());
    for c in text.bytes().filter(|c| ALPHABET.contains(c)) {
        bits = (bits << 6) | ALPHABET.iter().position(|&a| a == c).unwrap_or(0) as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// What an [`SmtpServer`] offers.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    /// Offer AUTH PLAIN (over plain text) and accept only these credentials.
    pub auth: Option<(String, String)>,
    /// Speak TLS with this server config: from the first byte (`smtps://`), or after
    /// STARTTLS when `starttls` is set (`smtp://`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub starttls: bool,
    /// Listen on [::1] instead of 127.0.0.1.
    pub ipv6: bool,
}

#[derive(Default)]
struct SmtpLog {
    mails: Vec<Mail>,
    /// Every command line received (not the message data), from every connection.
    commands: Vec<String>,
    connections: usize,
}

/// An SMTP server on 127.0.0.1 (or [::1]) that records every message.
pub struct SmtpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<SmtpLog>>,
    main: Option<JoinHandle<()>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        SmtpServer::with(SmtpOptions::default())
    }

    /// Offers AUTH PLAIN and takes only `user` / `password`.
    pub fn with_auth(user: &str, password: &str) -> SmtpServer {
        SmtpServer::with(SmtpOptions {
            auth: Some((user.to_owned(), password.to_owned())),
            ..SmtpOptions::default()
        })
    }

    /// Speaks TLS with a certificate `ca` signed: from the first byte (`smtps://`), or after
    /// STARTTLS (`smtp://`).
    pub fn with_tls(ca: &TestCa, starttls: bool) -> SmtpServer {
        SmtpServer::with(SmtpOptions { tls: Some(ca.server_config()), starttls, ..SmtpOptions::default() })
    }

    pub fn with(options: SmtpOptions) -> SmtpServer {
        let listener = TcpListener::bind(if options.ipv6 { "[::1]:0" } else { "127.0.0.1:0" }).expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(SmtpLog::default()));
        let main = {
            let (stop, log) = (Arc::clone(&stop), Arc::clone(&log));
            std::thread::spawn(move || smtp_accept(&listener, &options, &stop, &log))
        };
        SmtpServer { addr, stop, log, main: Some(main) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.log.lock().unwrap().mails.clone()
    }

    pub fn commands(&self) -> Vec<String> {
        self.log.lock().unwrap().commands.clone()
    }

    pub fn connections(&self) -> usize {
        self.log.lock().unwrap().connections
    }

    /// The messages once there are at least `n`, waiting at most `limit`.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Mail> {
        wait_for(limit, &format!("{n} messages at {}", self.addr), || {
            let log = self.log.lock().unwrap();
            (log.mails.len() >= n).then(|| log.mails.clone())
        })
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(main) = self.main.take() {
            let _ = main.join();
        }
    }
}

fn smtp_accept(
    listener: &TcpListener,
    options: &SmtpOptions,
    stop: &Arc<AtomicBool>,
    log: &Arc<Mutex<SmtpLog>>,
) {
    let mut builder = mailin::SessionBuilder::new("test.smtp.local");
    if options.auth.is_some() {
        builder.enable_auth(mailin::AuthMechanism::Plain).insecure_enable_plaintext_auth();
    }
    if options.starttls {
        builder.enable_start_tls();
    }
    let mut sessions = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                log.lock().unwrap().connections += 1;
                let handler = Recorder {
                    log: Arc::clone(log),
                    accept: options.auth.clone(),
                    mail: Mail::default(),
                    auth: None,
                };
                let mut session = builder.build(peer.ip(), handler);
                let (stop, log, tls) = (Arc::clone(stop), Arc::clone(log), options.tls.clone());
                let starttls = options.starttls;
                sessions.push(std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(POLL * 5));
                    let Some(tls) = tls else {
                        smtp_session(stream, &mut session, true, &stop, &log);
                        return;
                    };
                    // With STARTTLS, plain text until the client asks for TLS.
                    let stream = if starttls {
                        let Some(stream) = smtp_session(stream, &mut session, true, &stop, &log) else {
                            return;
                        };
                        session.tls_active();
                        stream
                    } else {
                        stream
                    };
                    let Ok(server) = rustls::ServerConnection::new(tls) else { return };
                    smtp_session(
                        rustls::StreamOwned::new(server, stream),
                        &mut session,
                        !starttls,
                        &stop,
                        &log,
                    );
                }));
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for session in sessions {
        let _ = session.join();
    }
}

/// Speaks SMTP on one connection until the client quits, the server closes, or the test ends;
/// or until the client asks for STARTTLS, when it hands the stream back for TLS (the part after
/// STARTTLS does not greet again).
fn smtp_session<S: Read + Write>(
    stream: S,
    session: &mut mailin::Session<Recorder>,
    greet: bool,
    stop: &AtomicBool,
    log: &Mutex<SmtpLog>,
) -> Option<S> {
    let mut reader = BufReader::new(stream);
    if greet && session.greeting().write_to(reader.get_mut()).is_err() {
        return None;
    }
    let mut in_data = false;
    let mut line = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        // On a read timeout the bytes read so far stay in `line`; the next call goes on.
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return None,
            Ok(_) if line.ends_with(b"\n") => {}
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                continue;
            }
            Err(_) => return None,
        }
        if !in_data {
            log.lock().unwrap().commands.push(String::from_utf8_lossy(&line).trim_end().to_owned());
        }
        let response = session.process(&line);
        line.clear();
        if response.code == 354 {
            in_data = true;
        } else if response.action != mailin::Action::NoReply {
            in_data = false;
        }
        match response.action {
            mailin::Action::Reply => {
                if response.write_to(reader.get_mut()).is_err() {
                    return None;
                }
            }
            mailin::Action::UpgradeTls => {
                response.write_to(reader.get_mut()).ok()?;
                // The client sends nothing more in plain text, so nothing is left buffered.
                return Some(reader.into_inner());
            }
            mailin::Action::Close => {
                let _ = response.write_to(reader.get_mut());
                return None;
            }
            mailin::Action::NoReply => {}
        }
    }
    None
}

/// The mailin handler: collects the envelope and data of each message.
struct Recorder {
    log: Arc<Mutex<SmtpLog>>,
    accept: Option<(String, String)>,
    mail: Mail,
    auth: Option<(String, String)>,
}

impl mailin::Handler for Recorder {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> mailin::Response {
        self.mail = Mail { from: from.to_owned(), auth: self.auth.clone(), ..Mail::default() };
        mailin::response::OK
    }

    /// `full@…` is refused for now (452, a mailbox over quota), `gone@…` for good (550, no such
    /// mailbox); every other recipient is accepted.
    fn rcpt(&mut self, to: &str) -> mailin::Response {
        match to.split('@').next() {
            Some("full") => return mailin::response::OUT_OF_SPACE,
            Some("gone") => return mailin::response::NO_MAILBOX,
            _ => {}
        }
        self.mail.to.push(to.to_owned());
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.mail.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin::Response {
        self.log.lock().unwrap().mails.push(std::mem::take(&mut self.mail));
        mailin::response::OK
    }

    fn auth_plain(
        &mut self,
        _authorization_id: &str,
        authentication_id: &str,
        password: &str,
    ) -> mailin::Response {
        let seen = (authentication_id.to_owned(), password.to_owned());
        self.auth = Some(seen.clone());
        if self.accept.as_ref() == Some(&seen) {
            mailin::response::AUTH_OK
        } else {
            mailin::response::INVALID_CREDENTIALS
        }
    }
}

// --- TLS -------------------------------------------------------------------------------------

/// A private certificate authority, made afresh for a test, and a server certificate it signed
/// for 127.0.0.1 and localhost: what an operator with an internal CA has.
pub struct TestCa {
    /// The CA's certificate, PEM: what a `ca_file` holds.
    pub pem: String,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: Vec<u8>,
    /// The server's certificate and key, PEM, for a server that reads files (PostgreSQL).
    pub server_pem: (String, String),
}

impl TestCa {
    pub fn new() -> TestCa {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "ftptrigger test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().expect("server key");
        let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &issuer)
            .expect("server certificate");
        TestCa {
            pem: ca_cert.pem(),
            chain: vec![server.der().clone()],
            server_pem: (server.pem(), key.serialize_pem()),
            key: key.serialize_der(),
        }
    }

    /// The CA's certificate in a PEM file, for `ca_file`; removed when dropped.
    pub fn write_pem(&self) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(self.pem.as_bytes()).expect("write the CA");
        file
    }

    /// A TLS server config presenting the certificate this CA signed.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.key.clone().into());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)
            .expect("server certificate and key");
        Arc::new(config)
    }
}

/// An HTTPS server on 127.0.0.1 with a certificate a [`TestCa`] signed: answers `200` to every
/// request and keeps each request's body.
pub struct HttpsReceiver {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    main: Option<JoinHandle<()>>,
}

impl HttpsReceiver {
    pub fn start(ca: &TestCa) -> HttpsReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let (stop, bodies) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::new())));
        let config = ca.server_config();
        let main = {
            let (stop, bodies) = (Arc::clone(&stop), Arc::clone(&bodies));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            if let Some(body) = https_exchange(stream, Arc::clone(&config)) {
                                bodies.lock().unwrap().push(body);
                            }
                        }
                        Err(_) => std::thread::sleep(POLL),
                    }
                }
            })
        };
        HttpsReceiver { addr, stop, bodies, main: Some(main) }
    }

    pub fn url(&self) -> String {
        format!("https://{}/hook", self.addr)
    }

    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().unwrap().clone()
    }
}

impl Drop for HttpsReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(main) = self.main.take() {
            let _ = main.join();
        }
    }
}

/// One request over TLS: its body, once the handshake succeeded and the request was read
/// whole; `None` when the client gave up (a certificate it does not trust).
fn https_exchange(stream: TcpStream, config: Arc<rustls::ServerConfig>) -> Option<Vec<u8>> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config).ok()?, stream);
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = tls.read(&mut buf).ok().filter(|&n| n > 0)?;
        request.extend_from_slice(&buf[..n]);
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = tls.read(&mut buf).ok().filter(|&n| n > 0)?;
        request.extend_from_slice(&buf[..n]);
    }
    tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ok()?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Some(request[head_end..head_end + length].to_vec())
}
