//! Compile errors. Every error about the input names where it is.

/// Why a module could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The bytes are not a WebAssembly module (or the text does not parse).
    #[error("malformed module: {message}{}", location(*func, *offset))]
    Malformed {
        message: String,
        func: Option<u32>,
        offset: Option<u64>,
    },
    /// The module is well-formed but fails validation.
    #[error("invalid module: {message}{}", location(*func, *offset))]
    Invalid {
        message: String,
        func: Option<u32>,
        offset: Option<u64>,
    },
    /// Valid WebAssembly that this compiler does not support yet.
    #[error("unsupported: {message}{}", location(*func, *offset))]
    Unsupported {
        message: String,
        func: Option<u32>,
        offset: Option<u64>,
    },
    /// A function or module beyond an implementation limit.
    #[error("implementation limit exceeded: {message}{}", location(*func, None))]
    Limit { message: String, func: Option<u32> },
    /// A bug in the compiler.
    #[error("internal compiler error: {0}")]
    Internal(String),
}

fn location(func: Option<u32>, offset: Option<u64>) -> String {
    match (func, offset) {
        (Some(f), Some(o)) => format!(" (in function {f}, at byte offset {o:#x})"),
        (Some(f), None) => format!(" (in function {f})"),
        (None, Some(o)) => format!(" (at byte offset {o:#x})"),
        (None, None) => String::new(),
    }
}

impl CompileError {
    /// Turns a wasmparser error into a compile error. wasmparser reports
    /// malformed binaries and invalid modules through the same type; its
    /// messages for validation failures are the spec's wording, so the
    /// distinction is kept by the caller's phase.
    pub(crate) fn from_parser(
        err: wasmparser::BinaryReaderError,
        func: Option<u32>,
        invalid: bool,
    ) -> Self {
        let message = err.message().to_string();
        let offset = Some(err.offset());
        if invalid {
            CompileError::Invalid {
                message,
                func,
                offset,
            }
        } else {
            CompileError::Malformed {
                message,
                func,
                offset,
            }
        }
    }

    pub(crate) fn unsupported(message: impl Into<String>, func: Option<u32>, offset: u64) -> Self {
        CompileError::Unsupported {
            message: message.into(),
            func,
            offset: Some(offset),
        }
    }
}
