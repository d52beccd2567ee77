//! A directory of compiled artifacts, so that a module is compiled once and
//! loaded many times, by many processes.
//!
//! * **Key.** SHA-256 over the wasm bytes, the compiler version, the options
//!   that change code, the target and the artifact format version. A file
//!   is named after its key (`<hex>.vwa`).
//! * **Atomic writes.** An entry is written to a fresh temporary file in the
//!   same directory (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600) and renamed into
//!   place, so a concurrent reader sees either no file or a complete one.
//! * **Self-healing.** An entry that fails any check (truncated, corrupt,
//!   from another compiler or target, or for other wasm; not a regular
//!   file; not owned by this user) is a miss: it is recompiled and replaced,
//!   never reported as an error.
//! * **Size limit.** After a write, the least recently used entries (by
//!   modification time, which a hit refreshes) are deleted until the
//!   directory is under its limit.
//!
//! # Trust
//!
//! An entry is native code that the process will run, so the cache only
//! uses a directory nobody else can write to:
//!
//! * [`Cache::new`] creates a missing directory with mode 0700, and refuses
//!   ([`CacheError::Insecure`]) one that is a symbolic link, is not owned by
//!   the effective user, or is writable by its group or by others. Refusing
//!   is an error, not a silent fallback: the library does not know whether
//!   compiling without a cache is what its host wants (`vibewasmc run` does
//!   exactly that, with a warning). Such a directory is left untouched.
//! * The directory is opened once, in [`Cache::new`]; every entry is then
//!   opened, created, renamed and deleted relative to that descriptor
//!   (`openat`, `renameat`, `unlinkat`), so replacing a directory on the
//!   path afterwards changes nothing.
//! * An entry is opened once (`O_NOFOLLOW|O_NONBLOCK`: a symbolic link is
//!   not followed and a FIFO does not block), must be a regular file owned
//!   by the effective user, and is read and checked from that descriptor.
//!   [`Cache::get_or_compile_bytes`] returns those bytes, so the artifact
//!   loaded is the one checked: nothing is opened again by path.
//!
//! Files in the directory that are not entries (another user's, symbolic
//! links, FIFOs, directories) are never followed and never block; `clear`
//! and eviction only unlink names in the directory.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use vibewasm_format as format;

use crate::{compile, CompileError, Config, VERSION};

/// Why the cache could not produce an artifact.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The directory is not safe to load native code from (see the module
    /// docs); nothing in it was read or changed.
    #[error("cache directory {path} is not safe to use: {reason}")]
    Insecure { path: PathBuf, reason: String },
    #[error(transparent)]
    Compile(#[from] CompileError),
}

/// What [`Cache::get_or_compile`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    /// Compiled now (no entry, or the entry failed its checks).
    Compiled,
}

/// Entry counts and sizes, for `vibewasmc cache stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
}

/// An artifact cache in one directory.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
    /// The directory, opened and checked once by [`Cache::new`]; every
    /// entry is reached relative to it.
    fd: Arc<OwnedFd>,
    max_bytes: u64,
}

/// Default size limit of a cache directory.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The effective user id: the owner of files this process creates.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

impl Cache {
    /// A cache in `dir` holding at most `max_bytes`. A missing directory is
    /// created with mode 0700 (missing parents too). An existing one must
    /// be a directory, not a symbolic link, owned by the effective user and
    /// not writable by group or others; otherwise this fails with
    /// [`CacheError::Insecure`] and leaves it untouched (readable by others
    /// is the owner's choice, and accepted).
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<Cache, CacheError> {
        let dir = dir.into();
        let insecure = |reason: String| CacheError::Insecure {
            path: dir.clone(),
            reason,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_error(&dir))?;
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(&dir)
            .map_err(|e| {
                let is_link = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_symlink());
                if is_link {
                    insecure("it is a symbolic link".into())
                } else {
                    io_error(&dir)(e)
                }
            })?;
        let meta = file.metadata().map_err(io_error(&dir))?;
        if !meta.is_dir() {
            return Err(insecure("it is not a directory".into()));
        }
        if meta.uid() != euid() {
            return Err(insecure(format!(
                "it is owned by uid {}, not by this user (uid {})",
                meta.uid(),
                euid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(insecure(format!(
                "it is writable by other users (mode {:o})",
                meta.mode() & 0o7777
            )));
        }
        Ok(Cache {
            dir,
            fd: Arc::new(OwnedFd::from(file)),
            max_bytes,
        })
    }

    /// The default location: `$VIBEWASM_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/vibewasm`, else `$HOME/.cache/vibewasm`, else
    /// `vibewasm-cache-UID` in the temporary directory. Empty variables are
    /// ignored, and so are relative `XDG_CACHE_HOME` and `HOME` (as the XDG
    /// base directory specification asks). The last one is in a directory
    /// every user can write to: if another user made it first, it is
    /// refused by [`Cache::new`], never used.
    pub fn default_dir() -> PathBuf {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let absolute = |name| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
        if let Some(dir) = var("VIBEWASM_CACHE_DIR") {
            return dir.into();
        }
        if let Some(dir) = absolute("XDG_CACHE_HOME") {
            return dir.join("vibewasm");
        }
        match absolute("HOME") {
            Some(home) => home.join(".cache").join("vibewasm"),
            None => std::env::temp_dir().join(format!("vibewasm-cache-{}", euid())),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The name of the entry for `wasm` compiled with `config`.
    fn entry_name(wasm: &[u8], config: &Config) -> String {
        let mut key = Vec::with_capacity(wasm.len() + 128);
        key.extend_from_slice(&format::sha256(wasm));
        key.extend_from_slice(VERSION.as_bytes());
        key.extend_from_slice(&config.code_options().to_bits().to_le_bytes());
        key.extend_from_slice(&[format::VERSION_MAJOR as u8, format::VERSION_MINOR as u8]);
        // A module one language refuses must not be found compiled under another.
        key.push(config.language as u8);
        // The same code, padded differently.
        key.push(config.page_aligned_code as u8);
        if let Ok(target) = config.resolved_target() {
            key.extend_from_slice(&[target.arch as u8, target.os as u8, target.pointer_width]);
            key.extend_from_slice(&target.cpu_features.to_le_bytes());
        }
        let hex: String = format::sha256(&key)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{hex}.vwa")
    }

    /// The file an artifact of `wasm` compiled with `config` is stored in.
    pub fn entry_path(&self, wasm: &[u8], config: &Config) -> PathBuf {
        self.dir.join(Cache::entry_name(wasm, config))
    }

    /// A valid artifact for `wasm`, compiling it (and storing it) if needed.
    /// On a hit the bytes are the ones read from the one descriptor that
    /// was checked (see the module docs): load them from memory
    /// (`Artifact::from_bytes`, `Module::from_artifact_bytes`) rather than
    /// opening the entry again by path.
    pub fn get_or_compile_bytes(
        &self,
        wasm: &[u8],
        config: &Config,
    ) -> Result<(Vec<u8>, Outcome), CacheError> {
        let name = Cache::entry_name(wasm, config);
        if let Some(bytes) = self.read_entry(&name) {
            if entry_is_valid(&bytes, wasm, config) {
                return Ok((bytes, Outcome::Hit));
            }
        }
        let artifact = compile(wasm, config)?;
        self.store(&name, &artifact)?;
        self.evict()?;
        Ok((artifact, Outcome::Compiled))
    }

    /// The path of a valid artifact for `wasm`, compiling it if needed.
    ///
    /// Whoever opens the returned path opens it again, after the cache's
    /// checks: prefer [`Cache::get_or_compile_bytes`], which hands over
    /// what it checked.
    pub fn get_or_compile_path(
        &self,
        wasm: &[u8],
        config: &Config,
    ) -> Result<(PathBuf, Outcome), CacheError> {
        let (_, outcome) = self.get_or_compile_bytes(wasm, config)?;
        Ok((self.entry_path(wasm, config), outcome))
    }

    /// The contents of entry `name` if it is a regular file owned by this
    /// user, read from one descriptor; its age refreshed for eviction.
    fn read_entry(&self, name: &str) -> Option<Vec<u8>> {
        let mut file = self
            .open_at(name, libc::O_RDONLY | libc::O_NONBLOCK, 0)
            .ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.uid() != euid() {
            return None;
        }
        let mut bytes = Vec::with_capacity(meta.len().try_into().unwrap_or(0));
        file.read_to_end(&mut bytes).ok()?;
        // Refresh the entry's age for least-recently-used eviction; failing
        // to do so only makes eviction less accurate.
        let _ = file.set_modified(SystemTime::now());
        Some(bytes)
    }

    /// `openat` in the cache directory, never following a symbolic link.
    fn open_at(&self, name: &str, flags: i32, mode: u32) -> std::io::Result<File> {
        let name = c_name(name)?;
        let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY;
        // SAFETY: the directory descriptor is open for as long as `self`
        // is; `name` is a NUL-terminated string that outlives the call.
        let fd = unsafe { libc::openat(self.fd.as_raw_fd(), name.as_ptr(), flags, mode) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: openat just returned this descriptor, owned by nobody else.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Removes name `name` from the cache directory (a symbolic link is
    /// removed, not its target; a directory is not removed).
    fn unlink_at(&self, name: &CStr) -> std::io::Result<()> {
        // SAFETY: as in `open_at`: an open directory descriptor and a
        // NUL-terminated name, both alive for the call.
        if unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Writes `artifact` to a new temporary file and renames it to `name`.
    fn store(&self, name: &str, artifact: &[u8]) -> Result<(), CacheError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = self.dir.join(name);
        let mut attempt = 0;
        let (tmp, mut file) = loop {
            let tmp = format!(
                ".tmp-{}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            );
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
            match self.open_at(&tmp, flags, 0o600) {
                Ok(file) => break (tmp, file),
                // Someone else's file by that name: take another name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(e) => return Err(io_error(&self.dir.join(&tmp))(e)),
            }
        };
        let tmp = c_name(&tmp).map_err(io_error(&path))?;
        let written = file.write_all(artifact);
        drop(file);
        let renamed = written.and_then(|()| {
            let name = c_name(name)?;
            // SAFETY: both names are NUL-terminated and alive for the call;
            // both are relative to the cache's open directory descriptor.
            let rc = unsafe {
                libc::renameat(
                    self.fd.as_raw_fd(),
                    tmp.as_ptr(),
                    self.fd.as_raw_fd(),
                    name.as_ptr(),
                )
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
        renamed.map_err(|e| {
            let _ = self.unlink_at(&tmp);
            io_error(&path)(e)
        })
    }

    /// The names in the cache directory, read through a descriptor of its
    /// own (a directory stream has a position; `self.fd` is shared).
    fn names(&self) -> Result<Vec<CString>, CacheError> {
        let dir = self
            .open_at(".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .map_err(io_error(&self.dir))?;
        let fd = OwnedFd::from(dir);
        // SAFETY: `fd` is an open directory descriptor; on success the
        // stream owns it (closedir closes it), so it is released from `fd`
        // only then.
        let stream = unsafe { libc::fdopendir(fd.as_raw_fd()) };
        if stream.is_null() {
            return Err(io_error(&self.dir)(std::io::Error::last_os_error()));
        }
        std::mem::forget(fd);
        let mut names = Vec::new();
        loop {
            // SAFETY: `stream` is a live directory stream used by this
            // thread only. A null result is the end (or an error, which
            // ends the listing early: entries are then missed, not harmed).
            let entry = unsafe { libc::readdir(stream) };
            if entry.is_null() {
                break;
            }
            // SAFETY: readdir returned a valid dirent whose d_name is
            // NUL-terminated; it is copied before the next readdir call.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            names.push(name.to_owned());
        }
        // SAFETY: `stream` came from fdopendir and is closed exactly once.
        unsafe { libc::closedir(stream) };
        Ok(names)
    }

    /// The artifacts in the cache (regular `*.vwa` files), oldest first.
    fn entries(&self) -> Result<Vec<(CString, u64, SystemTime)>, CacheError> {
        let mut entries = Vec::new();
        for name in self.names()? {
            if !name.to_bytes().ends_with(b".vwa") {
                continue;
            }
            // Another process may delete it meanwhile: skip what vanished.
            let Ok(meta) = self.stat_at(&name) else {
                continue;
            };
            if meta.st_mode & libc::S_IFMT != libc::S_IFREG {
                continue;
            }
            let modified = SystemTime::UNIX_EPOCH
                + std::time::Duration::new(
                    meta.st_mtime.max(0) as u64,
                    meta.st_mtime_nsec.clamp(0, 999_999_999) as u32,
                );
            entries.push((name, meta.st_size.max(0) as u64, modified));
        }
        entries.sort_by_key(|(_, _, modified)| *modified);
        Ok(entries)
    }

    /// `fstatat` of a name in the cache directory, not following a link.
    fn stat_at(&self, name: &CStr) -> std::io::Result<libc::stat> {
        let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: an open directory descriptor, a NUL-terminated name and a
        // buffer of the size fstatat writes, all alive for the call.
        let rc = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                stat.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fstatat succeeded, so it filled the whole buffer.
        Ok(unsafe { stat.assume_init() })
    }

    /// Deletes least recently used entries until the cache fits its limit.
    fn evict(&self) -> Result<(), CacheError> {
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        for (name, len, _) in entries {
            if total <= self.max_bytes {
                break;
            }
            if self.unlink_at(&name).is_ok() {
                total -= len;
            }
        }
        Ok(())
    }

    pub fn stats(&self) -> Result<Stats, CacheError> {
        let entries = self.entries()?;
        Ok(Stats {
            entries: entries.len() as u64,
            bytes: entries.iter().map(|(_, len, _)| len).sum(),
        })
    }

    /// Deletes every entry (and leftover temporary files): the names
    /// `*.vwa` and `.tmp-*` in the directory that are not directories.
    pub fn clear(&self) -> Result<u64, CacheError> {
        let mut removed = 0;
        for name in self.names()? {
            let bytes = name.to_bytes();
            let ours = bytes.ends_with(b".vwa") || bytes.starts_with(b".tmp-");
            if ours && self.unlink_at(&name).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// `name` as a C string (cache names never hold a NUL byte).
fn c_name(name: &str) -> std::io::Result<CString> {
    CString::new(OsStr::new(name).as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

/// Whether `bytes` is a sound artifact of `wasm` compiled with `config` by
/// this compiler for this machine.
fn entry_is_valid(bytes: &[u8], wasm: &[u8], config: &Config) -> bool {
    match format::read_artifact(bytes) {
        Ok(view) => {
            view.header.wasm_sha256 == format::sha256(wasm)
                && view.header.compiler_version == VERSION
                && view.header.options == config.code_options()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WASM: &[u8] = &[
        0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10,
        6, 1, 4, 0, 65, 42, 11,
    ];

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vibewasm-cache-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn compiles_once_then_hits() {
        let dir = temp_dir("hit");
        let cache = Cache::new(&dir, DEFAULT_MAX_BYTES).unwrap();
        let config = Config::default();
        let (path, first) = cache.get_or_compile_path(WASM, &config).unwrap();
        assert_eq!(first, Outcome::Compiled);
        let (again, second) = cache.get_or_compile_path(WASM, &config).unwrap();
        assert_eq!((again, second), (path.clone(), Outcome::Hit));
        assert!(format::read_artifact(&std::fs::read(&path).unwrap()).is_ok());
        assert_eq!(cache.stats().unwrap().entries, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn options_change_the_key() {
        let cache = Cache::new(temp_dir("key"), DEFAULT_MAX_BYTES).unwrap();
        let fuel = Config {
            fuel: true,
            ..Config::default()
        };
        assert_ne!(
            cache.entry_path(WASM, &Config::default()),
            cache.entry_path(WASM, &fuel)
        );
        std::fs::remove_dir_all(cache.dir()).unwrap();
    }

    #[test]
    fn corrupt_or_truncated_entries_are_recompiled() {
        let dir = temp_dir("corrupt");
        let cache = Cache::new(&dir, DEFAULT_MAX_BYTES).unwrap();
        let config = Config::default();
        let (path, _) = cache.get_or_compile_path(WASM, &config).unwrap();
        let good = std::fs::read(&path).unwrap();
        for bad in [good[..good.len() / 2].to_vec(), b"garbage".to_vec(), {
            let mut flipped = good.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 0xff;
            flipped
        }] {
            std::fs::write(&path, bad).unwrap();
            let (_, outcome) = cache.get_or_compile_path(WASM, &config).unwrap();
            assert_eq!(outcome, Outcome::Compiled);
            assert_eq!(std::fs::read(&path).unwrap(), good);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn eviction_keeps_the_directory_under_its_limit() {
        let dir = temp_dir("evict");
        let config = Config::default();
        let one = Cache::new(&dir, DEFAULT_MAX_BYTES)
            .unwrap()
            .get_or_compile_path(WASM, &config)
            .unwrap()
            .0;
        let size = std::fs::metadata(&one).unwrap().len();
        let cache = Cache::new(&dir, size * 2).unwrap();
        // Three different modules (the constant differs); only two fit.
        for constant in [1u8, 2, 3] {
            let mut wasm = WASM.to_vec();
            let at = wasm.len() - 2;
            wasm[at] = constant;
            cache.get_or_compile_path(&wasm, &config).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let stats = cache.stats().unwrap();
        assert!(stats.bytes <= size * 2, "{stats:?}");
        assert_eq!(stats.entries, 2);
        assert_eq!(cache.clear().unwrap(), 2);
        assert_eq!(cache.stats().unwrap(), Stats::default());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// The uid files this process creates get (tests run as root in CI).
    fn my_uid(dir: &Path) -> u32 {
        let probe = dir.join(".uid-probe");
        std::fs::write(&probe, b"").unwrap();
        let uid = std::fs::metadata(&probe).unwrap().uid();
        std::fs::remove_file(&probe).unwrap();
        uid
    }

    /// Gives `path` to user 65534 (nobody): only root can; `false` if not.
    fn give_away(path: &Path) -> bool {
        std::os::unix::fs::lchown(path, Some(65534), Some(65534)).is_ok()
    }

    /// `f` run on a thread; panics if it takes longer than 20 s (a FIFO
    /// opened for reading blocks until a writer comes).
    fn within_20s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (send, recv) = std::sync::mpsc::channel();
        std::thread::spawn(move || send.send(f()));
        recv.recv_timeout(std::time::Duration::from_secs(20))
            .expect("the cache blocked (opened a FIFO?)")
    }

    /// A valid artifact of `WASM` whose code returns 666 instead of 42: what
    /// another user would plant (the header's source hash is just a field).
    fn planted_artifact() -> Vec<u8> {
        let evil =
            wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 666))"#).unwrap();
        let artifact = compile(&evil, &Config::default()).unwrap();
        let view = format::read_artifact(&artifact).unwrap();
        format::write_artifact(&format::ArtifactParts {
            compiler_version: &view.header.compiler_version,
            target: view.header.target,
            options: view.header.options,
            wasm: WASM,
            metadata: &view.metadata,
            tables: &view.tables.to_owned(),
            memory_image: view.memory_image,
            code: view.code,
        })
        .unwrap()
    }

    #[test]
    fn a_new_directory_is_private() {
        let dir = temp_dir("private");
        let cache = Cache::new(dir.join("a/b"), DEFAULT_MAX_BYTES).unwrap();
        let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_directory_writable_by_others() {
        let dir = temp_dir("writable");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Cache::new(&dir, DEFAULT_MAX_BYTES).unwrap_err().to_string();
        assert!(err.contains("writable by other users"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(
            Cache::new(&dir, DEFAULT_MAX_BYTES).is_err(),
            "group-writable"
        );
        // Readable by others is the owner's choice.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Cache::new(&dir, DEFAULT_MAX_BYTES).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_directory_of_another_user_and_leaves_it_alone() {
        let dir = temp_dir("foreign");
        let cache_dir = dir.join("vibewasm");
        std::fs::create_dir_all(&cache_dir).unwrap();
        let mine = my_uid(&dir);
        if mine != 0 || !give_away(&cache_dir) {
            eprintln!("skipped: needs root to chown a directory to another user");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        std::fs::set_permissions(&cache_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // What the other user planted at the entry path.
        let probe = Cache::new(dir.join("probe"), DEFAULT_MAX_BYTES).unwrap();
        let name = probe.entry_path(WASM, &Config::default());
        let planted = cache_dir.join(name.file_name().unwrap());
        std::fs::write(&planted, planted_artifact()).unwrap();
        give_away(&planted);
        let err = Cache::new(&cache_dir, DEFAULT_MAX_BYTES)
            .unwrap_err()
            .to_string();
        assert!(err.contains("owned by uid 65534"), "{err}");
        assert!(err.contains(&cache_dir.display().to_string()), "{err}");
        // Nothing there was touched.
        assert_eq!(std::fs::read(&planted).unwrap(), planted_artifact());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_symlink_as_the_directory() {
        let dir = temp_dir("dirlink");
        let real = dir.join("real");
        std::fs::create_dir_all(&real).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = Cache::new(&link, DEFAULT_MAX_BYTES)
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbolic link"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlinked_entry_is_not_followed() {
        let dir = temp_dir("entrylink");
        let cache = Cache::new(dir.join("cache"), DEFAULT_MAX_BYTES).unwrap();
        let config = Config::default();
        let entry = cache.entry_path(WASM, &config);
        // A file elsewhere that would pass every check of the entry.
        let elsewhere = dir.join("elsewhere.vwa");
        std::fs::write(&elsewhere, planted_artifact()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &entry).unwrap();
        let (_, outcome) = cache.get_or_compile_path(WASM, &config).unwrap();
        assert_eq!(outcome, Outcome::Compiled, "followed the symlink");
        // The link was replaced, the file it pointed to left alone.
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(std::fs::read(&elsewhere).unwrap(), planted_artifact());
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            compile(WASM, &config).unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_entry_owned_by_another_user_is_not_used() {
        let dir = temp_dir("foreignentry");
        let cache = Cache::new(&dir, DEFAULT_MAX_BYTES).unwrap();
        let config = Config::default();
        let entry = cache.entry_path(WASM, &config);
        std::fs::write(&entry, planted_artifact()).unwrap();
        if my_uid(&dir) != 0 || !give_away(&entry) {
            eprintln!("skipped: needs root to chown a file to another user");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        let (_, outcome) = cache.get_or_compile_path(WASM, &config).unwrap();
        assert_eq!(outcome, Outcome::Compiled);
        let meta = std::fs::metadata(&entry).unwrap();
        assert_eq!(meta.uid(), 0);
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            compile(WASM, &config).unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_fifo_entry_does_not_block() {
        let dir = temp_dir("fifo");
        let cache = Cache::new(&dir, DEFAULT_MAX_BYTES).unwrap();
        let config = Config::default();
        let entry = cache.entry_path(WASM, &config);
        let status = std::process::Command::new("mkfifo")
            .arg(&entry)
            .status()
            .unwrap();
        assert!(status.success());
        let outcome = within_20s(move || cache.get_or_compile_path(WASM, &config).unwrap().1);
        assert_eq!(outcome, Outcome::Compiled);
        assert!(std::fs::symlink_metadata(&entry)
            .unwrap()
            .file_type()
            .is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hostile_names_in_the_directory_are_survived() {
        let dir = temp_dir("hostile");
        let cache = Cache::new(&dir, 1).unwrap();
        // A directory, a FIFO and a dangling symlink named like entries,
        // and a symlink to a file outside: stats and eviction neither
        // block nor delete what lies outside the cache.
        std::fs::create_dir(dir.join("dir.vwa")).unwrap();
        std::process::Command::new("mkfifo")
            .arg(dir.join("fifo.vwa"))
            .status()
            .unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling.vwa")).unwrap();
        let outside = temp_dir("hostile-outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep.vwa"), b"precious").unwrap();
        std::os::unix::fs::symlink(outside.join("keep.vwa"), dir.join("link.vwa")).unwrap();
        let config = Config::default();
        let stats = within_20s(move || {
            cache.get_or_compile_path(WASM, &config).unwrap();
            cache.stats().unwrap()
        });
        // Only regular files are entries, and the new one did not fit.
        assert_eq!(stats, Stats::default());
        assert!(dir.join("dir.vwa").is_dir());
        assert_eq!(
            std::fs::read(outside.join("keep.vwa")).unwrap(),
            b"precious"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }
}
