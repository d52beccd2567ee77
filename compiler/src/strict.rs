//! Binary-format rules of WebAssembly 2.0 that `wasmparser` no longer
//! enforces, because later proposals relaxed them (memory64 widened limits
//! and memory offsets to 64 bits, multi-memory turned the reserved byte of
//! `memory.size`/`memory.grow` into a LEB128 memory index). Without them,
//! modules the 2.0 specification calls malformed would compile. They apply
//! to [`crate::Language::Wasm2`] only: 3.0 made these encodings valid.

use crate::error::CompileError;

fn malformed(message: &str, offset: usize) -> CompileError {
    CompileError::Malformed {
        message: message.into(),
        func: None,
        offset: Some(offset as u64),
    }
}

/// Reads an unsigned LEB128 of at most 32 bits at `bytes[*at..]`, rejecting
/// encodings longer than 5 bytes or with bits beyond 32.
fn read_u32(bytes: &[u8], at: &mut usize, base: usize) -> Result<u32, CompileError> {
    let mut value: u64 = 0;
    for i in 0..5 {
        let byte = *bytes
            .get(*at)
            .ok_or_else(|| malformed("unexpected end", base + *at))?;
        *at += 1;
        value |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            if i == 4 && byte & 0x70 != 0 {
                return Err(malformed("integer too large", base + *at - 1));
            }
            return Ok(value as u32);
        }
    }
    Err(malformed("integer representation too long", base + *at - 1))
}

/// The limits in a memory section (`bytes` is the section's contents,
/// starting at module offset `base`) must be 32-bit LEB128s.
pub fn check_memory_section(bytes: &[u8], base: usize) -> Result<(), CompileError> {
    let mut at = 0;
    let count = read_u32(bytes, &mut at, base)?;
    for _ in 0..count {
        let flags = *bytes
            .get(at)
            .ok_or_else(|| malformed("unexpected end", base + at))?;
        at += 1;
        if flags & !0x03 != 0 {
            // Another proposal's encoding: wasmparser decides.
            return Ok(());
        }
        read_u32(bytes, &mut at, base)?;
        if flags & 0x01 != 0 {
            read_u32(bytes, &mut at, base)?;
        }
    }
    Ok(())
}

/// One operator's encoding (`bytes`, at module offset `base`): memory
/// offsets and alignments are 32-bit LEB128s, and the memory index of
/// `memory.size`/`memory.grow` is the single byte zero.
pub fn check_operator(bytes: &[u8], base: usize) -> Result<(), CompileError> {
    match bytes.first() {
        // Loads and stores: opcode, alignment, offset.
        Some(0x28..=0x3e) => {
            let mut at = 1;
            read_u32(bytes, &mut at, base)?;
            read_u32(bytes, &mut at, base)?;
            Ok(())
        }
        Some(0x3f | 0x40) if bytes.len() != 2 || bytes[1] != 0 => {
            Err(malformed("zero byte expected", base + 1))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_length_and_range() {
        let read = |bytes: &[u8]| read_u32(bytes, &mut 0, 0);
        assert_eq!(read(&[0x02]).unwrap(), 2);
        assert_eq!(read(&[0x82, 0x80, 0x80, 0x80, 0x00]).unwrap(), 2);
        assert!(read(&[0x82, 0x80, 0x80, 0x80, 0x80, 0x00]).is_err());
        assert_eq!(read(&[0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap(), u32::MAX);
        assert!(read(&[0xff, 0xff, 0xff, 0xff, 0x1f]).is_err());
    }

    #[test]
    fn memory_size_needs_its_zero_byte() {
        assert!(check_operator(&[0x3f, 0x00], 0).is_ok());
        assert!(check_operator(&[0x3f, 0x80, 0x00], 0).is_err());
        assert!(check_operator(&[0x28, 0x02, 0x82, 0x80, 0x80, 0x80, 0x80, 0x00], 0).is_err());
        assert!(check_operator(&[0x28, 0x02, 0x00], 0).is_ok());
    }
}
