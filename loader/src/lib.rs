//! Loads `.vwa` artifacts written by `vibewasm-compiler` and runs them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use vibewasm_loader::{Artifact, Linker, Val};
//!
//! let artifact = Arc::new(Artifact::open("add.vwa")?);
//! let mut linker = Linker::new();
//! linker.func_wrap("env", "log", |x: i32| println!("wasm says {x}"))?;
//! let mut instance = linker.instantiate(&artifact)?;
//!
//! let add = instance.get_typed_func::<(i32, i32), i32>("add")?;
//! assert_eq!(add.call(&mut instance, (1, 2))?, 3);
//! assert_eq!(instance.call("add", &[Val::I32(1), Val::I32(2)])?, [Val::I32(3)]);
//! # Ok::<(), vibewasm_loader::Error>(())
//! ```
//!
//! # What happens
//!
//! 1. [`Artifact::open`] maps the file, checks it with
//!    [`vibewasm_format::read_artifact`] (header, checksum, target, CPU
//!    features, metadata), and maps the code section read+execute straight
//!    from the file. Code pages are never writable.
//! 2. [`Linker::instantiate`] resolves imports against host functions,
//!    allocates the instance's `vmctx` (layout in [`vibewasm_format::vmctx`])
//!    and fills it: runtime helpers, import shims, canonical signature ids,
//!    tables, globals, memory 0 and the loader's own state. Then it applies
//!    active element and data segments and runs the start function.
//! 3. Calls go through the artifact's host entry trampoline with the
//!    arguments in an array of 8-byte slots. A trap comes back as a status
//!    and a trap-site number, which the artifact's trap table turns into a
//!    [`Trap`] with code, function and wasm offset.
//!
//! Linear memory is an 8 GiB address-space reservation of which only the
//! current size is accessible, so its base never moves. Wasm runs on the
//! calling thread's stack under a limit computed from that thread's stack
//! bounds (see [`RED_ZONE`] and [`Linker::max_wasm_stack`]), so unbounded
//! recursion traps instead of crashing.
//!
//! # Trust
//!
//! Artifacts are native code: loading one means trusting whoever compiled
//! it. The checks above catch corruption, truncation and artifacts for
//! another machine, not malice. In particular, the checksum is verified on a
//! mapping of the file, and the code is mapped from the file afterwards: a
//! concurrent writer could change pages after they were checked. **Artifact
//! files must not be writable by untrusted parties.**
//!
//! # Not yet supported
//!
//! Imports of memories, tables and globals (a [`LinkError::UnsupportedImportKind`]
//! names them), v128 and reference values at the host boundary, globals
//! holding a `ref.func`, and more than one memory.

mod artifact;
mod error;
mod func;
mod instance;
mod instantiate;
mod linker;
mod memory;
mod raw;
mod stack;
mod table;
mod trap;
mod types;
mod values;

pub use artifact::Artifact;
pub use error::{kind_name, CallError, Error, InstantiationError, LinkError, LoadError};
pub use func::{Caller, HostFunc, HostResult, IntoFunc, TypedFunc, WithCaller};
pub use instance::Instance;
pub use linker::Linker;
pub use memory::{MAX_WASM_PAGES, MEMORY_RESERVATION, WASM_PAGE_SIZE};
pub use stack::{DEFAULT_MAX_WASM_STACK, RED_ZONE};
pub use trap::Trap;
pub use types::canonical_type_id;
pub use values::{Val, WasmTy, WasmTypeList};
pub use vibewasm_format::{ExternKind, FuncType, TrapCode, ValType};

#[cfg(test)]
mod tests;
