//! WASI preview1 (`wasi_snapshot_preview1`): enough of it to run ordinary C
//! programs built with wasi-libc. Behind the loader's `wasi` cargo feature.
//!
//! ```no_run
//! use std::sync::Arc;
//! use vibewasm_loader::{wasi, Artifact, Linker};
//!
//! let ctx = wasi::WasiCtx::builder()
//!     .args(["app", "input.txt"])
//!     .env("LANG", "C")
//!     .inherit_stdio()
//!     .preopened_dir("./data", ".")?
//!     .build();
//! let mut linker = Linker::new();
//! wasi::add_to_linker(&mut linker, &ctx)?;
//! let artifact = Arc::new(Artifact::open("app.vwa")?);
//! let mut instance = linker.instantiate_artifact(&artifact)?;
//! let status = wasi::run_start(&mut instance)?; // 0, or what the program passed to exit()
//! std::process::exit(status);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the guest gets
//!
//! - Arguments and environment variables, exactly those given to the
//!   [`WasiCtxBuilder`] (nothing is inherited unless asked for).
//! - stdin, stdout and stderr: empty and discarded by default; the host
//!   process's own, or any `Read`/`Write` (see [`OutputCapture`]).
//! - Realtime, monotonic, process and thread CPU clocks; random bytes from
//!   the operating system; `sched_yield`; `poll_oneoff` for sleeping (clock
//!   subscriptions; descriptor subscriptions are reported ready at once; at
//!   most 4096 subscriptions per call, `EINVAL` beyond).
//! - Nothing waits past the store's epoch deadline
//!   ([`crate::Store::set_epoch_deadline`], `vibewasmc run --timeout`): a
//!   `poll_oneoff` sleep and a read of the host's stdin waiting for input
//!   end with the trap "interrupted" once it passes (within 10 ms), as code
//!   compiled with epoch checks would. (A reader the embedder gives as
//!   stdin is read when asked: whether that blocks is up to it.)
//! - `proc_exit(status)` ends the call with [`Trap::exit`]:
//!   [`crate::Error::exit_code`] gives the status, and [`run_start`] turns
//!   it into a plain `Ok(status)`.
//! - Files and directories under pre-opened directories, sandboxed: see
//!   below. Reading, writing, seeking, `stat`, directory listing, creating
//!   and removing files and directories, renaming, hard links, times, sizes.
//! - Every other preview1 function exists, so that any program links, but
//!   returns `ENOSYS`: see [`UNSUPPORTED`] (sockets, signals, creating
//!   symbolic links).
//!
//! # The sandbox
//!
//! A guest path is resolved one component at a time from the descriptor of
//! the directory it is relative to, with `openat(..., O_NOFOLLOW)`, never as
//! a host path string. Absolute paths, `..` leaving the starting directory,
//! and symbolic links (wherever they point, as an intermediate or a last
//! component) are refused with `ENOTCAPABLE`. A link can still be listed,
//! `lstat`ed, read with `readlink`, renamed and removed, which never
//! follows it.
//!
//! # Guest memory
//!
//! Every pointer and length from the guest is checked against the calling
//! instance's memory; an access outside it is `EFAULT`, and bad flags are
//! `EINVAL`. A host function never panics on guest input.

mod abi;
mod clocks;
mod ctx;
mod errno;
mod fs;
mod mem;
mod preview1;
mod stdio;

pub use ctx::{WasiCtx, WasiCtxBuilder};
pub use errno::Errno;
pub use preview1::{add_to_linker, MODULE, UNSUPPORTED};
pub use stdio::OutputCapture;

use crate::error::Error;
use crate::instance::Instance;
#[cfg(doc)]
use crate::trap::Trap;

/// Runs the WASI command `instance`: calls its `_start` export and returns
/// the program's exit status, 0 if `_start` returned, or the status it
/// passed to `proc_exit`. A trap or any other failure is an `Err`.
pub fn run_start(instance: &mut Instance) -> Result<i32, Error> {
    match instance.call("_start", &[]) {
        Ok(_) => Ok(0),
        Err(err) => err.exit_code().ok_or(err),
    }
}
