//! The HTTP connection under actix-http: the answers its dispatcher writes by itself, in the
//! API's JSON error shape.
//!
//! actix-http's HTTP/1 dispatcher answers some requests before any service sees them, with an
//! empty body: 408 when the first request head does not arrive within the head timeout
//! (`RALLY_HTTP_HEAD_TIMEOUT`), 431 when a request head outgrows its 128 KiB buffer, 400 when a head
//! does not parse, and 500 when a connection ends in a way it does not expect. [`HttpIo`]
//! wraps each accepted TCP stream and rewrites exactly those answers — recognised by their
//! shape: one of these status lines followed by no header but `content-length: 0`,
//! `connection` and `date` (everything rally's own services answer has a `content-type`) —
//! into `{"error":{"code","message"}}` answers with the same status. Everything else passes
//! through untouched; after a WebSocket upgrade the session takes the bare stream back
//! ([`HttpIo::into_inner`]).
//!
//! actix-http times only the *first* request head of a connection: once a kept-alive
//! connection has sent one byte of a later request, it would wait for the rest forever (a
//! slow-loris). [`HttpIo`] therefore follows the requests it reads with a second copy of
//! actix-http's own request parser (same framing: lengths, chunks, upgrades) and times every
//! later head too: when one has started but not ended within `RALLY_HTTP_HEAD_TIMEOUT`, it
//! hands the dispatcher a byte no request head may contain, so the dispatcher ends the
//! connection after the answers it owes, with the error answer that this module writes as 408
//! `request_timeout`.

use crate::error::ErrorKind;
use actix_codec::Decoder;
use actix_http::h1;
use bytes::{Buf, BytesMut};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// `RALLY_HTTP_HEAD_TIMEOUT`'s default: how long the first request head of a connection may
/// take to arrive (408 after). A head is a few hundred bytes that a client sends at once; 5 s
/// is generous for any link and bounds how long a connection is held before its first request.
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The answers actix-http's dispatcher writes by itself: status line, kind, message.
const DISPATCHER_ANSWERS: &[(&[u8], ErrorKind, &str)] = &[
    (
        b"HTTP/1.1 400 Bad Request\r\n",
        ErrorKind::BadRequest,
        "the request is not valid HTTP/1.1",
    ),
    (
        b"HTTP/1.1 408 Request Timeout\r\n",
        ErrorKind::RequestTimeout,
        "the request head did not arrive in time",
    ),
    (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        ErrorKind::HeadersTooLarge,
        "the request head is larger than the server reads",
    ),
    (
        b"HTTP/1.1 500 Internal Server Error\r\n",
        ErrorKind::Internal,
        "internal server error",
    ),
];

/// What the dispatcher reads when a later request head timed out: NUL is not allowed
/// anywhere in a request head, so whatever came before it, the head fails to parse.
const STALLED_HEAD: &[u8] = b"\0\r\n\r\n";

/// A client connection as actix-http's dispatcher sees it (see the module documentation).
pub struct HttpIo {
    io: TcpStream,
    /// A rewritten answer still to be written before anything else.
    pending: BytesMut,
    /// The requests read so far, parsed as the dispatcher parses them; `None` once there is
    /// nothing left to follow (an upgrade, a parse error, a timed-out head).
    requests: Option<Requests>,
    /// How long a later request head may take.
    head_timeout: Duration,
    /// Set while a later request head is incomplete: when it passes, the head timed out.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A head timed out: the dispatcher's 400 that follows is written as 408.
    timed_out: bool,
}

/// The request stream as the dispatcher reads it.
struct Requests {
    codec: h1::Codec,
    /// Bytes read and not parsed yet: an incomplete head, or a part of a body.
    unparsed: BytesMut,
    /// Request heads parsed so far.
    heads: u64,
    /// Between requests (the next bytes start a head), not inside a body.
    between: bool,
}

impl Requests {
    /// Parse `read`; false when there is nothing more to follow.
    fn feed(&mut self, read: &[u8]) -> bool {
        self.unparsed.extend_from_slice(read);
        loop {
            match self.codec.decode(&mut self.unparsed) {
                Ok(Some(h1::Message::Item(_))) => {
                    self.heads += 1;
                    match self.codec.message_type() {
                        h1::MessageType::None => self.between = true,
                        h1::MessageType::Payload => self.between = false,
                        // An upgrade: the connection is no longer HTTP.
                        h1::MessageType::Stream => return false,
                    }
                }
                Ok(Some(h1::Message::Chunk(Some(_)))) => {}
                Ok(Some(h1::Message::Chunk(None))) => self.between = true,
                Ok(None) => return true,
                // The dispatcher fails on the same bytes and answers by itself.
                Err(_) => return false,
            }
        }
    }

    /// A later request's head has started and not ended.
    fn later_head_pending(&self) -> bool {
        self.between && self.heads > 0 && !self.unparsed.is_empty()
    }
}

impl HttpIo {
    /// Wrap an accepted connection; later request heads may take `head_timeout`.
    pub fn new(io: TcpStream, head_timeout: Duration) -> HttpIo {
        HttpIo {
            io,
            pending: BytesMut::new(),
            requests: Some(Requests {
                codec: h1::Codec::new(actix_http::ServiceConfig::default()),
                unparsed: BytesMut::new(),
                heads: 0,
                between: true,
            }),
            head_timeout,
            deadline: None,
            timed_out: false,
        }
    }

    /// Follow the bytes just read; arm or disarm the head deadline.
    fn follow(&mut self, read: &[u8]) {
        let Some(requests) = self.requests.as_mut() else {
            return;
        };
        if !requests.feed(read) {
            self.requests = None;
            self.deadline = None;
            return;
        }
        if !requests.later_head_pending() {
            self.deadline = None;
        } else if self.deadline.is_none() {
            self.deadline = Some(Box::pin(tokio::time::sleep(self.head_timeout)));
        }
    }

    /// The bare stream (at a WebSocket upgrade; nothing is pending then: the dispatcher
    /// writes no answer of its own before an upgrade).
    pub fn into_inner(self) -> TcpStream {
        self.io
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.io.peer_addr()
    }

    /// Write what is pending; Ready once nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

/// The first dispatcher answer in `out`: its start, its end and the JSON answer to write in
/// its place (a 400 as 408 when a head `timed_out`).
fn find_dispatcher_answer(out: &[u8], timed_out: bool) -> Option<(usize, usize, Vec<u8>)> {
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&out[from..], b"HTTP/1.1 ") {
        let start = from + at;
        if let Some((end, answer)) = dispatcher_answer(&out[start..], timed_out) {
            return Some((start, start + end, answer));
        }
        from = start + 1;
    }
    None
}

/// When `out` starts with a complete dispatcher answer: its length and its JSON rewrite.
fn dispatcher_answer(out: &[u8], timed_out: bool) -> Option<(usize, Vec<u8>)> {
    let mut answer = DISPATCHER_ANSWERS
        .iter()
        .find(|(line, _, _)| out.starts_with(line))?;
    if timed_out && answer.1 == ErrorKind::BadRequest {
        // The parse error this module caused for a head that timed out.
        answer = DISPATCHER_ANSWERS
            .iter()
            .find(|(_, kind, _)| *kind == ErrorKind::RequestTimeout)?;
    }
    let (line, kind, message) = answer;
    let head_end = memchr::memmem::find(out, b"\r\n\r\n")? + 4;
    let status_line_end = memchr::memmem::find(out, b"\r\n")? + 2;
    let headers = &out[status_line_end..head_end - 2];
    let mut date = None;
    for header in headers.split(|&b| b == b'\n').filter(|h| !h.is_empty()) {
        let header = header.strip_suffix(b"\r")?;
        let lower = header.to_ascii_lowercase();
        if lower.starts_with(b"date: ") {
            date = Some(header);
        } else if lower != b"content-length: 0" && !lower.starts_with(b"connection: ") {
            // Not an empty answer of the dispatcher's.
            return None;
        }
    }
    let body = serde_json::json!({"error": {"code": kind.code(), "message": message}}).to_string();
    let mut answer = Vec::with_capacity(line.len() + 160 + body.len());
    answer.extend_from_slice(line);
    answer.extend_from_slice(b"content-type: application/json\r\n");
    answer.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    answer.extend_from_slice(b"connection: close\r\n");
    if let Some(date) = date {
        answer.extend_from_slice(date);
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(b"\r\n");
    answer.extend_from_slice(body.as_bytes());
    Some((head_end, answer))
}

impl AsyncRead for HttpIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.follow(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired && buf.remaining() >= STALLED_HEAD.len() {
                    buf.put_slice(STALLED_HEAD);
                    this.timed_out = true;
                    this.requests = None;
                    this.deadline = None;
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for HttpIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        match find_dispatcher_answer(buf, this.timed_out) {
            None => Pin::new(&mut this.io).poll_write(cx, buf),
            // What comes before it first.
            Some((start, _, _)) if start > 0 => {
                Pin::new(&mut this.io).poll_write(cx, &buf[..start])
            }
            Some((_, end, answer)) => {
                this.pending.extend_from_slice(&answer);
                Poll::Ready(Ok(end))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::find_dispatcher_answer;

    fn rewritten(out: &str) -> Option<(usize, usize, String)> {
        find_dispatcher_answer(out.as_bytes(), false)
            .map(|(s, e, a)| (s, e, String::from_utf8(a).unwrap()))
    }

    #[test]
    fn the_dispatchers_empty_answers_become_json() {
        let head = "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: Thu, 03 Dec 2026 06:32:00 GMT\r\n\r\n";
        let (start, end, answer) = rewritten(head).unwrap();
        assert_eq!((start, end), (0, head.len()));
        assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(answer.contains("content-type: application/json\r\n"));
        assert!(answer.contains("date: Thu, 03 Dec 2026 06:32:00 GMT\r\n"));
        let body = answer.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "headers_too_large");
        assert!(answer.contains(&format!("content-length: {}\r\n", body.len())));

        // After an earlier answer on the same connection.
        let earlier =
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}";
        let timeout = "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n";
        let (start, end, answer) = rewritten(&format!("{earlier}{timeout}")).unwrap();
        assert_eq!((start, end), (earlier.len(), earlier.len() + timeout.len()));
        assert!(answer.contains("\"request_timeout\""));
    }

    #[test]
    fn after_a_timed_out_head_the_parse_error_is_a_timeout() {
        let head = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let (_, _, answer) = find_dispatcher_answer(head.as_bytes(), true).unwrap();
        let answer = String::from_utf8(answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\"request_timeout\""), "{answer}");
        assert!(rewritten(head).unwrap().2.contains("\"bad_request\""));
    }

    #[test]
    fn answers_with_a_body_or_other_statuses_pass() {
        for out in [
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 40\r\ncontent-type: application/json\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
        ] {
            assert!(rewritten(out).is_none(), "{out}");
        }
    }
}
