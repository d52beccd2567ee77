//! The x86-64 instruction bytes code generation needs and SLJIT cannot
//! express: moving the stack pointer outside `enter`/`return`, calls and
//! jumps whose 32-bit fields the linker fills (`link.rs`), and reading a
//! frame's size off the prologue SLJIT generated, and the SSE instructions
//! behind float operations SLJIT lacks. Emitted through
//! `Emitter::custom`; register arguments are machine register numbers
//! (`Emitter::machine_index`). `aarch64.rs` is the counterpart.

use crate::error::CompileError;

/// `call rel32` with the displacement left for the linker: its field is
/// the last 4 bytes, relative to the end of the instruction.
pub const CALL_REL32: [u8; 5] = [0xe8, 0, 0, 0, 0];

/// `jmp rel32`, like [`CALL_REL32`].
pub const JMP_REL32: [u8; 5] = [0xe9, 0, 0, 0, 0];

/// `mov dst32, imm32` (zero-extending): the immediate is the last 4 bytes,
/// so the linker can rebase it (trap-site numbers).
pub fn mov32_imm(dst: i32, imm: u32) -> Vec<u8> {
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

/// `movdqu xmm, [rip + disp32]`: like [`load_float_pc_relative`], all 16
/// bytes (a `v128` constant in the pool).
pub fn load_vector_pc_relative(xmm: i32) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(9);
    bytes.push(0xf3);
    if xmm >= 8 {
        bytes.push(0x44); // REX.R
    }
    bytes.extend_from_slice(&[0x0f, 0x6f, ((xmm & 7) << 3) as u8 | 0b101]);
    bytes.extend_from_slice(&[0; 4]);
    bytes
}

/// A move between a register and memory at `[base + index + disp]`,
/// which SLJIT cannot address (its two-register form has no
/// displacement): guard-page accesses with a constant offset, one
/// instruction instead of an add and the access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexedMove {
    /// Bytes moved: 1, 2, 4 or 8.
    pub bytes: u8,
    /// To memory (else from it).
    pub store: bool,
    /// An SSE register (`movss`/`movsd`), else a general one.
    pub float: bool,
    /// A load that sign-extends (integer loads of 1, 2 or 4 bytes).
    pub signed: bool,
    /// The general register is 64 bits wide: a sign-extending load fills
    /// all of it (zero-extending loads and 32-bit moves always do).
    pub wide: bool,
}

/// The instruction of `m` for register `reg` and the memory operand
/// `[base + index + disp]` (machine register numbers).
pub fn indexed_move(m: IndexedMove, reg: i32, base: i32, index: i32, disp: i32) -> Vec<u8> {
    debug_assert!(index != 4, "rsp cannot be an index");
    // (mandatory prefix, REX.W, opcode)
    let (prefix, wide, opcode): (Option<u8>, bool, &[u8]) = match (m.float, m.store, m.bytes) {
        (true, store, bytes) => (
            Some(if bytes == 4 { 0xf3 } else { 0xf2 }),
            false,
            if store { &[0x0f, 0x11] } else { &[0x0f, 0x10] },
        ),
        (false, true, 1) => (None, false, &[0x88]),
        (false, true, 2) => (Some(0x66), false, &[0x89]),
        (false, true, bytes) => (None, bytes == 8, &[0x89]),
        (false, false, 8) => (None, true, &[0x8b]),
        (false, false, 4) if m.signed && m.wide => (None, true, &[0x63]),
        (false, false, 4) => (None, false, &[0x8b]),
        (false, false, 2) if m.signed => (None, m.wide, &[0x0f, 0xbf]),
        (false, false, 2) => (None, false, &[0x0f, 0xb7]),
        (false, false, _) if m.signed => (None, m.wide, &[0x0f, 0xbe]),
        (false, false, _) => (None, false, &[0x0f, 0xb6]),
    };
    let mut bytes = Vec::with_capacity(10);
    bytes.extend(prefix);
    let rex = 0x40
        | u8::from(wide) << 3
        | u8::from(reg >= 8) << 2
        | u8::from(index >= 8) << 1
        | u8::from(base >= 8);
    // Storing the low byte of rsp..rdi needs a REX prefix (without one
    // those numbers mean ah..bh).
    let byte_register = !m.float && m.store && m.bytes == 1 && (4..8).contains(&reg);
    if rex != 0x40 || byte_register {
        bytes.push(rex);
    }
    bytes.extend_from_slice(opcode);
    let short = i8::try_from(disp).is_ok();
    // ModRM: disp8 or disp32, the register, a SIB byte; SIB: scale 1.
    let mode = if short { 0x40 } else { 0x80 };
    bytes.push(mode | ((reg & 7) << 3) as u8 | 0b100);
    bytes.push(((index & 7) << 3) as u8 | (base & 7) as u8);
    if short {
        bytes.push(disp as i8 as u8);
    } else {
        bytes.extend_from_slice(&disp.to_le_bytes());
    }
    bytes
}

/// `movss`/`movsd`'s prefix (and other scalar SSE instructions').
pub fn scalar_prefix(is_f32: bool) -> u8 {
    if is_f32 {
        0xf3
    } else {
        0xf2
    }
}

/// A register-to-register SSE instruction `prefix 0F opcode... modrm` on
/// xmm registers `dst` and `src`; `imm` is appended when given.
pub fn sse(prefix: Option<u8>, opcode: &[u8], dst: i32, src: i32, imm: Option<u8>) -> Vec<u8> {
    let (d, s) = (dst as u8, src as u8);
    let mut bytes = Vec::with_capacity(8);
    bytes.extend(prefix);
    if d >= 8 || s >= 8 {
        bytes.push(0x40 | if d >= 8 { 4 } else { 0 } | if s >= 8 { 1 } else { 0 });
    }
    bytes.push(0x0f);
    bytes.extend_from_slice(opcode);
    bytes.push(0xc0 | ((d & 7) << 3) | (s & 7));
    bytes.extend(imm);
    bytes
}

/// `F3 (REX) 0F opcode /r` on general registers: `popcnt` (B8), `tzcnt`
/// (BC), `lzcnt` (BD).
pub fn bit_count(opcode: u8, dst: i32, src: i32, is_64: bool) -> Vec<u8> {
    let (d, s) = (dst as u8, src as u8);
    let mut bytes = vec![0xf3];
    let rex =
        0x40 | if is_64 { 8 } else { 0 } | if d >= 8 { 4 } else { 0 } | if s >= 8 { 1 } else { 0 };
    if rex != 0x40 {
        bytes.push(rex);
    }
    bytes.extend_from_slice(&[0x0f, opcode, 0xc0 | ((d & 7) << 3) | (s & 7)]);
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
pub fn mov_from_sp(dst: i32) -> Vec<u8> {
    let rex = 0x48 | if dst >= 8 { 0x01 } else { 0 };
    // mov r/m64, r64 with r = rsp (4), rm = dst.
    vec![rex as u8, 0x89, 0xc0 | (4 << 3) | (dst & 7) as u8]
}

/// `mov rsp, [base + disp32]`: SLJIT has no way to set the stack pointer,
/// which the trap exit needs to drop every wasm frame at once.
pub fn load_sp(base: i32, disp: i32) -> Vec<u8> {
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

    #[test]
    fn fields_and_encodings() {
        // rsi is R1: `mov esi, 7`; r13 is S3: `mov r13d, 7`.
        assert_eq!(mov32_imm(6, 7), [0xbe, 7, 0, 0, 0]);
        assert_eq!(mov32_imm(13, 7), [0x41, 0xbd, 7, 0, 0, 0]);
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
        // popcnt %rsi,%rax; lzcnt %r8d,%ecx; tzcnt %rdx,%r13
        assert_eq!(bit_count(0xb8, 0, 6, true), [0xf3, 0x48, 0x0f, 0xb8, 0xc6]);
        assert_eq!(bit_count(0xbd, 1, 8, false), [0xf3, 0x41, 0x0f, 0xbd, 0xc8]);
        assert_eq!(bit_count(0xbc, 13, 2, true), [0xf3, 0x4c, 0x0f, 0xbc, 0xea]);
        // movapd %xmm9,%xmm1; roundsd $0xa,%xmm3,%xmm3
        assert_eq!(
            sse(Some(0x66), &[0x28], 1, 9, None),
            [0x66, 0x41, 0x0f, 0x28, 0xc9]
        );
        assert_eq!(
            sse(Some(0x66), &[0x3a, 0x0b], 3, 3, Some(0x0a)),
            [0x66, 0x0f, 0x3a, 0x0b, 0xdb, 0x0a]
        );
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

    /// Every form of [`indexed_move`] against GNU as's encoding.
    #[test]
    fn indexed_moves() {
        const R15: i32 = 15;
        let (rax, rcx, rdx, rsi, rdi, r8, r9, r12, r13) = (0, 1, 2, 6, 7, 8, 9, 12, 13);
        let load = |bytes, signed, wide| IndexedMove {
            bytes,
            store: false,
            float: false,
            signed,
            wide,
        };
        let store = |bytes, float| IndexedMove {
            bytes,
            store: true,
            float,
            signed: false,
            wide: false,
        };
        let float_load = |bytes| IndexedMove {
            float: true,
            ..load(bytes, false, false)
        };
        let cases: &[(IndexedMove, i32, i32, i32, &[u8])] = &[
            // mov 0x24(%r15,%rsi,1),%edi
            (
                load(4, false, false),
                rdi,
                rsi,
                0x24,
                &[0x41, 0x8b, 0x7c, 0x37, 0x24],
            ),
            // mov 0x1234(%r15,%rsi,1),%rdi
            (
                load(8, false, true),
                rdi,
                rsi,
                0x1234,
                &[0x49, 0x8b, 0xbc, 0x37, 0x34, 0x12, 0, 0],
            ),
            // movzbl 0x7f(%r15,%r12,1),%eax
            (
                load(1, false, true),
                rax,
                r12,
                0x7f,
                &[0x43, 0x0f, 0xb6, 0x44, 0x27, 0x7f],
            ),
            // movsbl 0x10(%r15,%rdi,1),%r9d
            (
                load(1, true, false),
                r9,
                rdi,
                0x10,
                &[0x45, 0x0f, 0xbe, 0x4c, 0x3f, 0x10],
            ),
            // movsbq 0x10(%r15,%rdi,1),%r9
            (
                load(1, true, true),
                r9,
                rdi,
                0x10,
                &[0x4d, 0x0f, 0xbe, 0x4c, 0x3f, 0x10],
            ),
            // movzwl 0x80(%r15,%rsi,1),%ecx
            (
                load(2, false, false),
                rcx,
                rsi,
                0x80,
                &[0x41, 0x0f, 0xb7, 0x8c, 0x37, 0x80, 0, 0, 0],
            ),
            // movswl / movswq 0x8(%r15,%rsi,1),%ecx / %rcx
            (
                load(2, true, false),
                rcx,
                rsi,
                8,
                &[0x41, 0x0f, 0xbf, 0x4c, 0x37, 8],
            ),
            (
                load(2, true, true),
                rcx,
                rsi,
                8,
                &[0x49, 0x0f, 0xbf, 0x4c, 0x37, 8],
            ),
            // movslq 0x8(%r15,%rsi,1),%rdx; an unsigned 32-bit load is a mov
            (
                load(4, true, true),
                rdx,
                rsi,
                8,
                &[0x49, 0x63, 0x54, 0x37, 8],
            ),
            (
                load(4, false, true),
                rdx,
                rsi,
                8,
                &[0x41, 0x8b, 0x54, 0x37, 8],
            ),
            // movss 0x8(%r15,%rsi,1),%xmm9; movsd ...,%xmm2
            (
                float_load(4),
                9,
                rsi,
                8,
                &[0xf3, 0x45, 0x0f, 0x10, 0x4c, 0x37, 8],
            ),
            (
                float_load(8),
                2,
                rsi,
                8,
                &[0xf2, 0x41, 0x0f, 0x10, 0x54, 0x37, 8],
            ),
            // mov %dil / %al / %r8b, 0x8(%r15,%rsi,1)
            (store(1, false), rdi, rsi, 8, &[0x41, 0x88, 0x7c, 0x37, 8]),
            (store(1, false), rax, rsi, 8, &[0x41, 0x88, 0x44, 0x37, 8]),
            (store(1, false), r8, rsi, 8, &[0x45, 0x88, 0x44, 0x37, 8]),
            // mov %di / %edi / %r13, 0x8(%r15,%rsi,1)
            (
                store(2, false),
                rdi,
                rsi,
                8,
                &[0x66, 0x41, 0x89, 0x7c, 0x37, 8],
            ),
            (store(4, false), rdi, rsi, 8, &[0x41, 0x89, 0x7c, 0x37, 8]),
            (store(8, false), r13, rsi, 8, &[0x4d, 0x89, 0x6c, 0x37, 8]),
            // movss %xmm1, 0x8(...); movsd %xmm12, 0x7fffffff(...)
            (
                store(4, true),
                1,
                rsi,
                8,
                &[0xf3, 0x41, 0x0f, 0x11, 0x4c, 0x37, 8],
            ),
            (
                store(8, true),
                12,
                rsi,
                0x7fff_ffff,
                &[0xf2, 0x45, 0x0f, 0x11, 0xa4, 0x37, 0xff, 0xff, 0xff, 0x7f],
            ),
        ];
        for &(m, reg, index, disp, want) in cases {
            assert_eq!(
                indexed_move(m, reg, R15, index, disp),
                want,
                "{m:?} {reg} {index} {disp:#x}"
            );
        }
        // Without a REX prefix for anything else, storing sil needs one.
        assert_eq!(
            indexed_move(store(1, false), rsi, 3, 1, 8),
            [0x40, 0x88, 0x74, 0x0b, 8]
        );
    }
}
