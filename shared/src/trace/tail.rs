//! Reading a trace while it is still written (a running tap's): the reader
//! is handed whole lines only, so that a line half-written when the reader
//! got to the end is never taken for a broken record. "The end for now" is
//! an ordinary end of input, and reading again later goes on from there.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{TraceError, TraceReader};

/// How often a followed trace is looked at again once read to its end.
const POLL: Duration = Duration::from_millis(100);

/// A trace read while its writer runs (a running tap's): one way for the
/// inspector and `tabscope watch --tap`.
pub struct Following<'a> {
    alive: &'a dyn Fn() -> bool,
    ended: Arc<AtomicBool>,
}

/// The reader of a followed trace.
pub type FollowedReader = TraceReader<BufReader<Tail<File>>>;

impl<'a> Following<'a> {
    /// Opens the trace once its header is written (the writer may have made
    /// the file and not yet written to it), waiting while `alive` says the
    /// writer runs.
    pub fn open(path: &Path, alive: &'a dyn Fn() -> bool) -> Result<(FollowedReader, Self), TraceError> {
        while !has_whole_line(path)? && alive() {
            std::thread::sleep(POLL);
        }
        let tail = Tail::new(File::open(path)?);
        let ended = tail.ended();
        let reader = TraceReader::new(BufReader::with_capacity(1 << 18, tail))?;
        Ok((reader, Following { alive, ended }))
    }

    /// Called at the end of what is written so far: false once the writer
    /// has ended and everything is read; otherwise true, after waiting a
    /// moment for more (or, the writer just ended, to read its last words).
    pub fn wait(&self) -> bool {
        if self.ended.load(Ordering::Acquire) {
            return false;
        }
        if (self.alive)() {
            std::thread::sleep(POLL);
        } else {
            self.ended.store(true, Ordering::Release);
        }
        true
    }
}

/// Whether the file's first line is complete (a header to read).
fn has_whole_line(path: &Path) -> io::Result<bool> {
    let mut head = Vec::new();
    File::open(path)?.take(1 << 16).read_to_end(&mut head)?;
    Ok(head.contains(&b'\n'))
}

pub struct Tail<R> {
    inner: R,
    /// Bytes read but not yet handed out: at most one unfinished line.
    pending: Vec<u8>,
    /// Set once the writer has ended: then a last unfinished line is handed
    /// out too (the reader reports it as cut off, as for any trace).
    ended: Arc<AtomicBool>,
}

impl<R: Read> Tail<R> {
    pub fn new(inner: R) -> Self {
        Tail { inner, pending: Vec::new(), ended: Arc::new(AtomicBool::new(false)) }
    }

    /// Set it when the writer has ended.
    pub fn ended(&self) -> Arc<AtomicBool> {
        self.ended.clone()
    }
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let whole = match self.pending.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if self.ended.load(Ordering::Acquire) => self.pending.len(),
                None => 0,
            };
            if whole > 0 {
                let n = whole.min(out.len());
                out[..n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                return Ok(n);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                // The end for now (or for good, with nothing left over).
                return Ok(0);
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Cursor, Write};

    #[test]
    fn a_half_written_line_waits_until_it_is_whole_or_the_writer_ended() {
        // Two opens, as writer and reader are: each with its own position.
        let named = tempfile::NamedTempFile::new().unwrap();
        let mut file = std::fs::OpenOptions::new().append(true).open(named.path()).unwrap();
        file.write_all(b"one\ntw").unwrap();
        let tail = Tail::new(std::fs::File::open(named.path()).unwrap());
        let ended = tail.ended();
        let mut r = BufReader::new(tail);
        let mut line = String::new();
        assert_eq!(r.read_line(&mut line).unwrap(), 4);
        assert_eq!(line, "one\n");
        line.clear();
        assert_eq!(r.read_line(&mut line).unwrap(), 0, "\"tw\" is not a line yet");
        file.write_all(b"o\nthr").unwrap();
        assert_eq!(r.read_line(&mut line).unwrap(), 4);
        assert_eq!(line, "two\n");
        line.clear();
        ended.store(true, Ordering::Release);
        assert_eq!(r.read_line(&mut line).unwrap(), 3, "the writer ended: the rest is handed out");
        assert_eq!(line, "thr");
    }

    #[test]
    fn small_buffers_get_everything_in_order() {
        let text = b"a\nbb\nccc\n".repeat(1000);
        let mut tail = Tail::new(Cursor::new(text.clone()));
        let mut got = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = tail.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, text);
    }
}
