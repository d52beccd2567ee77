//! WASI for `vibewasmc run`: `--dir HOST::GUEST` and `--env K=V` (both
//! repeatable), the program's arguments, and running `_start` with the
//! program's exit status as the process's.

use std::path::Path;
use std::sync::Arc;

use vibewasm_loader::wasi::{self, WasiCtx};
use vibewasm_loader::{Artifact, Linker};

use super::Failure;

/// The WASI options of `run`.
#[derive(clap::Args, Debug)]
pub struct WasiArgs {
    /// Give the program the host directory HOST under the name GUEST
    /// (`HOST` alone: under the same name). Nothing outside it is reachable:
    /// `..` above it, absolute paths and symbolic links are refused.
    /// Repeatable.
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    dirs: Vec<String>,
    /// Set the program's environment variable K to V (`K` alone: the value
    /// it has here, if any). The program sees no other variables.
    /// Repeatable.
    #[arg(long = "env", value_name = "K=V")]
    envs: Vec<String>,
}

impl WasiArgs {
    /// Defines the `wasi_snapshot_preview1` functions in `linker`, with the
    /// process's stdio, `argv` = `program` then `args`, and these options.
    pub fn add_to_linker(
        &self,
        linker: &mut Linker,
        program: &Path,
        args: &[String],
    ) -> Result<(), Failure> {
        let mut builder = WasiCtx::builder();
        builder.inherit_stdio().arg(program).args(args);
        for env in &self.envs {
            match env.split_once('=') {
                Some((key, value)) => {
                    builder.env(key, value);
                }
                None => {
                    if let Some(value) = std::env::var_os(env) {
                        builder.env(env, value);
                    }
                }
            }
        }
        for dir in &self.dirs {
            let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
            if host.is_empty() || guest.is_empty() {
                return Err(format!("--dir {dir}: expected HOST::GUEST or HOST").into());
            }
            builder
                .preopened_dir(host, guest)
                .map_err(|e| format!("--dir {dir}: {e}"))?;
        }
        wasi::add_to_linker(linker, &builder.build())?;
        Ok(())
    }
}

/// Instantiates `artifact` and runs its `_start`. A status other than 0
/// becomes the process's exit status (with no message).
pub fn run_start(linker: &Linker, artifact: &Arc<Artifact>) -> Result<(), Failure> {
    let trapped = |e: vibewasm_loader::Error| Failure {
        code: if e.trap_code().is_some() { 3 } else { 1 },
        message: e.to_string(),
    };
    let mut instance = linker.instantiate_artifact(artifact).map_err(trapped)?;
    if instance.func_export("_start").is_err() {
        return Err("the module exports no `_start` function (a WASI command); \
                    use --invoke NAME to call an export"
            .into());
    }
    match wasi::run_start(&mut instance) {
        Ok(0) => Ok(()),
        // Like a native process: the low 8 bits are the exit status.
        Ok(status) => Err(Failure {
            message: String::new(),
            code: status as u8,
        }),
        Err(e) => Err(trapped(e)),
    }
}
