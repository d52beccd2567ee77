//! [`WasiCtx`]: what a guest sees of the world (arguments, environment,
//! stdio, pre-opened directories), built with [`WasiCtxBuilder`].

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::fs::{Dir, Entry, FdTable};
use super::stdio::{Input, Output};

/// The state of one WASI guest program: its arguments and environment and
/// its file descriptors. Cheap to clone (the clones share the descriptors).
///
/// Every host function of [`super::add_to_linker`] holds a clone; the
/// descriptor table is behind one mutex, so instances on several threads
/// may share a context (their calls are serialized; a read of the host's
/// stdin waits for input without holding the table).
#[derive(Clone)]
pub struct WasiCtx {
    inner: Arc<Inner>,
}

struct Inner {
    args: Vec<Vec<u8>>,
    /// `KEY=VALUE` strings.
    env: Vec<Vec<u8>>,
    fds: Mutex<FdTable>,
}

impl WasiCtx {
    /// A builder starting from nothing (see [`WasiCtxBuilder`]).
    pub fn builder() -> WasiCtxBuilder {
        WasiCtxBuilder::new()
    }

    /// The program arguments, `argv[0]` first.
    pub fn args(&self) -> &[Vec<u8>] {
        &self.inner.args
    }

    /// The environment as `KEY=VALUE` strings.
    pub fn env(&self) -> &[Vec<u8>] {
        &self.inner.env
    }

    pub(crate) fn fds(&self) -> MutexGuard<'_, FdTable> {
        // A panic while holding the table (caught at the host boundary)
        // leaves it consistent: every operation is a single table update.
        self.inner
            .fds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for WasiCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasiCtx")
            .field("args", &self.inner.args.len())
            .field("env", &self.inner.env.len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`WasiCtx`]. By default the guest has no arguments, an empty
/// environment, an empty stdin, a stdout and stderr that discard what is
/// written, and no directories: everything it may touch is granted here.
///
/// ```no_run
/// # use vibewasm_loader::wasi::WasiCtx;
/// let ctx = WasiCtx::builder()
///     .args(["app", "--verbose"])
///     .env("HOME", "/data")
///     .inherit_stdio()
///     .preopened_dir("/srv/app-data", "/data")?
///     .build();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct WasiCtxBuilder {
    args: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    stdin: Input,
    stdout: Output,
    stderr: Output,
    preopens: Vec<Dir>,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder::new()
    }
}

fn bytes(s: impl AsRef<OsStr>) -> Vec<u8> {
    s.as_ref().as_bytes().to_vec()
}

impl WasiCtxBuilder {
    /// The defaults: no arguments, environment, input, output or directories.
    pub fn new() -> WasiCtxBuilder {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            stdin: Input::Empty,
            stdout: Output::Null,
            stderr: Output::Null,
            preopens: Vec::new(),
        }
    }

    /// Appends one argument (the first is the program name, `argv[0]`).
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(bytes(arg));
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Self {
        self.args.extend(args.into_iter().map(bytes));
        self
    }

    /// Sets the environment variable `key` (replacing an earlier value).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        let key = bytes(key);
        self.env
            .retain(|kv| !(kv.starts_with(&key) && kv.get(key.len()) == Some(&b'=')));
        let mut kv = key;
        kv.push(b'=');
        kv.extend_from_slice(value.as_ref().as_bytes());
        self.env.push(kv);
        self
    }

    /// Gives the guest the host process's whole environment.
    pub fn inherit_env(&mut self) -> &mut Self {
        for (key, value) in std::env::vars_os() {
            self.env(key, value);
        }
        self
    }

    /// The guest reads stdin from `reader`.
    pub fn stdin(&mut self, reader: impl Read + Send + 'static) -> &mut Self {
        self.stdin = Input::Reader(Box::new(reader));
        self
    }

    /// The guest reads `bytes` from stdin, then end of file.
    pub fn stdin_bytes(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin(io::Cursor::new(bytes.into()))
    }

    /// The guest writes stdout to `writer` (see [`super::OutputCapture`]).
    pub fn stdout(&mut self, writer: impl Write + Send + 'static) -> &mut Self {
        self.stdout = Output::Writer(Box::new(writer));
        self
    }

    /// The guest writes stderr to `writer`.
    pub fn stderr(&mut self, writer: impl Write + Send + 'static) -> &mut Self {
        self.stderr = Output::Writer(Box::new(writer));
        self
    }

    /// The guest reads the host process's stdin.
    pub fn inherit_stdin(&mut self) -> &mut Self {
        self.stdin = Input::Inherit;
        self
    }

    /// The guest writes to the host process's stdout.
    pub fn inherit_stdout(&mut self) -> &mut Self {
        self.stdout = Output::Inherit(1);
        self
    }

    /// The guest writes to the host process's stderr.
    pub fn inherit_stderr(&mut self) -> &mut Self {
        self.stderr = Output::Inherit(2);
        self
    }

    /// The guest uses the host process's stdin, stdout and stderr.
    pub fn inherit_stdio(&mut self) -> &mut Self {
        self.inherit_stdin().inherit_stdout().inherit_stderr()
    }

    /// Gives the guest the host directory `host` (and everything below it,
    /// but nothing above it and no symbolic link: see the sandbox rules in
    /// [`super`]) under the name `guest`, such as `"/data"` or `"."`.
    /// Pre-opens become descriptors 3, 4, ... in this order. Fails if
    /// `host` cannot be opened as a directory.
    pub fn preopened_dir(
        &mut self,
        host: impl AsRef<Path>,
        guest: impl AsRef<OsStr>,
    ) -> io::Result<&mut Self> {
        let host = host.as_ref();
        let dir = Dir::preopen(host, bytes(guest)).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot open {}: {e}", host.display()))
        })?;
        self.preopens.push(dir);
        Ok(self)
    }

    /// The context. The builder is left with the defaults again.
    pub fn build(&mut self) -> WasiCtx {
        let b = std::mem::take(self);
        let mut entries = vec![
            Entry::Input(b.stdin),
            Entry::Output(b.stdout),
            Entry::Output(b.stderr),
        ];
        entries.extend(b.preopens.into_iter().map(Entry::Dir));
        WasiCtx {
            inner: Arc::new(Inner {
                args: b.args,
                env: b.env,
                fds: Mutex::new(FdTable::new(entries)),
            }),
        }
    }
}
