//! NEON instruction encodings for the aarch64 SIMD lowerings.
//!
//! Each function returns one instruction word. Register arguments are
//! machine register numbers (`v` registers for vectors, `w`/`x` for
//! general ones). Unless a function says otherwise the instruction works
//! on all 128 bits (`Q = 1`); `size` is the lane size (0 to 3 for 8 to
//! 64-bit lanes) of integer instructions, and of float ones 0 for f32 and
//! 1 for f64 (the operations' own bit 23 is in their constants). The
//! tests below check every encoding the lowerings use against GNU as.

/// The `Q` bit: 128-bit rather than 64-bit vectors (for the narrowing and
/// widening instructions: the upper rather than the lower half).
pub const Q: u32 = 1 << 30;

const fn same(u: u32, opcode: u32) -> u32 {
    0x4e20_0400 | u << 29 | opcode << 11
}

const fn misc(u: u32, opcode: u32) -> u32 {
    0x4e20_0800 | u << 29 | opcode << 12
}

/// Three registers of different arrangements; 64-bit sources unless
/// combined with [`Q`] (the `2` forms).
const fn diff(u: u32, opcode: u32) -> u32 {
    0x0e20_0000 | u << 29 | opcode << 12
}

const fn across(u: u32, opcode: u32) -> u32 {
    0x4e30_0800 | u << 29 | opcode << 12
}

/// Bit 23, which the float operations use as part of their opcode.
const A: u32 = 1 << 23;

// Three registers of the same arrangement: `op vd, vn, vm` ([`rrr`]).
pub const ADD: u32 = same(0, 0x10);
pub const SUB: u32 = same(1, 0x10);
pub const MUL: u32 = same(0, 0x13);
pub const ADDP: u32 = same(0, 0x17);
pub const SQADD: u32 = same(0, 0x01);
pub const UQADD: u32 = same(1, 0x01);
pub const SQSUB: u32 = same(0, 0x05);
pub const UQSUB: u32 = same(1, 0x05);
pub const URHADD: u32 = same(1, 0x02);
pub const SMAX: u32 = same(0, 0x0c);
pub const UMAX: u32 = same(1, 0x0c);
pub const SMIN: u32 = same(0, 0x0d);
pub const UMIN: u32 = same(1, 0x0d);
pub const CMEQ: u32 = same(1, 0x11);
pub const CMGT: u32 = same(0, 0x06);
pub const CMHI: u32 = same(1, 0x06);
pub const CMGE: u32 = same(0, 0x07);
pub const CMHS: u32 = same(1, 0x07);
pub const SSHL: u32 = same(0, 0x08);
pub const USHL: u32 = same(1, 0x08);
pub const SQRDMULH: u32 = same(1, 0x16);
/// The bitwise operations: `size` 0.
pub const AND: u32 = same(0, 0x03);
pub const BIC: u32 = same(0, 0x03) | 1 << 22;
pub const ORR: u32 = same(0, 0x03) | 2 << 22;
pub const EOR: u32 = same(1, 0x03);
/// `vd = vd ^ ((vd ^ vn) & vm)`: `vn`'s bits where `vm` is set.
pub const BIT: u32 = same(1, 0x03) | 2 << 22;
/// `vd = vd ^ ((vd ^ vn) & !vm)`: `vn`'s bits where `vm` is clear.
pub const BIF: u32 = same(1, 0x03) | 3 << 22;
pub const FADD: u32 = same(0, 0x1a);
pub const FSUB: u32 = same(0, 0x1a) | A;
pub const FMUL: u32 = same(1, 0x1b);
pub const FDIV: u32 = same(1, 0x1f);
pub const FMAX: u32 = same(0, 0x1e);
pub const FMIN: u32 = same(0, 0x1e) | A;
pub const FCMEQ: u32 = same(0, 0x1c);
pub const FCMGE: u32 = same(1, 0x1c);
pub const FCMGT: u32 = same(1, 0x1c) | A;

// Two registers: `op vd, vn` ([`rr`]).
pub const REV64: u32 = misc(0, 0x00);
pub const SADDLP: u32 = misc(0, 0x02);
pub const UADDLP: u32 = misc(1, 0x02);
pub const CNT: u32 = misc(0, 0x05);
pub const NOT: u32 = misc(1, 0x05);
/// `cmeq vd, vn, #0`.
pub const CMEQ0: u32 = misc(0, 0x09);
pub const ABS: u32 = misc(0, 0x0b);
pub const NEG: u32 = misc(1, 0x0b);
/// The narrowing instructions: `size` is the narrow lanes'; without
/// [`Q`] they write the low half and clear the high one, with it (the `2`
/// forms, `| Q`) they write the high half and keep the low one.
pub const XTN: u32 = misc(0, 0x12) & !Q;
pub const SQXTUN: u32 = misc(1, 0x12) & !Q;
pub const SQXTN: u32 = misc(0, 0x14) & !Q;
pub const UQXTN: u32 = misc(1, 0x14) & !Q;
/// `shll vd, vn, #(lane bits)`: `size` is the source lanes', low half.
pub const SHLL: u32 = misc(1, 0x13) & !Q;
/// f64 to f32 into the low half (the high half cleared): `size` 1.
pub const FCVTN: u32 = misc(0, 0x16) & !Q;
/// The low two f32 to f64: `size` 1.
pub const FCVTL: u32 = misc(0, 0x17) & !Q;
pub const FRINTN: u32 = misc(0, 0x18);
pub const FRINTM: u32 = misc(0, 0x19);
pub const FRINTP: u32 = misc(0, 0x18) | A;
pub const FRINTZ: u32 = misc(0, 0x19) | A;
pub const FCVTZS: u32 = misc(0, 0x1b) | A;
pub const FCVTZU: u32 = misc(1, 0x1b) | A;
pub const SCVTF: u32 = misc(0, 0x1d);
pub const UCVTF: u32 = misc(1, 0x1d);
pub const FABS: u32 = misc(0, 0x0f) | A;
pub const FNEG: u32 = misc(1, 0x0f) | A;
pub const FSQRT: u32 = misc(1, 0x1f) | A;

// Widening: `op vd, vn, vm` with `size` the source lanes' ([`rrr`]).
pub const SMULL: u32 = diff(0, 0x0c);
pub const UMULL: u32 = diff(1, 0x0c);
pub const UMLAL: u32 = diff(1, 0x08);

// Across all lanes into a scalar: `op <scalar>d, vn` ([`rr`]).
pub const UMAXV: u32 = across(1, 0x0a);
pub const UMINV: u32 = across(1, 0x1a);

/// `op vd, vn, vm`.
pub const fn rrr(op: u32, size: u32, d: u32, n: u32, m: u32) -> u32 {
    op | size << 22 | m << 16 | n << 5 | d
}

/// `op vd, vn`.
pub const fn rr(op: u32, size: u32, d: u32, n: u32) -> u32 {
    op | size << 22 | n << 5 | d
}

/// The shifts by an immediate, `size` the lanes'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftImm {
    Shl,
    Sshr,
    Ushr,
    /// `sshll vd, vn, #0` (`sxtl`): the low half widened (`| Q` for the
    /// high half, `sxtl2`).
    Sxtl,
    Uxtl,
}

/// `shl`/`sshr`/`ushr vd, vn, #amount` (1 up to the lane width less one
/// for `shl`, up to the lane width for the right shifts), or the widening
/// moves (`amount` 0, 64-bit source unless `| Q`).
pub const fn shift_imm(op: ShiftImm, size: u32, d: u32, n: u32, amount: u32) -> u32 {
    let bits = 8 << size;
    let (u, opcode, immhb, q) = match op {
        ShiftImm::Shl => (0, 0x0a, bits + amount, Q),
        ShiftImm::Sshr => (0, 0x00, 2 * bits - amount, Q),
        ShiftImm::Ushr => (1, 0x00, 2 * bits - amount, Q),
        ShiftImm::Sxtl => (0, 0x14, bits + amount, 0),
        ShiftImm::Uxtl => (1, 0x14, bits + amount, 0),
    };
    0x0f00_0400 | q | u << 29 | immhb << 16 | opcode << 11 | n << 5 | d
}

/// `tbl vd.16b, {vn.16b}, vm.16b`: bytes of `vn` picked by the indices in
/// `vm`, 0 for indices above 15; `tbx` (`extend`) keeps `vd`'s byte
/// instead.
pub const fn tbl(extend: bool, d: u32, n: u32, m: u32) -> u32 {
    0x4e00_0000 | (extend as u32) << 12 | m << 16 | n << 5 | d
}

/// `dup vd.16b, wn`.
pub const fn dup_bytes(d: u32, n: u32) -> u32 {
    0x4e01_0c00 | n << 5 | d
}

/// `movi vd.16b, #imm`.
pub const fn movi_bytes(d: u32, imm: u8) -> u32 {
    let imm = imm as u32;
    0x4f00_e400 | (imm >> 5) << 16 | (imm & 0x1f) << 5 | d
}

/// `fmov wd, sn`.
pub const fn fmov_to_general(d: u32, n: u32) -> u32 {
    0x1e26_0000 | n << 5 | d
}

/// `cmp wn, #0`.
pub const fn cmp_zero(n: u32) -> u32 {
    0x7100_001f | n << 5
}

/// `cset wd, ne` (`equal` false) or `cset wd, eq`.
pub const fn cset(equal: bool, d: u32) -> u32 {
    // `csinc wd, wzr, wzr, <inverted condition>`.
    0x1a9f_07e0 | (equal as u32) << 12 | d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodings against GNU as (`aarch64-linux-gnu-as`): each line's
    /// source, the word it assembled to, and the encoder's word.
    #[test]
    fn encodings_match_gnu_as() {
        let cases: &[(&str, u32, u32)] = &[
            (
                "add v1.16b, v2.16b, v3.16b",
                0x4e23_8441,
                rrr(ADD, 0, 1, 2, 3),
            ),
            ("add v1.2d, v2.2d, v3.2d", 0x4ee3_8441, rrr(ADD, 3, 1, 2, 3)),
            (
                "sub v17.8h, v2.8h, v31.8h",
                0x6e7f_8451,
                rrr(SUB, 1, 17, 2, 31),
            ),
            ("mul v1.4s, v2.4s, v3.4s", 0x4ea3_9c41, rrr(MUL, 2, 1, 2, 3)),
            (
                "addp v1.4s, v2.4s, v3.4s",
                0x4ea3_bc41,
                rrr(ADDP, 2, 1, 2, 3),
            ),
            (
                "addp v1.8h, v2.8h, v3.8h",
                0x4e63_bc41,
                rrr(ADDP, 1, 1, 2, 3),
            ),
            (
                "sqadd v1.16b, v2.16b, v3.16b",
                0x4e23_0c41,
                rrr(SQADD, 0, 1, 2, 3),
            ),
            (
                "uqadd v1.8h, v2.8h, v3.8h",
                0x6e63_0c41,
                rrr(UQADD, 1, 1, 2, 3),
            ),
            (
                "sqsub v1.16b, v2.16b, v3.16b",
                0x4e23_2c41,
                rrr(SQSUB, 0, 1, 2, 3),
            ),
            (
                "uqsub v1.8h, v2.8h, v3.8h",
                0x6e63_2c41,
                rrr(UQSUB, 1, 1, 2, 3),
            ),
            (
                "urhadd v1.16b, v2.16b, v3.16b",
                0x6e23_1441,
                rrr(URHADD, 0, 1, 2, 3),
            ),
            (
                "smax v1.4s, v2.4s, v3.4s",
                0x4ea3_6441,
                rrr(SMAX, 2, 1, 2, 3),
            ),
            (
                "umax v1.16b, v2.16b, v3.16b",
                0x6e23_6441,
                rrr(UMAX, 0, 1, 2, 3),
            ),
            (
                "smin v1.8h, v2.8h, v3.8h",
                0x4e63_6c41,
                rrr(SMIN, 1, 1, 2, 3),
            ),
            (
                "umin v1.4s, v2.4s, v3.4s",
                0x6ea3_6c41,
                rrr(UMIN, 2, 1, 2, 3),
            ),
            (
                "cmeq v1.2d, v2.2d, v3.2d",
                0x6ee3_8c41,
                rrr(CMEQ, 3, 1, 2, 3),
            ),
            (
                "cmgt v1.16b, v2.16b, v3.16b",
                0x4e23_3441,
                rrr(CMGT, 0, 1, 2, 3),
            ),
            (
                "cmhi v1.8h, v2.8h, v3.8h",
                0x6e63_3441,
                rrr(CMHI, 1, 1, 2, 3),
            ),
            (
                "cmge v1.2d, v2.2d, v3.2d",
                0x4ee3_3c41,
                rrr(CMGE, 3, 1, 2, 3),
            ),
            (
                "cmhs v1.4s, v2.4s, v3.4s",
                0x6ea3_3c41,
                rrr(CMHS, 2, 1, 2, 3),
            ),
            (
                "sshl v1.16b, v2.16b, v3.16b",
                0x4e23_4441,
                rrr(SSHL, 0, 1, 2, 3),
            ),
            (
                "ushl v1.2d, v2.2d, v3.2d",
                0x6ee3_4441,
                rrr(USHL, 3, 1, 2, 3),
            ),
            (
                "sqrdmulh v1.8h, v2.8h, v3.8h",
                0x6e63_b441,
                rrr(SQRDMULH, 1, 1, 2, 3),
            ),
            (
                "and v1.16b, v2.16b, v3.16b",
                0x4e23_1c41,
                rrr(AND, 0, 1, 2, 3),
            ),
            (
                "bic v1.16b, v2.16b, v3.16b",
                0x4e63_1c41,
                rrr(BIC, 0, 1, 2, 3),
            ),
            (
                "orr v1.16b, v2.16b, v3.16b",
                0x4ea3_1c41,
                rrr(ORR, 0, 1, 2, 3),
            ),
            (
                "eor v1.16b, v2.16b, v3.16b",
                0x6e23_1c41,
                rrr(EOR, 0, 1, 2, 3),
            ),
            (
                "bit v1.16b, v2.16b, v3.16b",
                0x6ea3_1c41,
                rrr(BIT, 0, 1, 2, 3),
            ),
            (
                "bif v1.16b, v2.16b, v3.16b",
                0x6ee3_1c41,
                rrr(BIF, 0, 1, 2, 3),
            ),
            (
                "fadd v1.4s, v2.4s, v3.4s",
                0x4e23_d441,
                rrr(FADD, 0, 1, 2, 3),
            ),
            (
                "fadd v1.2d, v2.2d, v3.2d",
                0x4e63_d441,
                rrr(FADD, 1, 1, 2, 3),
            ),
            (
                "fsub v1.4s, v2.4s, v3.4s",
                0x4ea3_d441,
                rrr(FSUB, 0, 1, 2, 3),
            ),
            (
                "fsub v1.2d, v2.2d, v3.2d",
                0x4ee3_d441,
                rrr(FSUB, 1, 1, 2, 3),
            ),
            (
                "fmul v1.4s, v2.4s, v3.4s",
                0x6e23_dc41,
                rrr(FMUL, 0, 1, 2, 3),
            ),
            (
                "fmul v1.2d, v2.2d, v3.2d",
                0x6e63_dc41,
                rrr(FMUL, 1, 1, 2, 3),
            ),
            (
                "fdiv v1.2d, v2.2d, v3.2d",
                0x6e63_fc41,
                rrr(FDIV, 1, 1, 2, 3),
            ),
            (
                "fmax v1.4s, v2.4s, v3.4s",
                0x4e23_f441,
                rrr(FMAX, 0, 1, 2, 3),
            ),
            (
                "fmin v1.2d, v2.2d, v3.2d",
                0x4ee3_f441,
                rrr(FMIN, 1, 1, 2, 3),
            ),
            (
                "fcmeq v1.4s, v2.4s, v3.4s",
                0x4e23_e441,
                rrr(FCMEQ, 0, 1, 2, 3),
            ),
            (
                "fcmge v1.2d, v2.2d, v3.2d",
                0x6e63_e441,
                rrr(FCMGE, 1, 1, 2, 3),
            ),
            (
                "fcmgt v1.4s, v2.4s, v3.4s",
                0x6ea3_e441,
                rrr(FCMGT, 0, 1, 2, 3),
            ),
            (
                "fcmgt v1.2d, v2.2d, v3.2d",
                0x6ee3_e441,
                rrr(FCMGT, 1, 1, 2, 3),
            ),
            ("rev64 v1.4s, v2.4s", 0x4ea0_0841, rr(REV64, 2, 1, 2)),
            ("saddlp v1.8h, v2.16b", 0x4e20_2841, rr(SADDLP, 0, 1, 2)),
            ("uaddlp v1.4s, v2.8h", 0x6e60_2841, rr(UADDLP, 1, 1, 2)),
            ("cnt v1.16b, v2.16b", 0x4e20_5841, rr(CNT, 0, 1, 2)),
            ("mvn v1.16b, v2.16b", 0x6e20_5841, rr(NOT, 0, 1, 2)),
            ("cmeq v1.2d, v2.2d, #0", 0x4ee0_9841, rr(CMEQ0, 3, 1, 2)),
            ("abs v1.2d, v2.2d", 0x4ee0_b841, rr(ABS, 3, 1, 2)),
            ("neg v1.16b, v2.16b", 0x6e20_b841, rr(NEG, 0, 1, 2)),
            ("xtn v1.2s, v2.2d", 0x0ea1_2841, rr(XTN, 2, 1, 2)),
            ("sqxtn v1.8b, v2.8h", 0x0e21_4841, rr(SQXTN, 0, 1, 2)),
            ("sqxtn2 v1.16b, v2.8h", 0x4e21_4841, rr(SQXTN | Q, 0, 1, 2)),
            ("sqxtn v1.4h, v2.4s", 0x0e61_4841, rr(SQXTN, 1, 1, 2)),
            ("sqxtn v1.2s, v2.2d", 0x0ea1_4841, rr(SQXTN, 2, 1, 2)),
            ("sqxtun v1.8b, v2.8h", 0x2e21_2841, rr(SQXTUN, 0, 1, 2)),
            ("sqxtun2 v1.8h, v2.4s", 0x6e61_2841, rr(SQXTUN | Q, 1, 1, 2)),
            ("uqxtn v1.2s, v2.2d", 0x2ea1_4841, rr(UQXTN, 2, 1, 2)),
            ("shll v1.2d, v2.2s, #32", 0x2ea1_3841, rr(SHLL, 2, 1, 2)),
            ("fcvtn v1.2s, v2.2d", 0x0e61_6841, rr(FCVTN, 1, 1, 2)),
            ("fcvtl v1.2d, v2.2s", 0x0e61_7841, rr(FCVTL, 1, 1, 2)),
            ("frintn v1.4s, v2.4s", 0x4e21_8841, rr(FRINTN, 0, 1, 2)),
            ("frintm v1.2d, v2.2d", 0x4e61_9841, rr(FRINTM, 1, 1, 2)),
            ("frintp v1.4s, v2.4s", 0x4ea1_8841, rr(FRINTP, 0, 1, 2)),
            ("frintz v1.2d, v2.2d", 0x4ee1_9841, rr(FRINTZ, 1, 1, 2)),
            ("fcvtzs v1.4s, v2.4s", 0x4ea1_b841, rr(FCVTZS, 0, 1, 2)),
            ("fcvtzs v1.2d, v2.2d", 0x4ee1_b841, rr(FCVTZS, 1, 1, 2)),
            ("fcvtzu v1.4s, v2.4s", 0x6ea1_b841, rr(FCVTZU, 0, 1, 2)),
            ("fcvtzu v1.2d, v2.2d", 0x6ee1_b841, rr(FCVTZU, 1, 1, 2)),
            ("scvtf v1.4s, v2.4s", 0x4e21_d841, rr(SCVTF, 0, 1, 2)),
            ("scvtf v1.2d, v2.2d", 0x4e61_d841, rr(SCVTF, 1, 1, 2)),
            ("ucvtf v1.4s, v2.4s", 0x6e21_d841, rr(UCVTF, 0, 1, 2)),
            ("ucvtf v1.2d, v2.2d", 0x6e61_d841, rr(UCVTF, 1, 1, 2)),
            ("fabs v1.4s, v2.4s", 0x4ea0_f841, rr(FABS, 0, 1, 2)),
            ("fneg v1.2d, v2.2d", 0x6ee0_f841, rr(FNEG, 1, 1, 2)),
            ("fsqrt v1.4s, v2.4s", 0x6ea1_f841, rr(FSQRT, 0, 1, 2)),
            ("fsqrt v1.2d, v2.2d", 0x6ee1_f841, rr(FSQRT, 1, 1, 2)),
            (
                "smull v1.8h, v2.8b, v3.8b",
                0x0e23_c041,
                rrr(SMULL, 0, 1, 2, 3),
            ),
            (
                "smull2 v1.4s, v2.8h, v3.8h",
                0x4e63_c041,
                rrr(SMULL | Q, 1, 1, 2, 3),
            ),
            (
                "umull v1.2d, v2.2s, v3.2s",
                0x2ea3_c041,
                rrr(UMULL, 2, 1, 2, 3),
            ),
            (
                "umull2 v1.8h, v2.16b, v3.16b",
                0x6e23_c041,
                rrr(UMULL | Q, 0, 1, 2, 3),
            ),
            (
                "umlal v1.2d, v2.2s, v3.2s",
                0x2ea3_8041,
                rrr(UMLAL, 2, 1, 2, 3),
            ),
            ("umaxv s1, v2.4s", 0x6eb0_a841, rr(UMAXV, 2, 1, 2)),
            ("uminv b1, v2.16b", 0x6e31_a841, rr(UMINV, 0, 1, 2)),
            ("uminv h1, v2.8h", 0x6e71_a841, rr(UMINV, 1, 1, 2)),
            ("uminv s1, v2.4s", 0x6eb1_a841, rr(UMINV, 2, 1, 2)),
            (
                "shl v1.16b, v2.16b, #3",
                0x4f0b_5441,
                shift_imm(ShiftImm::Shl, 0, 1, 2, 3),
            ),
            (
                "shl v1.2d, v2.2d, #63",
                0x4f7f_5441,
                shift_imm(ShiftImm::Shl, 3, 1, 2, 63),
            ),
            (
                "sshr v1.8h, v2.8h, #15",
                0x4f11_0441,
                shift_imm(ShiftImm::Sshr, 1, 1, 2, 15),
            ),
            (
                "sshr v1.2d, v2.2d, #1",
                0x4f7f_0441,
                shift_imm(ShiftImm::Sshr, 3, 1, 2, 1),
            ),
            (
                "ushr v1.4s, v2.4s, #31",
                0x6f21_0441,
                shift_imm(ShiftImm::Ushr, 2, 1, 2, 31),
            ),
            (
                "ushr v1.16b, v2.16b, #7",
                0x6f09_0441,
                shift_imm(ShiftImm::Ushr, 0, 1, 2, 7),
            ),
            (
                "sxtl v1.8h, v2.8b",
                0x0f08_a441,
                shift_imm(ShiftImm::Sxtl, 0, 1, 2, 0),
            ),
            (
                "sxtl2 v1.2d, v2.4s",
                0x4f20_a441,
                shift_imm(ShiftImm::Sxtl, 2, 1, 2, 0) | Q,
            ),
            (
                "uxtl v1.4s, v2.4h",
                0x2f10_a441,
                shift_imm(ShiftImm::Uxtl, 1, 1, 2, 0),
            ),
            (
                "uxtl2 v1.8h, v2.16b",
                0x6f08_a441,
                shift_imm(ShiftImm::Uxtl, 0, 1, 2, 0) | Q,
            ),
            (
                "tbl v1.16b, {v2.16b}, v3.16b",
                0x4e03_0041,
                tbl(false, 1, 2, 3),
            ),
            (
                "tbx v1.16b, {v31.16b}, v3.16b",
                0x4e03_13e1,
                tbl(true, 1, 31, 3),
            ),
            ("dup v1.16b, w2", 0x4e01_0c41, dup_bytes(1, 2)),
            ("movi v1.16b, #0x10", 0x4f00_e601, movi_bytes(1, 0x10)),
            ("movi v31.16b, #0xff", 0x4f07_e7ff, movi_bytes(31, 0xff)),
            ("fmov w1, s2", 0x1e26_0041, fmov_to_general(1, 2)),
            ("cmp w3, #0", 0x7100_007f, cmp_zero(3)),
            ("cset w1, ne", 0x1a9f_07e1, cset(false, 1)),
            ("cset w1, eq", 0x1a9f_17e1, cset(true, 1)),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .filter(|(_, expected, actual)| actual != expected)
            .map(|(source, expected, actual)| {
                format!("{source}: {actual:#010x}, not {expected:#010x}")
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
