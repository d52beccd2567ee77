//! `vibewasmc cache stats|clear`, and the cache `run` compiles through.

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Subcommand;
use vibewasm_compiler::cache::{Cache, DEFAULT_MAX_BYTES};
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

fn open(dir: PathBuf) -> Result<Cache, Failure> {
    Ok(Cache::new(dir, DEFAULT_MAX_BYTES)?)
}

/// The artifact for `wasm`: through the cache unless it is disabled.
/// Returns the artifact file's path, or the artifact bytes.
pub fn compile_for_run(wasm: &[u8], config: &Config) -> Result<Result<PathBuf, Vec<u8>>, Failure> {
    match CACHE_DIR.get().cloned().flatten() {
        Some(dir) => Ok(Ok(open(dir)?.get_or_compile_path(wasm, config)?.0)),
        None => Ok(Err(vibewasm_compiler::compile(wasm, config)?)),
    }
}

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
