//! The x86-64 instruction bytes code generation needs and SLJIT cannot
//! express: moving the stack pointer outside `enter`/`return`, calls and
//! jumps whose 32-bit fields the linker fills (`link.rs`), and reading a
//! frame's size off the prologue SLJIT generated. Emitted through
//! [`Emitter::custom`]; operator families never encode bytes themselves.

use crate::emitter::{Emitter, Reg};
use crate::error::CompileError;

/// `call rel32` with the displacement left for the linker: its field is
/// the last 4 bytes, relative to the end of the instruction.
pub const CALL_REL32: [u8; 5] = [0xe8, 0, 0, 0, 0];

/// `jmp rel32`, like [`CALL_REL32`].
pub const JMP_REL32: [u8; 5] = [0xe9, 0, 0, 0, 0];

/// `mov dst32, imm32` (zero-extending): the immediate is the last 4 bytes,
/// so the linker can rebase it (trap-site numbers).
pub fn mov32_imm(dst: Reg, imm: u32) -> Vec<u8> {
    let dst = Emitter::machine_index(dst);
    let mut bytes = Vec::with_capacity(6);
    if dst >= 8 {
        bytes.push(0x41);
    }
    bytes.push(0xb8 + (dst & 7) as u8);
    bytes.extend_from_slice(&imm.to_le_bytes());
    bytes
}

/// `movss/movsd xmm, [rip + disp32]` into the float register numbered
/// `xmm` (machine encoding): the displacement is the last 4 bytes,
/// relative to the end of the instruction (a constant in the chunk's pool).
pub fn load_float_pc_relative(xmm: i32, is_f32: bool) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(9);
    bytes.push(if is_f32 { 0xf3 } else { 0xf2 });
    if xmm >= 8 {
        bytes.push(0x44); // REX.R
    }
    bytes.extend_from_slice(&[0x0f, 0x10, ((xmm & 7) << 3) as u8 | 0b101]);
    bytes.extend_from_slice(&[0; 4]);
    bytes
}

/// Sets the 4-byte field that ends at `field_end` in `code` to `value`.
pub fn write_field(code: &mut [u8], field_end: usize, value: u32) {
    code[field_end - 4..field_end].copy_from_slice(&value.to_le_bytes());
}

/// The 4-byte field that ends at `field_end`.
pub fn read_field(code: &[u8], field_end: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&code[field_end - 4..field_end]);
    u32::from_le_bytes(bytes)
}

/// The rel32 that makes a branch whose field ends at `field_end` reach
/// `target` (both offsets in the same code).
pub fn rel32(field_end: u32, target: u32) -> u32 {
    target.wrapping_sub(field_end)
}

/// `sub rsp, imm8`: SLJIT has no way to move the stack pointer outside
/// `enter` and `return`.
pub fn sub_sp(imm: u8) -> [u8; 4] {
    debug_assert!(imm < 0x80, "a sign-extended imm8");
    [0x48, 0x83, 0xec, imm]
}

/// `mov dst, rsp`: the stack pointer of the trapping frame, which the
/// shared trap path (not a function of its own in SLJIT's view) reads, and
/// the stack pointer a function is entered with, before `enter`.
pub fn mov_from_sp(dst: Reg) -> Vec<u8> {
    let dst = Emitter::machine_index(dst);
    let rex = 0x48 | if dst >= 8 { 0x01 } else { 0 };
    // mov r/m64, r64 with r = rsp (4), rm = dst.
    vec![rex as u8, 0x89, 0xc0 | (4 << 3) | (dst & 7) as u8]
}

/// `mov rsp, [base + disp32]`: SLJIT has no way to set the stack pointer,
/// which the trap exit needs to drop every wasm frame at once.
pub fn load_sp(base: Reg, disp: i32) -> Vec<u8> {
    let base = Emitter::machine_index(base);
    debug_assert!(base & 7 != 4, "an rsp/r12 base would need a SIB byte");
    let rex = 0x48 | if base >= 8 { 0x01 } else { 0 };
    let modrm = 0x80 | (4 << 3) | (base & 7) as u8;
    let mut bytes = vec![rex as u8, 0x8b, modrm];
    bytes.extend_from_slice(&disp.to_le_bytes());
    bytes
}

/// The bytes between a function's body stack pointer and its return
/// address, read off the prologue SLJIT generated (register pushes, then
/// `sub rsp, imm`).
pub fn frame_size(code: &[u8]) -> Result<u32, CompileError> {
    let mut at = 0;
    let mut pushes = 0;
    loop {
        match code.get(at..) {
            Some([0x50..=0x57, ..]) => at += 1,
            Some([0x41, 0x50..=0x57, ..]) => at += 2,
            _ => break,
        }
        pushes += 1;
    }
    let sub = match code.get(at..) {
        Some([0x48, 0x83, 0xec, imm, ..]) => *imm as u32,
        Some([0x48, 0x81, 0xec, a, b, c, d, ..]) => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => {
            return Err(CompileError::Internal(
                "unexpected function prologue: cannot size the frame".into(),
            ))
        }
    };
    Ok(sub + 8 * pushes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emitter::{R1, S3};

    #[test]
    fn fields_and_encodings() {
        // rsi is R1: `mov esi, 7`; r13 is S3: `mov r13d, 7`.
        assert_eq!(mov32_imm(R1, 7), [0xbe, 7, 0, 0, 0]);
        assert_eq!(mov32_imm(S3, 7), [0x41, 0xbd, 7, 0, 0, 0]);
        let mut code = vec![0x90, 0xe8, 0, 0, 0, 0, 0x90];
        write_field(&mut code, 6, rel32(6, 0));
        assert_eq!(code, [0x90, 0xe8, 0xfa, 0xff, 0xff, 0xff, 0x90]);
        assert_eq!(read_field(&code, 6), (-6i32) as u32);
        // push rbx; push r15; sub rsp, 0x18
        assert_eq!(
            frame_size(&[0x53, 0x41, 0x57, 0x48, 0x83, 0xec, 0x18]).unwrap(),
            0x28
        );
        assert!(frame_size(&[0xc3]).is_err());
        // movsd xmm1, [rip]; movss xmm9, [rip]
        assert_eq!(
            load_float_pc_relative(1, false),
            [0xf2, 0x0f, 0x10, 0x0d, 0, 0, 0, 0]
        );
        assert_eq!(
            load_float_pc_relative(9, true),
            [0xf3, 0x44, 0x0f, 0x10, 0x0d, 0, 0, 0, 0]
        );
    }
}
