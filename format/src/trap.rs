//! Trap kinds shared by the compiler (which records trap sites) and the loader
//! (which reports them).

use serde::{Deserialize, Serialize};

/// Why generated code stopped. The discriminant is stored in the artifact's
/// trap table, so values are stable: never renumber, only append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum TrapCode {
    /// The `unreachable` instruction was executed.
    Unreachable = 1,
    /// Integer division or remainder by zero.
    IntegerDivideByZero = 2,
    /// Signed division overflow (`INT_MIN / -1`) or a float-to-int truncation out of range.
    IntegerOverflow = 3,
    /// A load, store or bulk memory operation outside linear memory.
    MemoryOutOfBounds = 4,
    /// `call_indirect` with an index outside the table.
    UndefinedElement = 5,
    /// `call_indirect` on a null table entry.
    UninitializedElement = 6,
    /// `call_indirect` whose callee has another signature than the one expected.
    IndirectCallTypeMismatch = 7,
    /// The wasm stack went past its limit (usually unbounded recursion).
    StackOverflow = 8,
    /// A float-to-int truncation of a NaN.
    InvalidConversionToInteger = 9,
    /// A table access outside the table.
    TableOutOfBounds = 10,
    /// A host function returned an error; the loader keeps the error itself.
    HostError = 11,
    /// The store's fuel ran out (code compiled with fuel metering).
    OutOfFuel = 12,
    /// The epoch deadline passed (code compiled with epoch checks).
    Interrupted = 13,
}

impl TrapCode {
    /// Every trap code, in discriminant order.
    pub const ALL: [TrapCode; 13] = [
        TrapCode::Unreachable,
        TrapCode::IntegerDivideByZero,
        TrapCode::IntegerOverflow,
        TrapCode::MemoryOutOfBounds,
        TrapCode::UndefinedElement,
        TrapCode::UninitializedElement,
        TrapCode::IndirectCallTypeMismatch,
        TrapCode::StackOverflow,
        TrapCode::InvalidConversionToInteger,
        TrapCode::TableOutOfBounds,
        TrapCode::HostError,
        TrapCode::OutOfFuel,
        TrapCode::Interrupted,
    ];

    /// The message the WebAssembly specification's test suite uses for this trap.
    pub fn message(self) -> &'static str {
        match self {
            TrapCode::Unreachable => "unreachable",
            TrapCode::IntegerDivideByZero => "integer divide by zero",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::UndefinedElement => "undefined element",
            TrapCode::UninitializedElement => "uninitialized element",
            TrapCode::IndirectCallTypeMismatch => "indirect call type mismatch",
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::InvalidConversionToInteger => "invalid conversion to integer",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::HostError => "host function error",
            TrapCode::OutOfFuel => "out of fuel",
            TrapCode::Interrupted => "interrupted",
        }
    }

    /// The trap code with discriminant `value`, if there is one.
    pub fn from_u8(value: u8) -> Option<TrapCode> {
        TrapCode::ALL.iter().copied().find(|c| *c as u8 == value)
    }
}

impl core::fmt::Display for TrapCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discriminants_round_trip() {
        for code in TrapCode::ALL {
            assert_eq!(TrapCode::from_u8(code as u8), Some(code));
        }
        assert_eq!(TrapCode::from_u8(0), None);
        assert_eq!(TrapCode::from_u8(200), None);
    }
}
