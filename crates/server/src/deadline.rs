//! Slow clients: a connection may not hold the server for ever. A request must arrive whole and be
//! answered within `REQUEST` of its first byte (a head or body sent a few bytes a second, or a
//! `Content-Length` that never comes, is cut), and a connection between requests is closed after `IDLE`.
//! The HTTP server this crate uses has no such timer, so the connection's reads carry it: a read that
//! has waited past the deadline fails, and the connection closes. Shutdown then waits `REQUEST` at most.

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

pub struct Deadlined<I> {
    io: I,
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
        Deadlined { io, request, idle, timer, request_started: None, idle_since: now }
    }

    fn deadline(&self) -> Instant {
        match self.request_started {
            Some(started) => started + self.request,
            None => self.idle_since + self.idle,
        }
    }

    /// After a write: once the answer has begun, the request's deadline ends and the connection is idle.
    fn wrote(&mut self, written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) {
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
        this.wrote(&written);
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(&written);
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
