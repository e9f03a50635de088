//! One WebSocket connection's socket, after the upgrade: the [`Reader`] (frames in, decoded
//! from a per-read stack buffer, so an idle connection holds no read buffer at all) and the
//! [`Outlet`] (frames out).
//!
//! The outlet writes each frame straight to the socket (header and payload in one `writev`);
//! only what the kernel does not take waits in a bounded queue, flushed by a small task when
//! the socket becomes writable again — several queued frames per `writev`. That task exists
//! only while something waits (it is spawned when the queue fills and ends when it is empty):
//! an idle connection, or one whose socket takes every frame at once, has none. A queue that
//! passes its bounds (frames or bytes) or stays blocked longer than the send timeout marks a
//! slow reader. Closing either lets the queue drain first (a normal close), or discards it
//! and writes the close frame in its place (a slow reader: the close is the next thing the
//! client reads once it reads again).

use super::frame::{self, Decoder, Incoming, Limits, Opcode, Violation};
use super::pacing::{StallLedger, PULSE};
use crate::protocol::Encoding;
use crate::registry::messages::{FrameSink, SinkRefused};
use bytes::Bytes;
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Bytes read from the socket per read call (a per-thread buffer; complete frames are decoded
/// straight from it, only an incomplete frame's bytes are kept).
pub const READ_CHUNK: usize = 4096;
/// Frames written per `writev` when flushing the queue.
const MAX_IOVECS: usize = 32;

thread_local! {
    /// The read buffer of every connection on this thread: complete frames are decoded
    /// straight from it, so no connection keeps one (and it is not zeroed per read).
    static READ_BUF: RefCell<Box<[u8; READ_CHUNK]>> = RefCell::new(Box::new([0u8; READ_CHUNK]));
    static LEDGER: RefCell<StallLedger> = RefCell::new(StallLedger::default());
    static PULSING: Cell<bool> = const { Cell::new(false) };
}

/// Start this thread's pulse (once per thread): a timer every [`PULSE`] that records when the
/// thread did not run, for the rate limit's stall credit.
pub fn ensure_pulse() {
    if PULSING.with(|p| p.replace(true)) {
        return;
    }
    actix_rt::spawn(async {
        let mut every = actix_rt::time::interval(PULSE);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            observe(Instant::now());
        }
    });
}

fn observe(now: Instant) {
    LEDGER.with(|l| l.borrow_mut().observe(now));
}

/// How long this thread was stalled between `from` and `to` (the rate limit's stall credit).
pub fn stalled_between(from: Instant, to: Instant) -> Duration {
    LEDGER.with(|l| l.borrow().stalled_between(from, to))
}

/// What the reader yields.
#[derive(Debug)]
pub enum ReadEvent {
    /// A complete message.
    Message {
        /// The message.
        msg: Incoming,
        /// When it was read.
        at: Instant,
    },
    /// The client broke the framing rules or a size limit; nothing more is decoded.
    Violation(Violation),
}

/// Frames in.
pub struct Reader {
    io: Arc<TcpStream>,
    decoder: Decoder,
    /// The oldest decoded event not yet yielded (most reads decode one message: no queue).
    first: Option<ReadEvent>,
    /// Events decoded after `first`, in order (allocated only when one read holds several).
    ready: VecDeque<ReadEvent>,
    /// After a violation or the close handshake: read and discard (so closing never resets a
    /// connection whose client is still sending), until the peer closes.
    discard: bool,
    done: bool,
    /// Bytes read, for the metrics.
    pub bytes_in: u64,
}

impl Reader {
    /// A reader on `io`; `early` holds bytes that arrived with the upgrade request.
    pub fn new(io: Arc<TcpStream>, limits: Limits, early: &[u8]) -> Reader {
        let now = Instant::now();
        let mut r = Reader {
            io,
            decoder: Decoder::new(limits),
            first: None,
            ready: VecDeque::new(),
            discard: false,
            done: false,
            bytes_in: 0,
        };
        if !early.is_empty() {
            r.decode(early, now);
        }
        r
    }

    /// Stop decoding: the rest of what the client sends is read and dropped.
    pub fn discard(&mut self) {
        self.discard = true;
        self.first = None;
        self.ready = VecDeque::new();
    }

    /// Bytes held between reads (partial frame and reassembly).
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    fn decode(&mut self, data: &[u8], now: Instant) {
        self.bytes_in += data.len() as u64;
        if self.discard {
            return;
        }
        observe(now);
        let (first, ready) = (&mut self.first, &mut self.ready);
        let r = self.decoder.feed(data, &mut |msg| {
            push(first, ready, ReadEvent::Message { msg, at: now })
        });
        if let Err(v) = r {
            push(&mut self.first, &mut self.ready, ReadEvent::Violation(v));
            self.discard = true;
        }
    }

    /// The next event to yield, oldest first.
    fn pop(&mut self) -> Option<ReadEvent> {
        if let Some(e) = self.first.take() {
            return Some(e);
        }
        let e = self.ready.pop_front();
        if self.ready.is_empty() && self.ready.capacity() > 0 {
            // A burst is over: an idle connection keeps no queue.
            self.ready = VecDeque::new();
        }
        e
    }
}

/// Queue `e` behind what is already decoded.
fn push(first: &mut Option<ReadEvent>, ready: &mut VecDeque<ReadEvent>, e: ReadEvent) {
    if first.is_none() && ready.is_empty() {
        *first = Some(e);
    } else {
        ready.push_back(e);
    }
}

impl futures_util::Stream for Reader {
    type Item = ReadEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ReadEvent>> {
        let this = self.get_mut();
        loop {
            if let Some(e) = this.pop() {
                return Poll::Ready(Some(e));
            }
            if this.done {
                return Poll::Ready(None);
            }
            if let Err(e) = futures_util::ready!(this.io.poll_read_ready(cx)) {
                tracing::debug!(error = %e, "websocket read readiness failed");
                this.done = true;
                continue;
            }
            let read = READ_BUF.with(|b| {
                let mut buf = b.borrow_mut();
                let r = this.io.try_read(&mut buf[..]);
                if let Ok(n) = r {
                    if n > 0 {
                        this.decode(&buf[..n], Instant::now());
                    }
                }
                r
            });
            match read {
                Ok(0) => this.done = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::debug!(error = %e, "websocket read failed");
                    this.done = true;
                }
            }
        }
    }
}

/// Bounds of an outlet's queue (what the kernel did not take yet).
#[derive(Clone, Copy, Debug)]
pub struct QueueBounds {
    /// Frames.
    pub frames: usize,
    /// Bytes.
    pub bytes: usize,
}

/// Why a frame was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue passed its bounds: the client does not read fast enough.
    Slow,
    /// The connection is closing or broken.
    Closed,
}

#[derive(Default)]
struct Queued {
    header: [u8; 10],
    header_len: u8,
    payload: Bytes,
    written: usize,
}

impl Queued {
    fn new(opcode: Opcode, payload: Bytes) -> Queued {
        let mut header = [0u8; 10];
        let n = frame::server_header(opcode, payload.len(), &mut header);
        Queued {
            header,
            header_len: n as u8,
            payload,
            written: 0,
        }
    }

    fn len(&self) -> usize {
        usize::from(self.header_len) + self.payload.len()
    }

    /// The unwritten slices.
    fn slices(&self) -> [&[u8]; 2] {
        let h = usize::from(self.header_len);
        if self.written < h {
            [&self.header[self.written..h], &self.payload[..]]
        } else {
            [&[][..], &self.payload[self.written - h..]]
        }
    }
}

#[derive(Default)]
struct OutState {
    queue: VecDeque<Queued>,
    queued_bytes: usize,
    /// Since when the queue has been non-empty (the socket not taking data).
    blocked_since: Option<Instant>,
    /// A close frame is queued: no more data frames.
    closing: bool,
    /// The close frame left and the write side was shut down.
    shut: bool,
    /// A write failed: the connection is gone.
    broken: bool,
    /// The session is gone: the flusher ends.
    abandoned: bool,
    /// A flusher task is running (spawned when the queue fills, ends when it is empty).
    flushing: bool,
    /// Frames written through the sink are held back (see [`Outlet::hold`]).
    hold: bool,
    /// The frames held back, and their bytes.
    held: Vec<Queued>,
    held_bytes: usize,
}

struct Shared {
    io: Arc<TcpStream>,
    bounds: QueueBounds,
    /// The connection's encoding: its data frames are text (JSON) or binary (bin).
    encoding: Encoding,
    state: Mutex<OutState>,
    wake: Notify,
    /// The runtime of the thread the connection is registered on (the session's): flushers
    /// run there, whichever thread (a room's) filled the queue.
    runtime: tokio::runtime::Handle,
    /// This, for the flusher (frames reach `Shared` through `&self`).
    me: std::sync::Weak<Shared>,
}

/// Frames out. Owned by the session; dropping it ends the flusher.
pub struct Outlet {
    shared: Arc<Shared>,
    /// Bytes written or queued, for the metrics.
    pub bytes_out: u64,
}

impl Outlet {
    /// An outlet on `io` for a connection speaking `encoding`; `io` must be registered with the
    /// current thread's runtime (its flusher, when one is needed, runs there).
    pub fn new(io: Arc<TcpStream>, bounds: QueueBounds, encoding: Encoding) -> Outlet {
        let shared = Arc::new_cyclic(|me| Shared {
            io,
            bounds,
            encoding,
            state: Mutex::new(OutState::default()),
            wake: Notify::new(),
            runtime: tokio::runtime::Handle::current(),
            me: me.clone(),
        });
        Outlet {
            shared,
            bytes_out: 0,
        }
    }

    /// Send a message already encoded for this connection (a text frame for JSON, a binary
    /// frame for bin).
    pub fn data(&mut self, payload: Bytes) -> Result<(), Refused> {
        self.send(self.shared.data_opcode(), payload)
    }

    /// Send a ping (payload at most 125 bytes).
    pub fn ping(&mut self, payload: Bytes) -> Result<(), Refused> {
        self.send(Opcode::Ping, payload)
    }

    /// Answer a ping.
    pub fn pong(&mut self, payload: Bytes) -> Result<(), Refused> {
        self.send(Opcode::Pong, payload)
    }

    /// Send a frame: written at once when nothing is queued and the socket takes it, queued
    /// otherwise. `Slow` when the queue is past its bounds (the frame is queued anyway; the
    /// caller drops the client). The session's own frames are never held (see [`Self::hold`]).
    pub fn send(&mut self, opcode: Opcode, payload: Bytes) -> Result<(), Refused> {
        let q = Queued::new(opcode, payload);
        self.bytes_out += q.len() as u64;
        let s = &self.shared;
        let mut st = s.state.lock();
        s.send_all(&mut st, &mut [q])
    }

    /// The socket as a room on this instance writes to it ([`FrameSink`]).
    pub fn sink(&self) -> Arc<dyn FrameSink> {
        self.shared.clone()
    }

    /// Hold back what rooms write through the sink (the session is about to write an answer
    /// that must come first: `joined` before the room's first frames) until
    /// [`Self::release`].
    pub fn hold(&mut self) {
        self.shared.state.lock().hold = true;
    }

    /// Write what was held back, after what the session wrote meanwhile.
    pub fn release(&mut self) -> Result<(), Refused> {
        let s = &self.shared;
        let mut st = s.state.lock();
        st.hold = false;
        if st.held.is_empty() {
            return Ok(());
        }
        let mut held = std::mem::take(&mut st.held);
        st.held_bytes = 0;
        s.send_all(&mut st, &mut held)
    }

    /// Since when frames have been waiting for the socket (None: nothing waits).
    pub fn blocked_since(&self) -> Option<Instant> {
        self.shared.state.lock().blocked_since
    }

    /// Whether the close frame is out and the write side shut down.
    pub fn is_shut(&self) -> bool {
        self.shared.state.lock().shut
    }

    /// Whether the connection broke on a write.
    pub fn broken(&self) -> bool {
        self.shared.state.lock().broken
    }

    /// Queue a close frame (preceded by the data frame `last`, if any) and shut the write
    /// side down once it is out. With `discard_queue` the frames still waiting are dropped
    /// (the close goes in their place: a slow reader); otherwise they are sent first.
    pub fn close(&mut self, last: Option<Bytes>, code: u16, reason: &str, discard_queue: bool) {
        let s = &self.shared;
        let mut st = s.state.lock();
        if st.closing || st.broken {
            return;
        }
        if discard_queue {
            // Keep only a frame already partly written (the stream must stay well-formed).
            let keep = st.queue.front().is_some_and(|q| q.written > 0);
            st.queue.truncate(usize::from(keep));
            st.queued_bytes = st.queue.iter().map(|q| q.len() - q.written).sum();
        }
        st.closing = true;
        let mut frames = Vec::with_capacity(2);
        if let Some(last) = last {
            frames.push(Queued::new(s.data_opcode(), last));
        }
        frames.push(Queued::new(
            Opcode::Close,
            Bytes::from(frame::close_payload(code, reason)),
        ));
        for q in frames {
            st.queued_bytes += q.len();
            st.queue.push_back(q);
        }
        st.blocked_since.get_or_insert_with(Instant::now);
        // The flusher writes what it can now and the rest as the socket drains.
        s.start_flusher(&mut st);
        drop(st);
        s.wake.notify_one();
    }
}

impl Drop for Outlet {
    fn drop(&mut self) {
        self.shared.state.lock().abandoned = true;
        self.shared.wake.notify_one();
    }
}

impl FrameSink for Shared {
    fn encoding(&self) -> Encoding {
        self.encoding
    }

    fn write(&self, frames: &[&Bytes]) -> Result<(), SinkRefused> {
        let opcode = self.data_opcode();
        let engine = crate::metrics::engine();
        let mut st = self.state.lock();
        if st.abandoned {
            return Err(SinkRefused::Closed);
        }
        let bytes: usize = frames.iter().map(|f| f.len()).sum();
        engine.frames_out.increment(frames.len() as u64);
        engine.bytes_out.increment(bytes as u64);
        // A tick's frames (snapshot and events) on the stack; more only in unusual cases.
        let mut on_stack: [Queued; STACK_FRAMES] = Default::default();
        let mut on_heap: Vec<Queued>;
        let queued: &mut [Queued] = if frames.len() <= STACK_FRAMES {
            for (q, f) in on_stack.iter_mut().zip(frames) {
                *q = Queued::new(opcode, Bytes::clone(f));
            }
            &mut on_stack[..frames.len()]
        } else {
            on_heap = frames
                .iter()
                .map(|f| Queued::new(opcode, Bytes::clone(f)))
                .collect();
            &mut on_heap
        };
        let r = if st.hold {
            if st.closing || st.broken {
                return Err(SinkRefused::Closed);
            }
            st.held_bytes += queued.iter().map(Queued::len).sum::<usize>();
            st.held.extend(queued.iter_mut().map(std::mem::take));
            if st.held.len() > self.bounds.frames || st.held_bytes > self.bounds.bytes {
                Err(Refused::Slow)
            } else {
                Ok(())
            }
        } else {
            self.send_all(&mut st, queued)
        };
        r.map_err(|e| match e {
            Refused::Slow => SinkRefused::Slow,
            Refused::Closed => SinkRefused::Closed,
        })
    }
}

/// IoSlices of up to this many frames are built on the stack.
const STACK_FRAMES: usize = 4;

impl Shared {
    /// The opcode of this connection's data frames.
    fn data_opcode(&self) -> Opcode {
        match self.encoding {
            Encoding::Json => Opcode::Text,
            Encoding::Bin => Opcode::Binary,
        }
    }

    /// Write `frames` in order: in one `writev` when nothing is queued (whatever the kernel
    /// does not take is queued), queued behind the rest otherwise.
    fn send_all(&self, st: &mut OutState, frames: &mut [Queued]) -> Result<(), Refused> {
        if st.closing || st.broken {
            return Err(Refused::Closed);
        }
        let mut written = 0;
        if st.queue.is_empty() {
            let total: usize = frames.iter().map(Queued::len).sum();
            let r = if frames.len() <= STACK_FRAMES {
                let mut slices = [IoSlice::new(&[]); 2 * STACK_FRAMES];
                let mut n = 0;
                for q in frames.iter() {
                    for part in q.slices() {
                        slices[n] = IoSlice::new(part);
                        n += 1;
                    }
                }
                self.io.try_write_vectored(&slices[..n])
            } else {
                let slices: Vec<IoSlice<'_>> = frames
                    .iter()
                    .flat_map(|q| q.slices())
                    .map(IoSlice::new)
                    .collect();
                self.io.try_write_vectored(&slices)
            };
            match r {
                Ok(n) if n == total => return Ok(()),
                Ok(n) => written = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::debug!(error = %e, "websocket write failed");
                    st.broken = true;
                    return Err(Refused::Closed);
                }
            }
        }
        let mut result = Ok(());
        for q in frames.iter_mut() {
            let len = q.len();
            if written >= len {
                written -= len;
                continue;
            }
            let q = Queued {
                written,
                payload: std::mem::take(&mut q.payload),
                ..*q
            };
            written = 0;
            if let Err(e) = self.enqueue(st, q) {
                result = Err(e);
            }
        }
        result
    }

    fn enqueue(&self, st: &mut OutState, q: Queued) -> Result<(), Refused> {
        let was_empty = st.queue.is_empty();
        st.queued_bytes += q.len() - q.written;
        st.queue.push_back(q);
        if was_empty {
            st.blocked_since = Some(Instant::now());
            self.start_flusher(st);
        }
        if st.queue.len() > self.bounds.frames || st.queued_bytes > self.bounds.bytes {
            return Err(Refused::Slow);
        }
        Ok(())
    }

    /// Make sure a flusher runs for what is queued (spawned on the connection's own thread).
    fn start_flusher(&self, st: &mut OutState) {
        if st.flushing || st.abandoned || st.broken {
            return;
        }
        if let Some(me) = self.me.upgrade() {
            st.flushing = true;
            self.runtime.spawn(flusher(me));
        }
    }

    /// Write what the socket takes. Ok(true): the queue is empty.
    fn flush(&self, st: &mut OutState) -> io::Result<bool> {
        while !st.queue.is_empty() {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_IOVECS * 2);
            for q in st.queue.iter().take(MAX_IOVECS) {
                for part in q.slices() {
                    if !part.is_empty() {
                        slices.push(IoSlice::new(part));
                    }
                }
            }
            let mut n = match self.io.try_write_vectored(&slices) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            };
            drop(slices);
            st.queued_bytes -= n.min(st.queued_bytes);
            while n > 0 {
                let Some(front) = st.queue.front_mut() else {
                    break;
                };
                let left = front.len() - front.written;
                if n >= left {
                    n -= left;
                    st.queue.pop_front();
                } else {
                    front.written += n;
                    n = 0;
                }
            }
        }
        st.blocked_since = None;
        if st.closing && !st.shut {
            st.shut = true;
            let _ = socket2::SockRef::from(&*self.io).shutdown(std::net::Shutdown::Write);
        }
        Ok(true)
    }
}

/// Writes queued frames as the socket drains; ends when the queue is empty (after the close
/// frame: once the write side is shut down), when the outlet is dropped, or when the
/// connection breaks. Started by [`Shared::start_flusher`]; `flushing` is cleared under the
/// same lock that decides to end, so a frame queued meanwhile starts a new one.
async fn flusher(s: Arc<Shared>) {
    loop {
        {
            let mut st = s.state.lock();
            let done = if st.abandoned || st.broken {
                true
            } else {
                match s.flush(&mut st) {
                    Ok(empty) => empty,
                    Err(e) => {
                        tracing::debug!(error = %e, "websocket write failed");
                        st.broken = true;
                        true
                    }
                }
            };
            if done {
                st.flushing = false;
                return;
            }
        }
        // Writable again, or woken (the outlet was dropped: checked above).
        tokio::select! {
            r = s.io.writable() => {
                if r.is_err() {
                    let mut st = s.state.lock();
                    st.broken = true;
                    st.flushing = false;
                    return;
                }
            }
            () = s.wake.notified() => {}
        }
    }
}
