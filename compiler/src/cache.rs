//! A directory of compiled artifacts, so that a module is compiled once and
//! loaded many times, by many processes.
//!
//! * **Key.** SHA-256 over the wasm bytes, the compiler version, the options
//!   that change code, the target and the artifact format version. A file
//!   is named after its key (`<hex>.vwa`).
//! * **Atomic writes.** An entry is written to a temporary file in the same
//!   directory and renamed into place, so a concurrent reader sees either no
//!   file or a complete one.
//! * **Self-healing.** An entry that fails any check (truncated, corrupt,
//!   from another compiler or target, or for other wasm) is a miss: it is
//!   recompiled and replaced, never reported as an error.
//! * **Size limit.** After a write, the least recently used entries (by
//!   modification time, which a hit refreshes) are deleted until the
//!   directory is under its limit.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use vibewasm_format::{self as format, Target};

use crate::{compile, CompileError, Config, VERSION};

/// Why the cache could not produce an artifact.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
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

impl Cache {
    /// A cache in `dir` (created if missing) holding at most `max_bytes`.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Result<Cache, CacheError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(Cache { dir, max_bytes })
    }

    /// The default location: `$VIBEWASM_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/vibewasm`, else `$HOME/.cache/vibewasm`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("VIBEWASM_CACHE_DIR") {
            return dir.into();
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Path::new(&dir).join("vibewasm");
        }
        match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(".cache").join("vibewasm"),
            None => std::env::temp_dir().join("vibewasm-cache"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file an artifact of `wasm` compiled with `config` is stored in.
    pub fn entry_path(&self, wasm: &[u8], config: &Config) -> PathBuf {
        let mut key = Vec::with_capacity(wasm.len() + 128);
        key.extend_from_slice(&format::sha256(wasm));
        key.extend_from_slice(VERSION.as_bytes());
        key.extend_from_slice(&config.code_options().to_bits().to_le_bytes());
        key.extend_from_slice(&[format::VERSION_MAJOR as u8, format::VERSION_MINOR as u8]);
        if let Some(target) = Target::host() {
            key.extend_from_slice(&[target.arch as u8, target.os as u8, target.pointer_width]);
        }
        key.extend_from_slice(&format::cpu::host_features().to_le_bytes());
        let hex: String = format::sha256(&key)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{hex}.vwa"))
    }

    /// The path of a valid artifact for `wasm`, compiling it if needed.
    pub fn get_or_compile_path(
        &self,
        wasm: &[u8],
        config: &Config,
    ) -> Result<(PathBuf, Outcome), CacheError> {
        let path = self.entry_path(wasm, config);
        if let Ok(bytes) = std::fs::read(&path) {
            if entry_is_valid(&bytes, wasm, config) {
                // Refresh the entry's age for least-recently-used eviction;
                // failing to do so only makes eviction less accurate.
                if let Ok(file) = std::fs::File::options().append(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                return Ok((path, Outcome::Hit));
            }
        }
        let artifact = compile(wasm, config)?;
        self.store(&path, &artifact)?;
        self.evict()?;
        Ok((path, Outcome::Compiled))
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> Result<(), CacheError> {
        let unique = format!(
            ".tmp-{}-{:?}-{}",
            std::process::id(),
            std::thread::current().id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let tmp = self.dir.join(unique.replace(['(', ')'], ""));
        std::fs::write(&tmp, artifact).map_err(io_error(&tmp))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_error(path)(e)
        })
    }

    /// The artifacts in the cache, oldest first.
    fn entries(&self) -> Result<Vec<(PathBuf, u64, SystemTime)>, CacheError> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "vwa") {
                continue;
            }
            // Another process may delete it meanwhile: skip what vanished.
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            entries.push((path, meta.len(), modified));
        }
        entries.sort_by_key(|(_, _, modified)| *modified);
        Ok(entries)
    }

    /// Deletes least recently used entries until the cache fits its limit.
    fn evict(&self) -> Result<(), CacheError> {
        let entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        for (path, len, _) in entries {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
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

    /// Deletes every entry (and leftover temporary files).
    pub fn clear(&self) -> Result<u64, CacheError> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            let name = entry.file_name();
            let ours = path.extension().is_some_and(|e| e == "vwa")
                || name.to_string_lossy().starts_with(".tmp-");
            if ours && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
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
}
