//! Slow clients: a connection may not hold the server for ever. A request must arrive whole and be
//! answered within `REQUEST` of its first byte (a head or body sent a few bytes a second, or a
//! `Content-Length` that never comes, is cut), and a connection between requests is closed after `IDLE`.
//! The HTTP server this crate uses has no such timer, so the connection's reads carry it: a read that
//! has waited past the deadline fails, and the connection closes. Shutdown then waits `REQUEST` at most.
//!
//! The clock restarts when the answer begins: the first byte written that is not an interim answer
//! (`100 Continue`, which a client asks for with `Expect` and which would otherwise restart it before the
//! body comes). HTTP/2 is not served: its control frames (a PING every few seconds) are written between a
//! request's pieces, so a stream half sent could be held for ever at no cost, hundreds to a connection;
//! TLS offers only `http/1.1`, and a connection that opens with HTTP/2's preface (prior knowledge) is
//! closed at once. A proxy in front may speak HTTP/2 to clients.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// From a request's first byte to the first byte of its answer: longer than any handler takes (a policy
/// replay stops at 30 s after waiting 10 s at most for its turn; an `imageUrl` fetch takes 8 s at most, a
/// webhook test 10 s). hyper reads while a handler runs (to see a client leave), so a handler slower than
/// this would lose its answer: every handler must stay well under it.
pub const REQUEST: Duration = Duration::from_secs(60);
/// A keep-alive connection with no request.
pub const IDLE: Duration = Duration::from_secs(60);

/// A listener whose connections carry the deadlines (`REQUEST` in production; tests shorten it, and
/// `IDLE` with it).
pub struct WithDeadlines<L> {
    listener: L,
    request: Duration,
}

impl<L> WithDeadlines<L> {
    pub fn new(listener: L, request: Duration) -> WithDeadlines<L> {
        WithDeadlines { listener, request }
    }
}

impl<L: axum::serve::Listener> axum::serve::Listener for WithDeadlines<L>
where
    L::Io: Unpin,
{
    type Io = Deadlined<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = self.listener.accept().await;
        (Deadlined::new(io, self.request, self.request.min(IDLE)), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// The first line of an HTTP/2 connection (RFC 9113, 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

pub struct Deadlined<I> {
    io: I,
    /// How many of the connection's first bytes matched `H2_PREFACE` (`usize::MAX` once one did not).
    preface: usize,
    request: Duration,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    /// When the request being read began (its first byte), until its answer begins.
    request_started: Option<Instant>,
    idle_since: Instant,
}

impl<I> Deadlined<I> {
    pub fn new(io: I, request: Duration, idle: Duration) -> Deadlined<I> {
        let now = Instant::now();
        let timer = Box::pin(tokio::time::sleep_until(now + idle));
        Deadlined { io, preface: 0, request, idle, timer, request_started: None, idle_since: now }
    }

    fn deadline(&self) -> Instant {
        match self.request_started {
            Some(started) => started + self.request,
            None => self.idle_since + self.idle,
        }
    }

    /// After a write: once the answer has begun, the request's deadline ends and the connection is idle.
    /// Whether the connection opens as HTTP/2 (after `read`, its newest bytes).
    fn opens_http2(&mut self, read: &[u8]) -> bool {
        if self.preface >= H2_PREFACE.len() {
            return false;
        }
        let expected = &H2_PREFACE[self.preface..];
        let n = read.len().min(expected.len());
        if read[..n] != expected[..n] {
            self.preface = usize::MAX;
            return false;
        }
        self.preface += n;
        self.preface == H2_PREFACE.len()
    }

    /// `first`: the first buffer given to the write. A write of a whole interim answer alone (`HTTP/1.1 1xx`
    /// up to its blank line, and no other status line after it) is not the answer; anything else written is.
    fn wrote(&mut self, written: &Poll<io::Result<usize>>, first: &[u8]) {
        let Poll::Ready(Ok(n)) = written else { return };
        if *n == 0 {
            return;
        }
        let sent = &first[..(*n).min(first.len())];
        let interim = sent.starts_with(b"HTTP/1.1 1")
            && sent.ends_with(b"\r\n\r\n")
            && sent.windows(9).filter(|w| w == b"HTTP/1.1 ").count() == 1;
        if !interim {
            self.request_started = None;
            self.idle_since = Instant::now();
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Deadlined<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.opens_http2(&buf.filled()[before..]) {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "HTTP/2 is not served")));
                }
                if buf.filled().len() > before && this.request_started.is_none() {
                    this.request_started = Some(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let deadline = this.deadline();
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent nothing in time, or its request too slowly",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Deadlined<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.wrote(&written, buf);
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(&written, bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]));
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_whole_interim_answer_written_alone_leaves_the_clock_running() {
        let (io, _other) = tokio::io::duplex(64);
        let mut d = Deadlined::new(io, REQUEST, IDLE);
        let wrote = |d: &mut Deadlined<_>, bytes: &[u8]| {
            d.request_started = Some(Instant::now());
            d.wrote(&Poll::Ready(Ok(bytes.len())), bytes);
            d.request_started.is_some()
        };
        assert!(wrote(&mut d, b"HTTP/1.1 100 Continue\r\n\r\n"), "a 100 alone is not the answer");
        // The 100 and the answer's head in one write, a 100 cut short, and an answer: the answer began.
        assert!(!wrote(&mut d, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
        assert!(!wrote(&mut d, b"HTTP/1.1 100 Cont"));
        assert!(!wrote(&mut d, b"HTTP/1.1 200 OK\r\n\r\n"));
        // Nothing written is nothing.
        d.request_started = Some(Instant::now());
        d.wrote(&Poll::Ready(Ok(0)), b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(d.request_started.is_some());
    }
}
