//! The guest's stdin, stdout and stderr: the host process's own streams,
//! nothing, or streams the embedder provides.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::abi::{FILETYPE_CHARACTER_DEVICE, FILETYPE_UNKNOWN};

/// Where the guest's stdin comes from.
pub(crate) enum Input {
    /// The host process's stdin.
    Inherit,
    /// Always at end of file.
    Empty,
    Reader(Box<dyn Read + Send>),
}

/// Where the guest's stdout or stderr goes.
pub(crate) enum Output {
    /// The host process's stdout (fd 1) or stderr (fd 2).
    Inherit(i32),
    /// Discarded.
    Null,
    Writer(Box<dyn Write + Send>),
}

fn host_filetype(fd: i32) -> u8 {
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(fd) } == 1 {
        FILETYPE_CHARACTER_DEVICE
    } else {
        FILETYPE_UNKNOWN
    }
}

impl Input {
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Input::Inherit => read_host_stdin(buf),
            Input::Empty => Ok(0),
            Input::Reader(r) => r.read(buf),
        }
    }

    /// Whether a read would return without waiting for input: always,
    /// but for the host's stdin, which is polled (data, end of file, an
    /// error or a hang-up all count as ready). An embedder's reader is
    /// read when asked; whether it blocks is up to it.
    pub(crate) fn read_ready(&self) -> bool {
        match self {
            Input::Inherit => wait_host_stdin(Some(Duration::ZERO)),
            _ => true,
        }
    }

    /// The filetype the guest sees (a terminal is a character device, so
    /// that wasi-libc's `isatty` is true for it).
    pub(crate) fn filetype(&self) -> u8 {
        match self {
            Input::Inherit => host_filetype(0),
            _ => FILETYPE_UNKNOWN,
        }
    }
}

/// Reads the host's stdin (descriptor 0) directly, not through
/// `std::io::stdin()`: std's buffer would hold data that polling the
/// descriptor (see [`wait_host_stdin`]) cannot see. A closed descriptor 0
/// reads as end of file, as `std::io::stdin()` has it.
fn read_host_stdin(buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is a valid, writable buffer of `buf.len()` bytes.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EBADF) => return Ok(0),
            _ => return Err(err),
        }
    }
}

/// Waits until the host's stdin is readable (data, end of file, an error
/// or a hang-up) or `timeout` passes (`None`: no limit); whether it is.
/// Interrupted by a signal, it returns `false` early.
pub(crate) fn wait_host_stdin(timeout: Option<Duration>) -> bool {
    wait_host_fd(0, libc::POLLIN, timeout)
}

/// Waits until the host's descriptor `fd` (stdout or stderr) takes a write
/// of [`HOST_WRITE_CHUNK`] bytes without blocking (or reports an error or
/// a hang-up), or `timeout` passes; whether it does.
pub(crate) fn wait_host_writable(fd: i32, timeout: Option<Duration>) -> bool {
    wait_host_fd(fd, libc::POLLOUT, timeout)
}

/// At most this much of the guest's output goes to the host's stdout or
/// stderr in one `write(2)`: when `poll` says a pipe is writable it has
/// room for a page, so a write of this size does not block, and a full
/// pipe is waited on in [`wait_host_writable`], where the store's epoch
/// deadline can end the wait.
pub(crate) const HOST_WRITE_CHUNK: usize = 4096;

fn wait_host_fd(fd: i32, events: libc::c_short, timeout: Option<Duration>) -> bool {
    let mut poll = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = match timeout {
        // Rounded up, so a short wait is not a busy loop.
        Some(t) => t
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int,
        None => -1,
    };
    // SAFETY: one valid, writable pollfd.
    let n = unsafe { libc::poll(&mut poll, 1, ms) };
    if n < 0 {
        // EINTR: not ready yet. Anything else (ENOMEM): let the read
        // itself wait or report the problem, as it always did.
        return io::Error::last_os_error().raw_os_error() != Some(libc::EINTR);
    }
    n > 0
}

impl Output {
    /// Writes `buf`, or (the host's stdout or stderr) at most its first
    /// [`HOST_WRITE_CHUNK`] bytes: the count written. The guest's libc
    /// does its own buffering, so every write is flushed.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Inherit(fd) => {
                // Straight to the descriptor, after whatever the host
                // itself printed through std's buffer.
                if *fd == 1 {
                    io::stdout().lock().flush()?;
                }
                let chunk = &buf[..buf.len().min(HOST_WRITE_CHUNK)];
                loop {
                    // SAFETY: `chunk` is a valid buffer of `chunk.len()`
                    // bytes; the descriptor is the process's own.
                    let n = unsafe { libc::write(*fd, chunk.as_ptr().cast(), chunk.len()) };
                    if n >= 0 {
                        return Ok(n as usize);
                    }
                    let err = io::Error::last_os_error();
                    if err.raw_os_error() != Some(libc::EINTR) {
                        return Err(err);
                    }
                }
            }
            Output::Null => {}
            Output::Writer(w) => {
                w.write_all(buf)?;
                w.flush()?;
            }
        }
        Ok(buf.len())
    }

    pub(crate) fn filetype(&self) -> u8 {
        match self {
            Output::Inherit(fd) => host_filetype(*fd),
            _ => FILETYPE_UNKNOWN,
        }
    }

    /// Whether a write would return without waiting: always, but for the
    /// host's stdout and stderr, which are polled. An embedder's writer is
    /// written when asked; whether it blocks is up to it.
    pub(crate) fn write_ready(&self) -> bool {
        match self {
            Output::Inherit(fd) => wait_host_writable(*fd, Some(Duration::ZERO)),
            _ => true,
        }
    }

    /// The host descriptor a write waits on, if any.
    pub(crate) fn host_fd(&self) -> Option<i32> {
        match self {
            Output::Inherit(fd) => Some(*fd),
            _ => None,
        }
    }
}

/// An in-memory stdout or stderr for the guest: a cloneable handle to the
/// bytes it wrote.
///
/// ```
/// # use vibewasm_loader::wasi::{OutputCapture, WasiCtx};
/// let out = OutputCapture::new();
/// let ctx = WasiCtx::builder().stdout(out.clone()).build();
/// // ... run the guest ...
/// assert_eq!(out.contents(), b"");
/// ```
#[derive(Clone, Debug, Default)]
pub struct OutputCapture {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl OutputCapture {
    /// An empty capture.
    pub fn new() -> OutputCapture {
        OutputCapture::default()
    }

    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Everything written so far, as (lossy) UTF-8.
    pub fn contents_string(&self) -> String {
        String::from_utf8_lossy(&self.contents()).into_owned()
    }
}

impl Write for OutputCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
