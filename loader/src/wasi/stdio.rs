//! The guest's stdin, stdout and stderr: the host process's own streams,
//! nothing, or streams the embedder provides.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, PoisonError};

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
            Input::Inherit => io::stdin().lock().read(buf),
            Input::Empty => Ok(0),
            Input::Reader(r) => r.read(buf),
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

impl Output {
    /// Writes all of `buf`; the guest's libc does its own buffering, so
    /// every write is flushed.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Inherit(1) => {
                let mut out = io::stdout().lock();
                out.write_all(buf)?;
                out.flush()?;
            }
            Output::Inherit(_) => io::stderr().lock().write_all(buf)?,
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
