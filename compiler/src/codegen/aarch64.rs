//! The aarch64 instructions code generation needs and SLJIT cannot
//! express, the counterpart of `x86_64.rs`: moving the stack pointer
//! outside `enter`/`return`, calls and branches whose fields the linker
//! fills (`link.rs`), a few float operations SLJIT lacks, and reading a
//! frame's size off the prologue SLJIT generated. Register arguments are
//! machine register numbers (`Emitter::machine_index`,
//! `Emitter::float_machine_index`). Every instruction is one
//! little-endian 32-bit word.

use crate::error::CompileError;

/// The bytes of one instruction.
pub fn bytes(word: u32) -> [u8; 4] {
    word.to_le_bytes()
}

/// `bl` with its offset left for the linker.
pub const BL: u32 = 0x9400_0000;

/// `b`, like [`BL`].
pub const B: u32 = 0x1400_0000;

/// Points the `b`/`bl` that ends at `field_end` at `target` (offsets in
/// the same code); `None` when `target` is beyond its ±128 MiB reach.
pub fn patch_branch(code: &mut [u8], field_end: usize, target: u32) -> Option<()> {
    let at = field_end - 4;
    let delta = (target as i64 - at as i64) / 4;
    if !(-(1 << 25)..1 << 25).contains(&delta) {
        return None;
    }
    let word = read(code, at) & 0xfc00_0000 | (delta as u32 & 0x03ff_ffff);
    write(code, at, word);
    Some(())
}

/// `movz wd, #lo; movk wd, #hi, lsl #16`: a 32-bit constant the linker can
/// rebase ([`read_u32_constant`], [`write_u32_constant`]).
pub fn mov32_imm(dst: i32, imm: u32) -> [u8; 8] {
    let d = dst as u32;
    let movz = 0x5280_0000 | (imm & 0xffff) << 5 | d;
    let movk = 0x72a0_0000 | (imm >> 16) << 5 | d;
    let mut out = [0; 8];
    out[..4].copy_from_slice(&bytes(movz));
    out[4..].copy_from_slice(&bytes(movk));
    out
}

/// The constant of the [`mov32_imm`] that ends at `end`.
pub fn read_u32_constant(code: &[u8], end: usize) -> u32 {
    let lo = read(code, end - 8) >> 5 & 0xffff;
    let hi = read(code, end - 4) >> 5 & 0xffff;
    hi << 16 | lo
}

/// Sets the constant of the [`mov32_imm`] that ends at `end`.
pub fn write_u32_constant(code: &mut [u8], end: usize, value: u32) {
    for (at, half) in [(end - 8, value & 0xffff), (end - 4, value >> 16)] {
        let word = read(code, at) & !(0xffff << 5) | half << 5;
        write(code, at, word);
    }
}

/// `stp x29, x30, [sp, #-16]!`: the frame record a stack-overflow stub
/// pushes, since the return address is still in `x30` before the prologue
/// (the loader's `arch::aarch64::OVERFLOW_STUB_FRAME`).
pub const PUSH_FRAME_RECORD: u32 = 0xa9bf_7bfd;

/// `mov xd, sp`.
pub fn mov_from_sp(dst: i32) -> [u8; 4] {
    bytes(0x9100_03e0 | dst as u32)
}

/// `ldr x16, [base, #disp]; mov sp, x16` (x16 is SLJIT's temporary):
/// SLJIT has no way to set the stack pointer. `disp` is a constant: a
/// multiple of 8 below 32 KiB (`ldr`'s scaled 12-bit offset).
pub const fn load_sp(base: i32, disp: i32) -> [u8; 8] {
    assert!(disp >= 0 && disp % 8 == 0 && disp / 8 < 1 << 12);
    let ldr = 0xf940_0000 | ((disp / 8) as u32) << 10 | (base as u32) << 5 | 16;
    let (ldr, mov) = (ldr.to_le_bytes(), 0x9100_021fu32.to_le_bytes());
    [
        ldr[0], ldr[1], ldr[2], ldr[3], mov[0], mov[1], mov[2], mov[3],
    ]
}

/// A scalar float operation `op dst, src` (one of the `F*` bases below) on
/// an f32 (`is_f32`) or f64.
pub fn float_unary(base: u32, is_f32: bool, dst: i32, src: i32) -> [u8; 4] {
    let ty = if is_f32 { 0 } else { 1 << 22 };
    bytes(base | ty | (src as u32) << 5 | dst as u32)
}

/// `fsqrt`, `frintp` (ceil), `frintm` (floor), `frintz` (trunc), `frintn`
/// (nearest, ties to even): f32 encodings; [`float_unary`] sets the type.
pub const FSQRT: u32 = 0x1e21_c000;
pub const FRINTP: u32 = 0x1e24_c000;
pub const FRINTM: u32 = 0x1e25_4000;
pub const FRINTZ: u32 = 0x1e25_c000;
pub const FRINTN: u32 = 0x1e24_4000;

/// `fmin`/`fmax dst, a, b`: exactly wasm's `min`/`max` (a NaN operand
/// gives a NaN, and `-0 < +0`).
pub fn float_min_max(is_min: bool, is_f32: bool, dst: i32, a: i32, b: i32) -> [u8; 4] {
    let op = if is_min { 0x1e20_5800 } else { 0x1e20_4800 };
    let ty = if is_f32 { 0 } else { 1 << 22 };
    bytes(op | ty | (b as u32) << 16 | (a as u32) << 5 | dst as u32)
}

/// Population count of general register `src` into `dst` through vector
/// register `tmp`: `fmov`, `cnt v.8b`, `addv b`, `fmov` back.
pub fn popcnt(dst: i32, src: i32, tmp: i32, is_64: bool) -> [[u8; 4]; 4] {
    let (d, s, t) = (dst as u32, src as u32, tmp as u32);
    let to_vector = if is_64 { 0x9e67_0000 } else { 0x1e27_0000 } | s << 5 | t;
    [
        bytes(to_vector),
        bytes(0x0e20_5800 | t << 5 | t),
        bytes(0x0e31_b800 | t << 5 | t),
        bytes(0x1e26_0000 | t << 5 | d),
    ]
}

/// The bytes a function's body has below its caller's stack pointer,
/// read off the prologue SLJIT generated: every `stp x29, x30, [sp, #-n]!`
/// and `sub sp, sp, #n` up to `mov x29, sp`, which ends it.
pub fn frame_size(code: &[u8]) -> Result<u32, CompileError> {
    let mut size = 0;
    for word in code.chunks_exact(4).take(64).map(|w| read(w, 0)) {
        if word == 0x9100_03fd {
            return Ok(size);
        }
        if word & 0xffc0_7fff == 0xa980_7bfd {
            // stp x29, x30, [sp, #imm7 * 8]! with a negative imm7.
            let imm7 = (word >> 15 & 0x7f) as i32;
            size += (((imm7 << 25) >> 25) * -8) as u32;
        } else if word & 0xff80_03ff == 0xd100_03ff {
            // sub sp, sp, #imm12 (lsl #12 when bit 22 is set).
            let imm = word >> 10 & 0xfff;
            size += if word & 1 << 22 != 0 { imm << 12 } else { imm };
        }
    }
    Err(CompileError::Internal(
        "unexpected function prologue: cannot size the frame".into(),
    ))
}

fn read(code: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(code[at..at + 4].try_into().unwrap())
}

fn write(code: &mut [u8], at: usize, word: u32) {
    code[at..at + 4].copy_from_slice(&word.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(b: [u8; 4]) -> u32 {
        u32::from_le_bytes(b)
    }

    /// Encodings against GNU as (`aarch64-linux-gnu-as`, shown in comments).
    #[test]
    fn encodings_match_gnu_as() {
        // bl .+8 at 0; b .-4 at 4
        let mut code = [bytes(BL), bytes(B)].concat();
        patch_branch(&mut code, 4, 8).unwrap();
        patch_branch(&mut code, 8, 0).unwrap();
        assert_eq!(code, [bytes(0x9400_0002), bytes(0x17ff_ffff)].concat());
        assert_eq!(patch_branch(&mut code, 4, 1 << 28), None);
        // movz w1, #0x1234; movk w1, #0xabcd, lsl #16
        let mut m = mov32_imm(1, 0xabcd_1234);
        assert_eq!(m, [bytes(0x5282_4681), bytes(0x72b5_79a1)].concat()[..]);
        assert_eq!(read_u32_constant(&m, 8), 0xabcd_1234);
        write_u32_constant(&mut m, 8, 7);
        assert_eq!(read_u32_constant(&m, 8), 7);
        // mov x5, sp; ldr x16, [x0, #24]; mov sp, x16
        assert_eq!(word(mov_from_sp(5)), 0x9100_03e5);
        assert_eq!(
            load_sp(0, 24),
            [bytes(0xf940_0c10), bytes(0x9100_021f)].concat()[..]
        );
        // fsqrt d1, d2; fsqrt s1, s2; frintp/m/z/n d1, d2 and s1, s2
        assert_eq!(word(float_unary(FSQRT, false, 1, 2)), 0x1e61_c041);
        assert_eq!(word(float_unary(FSQRT, true, 1, 2)), 0x1e21_c041);
        let rounds = [
            (FRINTP, 0x1e64_c041, 0x1e24_c041),
            (FRINTM, 0x1e65_4041, 0x1e25_4041),
            (FRINTZ, 0x1e65_c041, 0x1e25_c041),
            (FRINTN, 0x1e64_4041, 0x1e24_4041),
        ];
        for (base, f64_word, f32_word) in rounds {
            assert_eq!(word(float_unary(base, false, 1, 2)), f64_word);
            assert_eq!(word(float_unary(base, true, 1, 2)), f32_word);
        }
        // fmin/fmax d1, d1, d2 and s1, s1, s2
        assert_eq!(word(float_min_max(true, false, 1, 1, 2)), 0x1e62_5821);
        assert_eq!(word(float_min_max(false, false, 1, 1, 2)), 0x1e62_4821);
        assert_eq!(word(float_min_max(true, true, 1, 1, 2)), 0x1e22_5821);
        assert_eq!(word(float_min_max(false, true, 1, 1, 2)), 0x1e22_4821);
        // fmov d31, x3; cnt v31.8b, v31.8b; addv b31, v31.8b; fmov w3, s31
        let p = popcnt(3, 3, 31, true);
        assert_eq!(
            p.map(word),
            [0x9e67_007f, 0x0e20_5bff, 0x0e31_bbff, 0x1e26_03e3]
        );
        // fmov s31, w3
        assert_eq!(word(popcnt(3, 3, 31, false)[0]), 0x1e27_007f);
        assert_eq!(word(bytes(PUSH_FRAME_RECORD)), 0xa9bf_7bfd);
    }

    #[test]
    fn frame_sizes_from_prologues() {
        // stp x29, x30, [sp, #-48]!; ...; mov x29, sp
        let small = [0xa9bd_7bfd, 0xa901_53f3, 0x9100_03fd];
        let code: Vec<u8> = small.iter().flat_map(|w: &u32| w.to_le_bytes()).collect();
        assert_eq!(frame_size(&code).unwrap(), 48);
        // stp x29, x30, [sp, #-48]! (registers); sub sp, sp, #1, lsl #12;
        // sub sp, sp, #0x230; stp x29, x30, [sp]; mov x29, sp
        let big = [
            0xa9bd_7bfd,
            0xd140_07ff,
            0xd108_c3ff,
            0xa900_7bfd,
            0x9100_03fd,
        ];
        let code: Vec<u8> = big.iter().flat_map(|w: &u32| w.to_le_bytes()).collect();
        assert_eq!(frame_size(&code).unwrap(), 48 + 0x1000 + 0x230);
        assert!(frame_size(&[0; 8]).is_err());
    }
}
