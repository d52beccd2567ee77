//! Everything that can go wrong between opening an artifact and getting a
//! result back from it. Each error says what it was about (path, import name,
//! signature, segment) so it can be shown to a user as is.

#[cfg(feature = "std")]
use std::path::PathBuf;

use vibewasm_format::{ExternKind, FormatError, FuncType, TrapCode, ValType};

use crate::prelude::*;
use crate::trap::Trap;

/// Without `std` there are no files: an artifact is named by a string.
#[cfg(not(feature = "std"))]
type PathBuf = String;

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Instantiation(#[from] InstantiationError),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Trap(#[from] Trap),
}

impl Error {
    /// The trap behind this error, if it is one: a trap during a call, in the
    /// start function, or an out-of-bounds segment at instantiation (which the
    /// WebAssembly specification treats as a trap).
    pub fn trap_code(&self) -> Option<TrapCode> {
        match self {
            Error::Trap(trap) => Some(trap.code),
            Error::Instantiation(e) => e.trap_code(),
            _ => None,
        }
    }

    /// The trap itself, for a trap during a call or in the start function.
    pub fn as_trap(&self) -> Option<&Trap> {
        match self {
            Error::Trap(trap) | Error::Instantiation(InstantiationError::Start(trap)) => Some(trap),
            _ => None,
        }
    }

    /// The exit status, if the guest ended its program on purpose (WASI
    /// `proc_exit`, or any host function returning [`Trap::exit`]).
    pub fn exit_code(&self) -> Option<i32> {
        self.as_trap().and_then(|trap| trap.exit_code)
    }

    /// Whether this is a failure to link (a missing or mismatched import).
    pub fn is_link_error(&self) -> bool {
        matches!(self, Error::Link(_))
    }
}

fn at(path: &Option<PathBuf>) -> String {
    match path {
        #[cfg(feature = "std")]
        Some(p) => format!(" {}", p.display()),
        #[cfg(not(feature = "std"))]
        Some(p) => format!(" {p}"),
        None => String::new(),
    }
}

/// Why an artifact could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[cfg(feature = "std")]
    #[error("cannot read artifact {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid artifact{}: {source}", at(path))]
    Format {
        path: Option<PathBuf>,
        #[source]
        source: FormatError,
    },
    #[error("cannot make the code of artifact{} executable: {reason}", at(path))]
    Map {
        path: Option<PathBuf>,
        reason: String,
    },
}

/// Why the imports of an artifact could not be resolved. The messages
/// contain the WebAssembly specification's wording ("unknown import",
/// "incompatible import type").
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("unknown import: `{module}::{name}` has not been defined")]
    MissingImport { module: String, name: String },
    #[error(
        "incompatible import type for `{module}::{name}`: the module expects {expected}, \
         the host function has {found}"
    )]
    SignatureMismatch {
        module: String,
        name: String,
        expected: Box<FuncType>,
        found: Box<FuncType>,
    },
    #[error(
        "incompatible import type for `{module}::{name}`: the module expects {expected}, \
         the definition is {found}"
    )]
    IncompatibleImport {
        module: String,
        name: String,
        expected: String,
        found: String,
    },
    #[error("`{module}::{name}` belongs to another store than the instance being created")]
    ForeignStore { module: String, name: String },
    #[error("`{module}::{name}` is already defined in this linker")]
    Duplicate { module: String, name: String },
    #[error("host function `{module}::{name}` has type {ty}: {unsupported} values cannot cross the host boundary yet")]
    UnsupportedType {
        module: String,
        name: String,
        ty: FuncType,
        unsupported: ValType,
    },
}

/// Why an operation on a store's objects (globals, tables, memories,
/// function references) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error(
        "the store is in use (running wasm on another thread, or the caller is a host \
         function called by wasm of the same store)"
    )]
    StoreBusy,
    #[error("the value or object belongs to another store")]
    ForeignStore,
    #[error("a {expected} was expected, got a {found}")]
    TypeMismatch { expected: String, found: String },
    #[error("the global is immutable")]
    Immutable,
    #[error("out of bounds {0} access")]
    OutOfBounds(&'static str),
    #[error("{0}")]
    Unsupported(String),
}

/// Why instantiation failed after the imports were resolved.
#[derive(Debug, thiserror::Error)]
pub enum InstantiationError {
    #[error(
        "element segment {segment} does not fit table {table} \
         (offset {offset}, {len} elements, table has {table_len}): out of bounds table access"
    )]
    ElementOutOfBounds {
        segment: u32,
        table: u32,
        offset: u64,
        len: u64,
        table_len: u64,
    },
    #[error(
        "data segment {segment} does not fit memory {memory} \
         (offset {offset}, {len} bytes, memory has {memory_len}): out of bounds memory access"
    )]
    DataOutOfBounds {
        segment: u32,
        memory: u32,
        offset: u64,
        len: u64,
        memory_len: u64,
    },
    #[error("start function trapped: {0}")]
    Start(Trap),
    #[error(transparent)]
    Store(#[from] AccessError),
    #[error("unsupported by this loader: {0}")]
    Unsupported(String),
    /// The metadata passed format validation but is inconsistent in a way
    /// only instantiation notices (a constant of the wrong type, say).
    #[error("invalid artifact: {0}")]
    Invalid(String),
    /// The operating system refused memory (address space, table storage).
    #[error("out of resources: {0}")]
    Resource(String),
}

impl InstantiationError {
    /// The trap code the WebAssembly specification gives this failure, if any.
    pub fn trap_code(&self) -> Option<TrapCode> {
        match self {
            InstantiationError::ElementOutOfBounds { .. } => Some(TrapCode::TableOutOfBounds),
            InstantiationError::DataOutOfBounds { .. } => Some(TrapCode::MemoryOutOfBounds),
            InstantiationError::Start(trap) => Some(trap.code),
            _ => None,
        }
    }
}

/// A call that was refused before entering wasm.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no export named `{0}`")]
    NoSuchExport(String),
    #[error("export `{name}` is a {}, not a function", kind_name(*kind))]
    NotAFunction { name: String, kind: ExternKind },
    #[error("function `{name}` has type {ty}: expected {expected} arguments, got {found}")]
    ArgumentCount {
        name: String,
        ty: FuncType,
        expected: usize,
        found: usize,
    },
    #[error("argument {index} of function `{name}` (type {ty}) must be {expected}, got {found}")]
    ArgumentType {
        name: String,
        ty: FuncType,
        index: usize,
        expected: ValType,
        found: ValType,
    },
    #[error("function `{name}` has type {found}, not {requested}")]
    TypeMismatch {
        name: String,
        found: FuncType,
        requested: FuncType,
    },
    #[error(
        "function `{name}` has type {ty}: {unsupported} values cannot cross the host boundary yet"
    )]
    UnsupportedType {
        name: String,
        ty: FuncType,
        unsupported: ValType,
    },
}

/// `"function"`, `"memory"`, `"table"` or `"global"`.
pub fn kind_name(kind: ExternKind) -> &'static str {
    match kind {
        ExternKind::Func => "function",
        ExternKind::Memory => "memory",
        ExternKind::Table => "table",
        ExternKind::Global => "global",
    }
}
