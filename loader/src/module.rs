//! A module: a loaded artifact, ready to be instantiated many times, from
//! many threads.

use alloc::sync::Arc;
#[cfg(feature = "std")]
use std::path::Path;

use vibewasm_format::{Export, Import};

use crate::artifact::Artifact;
use crate::engine::Engine;
use crate::error::Error;

/// A checked, mapped artifact. Immutable; cloning shares it.
///
/// Loading goes through [`Artifact`]: every check of the file happens before
/// any page becomes executable. To compile wasm straight into a module, use
/// `Module::new` from `vibewasm-compiler` (its `ModuleExt` trait), which
/// compiles in memory and then loads through exactly this path.
#[derive(Clone, Debug)]
pub struct Module {
    artifact: Arc<Artifact>,
}

impl Module {
    /// Loads the artifact file at `path` (mapped, code shared between
    /// processes; copied instead when [`crate::EngineConfig::perf_map`] is
    /// on, so that `perf` finds it in the perf map).
    #[cfg(feature = "std")]
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module, Error> {
        let copy_code = engine.config().perf_map || crate::perf_map::env_enabled();
        let artifact = Artifact::open_for(path.as_ref(), copy_code)?;
        Module::from_artifact(engine, Arc::new(artifact))
    }

    /// Loads an artifact held in memory (its code is copied to fresh pages).
    pub fn from_artifact_bytes(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        Module::from_artifact(engine, Arc::new(Artifact::from_bytes(bytes)?))
    }

    /// Wraps an artifact that is already loaded (and lists its code in
    /// the perf map if [`crate::EngineConfig::perf_map`] asks for it).
    pub fn from_artifact(engine: &Engine, artifact: Arc<Artifact>) -> Result<Module, Error> {
        #[cfg(feature = "std")]
        crate::perf_map::publish(&artifact, engine.config().perf_map);
        #[cfg(not(feature = "std"))]
        let _ = engine;
        Ok(Module { artifact })
    }

    pub fn artifact(&self) -> &Arc<Artifact> {
        &self.artifact
    }

    pub fn imports(&self) -> &[Import] {
        &self.artifact.metadata().imports
    }

    pub fn exports(&self) -> &[Export] {
        &self.artifact.metadata().exports
    }
}
