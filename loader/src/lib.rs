//! Loads `.vwa` artifacts written by `vibewasm-compiler` and runs them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use vibewasm_loader::{Artifact, Linker, Val};
//!
//! let artifact = Arc::new(Artifact::open("add.vwa")?);
//! let mut linker = Linker::new();
//! linker.func_wrap("env", "log", |x: i32| println!("wasm says {x}"))?;
//! let mut instance = linker.instantiate_artifact(&artifact)?;
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
//! 2. [`Linker::instantiate`] resolves imports against the linker's
//!    definitions (host functions; memories, tables and globals; other
//!    instances' exports) with the specification's type checks, allocates
//!    the instance's `vmctx` (layout in [`vibewasm_format::vmctx`]) in a
//!    [`Store`] and fills it: the store's runtime state, runtime helpers,
//!    imported functions, function references, canonical signature ids,
//!    tables, globals and memory 0. Then it applies active element and data
//!    segments and runs the start function.
//! 3. Calls go through the artifact's host entry trampoline with the
//!    arguments in an array of 8-byte slots. A trap comes back as a status;
//!    the store's runtime state then names the trap site and the instance
//!    whose code trapped, whose artifact's trap table turns it into a
//!    [`Trap`] with code, function and wasm offset.
//!
//! Instances that may call each other share a [`Store`] (see there for
//! what it owns and for threads). A [`Linker`] with only host functions
//! gives every instance its own store; one holding store objects (memories,
//! tables, globals, another instance's exports) creates instances in its store.
//!
//! Linear memory is an address-space reservation of which only the current
//! size is accessible: 8 GiB + 64 KiB that never move for guard-page code,
//! a small one that moves when it must grow past it for code with explicit
//! checks (see [`EngineConfig::memory_reservation`]). Wasm runs on the calling
//! thread's stack under a limit computed from that thread's stack bounds
//! (see [`RED_ZONE`] and [`Store::set_max_wasm_stack`]), so unbounded
//! recursion traps instead of crashing.
//!
//! # Sandboxing
//!
//! * **Memory bounds**, chosen when compiling and recorded in the artifact:
//!   *guard pages* (the default on 64-bit hosts) reserve 8 GiB + 64 KiB of
//!   address space per memory so that no 32-bit address plus offset leaves
//!   it, and a SIGSEGV handler (installed once, on the first guard-page
//!   instance; faults outside generated code go to the previous handler)
//!   turns an access beyond the current size into the trap; *explicit
//!   checks* compare every address and need no signal handler
//!   ([`Linker::allow_signal_handlers`] refuses guard-page code).
//! * **Stack**: see above; the limit is [`Store::set_max_wasm_stack`].
//! * **Time**: fuel ([`Store::set_fuel`]) and epoch deadlines
//!   ([`Store::set_epoch_deadline`], [`EpochCounter`]) for code compiled
//!   with them.
//! * **Backtraces**: every trap from wasm code carries the wasm call stack
//!   ([`Trap::backtrace`]).
//!
//! # Profiling
//!
//! With [`EngineConfig::perf_map`] (or `VIBEWASM_PERF_MAP=1` in the
//! environment) the loader appends one `START SIZE module!function` line per
//! wasm function to `/tmp/perf-PID.map`, which `perf report` uses to name
//! samples in generated code, and copies artifact files' code to anonymous
//! memory (perf only looks there). Writing the map is best effort and never
//! fails loading.
//!
//! # Trust
//!
//! Artifacts are native code: loading one means trusting whoever compiled
//! it. The checks above catch corruption, truncation and artifacts for
//! another machine, not malice. In particular, the checksum is verified on a
//! mapping of the file, and the code is mapped from the file afterwards, as
//! is the initial memory image at every instantiation (the artifact keeps
//! the file open; pages not yet written are read from it when first
//! touched): a concurrent writer could change pages after they were
//! checked. **Artifact files must not be writable by untrusted parties**,
//! and replaced by renaming a new file over them, never rewritten in place.
//! (Signed artifacts, below, copy both from the checked bytes.)
//!
//! Where they may be, sign them (`vibewasmc compile --sign KEY`, or
//! [`vibewasm_format::sign_artifact`]) and load them with
//! [`Artifact::open_trusted`] or [`Artifact::from_bytes_trusted`]: these
//! read the file into memory once, check it, check that it carries a valid
//! Ed25519 signature by one of the [`TrustedKeys`], and only then map its
//! code executable, from the bytes that were checked.
//!
//! # Without an operating system
//!
//! Without the default `std` feature the crate is `no_std` with `alloc`:
//! the host installs a [`Platform`] ([`set_platform`]) that provides
//! linear memories, executable memory and the stack's bounds, loads
//! artifacts with [`Artifact::from_bytes`] or, without copying,
//! [`Artifact::from_static`] (code run in place from executable flash), and
//! runs code compiled with explicit bounds checks. See `platform.rs`.
//!
//! # Not yet supported
//!
//! `v128` values in `func_native` host functions.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

/// What `std`'s prelude gives and `no_std` code imports from `alloc`.
#[allow(unused_imports)]
mod prelude {
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

mod arch;
mod artifact;
mod backtrace;
mod call;
mod engine;
mod error;
mod externs;
mod func;
mod helpers;
mod init;
mod instance;
mod instantiate;
mod linker;
mod memory;
mod module;
#[cfg(feature = "native")]
mod native;
#[cfg(feature = "std")]
mod perf_map;
mod platform;
mod raw;
mod sandbox;
#[cfg(feature = "std")]
mod signals;
mod stack;
mod store;
mod sync;
mod table;
mod trap;
mod trust;
mod types;
mod values;
#[cfg(feature = "wasi")]
pub mod wasi;

pub use artifact::Artifact;
pub use engine::{Engine, EngineConfig, DEFAULT_MEMORY_RESERVATION};
pub use error::{
    kind_name, AccessError, CallError, Error, InstantiationError, LinkError, LoadError,
};
pub use externs::{Extern, Func, Global, Memory, Table};
pub use func::{Caller, HostFunc, HostResult, IntoFunc, TypedFunc, WithCaller};
pub use instance::Instance;
pub use linker::Linker;
pub use memory::{MAX_WASM_PAGES, MEMORY_RESERVATION, WASM_PAGE_SIZE};
pub use module::Module;
pub use platform::{set_platform, sync_instruction_cache, Platform};
pub use sandbox::EpochCounter;
pub use stack::{DEFAULT_MAX_WASM_STACK, RED_ZONE};
pub use store::Store;
pub use table::MAX_TABLE_ELEMENTS;
pub use trap::{Frame, Trap};
pub use trust::TrustedKeys;
pub use types::canonical_type_id;
pub use values::{ExternRef, FuncRefHandle, Val, WasmTy, WasmTypeList};
/// The name the embedding API's examples use for [`Val`].
pub type Value = Val;
pub use vibewasm_format::{
    ExternKind, FuncType, GlobalType, ImportKind, MemoryType, PublicKey, TableType, TrapCode,
    ValType,
};

#[cfg(all(test, feature = "std"))]
mod tests;
