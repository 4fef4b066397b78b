//! A minimal HTTP/1.1 GET for the samplers: one node, one TCP connection, one buffer.
//!
//! The samplers ask two URLs of every node ten times a second. reqwest's full stack
//! (pool checkout, a hyper connection task per connection, header maps, body streams,
//! charset decoding, two timers per call) costs several times the request itself, and
//! Patroni's REST API (Python's `BaseHTTPRequestHandler`, HTTP/1.0 answers without a
//! length) closes the connection after every answer, so a pool saves nothing there. This
//! client writes one preformatted request and reads the answer into a buffer it keeps:
//! the connection is kept alive when the server allows it (HTTP/1.1 with a length and no
//! `Connection: close`), read to its end otherwise. Plain HTTP only: with `https` the
//! samplers use the [`super::PatroniClient`] path (rustls, client certificates).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ApiError;
use crate::secret::Secret;

/// Largest answer accepted (a `/cluster` of dozens of members is a few KiB).
const MAX_ANSWER: usize = 4 << 20;

/// One node's REST API, asked over one connection at a time.
pub(crate) struct NodeHttp {
    /// `http://host:port`, for error messages.
    base: String,
    host: String,
    port: u16,
    /// The address, resolved on first use and again after a failed connect.
    addr: Option<SocketAddr>,
    /// The kept-alive connection, when the last answer allowed it.
    stream: Option<TcpStream>,
    /// Headers after the request line, formatted once.
    headers: String,
    request: Vec<u8>,
    buf: Vec<u8>,
    timeout: Duration,
}

/// An answer: its status and where the body is in [`NodeHttp`]'s buffer.
pub(crate) struct Answer {
    /// HTTP status.
    pub(crate) status: u16,
    body: std::ops::Range<usize>,
}

/// Why one request failed, before it is named with its URL.
#[derive(Debug)]
enum Failure {
    /// Connection refused (nothing listens): the caller may back off.
    Refused(std::io::Error),
    Io(std::io::Error),
    Protocol(&'static str),
}

impl NodeHttp {
    /// A client for `host:port`, each request bounded by `timeout`.
    pub(crate) fn new(
        host: &str,
        port: u16,
        auth: Option<&(String, Secret)>,
        timeout: Duration,
    ) -> Self {
        let shown = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let mut headers = format!(
            "Host: {shown}:{port}\r\nUser-Agent: pgchaos/{}\r\nAccept: application/json\r\n",
            env!("CARGO_PKG_VERSION")
        );
        if let Some((user, pass)) = auth {
            let cred = format!("{user}:{}", pass.expose());
            headers.push_str("Authorization: Basic ");
            headers.push_str(&crate::base64::encode(cred.as_bytes()));
            headers.push_str("\r\n");
        }
        headers.push_str("\r\n");
        Self {
            base: format!("http://{shown}:{port}"),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            addr: None,
            stream: None,
            headers,
            request: Vec::with_capacity(256),
            buf: Vec::with_capacity(8192),
            timeout,
        }
    }

    /// The body of `answer` (valid until the next request).
    pub(crate) fn body(&self, answer: &Answer) -> &[u8] {
        &self.buf[answer.body.clone()]
    }

    /// The URL of `path`, for messages.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`. The error says whether the connection was refused (second field).
    pub(crate) async fn get(&mut self, path: &str) -> Result<Answer, (ApiError, bool)> {
        self.request.clear();
        self.request.extend_from_slice(b"GET ");
        self.request.extend_from_slice(path.as_bytes());
        self.request.extend_from_slice(b" HTTP/1.1\r\n");
        self.request.extend_from_slice(self.headers.as_bytes());
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.exchange()).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(f)) => {
                self.stream = None;
                let (message, refused) = match f {
                    Failure::Refused(e) => (e.to_string(), true),
                    Failure::Io(e) => (e.to_string(), false),
                    Failure::Protocol(m) => (m.to_owned(), false),
                };
                Err((
                    ApiError::Connect {
                        url: self.url(path),
                        message,
                    },
                    refused,
                ))
            }
            Err(_) => {
                self.stream = None;
                Err((
                    ApiError::Timeout {
                        url: self.url(path),
                        after: timeout,
                    },
                    false,
                ))
            }
        }
    }

    /// Sends the request and reads the answer; a kept-alive connection that the server
    /// closed meanwhile is replaced once.
    async fn exchange(&mut self) -> Result<Answer, Failure> {
        for attempt in 0..2 {
            let reused = self.stream.is_some();
            if !reused {
                let addr = match self.addr {
                    Some(a) => a,
                    None => {
                        let a = tokio::net::lookup_host((self.host.as_str(), self.port))
                            .await
                            .map_err(Failure::Io)?
                            .next()
                            .ok_or(Failure::Protocol("the host name resolved to no address"))?;
                        self.addr = Some(a);
                        a
                    }
                };
                let s = TcpStream::connect(addr).await.map_err(|e| {
                    // A new address may answer next time (DNS change, node rebuilt).
                    self.addr = None;
                    if e.kind() == std::io::ErrorKind::ConnectionRefused {
                        Failure::Refused(e)
                    } else {
                        Failure::Io(e)
                    }
                })?;
                // Ignored when it fails: the request still works, only slower.
                let _ = s.set_nodelay(true);
                self.stream = Some(s);
            }
            let stream = self.stream.as_mut().expect("connected above");
            self.buf.clear();
            let sent = stream.write_all(&self.request).await;
            let read = match sent {
                Ok(()) => read_answer(stream, &mut self.buf).await,
                Err(e) => Err(Failure::Io(e)),
            };
            match read {
                Ok((answer, keep)) => {
                    if !keep {
                        self.stream = None;
                    }
                    return Ok(answer);
                }
                // The server closed an idle kept-alive connection: once more on a new one.
                Err(_) if reused && attempt == 0 && self.buf.is_empty() => {
                    self.stream = None;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Failure::Protocol("no answer"))
    }
}

/// Reads one answer into `buf`; returns it and whether the connection may be reused.
async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(Answer, bool), Failure> {
    let mut head_end = None;
    let mut eof = false;
    loop {
        if head_end.is_none() {
            head_end = find(buf, b"\r\n\r\n");
        }
        if let Some(h) = head_end {
            let head = parse_head(&buf[..h])?;
            let start = h + 4;
            match head.framing {
                Framing::Length(n) => {
                    if buf.len() >= start + n {
                        return Ok((
                            Answer {
                                status: head.status,
                                body: start..start + n,
                            },
                            head.keep_alive && buf.len() == start + n,
                        ));
                    }
                }
                Framing::Chunked => {
                    if let Some(len) = dechunk(buf, start)? {
                        return Ok((
                            Answer {
                                status: head.status,
                                body: start..start + len,
                            },
                            false,
                        ));
                    }
                }
                Framing::Close => {
                    if eof {
                        return Ok((
                            Answer {
                                status: head.status,
                                body: start..buf.len(),
                            },
                            false,
                        ));
                    }
                }
            }
        }
        if eof {
            return Err(Failure::Protocol(
                "the connection closed before the answer was complete",
            ));
        }
        if buf.len() >= MAX_ANSWER {
            return Err(Failure::Protocol("answer too large"));
        }
        buf.reserve(8192);
        let n = stream.read_buf(buf).await.map_err(Failure::Io)?;
        eof = n == 0;
    }
}

enum Framing {
    Length(usize),
    Chunked,
    Close,
}

struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
}

fn parse_head(head: &[u8]) -> Result<Head, Failure> {
    let text = std::str::from_utf8(head).map_err(|_| Failure::Protocol("bad HTTP header"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(Failure::Protocol("not an HTTP/1 answer"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(Failure::Protocol("bad HTTP status line"))?;
    let mut keep_alive = version == "HTTP/1.1";
    let mut framing = Framing::Close;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            if !matches!(framing, Framing::Chunked) {
                framing = Framing::Length(
                    value
                        .parse()
                        .map_err(|_| Failure::Protocol("bad Content-Length"))?,
                );
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().contains("chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    // Without a length the answer ends with the connection.
    if matches!(framing, Framing::Close) {
        keep_alive = false;
    }
    Ok(Head {
        status,
        framing,
        keep_alive,
    })
}

/// Decodes a chunked body starting at `start` in place once it is complete; returns its
/// length then, `None` while more is needed.
fn dechunk(buf: &mut Vec<u8>, start: usize) -> Result<Option<usize>, Failure> {
    // First check that the terminating chunk has arrived, without changing anything.
    let mut at = start;
    let mut pieces = Vec::new();
    loop {
        let Some(eol) = find(&buf[at..], b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&buf[at..at + eol])
            .map_err(|_| Failure::Protocol("bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Failure::Protocol("bad chunk size"))?;
        let data = at + eol + 2;
        if size == 0 {
            // Trailers are not used; the body ends at the last chunk.
            break;
        }
        if buf.len() < data + size + 2 {
            return Ok(None);
        }
        pieces.push(data..data + size);
        at = data + size + 2;
    }
    let mut out = start;
    for p in pieces {
        let len = p.len();
        buf.copy_within(p, out);
        out += len;
    }
    buf.truncate(out);
    Ok(Some(out - start))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn heads_and_framing() {
        let h = parse_head(b"HTTP/1.0 200 OK\r\nContent-Type: application/json").unwrap();
        assert_eq!(h.status, 200);
        assert!(matches!(h.framing, Framing::Close) && !h.keep_alive);
        let h = parse_head(b"HTTP/1.1 503 X\r\ncontent-length: 12").unwrap();
        assert!(matches!(h.framing, Framing::Length(12)) && h.keep_alive);
        let h = parse_head(b"HTTP/1.1 200 X\r\nContent-Length: 2\r\nConnection: close").unwrap();
        assert!(!h.keep_alive);
        assert!(parse_head(b"SSH-2.0-OpenSSH").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        let mut b = b"HEAD4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n".to_vec();
        assert_eq!(dechunk(&mut b, 4).unwrap(), Some(7));
        assert_eq!(&b[4..], b"abcdefg");
        let mut partial = b"4\r\nab".to_vec();
        assert_eq!(dechunk(&mut partial, 0).unwrap(), None);
    }

    /// Serves `answers` one per connection (HTTP/1.0 style, closing) or all on one
    /// connection (`keep`); returns the port and the requests seen.
    async fn server(
        answers: Vec<&'static str>,
        keep: bool,
    ) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut answers = answers.into_iter().peekable();
            'conns: while answers.peek().is_some() {
                let Ok((mut s, _)) = l.accept().await else {
                    break;
                };
                while answers.peek().is_some() {
                    let mut req = Vec::new();
                    while find(&req, b"\r\n\r\n").is_none() {
                        let mut chunk = [0u8; 1024];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => continue 'conns,
                            Ok(n) => req.extend_from_slice(&chunk[..n]),
                        }
                    }
                    seen.push(String::from_utf8_lossy(&req).into_owned());
                    let Some(a) = answers.next() else {
                        break 'conns;
                    };
                    s.write_all(a.as_bytes()).await.unwrap();
                    if !keep {
                        break;
                    }
                }
            }
            seen
        });
        (port, task)
    }

    #[tokio::test]
    async fn reads_closing_and_kept_alive_answers() {
        let (port, task) = server(
            vec![
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\": 1}",
                "HTTP/1.0 503 Service Unavailable\r\n\r\n{\"b\": 2}",
            ],
            false,
        )
        .await;
        let auth = ("u".to_owned(), Secret::new("p".to_owned()));
        let mut c = NodeHttp::new("127.0.0.1", port, Some(&auth), Duration::from_secs(2));
        let a = c.get("/patroni").await.map_err(|e| e.0).unwrap();
        assert_eq!((a.status, c.body(&a)), (200, &b"{\"a\": 1}"[..]));
        let a = c.get("/cluster").await.map_err(|e| e.0).unwrap();
        assert_eq!((a.status, c.body(&a)), (503, &b"{\"b\": 2}"[..]));
        drop(c);
        let seen = task.await.unwrap();
        assert!(seen[0].starts_with("GET /patroni HTTP/1.1\r\nHost: 127.0.0.1:"));
        assert!(seen[1].contains("Authorization: Basic dTpw\r\n"));

        let (port, task) = server(
            vec![
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
                "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n[1] ",
            ],
            true,
        )
        .await;
        let mut c = NodeHttp::new("127.0.0.1", port, None, Duration::from_secs(2));
        let a = c.get("/x").await.map_err(|e| e.0).unwrap();
        assert_eq!(c.body(&a), b"{}");
        assert!(c.stream.is_some(), "kept alive");
        let a = c.get("/y").await.map_err(|e| e.0).unwrap();
        assert_eq!(c.body(&a), b"[1] ");
        drop(c);
        assert_eq!(task.await.unwrap().len(), 2, "both on one connection");
    }

    #[tokio::test]
    async fn refusals_say_so() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut c = NodeHttp::new("127.0.0.1", port, None, Duration::from_secs(2));
        let (e, refused) = c.get("/patroni").await.err().unwrap();
        assert!(refused);
        assert!(e.short().to_lowercase().contains("refused"), "{e}");
    }
}
