//! `vibewasmc cache stats|clear`, and the cache `run` compiles through.

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Subcommand;
use vibewasm_compiler::cache::{Cache, CacheError, DEFAULT_MAX_BYTES};
use vibewasm_compiler::Config;

use crate::Failure;

#[derive(Subcommand)]
pub enum CacheCommand {
    /// Print the cache directory, its entry count and size.
    Stats,
    /// Delete every cached artifact.
    Clear,
}

/// Where `run` keeps compiled modules: `None` with `--no-cache`.
static CACHE_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records the global cache options (`--no-cache`, `--cache-dir`).
pub fn configure(no_cache: bool, dir: Option<PathBuf>) {
    let dir = (!no_cache).then(|| dir.unwrap_or_else(Cache::default_dir));
    let _ = CACHE_DIR.set(dir);
}

/// What to do about a cache directory [`Cache::new`] refused.
const INSECURE_HINT: &str = "remove it, or use another with --cache-dir or VIBEWASM_CACHE_DIR";

/// `err`, with what to do about an unsafe directory.
fn explain(err: CacheError) -> String {
    match err {
        CacheError::Insecure { .. } => format!("{err} ({INSECURE_HINT})"),
        other => other.to_string(),
    }
}

fn open(dir: PathBuf) -> Result<Cache, Failure> {
    Cache::new(dir, DEFAULT_MAX_BYTES).map_err(|e| explain(e).into())
}

/// The artifact bytes for `wasm`: through the cache unless it is disabled.
///
/// The bytes are those the cache read and checked from one descriptor of
/// the entry (or just compiled); the caller loads them from memory, never
/// opening the entry again by path.
///
/// The cache is an optimisation: when it cannot be used (a directory that
/// another user owns or can write to, which [`Cache::new`] refuses; or a
/// directory that cannot be created or written), `run` says why in one
/// warning line on stderr and compiles in memory, rather than failing, and
/// never loads anything from such a directory. `cache stats|clear` fail
/// instead (see [`cmd_cache`]).
pub fn compile_for_run(wasm: &[u8], config: &Config) -> Result<Vec<u8>, Failure> {
    let Some(dir) = CACHE_DIR.get().cloned().flatten() else {
        return Ok(vibewasm_compiler::compile(wasm, config)?);
    };
    let cached = Cache::new(dir, DEFAULT_MAX_BYTES)
        .and_then(|cache| cache.get_or_compile_bytes(wasm, config));
    match cached {
        Ok((artifact, _)) => Ok(artifact),
        Err(CacheError::Compile(e)) => Err(e.into()),
        Err(e) => {
            let e = explain(e);
            eprintln!("warning: not using the artifact cache: {e}; compiling in memory");
            Ok(vibewasm_compiler::compile(wasm, config)?)
        }
    }
}

/// `cache stats|clear`: a directory [`Cache::new`] refuses is an error
/// (exit code 1), and nothing in it is read or deleted.
pub fn cmd_cache(command: CacheCommand, dir: Option<PathBuf>) -> Result<(), Failure> {
    let cache = open(dir.unwrap_or_else(Cache::default_dir))?;
    match command {
        CacheCommand::Stats => {
            let stats = cache.stats()?;
            println!("directory  {}", cache.dir().display());
            println!("entries    {}", stats.entries);
            println!("bytes      {}", stats.bytes);
        }
        CacheCommand::Clear => {
            let removed = cache.clear()?;
            println!("removed {removed} entries from {}", cache.dir().display());
        }
    }
    Ok(())
}
