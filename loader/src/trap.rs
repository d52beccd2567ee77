//! Traps: why a call into wasm stopped early, and where.

use std::fmt;

use vibewasm_format::TrapCode;

/// A WebAssembly trap, raised by generated code or by a host function.
///
/// The location fields are filled from the artifact's trap table when the
/// trap came out of generated code; a trap raised before entering wasm (stack
/// exhausted on entry) has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    pub code: TrapCode,
    /// Function index (imports first) the trap happened in.
    pub func: Option<u32>,
    /// That function's name from the name section, or `module.name` for an import.
    pub func_name: Option<String>,
    /// Byte offset in the source wasm of the trapping instruction.
    pub wasm_offset: Option<u32>,
    /// The spec message of `code`, or the host's own message for host traps.
    pub message: String,
    /// Set when the guest asked to end its program with this status (WASI
    /// `proc_exit`, see [`Trap::exit`]): the call ended early, but by
    /// request rather than by a fault.
    pub exit_code: Option<i32>,
}

impl Trap {
    /// A trap raised by a host function, with its own message
    /// (code [`TrapCode::HostError`]).
    pub fn new(message: impl Into<String>) -> Trap {
        Trap {
            code: TrapCode::HostError,
            func: None,
            func_name: None,
            wasm_offset: None,
            message: message.into(),
            exit_code: None,
        }
    }

    /// The trap a host function returns to end the guest program with exit
    /// status `status` (code [`TrapCode::HostError`], [`Trap::exit_code`] set).
    pub fn exit(status: i32) -> Trap {
        Trap {
            exit_code: Some(status),
            ..Trap::new(format!("exited with status {status}"))
        }
    }

    /// A trap of kind `code` with the specification's message and no location.
    pub fn from_code(code: TrapCode) -> Trap {
        Trap {
            code,
            func: None,
            func_name: None,
            wasm_offset: None,
            message: code.message().to_string(),
            exit_code: None,
        }
    }

    /// A trap reporting a loader or artifact inconsistency seen while running
    /// (never expected; reported rather than panicking).
    pub(crate) fn internal(message: impl fmt::Display) -> Trap {
        Trap::new(format!("internal error: {message}"))
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(func) = self.func {
            write!(f, " (in function {func}")?;
            if let Some(name) = &self.func_name {
                write!(f, " '{name}'")?;
            }
            if let Some(offset) = self.wasm_offset {
                write!(f, ", wasm offset {offset:#x}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for Trap {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_message_and_location() {
        let mut trap = Trap::from_code(TrapCode::IntegerDivideByZero);
        assert_eq!(trap.to_string(), "integer divide by zero");
        trap.func = Some(3);
        trap.func_name = Some("div".into());
        trap.wasm_offset = Some(0x4a);
        assert_eq!(
            trap.to_string(),
            "integer divide by zero (in function 3 'div', wasm offset 0x4a)"
        );
        let host = Trap::new("boom");
        assert_eq!(host.code, TrapCode::HostError);
        assert_eq!(host.to_string(), "boom");
    }
}
