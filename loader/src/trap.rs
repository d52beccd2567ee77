//! Traps: why a call into wasm stopped early, and where.

use crate::prelude::*;
use core::fmt;

use vibewasm_format::TrapCode;

/// One wasm function on the call stack of a trap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Function index (imports first) in its module.
    pub func_index: u32,
    /// The function's name from the name section (`None` when the module
    /// has none, e.g. compiled with `--strip`), or `module.name` for an
    /// imported function.
    pub func_name: Option<String>,
    /// Byte offset in the source wasm of the instruction executing in this
    /// frame: the trapping one in the innermost frame, a call in the others.
    /// `None` for an imported function (it has no wasm code).
    pub wasm_offset: Option<u32>,
    /// The module: the file name of its artifact, if it was opened from one.
    pub module: Option<String>,
}

impl fmt::Display for Frame {
    /// `0x2d - fib.vwa!fib`, `0x2d - <unknown>!<wasm function 3>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.wasm_offset {
            Some(offset) => write!(f, "{offset:#6x} - ")?,
            None => f.write_str("       - ")?,
        }
        f.write_str(self.module.as_deref().unwrap_or("<unknown>"))?;
        match &self.func_name {
            Some(name) => write!(f, "!{name}"),
            None => write!(f, "!<wasm function {}>", self.func_index),
        }
    }
}

/// Frames [`Trap`]'s `Display` prints before eliding the middle of a longer
/// backtrace (a runaway recursion is thousands of frames deep).
const DISPLAYED_FRAMES: usize = 40;

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
    /// The wasm call stack when the trap happened, innermost frame first
    /// (frame 0 is the trapping function, the location above); empty when
    /// the trap did not come from wasm code. At most
    /// [`Trap::MAX_BACKTRACE`] frames (the innermost ones) are recorded.
    pub backtrace: Vec<Frame>,
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
            backtrace: Vec::new(),
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
            backtrace: Vec::new(),
        }
    }

    /// The most frames a backtrace records.
    pub const MAX_BACKTRACE: usize = 10_000;

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
        if !self.backtrace.is_empty() {
            f.write_str("\nwasm backtrace:")?;
            let n = self.backtrace.len();
            let (head, tail) = if n > DISPLAYED_FRAMES {
                (DISPLAYED_FRAMES - 10, 10)
            } else {
                (n, 0)
            };
            for (i, frame) in self.backtrace.iter().enumerate().take(head) {
                write!(f, "\n  {i:>4}: {frame}")?;
            }
            if tail > 0 {
                write!(f, "\n        ... {} frames ...", n - head - tail)?;
                for (i, frame) in self.backtrace.iter().enumerate().skip(n - tail) {
                    write!(f, "\n  {i:>4}: {frame}")?;
                }
            }
        }
        Ok(())
    }
}

impl core::error::Error for Trap {}

#[cfg(all(test, feature = "std"))]
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
        trap.backtrace = vec![
            Frame {
                func_index: 3,
                func_name: Some("div".into()),
                wasm_offset: Some(0x4a),
                module: Some("m.vwa".into()),
            },
            Frame {
                func_index: 0,
                func_name: None,
                wasm_offset: Some(0x120),
                module: None,
            },
            Frame {
                func_index: 1,
                func_name: Some("env.log".into()),
                wasm_offset: None,
                module: None,
            },
        ];
        assert_eq!(
            trap.to_string(),
            "integer divide by zero (in function 3 'div', wasm offset 0x4a)\n\
             wasm backtrace:\n\
             \x20    0:   0x4a - m.vwa!div\n\
             \x20    1:  0x120 - <unknown>!<wasm function 0>\n\
             \x20    2:        - <unknown>!env.log"
        );
        let frame = trap.backtrace[1].clone();
        trap.backtrace = vec![frame; 100];
        let text = trap.to_string();
        assert_eq!(text.lines().count(), 2 + 40 + 1, "{text}");
        assert!(text.contains("... 60 frames ..."), "{text}");
        assert!(
            text.ends_with("  99:  0x120 - <unknown>!<wasm function 0>"),
            "{text}"
        );
        let host = Trap::new("boom");
        assert_eq!(host.code, TrapCode::HostError);
        assert_eq!(host.to_string(), "boom");
    }
}
