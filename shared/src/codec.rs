//! Native-messaging framing: a 4-byte length in native byte order, then that
//! many bytes of UTF-8 JSON. Used on the browser's stdio and, unchanged, on
//! the bridge's local socket.
//!
//! The reader never trusts a length: it checks it against a cap before it
//! allocates, and grows its buffer only as bytes really arrive, so a bogus
//! header cannot make it reserve gigabytes.

use std::io::{self, Read, Write};

use byteorder::{NativeEndian, ReadBytesExt, WriteBytesExt};
use serde::{Serialize, de::DeserializeOwned};
use thiserror::Error;

/// Gecko's limit for one host-to-browser message.
pub const BROWSER_MAX_INCOMING: usize = 1024 * 1024;
/// Default cap on frames we read (Gecko allows 4 GiB browser-to-host; nothing
/// tabscope exchanges comes near this).
pub const DEFAULT_READ_CAP: usize = 64 * 1024 * 1024;

/// Everything that can go wrong between a byte stream and a message.
#[derive(Debug, Error)]
pub enum FrameError {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The stream ended inside a length header.
    #[error("stream ended inside a frame header ({got} of 4 bytes)")]
    TruncatedHeader { got: usize },
    /// The stream ended inside a frame body.
    #[error("stream ended inside a frame: got {got} of {expected} bytes")]
    TruncatedBody { expected: usize, got: usize },
    /// A zero-length frame: not even empty JSON.
    #[error("zero-length frame (a native-messaging frame always holds a JSON value)")]
    Empty,
    /// A length over the cap. When the four length bytes are printable text,
    /// something wrote text to the stream: say so.
    #[error("{}", describe_too_large(*.len, *.max, .header))]
    TooLarge { len: u64, max: usize, header: [u8; 4] },
    /// A frame over the cap whose body was read past and thrown away: the
    /// stream goes on at the next frame.
    #[error("a message of {len} bytes was skipped: over the limit of {max} bytes for one message")]
    Skipped { len: u64, max: usize },
    /// A message we were asked to write is over the limit.
    #[error("message of {len} bytes exceeds the {max}-byte limit for one frame")]
    TooLargeToSend { len: usize, max: usize },
    #[error("frame is not valid UTF-8: {0}")]
    InvalidUtf8(#[from] std::str::Utf8Error),
    #[error("frame is not valid JSON: {0}")]
    InvalidJson(serde_json::Error),
    /// Valid JSON that is not the message we expected.
    #[error("frame is valid JSON but not a known message: {0}")]
    WrongShape(serde_json::Error),
}

impl FrameError {
    /// Whether the byte stream can still be read after this error. A bad
    /// payload inside a well-formed frame leaves the framing intact; anything
    /// else means the stream is lost.
    pub fn stream_intact(&self) -> bool {
        matches!(
            self,
            FrameError::InvalidUtf8(_)
                | FrameError::InvalidJson(_)
                | FrameError::WrongShape(_)
                | FrameError::Skipped { .. }
        )
    }

    fn from_json(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => FrameError::WrongShape(e),
            Category::Syntax | Category::Eof | Category::Io => FrameError::InvalidJson(e),
        }
    }
}

fn describe_too_large(len: u64, max: usize, header: &[u8; 4]) -> String {
    let mut s = format!("frame length {len} exceeds the limit of {max} bytes");
    if header.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        let text: String = header.iter().map(|&b| b as char).collect();
        s = format!("length {len} = {text:?}: something printed text to stdout instead of a frame ({s})");
    }
    s
}

/// Parses a frame's payload as `T`, keeping UTF-8, syntax and shape errors apart.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    // One pass: serde_json checks the UTF-8 of every string it reads; only
    // a failure is looked at again, to tell bad UTF-8 from bad JSON.
    serde_json::from_slice(payload).map_err(|e| match std::str::from_utf8(payload) {
        Err(bad) => FrameError::from(bad),
        Ok(_) => FrameError::from_json(e),
    })
}

/// Reads frames from any `Read`. Wrap unbuffered streams in a `BufReader`.
pub struct FrameReader<R> {
    inner: R,
    max: usize,
    skip_oversized: bool,
    /// The body [`FrameReader::next_frame`] lends out, kept between frames
    /// so that a stream of messages costs no allocation per frame.
    body: Vec<u8>,
}

/// What a reader keeps of its body buffer between frames: one huge frame
/// (a snapshot of thousands of tabs) is not held for the life of the stream.
const KEEP_BODY: usize = 1024 * 1024;

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, max: DEFAULT_READ_CAP, skip_oversized: false, body: Vec::new() }
    }

    /// Reads past a frame over the cap instead of giving up on the stream
    /// (the browser side: its length is real, only too big to hold). The
    /// body is discarded as it arrives, never held. A length whose bytes
    /// are text still ends the stream: that is not a frame at all.
    pub fn skip_oversized(mut self) -> Self {
        self.skip_oversized = true;
        self
    }

    /// Refuses frames longer than `max` bytes.
    pub fn with_max_len(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// The next frame's payload, or `None` on a clean end of stream between frames.
    pub fn read_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let mut body = Vec::new();
        Ok(self.read_into(&mut body)?.then_some(body))
    }

    /// [`FrameReader::read_frame`] into a buffer the reader keeps: the
    /// payload is lent until the next call.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let mut body = std::mem::take(&mut self.body);
        if body.capacity() > KEEP_BODY {
            body = Vec::new();
        }
        let read = self.read_into(&mut body);
        self.body = body;
        Ok(read?.then_some(&self.body[..]))
    }

    /// Reads one frame's payload into `body` (emptied first); false on a
    /// clean end of stream between frames.
    fn read_into(&mut self, body: &mut Vec<u8>) -> Result<bool, FrameError> {
        body.clear();
        let mut header = [0u8; 4];
        let got = read_full(&mut self.inner, &mut header)?;
        match got {
            0 => return Ok(false),
            4 => {}
            got => return Err(FrameError::TruncatedHeader { got }),
        }
        let len = (&header[..]).read_u32::<NativeEndian>()? as usize;
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > self.max {
            let text = header.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
            if !self.skip_oversized || text {
                return Err(FrameError::TooLarge { len: len as u64, max: self.max, header });
            }
            let got = io::copy(&mut (&mut self.inner).take(len as u64), &mut io::sink())? as usize;
            if got < len {
                return Err(FrameError::TruncatedBody { expected: len, got });
            }
            return Err(FrameError::Skipped { len: len as u64, max: self.max });
        }
        // Grow with the data, not with the claim: a truncated stream with a
        // large header costs only what really arrived.
        body.reserve(len.min(64 * 1024));
        let got = (&mut self.inner).take(len as u64).read_to_end(body)?;
        if got < len {
            return Err(FrameError::TruncatedBody { expected: len, got });
        }
        Ok(true)
    }

    /// The next frame decoded as `T`, or `None` on a clean end of stream.
    /// A payload error (UTF-8, JSON, shape) leaves the reader usable.
    pub fn read_message<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        match self.next_frame()? {
            None => Ok(None),
            Some(body) => decode(body).map(Some),
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes came.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Writes frames to any `Write`, flushing each one.
pub struct FrameWriter<W> {
    inner: W,
    max: usize,
    /// Header and payload of the frame being written, reused: a message is
    /// serialised straight behind its header, never copied.
    buf: Vec<u8>,
}

/// A scratch buffer grown past this by one big frame is given back.
const KEEP_BUFFER: usize = 1 << 20;

impl<W: Write> FrameWriter<W> {
    /// A writer for the browser side: at most [`BROWSER_MAX_INCOMING`] bytes a frame.
    pub fn new(inner: W) -> Self {
        Self { inner, max: BROWSER_MAX_INCOMING, buf: Vec::new() }
    }

    pub fn with_max_len(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// Writes one frame (and any queued before it). Refuses (and writes
    /// nothing of it) when it is over the limit.
    pub fn write_frame(&mut self, payload: &[u8]) -> Result<(), FrameError> {
        self.queue_frame(payload)?;
        self.send()
    }

    /// Serialises `msg` behind a header and writes the frame; refuses (and
    /// writes nothing of it) when it is over the limit.
    pub fn write_message<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<(), FrameError> {
        self.queue_message(msg)?;
        self.send()
    }

    /// Adds a frame to the batch that [`FrameWriter::send`] writes: a writer
    /// with many frames ready makes one system call for all of them.
    pub fn queue_frame(&mut self, payload: &[u8]) -> Result<(), FrameError> {
        check_len(payload.len(), self.max)?;
        self.buf.write_u32::<NativeEndian>(payload.len() as u32)?;
        self.buf.extend_from_slice(payload);
        Ok(())
    }

    /// [`FrameWriter::queue_frame`] for a message, serialised in place.
    pub fn queue_message<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<(), FrameError> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let len = serde_json::to_writer(&mut self.buf, msg)
            .map_err(|e| FrameError::Io(io::Error::other(e)))
            .and_then(|()| {
                let len = self.buf.len() - at - 4;
                check_len(len, self.max).map(|()| len)
            });
        match len {
            Ok(len) => {
                (&mut self.buf[at..at + 4]).write_u32::<NativeEndian>(len as u32)?;
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(at);
                Err(e)
            }
        }
    }

    /// Bytes queued and not yet sent.
    pub fn queued(&self) -> usize {
        self.buf.len()
    }

    /// Writes the queued frames in one call and flushes. A batch is whole
    /// frames only, so several writers sharing a pipe never interleave inside one.
    pub fn send(&mut self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let written = self.inner.write_all(&self.buf).and_then(|()| self.inner.flush());
        self.buf.clear();
        self.trim();
        Ok(written?)
    }

    fn trim(&mut self) {
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

/// Serialises a message to a frame payload.
pub fn encode<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>, FrameError> {
    serde_json::to_vec(msg).map_err(|e| FrameError::Io(io::Error::other(e)))
}

/// Checks a payload against a frame limit; also the check commands get
/// before they are forwarded, so a refusal names the real size.
pub fn check_len(len: usize, max: usize) -> Result<(), FrameError> {
    if len > max || len > u32::MAX as usize {
        return Err(FrameError::TooLargeToSend { len, max });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    Ok(())
}

/// What [`FrameScanner`] found in a stream it watches.
#[derive(Debug, PartialEq)]
pub enum Scanned {
    /// A whole frame's payload.
    Frame(Vec<u8>),
    /// The stream cannot be framed from here on (text on stdout, a length
    /// past the limit): why, in words for people. Nothing more is reported.
    Lost(String),
}

/// Frames read from bytes as they pass by, in whatever pieces they come:
/// for watching a stream another program writes (`tabscope tap`) without
/// being the one that reads it. Holds at most one frame (up to `max`).
pub struct FrameScanner {
    buf: Vec<u8>,
    max: usize,
    lost: bool,
}

impl FrameScanner {
    pub fn new(max: usize) -> Self {
        Self { buf: Vec::new(), max, lost: false }
    }

    /// Feeds the next bytes; returns the frames (or the loss) they complete.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Scanned> {
        let mut out = Vec::new();
        while !self.lost && !bytes.is_empty() {
            if self.buf.len() < 4 {
                let take = (4 - self.buf.len()).min(bytes.len());
                self.buf.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.buf.len() < 4 {
                    break;
                }
                let header: [u8; 4] = self.buf[..4].try_into().expect("four bytes");
                let len = u32::from_ne_bytes(header) as u64;
                if len == 0 {
                    self.lost = true;
                    out.push(Scanned::Lost(FrameError::Empty.to_string()));
                } else if len > self.max as u64 {
                    self.lost = true;
                    out.push(Scanned::Lost(describe_too_large(len, self.max, &header)));
                }
                continue;
            }
            let len = u32::from_ne_bytes(self.buf[..4].try_into().expect("four bytes")) as usize;
            let take = (len + 4 - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == len + 4 {
                let frame = self.buf.split_off(4);
                self.buf.clear();
                out.push(Scanned::Frame(frame));
            }
        }
        out
    }

    /// Bytes of a frame begun but not finished (when the stream ends).
    pub fn pending(&self) -> usize {
        if self.lost { 0 } else { self.buf.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queued frames go out in one write; a refused one leaves the rest whole.
    #[test]
    fn queued_frames_go_out_in_one_write_and_a_refused_one_is_left_out() {
        struct Writes(Vec<Vec<u8>>);
        impl Write for Writes {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.push(b.to_vec());
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = FrameWriter::new(Writes(Vec::new())).with_max_len(10);
        w.queue_frame(b"\"one\"").unwrap();
        assert!(w.queue_message(&"far too long for ten bytes").is_err());
        w.queue_message(&2).unwrap();
        w.send().unwrap();
        w.send().unwrap();
        assert_eq!(w.get_ref().0.len(), 1, "one write, and nothing for an empty send");
        let mut r = FrameReader::new(&w.get_ref().0[0][..]);
        assert_eq!(r.read_message::<serde_json::Value>().unwrap().unwrap(), "one");
        assert_eq!(r.read_message::<u32>().unwrap(), Some(2));
        assert_eq!(r.read_frame().unwrap(), None);
    }
    use serde_json::{Value, json};

    #[test]
    fn an_oversized_frame_is_skipped_and_the_next_one_read() {
        let mut stream = frame(br#""first""#);
        stream.extend(frame(&[b' '; 100]));
        stream.extend(frame(br#""after""#));
        let mut r = FrameReader::new(&stream[..]).with_max_len(50).skip_oversized();
        assert_eq!(r.read_message::<String>().unwrap().unwrap(), "first");
        let e = r.read_frame().unwrap_err();
        assert!(matches!(e, FrameError::Skipped { len: 100, max: 50 }), "{e}");
        assert!(e.stream_intact());
        assert_eq!(r.read_message::<String>().unwrap().unwrap(), "after");
        // Without the option, or when the length is text, the stream is lost.
        let e = FrameReader::new(&stream[..]).with_max_len(5).read_frame().unwrap_err();
        assert!(!e.stream_intact());
        let text = b"/home/user: oops".to_vec();
        let e = FrameReader::new(&text[..]).with_max_len(50).skip_oversized().read_frame().unwrap_err();
        assert!(matches!(e, FrameError::TooLarge { .. }), "{e}");
        // A cut body is still a cut body.
        let mut cut = 1000u32.to_ne_bytes().to_vec();
        cut.extend([b' '; 10]);
        let e = FrameReader::new(&cut[..]).with_max_len(50).skip_oversized().read_frame().unwrap_err();
        assert!(matches!(e, FrameError::TruncatedBody { expected: 1000, got: 10 }), "{e}");
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as u32).to_ne_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn reads_back_what_it_writes() {
        let mut out = FrameWriter::new(Vec::new());
        out.write_message(&json!({"type":"hello"})).unwrap();
        out.write_message(&json!([1, 2, 3])).unwrap();
        let bytes = out.get_ref().clone();
        let mut r = FrameReader::new(&bytes[..]);
        assert_eq!(r.read_message::<Value>().unwrap(), Some(json!({"type":"hello"})));
        assert_eq!(r.read_message::<Value>().unwrap(), Some(json!([1, 2, 3])));
        assert_eq!(r.read_message::<Value>().unwrap(), None);
    }

    /// The lent body is kept between frames, but not after a huge one.
    #[test]
    fn a_huge_frame_is_not_held_after_the_next_one() {
        let mut stream = frame(&vec![b' '; 3 * KEEP_BODY]);
        stream.extend(frame(b"1"));
        stream.extend(frame(b"22"));
        let mut r = FrameReader::new(&stream[..]);
        assert_eq!(r.next_frame().unwrap().unwrap().len(), 3 * KEEP_BODY);
        assert_eq!(r.next_frame().unwrap().unwrap(), b"1");
        assert!(r.body.capacity() <= KEEP_BODY, "{}", r.body.capacity());
        let kept = r.body.as_ptr();
        assert_eq!(r.next_frame().unwrap().unwrap(), b"22");
        assert_eq!(r.body.as_ptr(), kept, "a small frame reuses the buffer");
        assert_eq!(r.next_frame().unwrap(), None);
    }

    #[test]
    fn zero_length_is_its_own_error() {
        let bytes = frame(b"");
        let err = FrameReader::new(&bytes[..]).read_frame().unwrap_err();
        assert!(matches!(err, FrameError::Empty), "{err}");
    }

    #[test]
    fn text_on_stdout_is_diagnosed() {
        let bytes = b"/home/user/.mozilla\n".to_vec();
        let err = FrameReader::new(&bytes[..]).read_frame().unwrap_err();
        let msg = err.to_string();
        let expected = u32::from_ne_bytes(*b"/hom");
        assert!(msg.contains(&format!("length {expected} = \"/hom\"")), "{msg}");
        assert!(msg.contains("something printed text to stdout"), "{msg}");
        assert!(!err.stream_intact());
    }

    #[test]
    fn absurd_binary_length_is_refused_without_text_diagnosis() {
        let bytes = [0xff, 0xff, 0xff, 0x7f, 1, 2];
        let err = FrameReader::new(&bytes[..]).read_frame().unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }));
        assert!(!err.to_string().contains("stdout"), "{err}");
    }

    #[test]
    fn cap_is_configurable() {
        let bytes = frame(b"\"0123456789\"");
        let err = FrameReader::new(&bytes[..]).with_max_len(8).read_frame().unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len: 12, max: 8, .. }), "{err}");
    }

    #[test]
    fn truncation_is_not_a_clean_eof() {
        let bytes = frame(b"{\"a\":1}");
        let err = FrameReader::new(&bytes[..2]).read_frame().unwrap_err();
        assert!(matches!(err, FrameError::TruncatedHeader { got: 2 }), "{err}");
        let err = FrameReader::new(&bytes[..7]).read_frame().unwrap_err();
        assert!(matches!(err, FrameError::TruncatedBody { expected: 7, got: 3 }), "{err}");
    }

    #[test]
    fn bad_payloads_have_distinct_errors_and_keep_the_stream() {
        let mut bytes = frame(b"\xff\xfe");
        bytes.extend(frame(b"{not json"));
        bytes.extend(frame(b"\"a string\""));
        bytes.extend(frame(b"[1]"));
        let mut r = FrameReader::new(&bytes[..]);
        let e = r.read_message::<Value>().unwrap_err();
        assert!(matches!(e, FrameError::InvalidUtf8(_)), "{e}");
        assert!(e.stream_intact());
        let e = r.read_message::<Value>().unwrap_err();
        assert!(matches!(e, FrameError::InvalidJson(_)), "{e}");
        let e = r.read_message::<Vec<u8>>().unwrap_err();
        assert!(matches!(e, FrameError::WrongShape(_)), "{e}");
        assert_eq!(r.read_message::<Vec<u8>>().unwrap(), Some(vec![1]));
    }

    #[test]
    fn refuses_to_write_over_the_browser_limit() {
        let payload = vec![b' '; BROWSER_MAX_INCOMING + 1];
        let mut w = FrameWriter::new(Vec::new());
        let err = w.write_frame(&payload).unwrap_err();
        assert_eq!(err.to_string(), "message of 1048577 bytes exceeds the 1048576-byte limit for one frame");
        assert!(w.get_ref().is_empty(), "nothing may be written");
        w.write_frame(&payload[..BROWSER_MAX_INCOMING]).unwrap();
        assert_eq!(w.get_ref().len(), BROWSER_MAX_INCOMING + 4);
    }

    #[test]
    fn the_scanner_frames_bytes_in_any_pieces_and_says_when_the_stream_is_lost() {
        let mut stream = Vec::new();
        for m in [json!({"a": 1}), json!("é ✓"), json!({"big": "x".repeat(70_000)})] {
            let body = serde_json::to_vec(&m).unwrap();
            stream.extend((body.len() as u32).to_ne_bytes());
            stream.extend(body);
        }
        for piece in [1, 3, 4, 5, 4096, stream.len()] {
            let mut s = FrameScanner::new(1 << 20);
            let got: Vec<Scanned> = stream.chunks(piece).flat_map(|c| s.push(c)).collect();
            assert_eq!(got.len(), 3, "pieces of {piece}");
            assert_eq!(got[1], Scanned::Frame("\"é ✓\"".as_bytes().to_vec()));
            assert_eq!(s.pending(), 0);
        }
        let mut s = FrameScanner::new(1 << 20);
        let said = s.push(b"/home/user is not a frame");
        let [Scanned::Lost(why)] = said.as_slice() else { panic!("{said:?}") };
        assert!(why.contains("\"/hom\": something printed text to stdout"), "{why}");
        assert!(s.push(b"more").is_empty(), "nothing after the loss");
    }
}
