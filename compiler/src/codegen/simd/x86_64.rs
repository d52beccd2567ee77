//! x86-64 SIMD lowerings: SSE2 to SSE4.2 instructions on xmm registers.
//!
//! SSE instructions are destructive (`dst = dst op src`), which is why
//! every lowering gets its destination already holding the first operand.
//! The sequences for float min/max, the unsigned conversions and the
//! saturating truncations follow Cranelift's x64 lowerings.

use sljit_sys::{SLJIT_ADD32, SLJIT_LSHR32, SLJIT_SHL32};

use super::{Binary, Lanes, Shift, ShiftCount, Temps, Ternary, Test, Unary};
use crate::codegen::x86_64::sse;
use crate::codegen::ModuleCompiler;
use crate::emitter::{FReg, Operand, Reg, R0, R1};

/// Emits SSE instructions on float registers; constants come from the
/// chunk's pool (`ModuleCompiler::vector_const`).
struct Asm<'a, 'm> {
    m: &'a mut ModuleCompiler<'m>,
}

/// `pcmpeqb`/`w`/`d`/`q` for each lane width.
const PCMPEQ: [&[u8]; 4] = [&[0x74], &[0x75], &[0x76], &[0x38, 0x29]];
/// `pcmpgtb`/`w`/`d`/`q`.
const PCMPGT: [&[u8]; 4] = [&[0x64], &[0x65], &[0x66], &[0x38, 0x37]];
const PADD: [&[u8]; 4] = [&[0xfc], &[0xfd], &[0xfe], &[0xd4]];
const PSUB: [&[u8]; 4] = [&[0xf8], &[0xf9], &[0xfa], &[0xfb]];
/// `pminu*`/`pmaxu*` for 8, 16 and 32-bit lanes.
const PMINU: [&[u8]; 3] = [&[0xda], &[0x38, 0x3a], &[0x38, 0x3b]];
const PMAXU: [&[u8]; 3] = [&[0xde], &[0x38, 0x3e], &[0x38, 0x3f]];
/// `cmpps`/`cmppd` predicates.
const CMP_EQ: u8 = 0;
const CMP_LT: u8 = 1;
const CMP_LE: u8 = 2;
const CMP_UNORD: u8 = 3;
const CMP_NEQ: u8 = 4;

impl Asm<'_, '_> {
    fn x(&self, r: FReg) -> i32 {
        self.m.e.float_machine_index(r)
    }

    /// `66 0F opcode /r`: an integer (or double) instruction.
    fn op(&mut self, opcode: &[u8], dst: FReg, src: FReg) {
        let bytes = sse(Some(0x66), opcode, self.x(dst), self.x(src), None);
        self.m.e.custom(&bytes);
    }

    /// `0F opcode /r`: a single-precision instruction (no prefix).
    fn ps(&mut self, opcode: u8, dst: FReg, src: FReg) {
        let bytes = sse(None, &[opcode], self.x(dst), self.x(src), None);
        self.m.e.custom(&bytes);
    }

    /// A float instruction for `lanes`: `ps` for F32, `66`-prefixed for F64.
    fn float(&mut self, lanes: Lanes, opcode: u8, dst: FReg, src: FReg) {
        match lanes {
            Lanes::F32 => self.ps(opcode, dst, src),
            _ => self.op(&[opcode], dst, src),
        }
    }

    /// `cmpps`/`cmppd dst, src, predicate`.
    fn cmp(&mut self, lanes: Lanes, predicate: u8, dst: FReg, src: FReg) {
        let prefix = (lanes == Lanes::F64).then_some(0x66);
        let bytes = sse(prefix, &[0xc2], self.x(dst), self.x(src), Some(predicate));
        self.m.e.custom(&bytes);
    }

    /// `66 0F opcode /r ib`.
    fn op_imm(&mut self, opcode: &[u8], dst: FReg, src: FReg, imm: u8) {
        let bytes = sse(Some(0x66), opcode, self.x(dst), self.x(src), Some(imm));
        self.m.e.custom(&bytes);
    }

    /// A shift by an immediate: `66 0F group /extension ib`.
    fn shift_imm(&mut self, group: u8, extension: i32, dst: FReg, imm: u8) {
        let bytes = sse(Some(0x66), &[group], extension, self.x(dst), Some(imm));
        self.m.e.custom(&bytes);
    }

    fn psrl_imm(&mut self, lanes: Lanes, dst: FReg, imm: u8) {
        let group = [0x71, 0x71, 0x72, 0x73][lanes.log2_bytes() as usize];
        self.shift_imm(group, 2, dst, imm);
    }

    fn psll_imm(&mut self, lanes: Lanes, dst: FReg, imm: u8) {
        let group = [0x71, 0x71, 0x72, 0x73][lanes.log2_bytes() as usize];
        self.shift_imm(group, 6, dst, imm);
    }

    fn psra_imm(&mut self, lanes: Lanes, dst: FReg, imm: u8) {
        let group = [0x71, 0x71, 0x72][lanes.log2_bytes() as usize];
        self.shift_imm(group, 4, dst, imm);
    }

    /// `movdqa dst, src` (nothing when they are the same register).
    fn mov(&mut self, dst: FReg, src: FReg) {
        if dst != src {
            self.op(&[0x6f], dst, src);
        }
    }

    /// `pshufd dst, src, order`.
    fn pshufd(&mut self, dst: FReg, src: FReg, order: u8) {
        self.op_imm(&[0x70], dst, src, order);
    }

    fn zero(&mut self, dst: FReg) {
        self.op(&[0xef], dst, dst);
    }

    fn ones(&mut self, dst: FReg) {
        self.op(&[0x76], dst, dst);
    }

    /// `dst = !dst`, clobbering `temp`.
    fn not(&mut self, dst: FReg, temp: FReg) {
        self.ones(temp);
        self.op(&[0xef], dst, temp);
    }

    /// `pmovsx`/`pmovzx` from lanes of `from` to twice their width.
    fn extend(&mut self, from: Lanes, signed: bool, dst: FReg, src: FReg) {
        let opcode = match (from, signed) {
            (Lanes::I8, true) => 0x20,
            (Lanes::I16, true) => 0x23,
            (Lanes::I32, true) => 0x25,
            (Lanes::I8, false) => 0x30,
            (Lanes::I16, false) => 0x33,
            _ => 0x35,
        };
        self.op(&[0x38, opcode], dst, src);
    }

    /// `dst = (dst == b)` lane-wise for integer lanes.
    fn pcmpeq(&mut self, lanes: Lanes, dst: FReg, b: FReg) {
        self.op(PCMPEQ[lanes.log2_bytes() as usize], dst, b);
    }

    fn pcmpgt(&mut self, lanes: Lanes, dst: FReg, b: FReg) {
        self.op(PCMPGT[lanes.log2_bytes() as usize], dst, b);
    }

    /// A general register to the low 32 bits of `dst` (the rest cleared).
    fn movd_from(&mut self, dst: FReg, src: Reg) {
        self.m
            .e
            .vec_lane(false, 2, false, true, dst, 0, Operand::reg(src));
    }
}

pub fn binary(m: &mut ModuleCompiler<'_>, op: Binary, dst: FReg, b: FReg, t: Temps) {
    use Binary::*;
    let mut a = Asm { m };
    let (t0, t2) = (t.t0, t.t2);
    let lane = |l: Lanes| l.log2_bytes() as usize;
    match op {
        Add(l) if l.is_float() => a.float(l, 0x58, dst, b),
        Add(l) => a.op(PADD[lane(l)], dst, b),
        Sub(l) if l.is_float() => a.float(l, 0x5c, dst, b),
        Sub(l) => a.op(PSUB[lane(l)], dst, b),
        Mul(l) if l.is_float() => a.float(l, 0x59, dst, b),
        Mul(Lanes::I16) => a.op(&[0xd5], dst, b),
        Mul(Lanes::I32) => a.op(&[0x38, 0x40], dst, b),
        Mul(_) => {
            // (a_hi * b_lo + b_hi * a_lo) << 32 + a_lo * b_lo.
            a.mov(t0, dst);
            a.psrl_imm(Lanes::I64, t0, 32);
            a.op(&[0xf4], t0, b);
            a.mov(t2, b);
            a.psrl_imm(Lanes::I64, t2, 32);
            a.op(&[0xf4], t2, dst);
            a.op(&[0xd4], t0, t2);
            a.psll_imm(Lanes::I64, t0, 32);
            a.op(&[0xf4], dst, b);
            a.op(&[0xd4], dst, t0);
        }
        Div(l) => a.float(l, 0x5e, dst, b),
        AddSatS(l) => a.op(&[[0xec, 0xed][lane(l)]], dst, b),
        AddSatU(l) => a.op(&[[0xdc, 0xdd][lane(l)]], dst, b),
        SubSatS(l) => a.op(&[[0xe8, 0xe9][lane(l)]], dst, b),
        SubSatU(l) => a.op(&[[0xd8, 0xd9][lane(l)]], dst, b),
        MinS(l) => a.op([&[0x38, 0x38][..], &[0xea], &[0x38, 0x39]][lane(l)], dst, b),
        MinU(l) => a.op(PMINU[lane(l)], dst, b),
        MaxS(l) => a.op([&[0x38, 0x3c][..], &[0xee], &[0x38, 0x3d]][lane(l)], dst, b),
        MaxU(l) => a.op(PMAXU[lane(l)], dst, b),
        AvgrU(l) => a.op(&[[0xe0, 0xe3][lane(l)]], dst, b),
        Min(l) => {
            // Both orders, so that a NaN or -0 in either operand shows.
            a.mov(t0, b);
            a.float(l, 0x5d, t0, dst);
            a.float(l, 0x5d, dst, b);
            a.float(l, 0x56, dst, t0);
            a.cmp(l, CMP_UNORD, t0, dst);
            a.float(l, 0x56, dst, t0);
            quiet_nan_mask(&mut a, l, t0);
            a.float(l, 0x55, t0, dst);
            a.mov(dst, t0);
        }
        Max(l) => {
            a.mov(t0, b);
            a.float(l, 0x5f, t0, dst);
            a.float(l, 0x5f, dst, b);
            a.float(l, 0x57, t0, dst);
            a.float(l, 0x56, dst, t0);
            a.mov(t2, dst);
            a.cmp(l, CMP_UNORD, t2, t2);
            a.float(l, 0x5c, dst, t0);
            quiet_nan_mask(&mut a, l, t2);
            a.float(l, 0x55, t2, dst);
            a.mov(dst, t2);
        }
        // `minps b, a` is `b < a ? b : a`: pmin exactly.
        PMin(l) => {
            a.mov(t0, b);
            a.float(l, 0x5d, t0, dst);
            a.mov(dst, t0);
        }
        PMax(l) => {
            a.mov(t0, b);
            a.float(l, 0x5f, t0, dst);
            a.mov(dst, t0);
        }
        Eq(l) if l.is_float() => a.cmp(l, CMP_EQ, dst, b),
        Eq(l) => a.pcmpeq(l, dst, b),
        Ne(l) if l.is_float() => a.cmp(l, CMP_NEQ, dst, b),
        Ne(l) => {
            a.pcmpeq(l, dst, b);
            a.not(dst, t0);
        }
        Lt(l) if l.is_float() => a.cmp(l, CMP_LT, dst, b),
        Le(l) if l.is_float() => a.cmp(l, CMP_LE, dst, b),
        Gt(l) | Ge(l) if l.is_float() => {
            let predicate = if matches!(op, Gt(_)) { CMP_LT } else { CMP_LE };
            a.mov(t0, b);
            a.cmp(l, predicate, t0, dst);
            a.mov(dst, t0);
        }
        Gt(l) => a.pcmpgt(l, dst, b),
        Lt(l) => {
            a.mov(t0, b);
            a.pcmpgt(l, t0, dst);
            a.mov(dst, t0);
        }
        Le(l) => {
            a.pcmpgt(l, dst, b);
            a.not(dst, t0);
        }
        Ge(l) => {
            a.mov(t0, b);
            a.pcmpgt(l, t0, dst);
            a.ones(dst);
            a.op(&[0xef], dst, t0);
        }
        // Unsigned: a >= b exactly when max(a, b) == a.
        GeU(l) | LtU(l) => {
            a.mov(t0, dst);
            a.op(PMAXU[lane(l)], t0, b);
            a.pcmpeq(l, dst, t0);
            if matches!(op, LtU(_)) {
                a.not(dst, t0);
            }
        }
        LeU(l) | GtU(l) => {
            a.mov(t0, dst);
            a.op(PMINU[lane(l)], t0, b);
            a.pcmpeq(l, dst, t0);
            if matches!(op, GtU(_)) {
                a.not(dst, t0);
            }
        }
        And => a.op(&[0xdb], dst, b),
        Or => a.op(&[0xeb], dst, b),
        Xor => a.op(&[0xef], dst, b),
        AndNot => {
            // `pandn t0, a` is `!t0 & a`.
            a.mov(t0, b);
            a.op(&[0xdf], t0, dst);
            a.mov(dst, t0);
        }
        NarrowS(Lanes::I8) => a.op(&[0x63], dst, b),
        NarrowU(Lanes::I8) => a.op(&[0x67], dst, b),
        NarrowS(_) => a.op(&[0x6b], dst, b),
        NarrowU(_) => a.op(&[0x38, 0x2b], dst, b),
        Q15MulrSat => {
            // `pmulhrsw` gives 0x8000 for 0x8000 * 0x8000, which saturates.
            a.op(&[0x38, 0x0b], dst, b);
            a.ones(t0);
            a.psll_imm(Lanes::I16, t0, 15);
            a.op(&[0x75], t0, dst);
            a.op(&[0xef], dst, t0);
        }
        Dot => a.op(&[0xf5], dst, b),
        DotI8 => {
            // Signed products of each half, then `phaddw` adds the pairs.
            a.extend(Lanes::I8, true, t0, dst);
            a.extend(Lanes::I8, true, t2, b);
            a.op(&[0xd5], t0, t2);
            a.pshufd(dst, dst, 0xee);
            a.extend(Lanes::I8, true, dst, dst);
            a.pshufd(t2, b, 0xee);
            a.extend(Lanes::I8, true, t2, t2);
            a.op(&[0xd5], dst, t2);
            a.op(&[0x38, 0x01], t0, dst);
            a.mov(dst, t0);
        }
        ExtMul { to, high, signed } => match to {
            Lanes::I16 => {
                if high {
                    a.pshufd(t0, b, 0xee);
                    a.pshufd(dst, dst, 0xee);
                    a.extend(Lanes::I8, signed, t0, t0);
                } else {
                    a.extend(Lanes::I8, signed, t0, b);
                }
                a.extend(Lanes::I8, signed, dst, dst);
                a.op(&[0xd5], dst, t0);
            }
            Lanes::I32 => {
                // Low and high 16 bits of each product, interleaved.
                a.mov(t0, dst);
                a.op(&[0xd5], t0, b);
                a.op(&[if signed { 0xe5 } else { 0xe4 }], dst, b);
                a.op(&[if high { 0x69 } else { 0x61 }], t0, dst);
                a.mov(dst, t0);
            }
            _ => {
                let order = if high { 0xfa } else { 0x50 };
                a.pshufd(t0, b, order);
                a.pshufd(dst, dst, order);
                if signed {
                    a.op(&[0x38, 0x28], dst, t0);
                } else {
                    a.op(&[0xf4], dst, t0);
                }
            }
        },
        Swizzle => {
            // Indices above 15 saturate to 0x80 and up: `pshufb` zeroes those.
            a.m.vector_const(t0, u128::from_le_bytes([0x70; 16]));
            a.op(&[0xdc], t0, b);
            a.op(&[0x38, 0x00], dst, t0);
        }
    }
}

/// `mask` (all ones in NaN lanes) becomes ones in every bit but the sign,
/// exponent and quiet bit: `andn` with it keeps a canonical quiet NaN.
fn quiet_nan_mask(a: &mut Asm<'_, '_>, lanes: Lanes, mask: FReg) {
    if lanes == Lanes::F32 {
        a.psrl_imm(Lanes::I32, mask, 10);
    } else {
        a.psrl_imm(Lanes::I64, mask, 13);
    }
}

pub fn unary(m: &mut ModuleCompiler<'_>, op: Unary, dst: FReg, src: FReg, t: Temps) {
    use Unary::*;
    let mut a = Asm { m };
    let (t0, t2) = (t.t0, t.t2);
    match op {
        Not => {
            a.mov(dst, src);
            a.not(dst, t0);
        }
        Abs(Lanes::I64) => {
            // (x ^ s) - s with s the sign of each lane.
            a.mov(t0, src);
            a.psra_imm(Lanes::I32, t0, 31);
            a.pshufd(t0, t0, 0xf5);
            a.mov(dst, src);
            a.op(&[0xef], dst, t0);
            a.op(&[0xfb], dst, t0);
        }
        Abs(l) if l.is_float() => {
            a.ones(t0);
            a.psrl_imm(
                if l == Lanes::F32 {
                    Lanes::I32
                } else {
                    Lanes::I64
                },
                t0,
                1,
            );
            a.mov(dst, src);
            a.float(l, 0x54, dst, t0);
        }
        Abs(l) => a.op(&[0x38, 0x1c + l.log2_bytes() as u8], dst, src),
        Neg(l) if l.is_float() => {
            a.ones(t0);
            if l == Lanes::F32 {
                a.psll_imm(Lanes::I32, t0, 31);
            } else {
                a.psll_imm(Lanes::I64, t0, 63);
            }
            a.mov(dst, src);
            a.float(l, 0x57, dst, t0);
        }
        Neg(l) => {
            a.mov(t0, src);
            a.zero(dst);
            a.op(PSUB[l.log2_bytes() as usize], dst, t0);
        }
        Popcnt => {
            // Each nibble's count from a 16-entry table (`pshufb`).
            const COUNTS: u128 = 0x0403_0302_0302_0201_0302_0201_0201_0100;
            a.m.vector_const(t0, u128::from_le_bytes([0x0f; 16]));
            a.mov(t2, src);
            a.psrl_imm(Lanes::I16, t2, 4);
            a.op(&[0xdb], t2, t0);
            a.mov(dst, src);
            a.op(&[0xdb], dst, t0);
            a.m.vector_const(t0, COUNTS);
            a.op(&[0x38, 0x00], t0, dst);
            a.m.vector_const(dst, COUNTS);
            a.op(&[0x38, 0x00], dst, t2);
            a.op(&[0xfc], dst, t0);
        }
        Sqrt(l) => a.float(l, 0x51, dst, src),
        Ceil(l) | Floor(l) | Trunc(l) | Nearest(l) => {
            let mode = match op {
                Nearest(_) => 0,
                Floor(_) => 1,
                Ceil(_) => 2,
                _ => 3,
            };
            let opcode = if l == Lanes::F32 { 0x08 } else { 0x09 };
            a.op_imm(&[0x3a, opcode], dst, src, mode);
        }
        ConvertI32 { signed: true } => a.ps(0x5b, dst, src),
        ConvertI32 { signed: false } => {
            // The low 16 bits convert exactly; the rest is halved,
            // converted and doubled.
            a.mov(t0, src);
            a.psll_imm(Lanes::I32, t0, 16);
            a.psrl_imm(Lanes::I32, t0, 16);
            a.mov(dst, src);
            a.op(&[0xfa], dst, t0);
            a.ps(0x5b, t0, t0);
            a.psrl_imm(Lanes::I32, dst, 1);
            a.ps(0x5b, dst, dst);
            a.ps(0x58, dst, dst);
            a.ps(0x58, dst, t0);
        }
        ConvertLowI32 { signed: true } => {
            let bytes = sse(Some(0xf3), &[0xe6], a.x(dst), a.x(src), None);
            a.m.e.custom(&bytes);
        }
        ConvertLowI32 { signed: false } => {
            // 2^52 + x as a double's bits, minus 2^52.
            a.m.vector_const(t0, splat32(0x4330_0000));
            a.mov(dst, src);
            a.ps(0x14, dst, t0);
            a.m.vector_const(t0, splat64(0x4330_0000_0000_0000));
            a.op(&[0x5c], dst, t0);
        }
        TruncSatF32 { signed: true } => {
            a.mov(t0, src);
            a.cmp(Lanes::F32, CMP_EQ, t0, t0);
            a.mov(dst, src);
            a.ps(0x54, dst, t0);
            a.op(&[0xef], t0, dst);
            cvttps2dq(&mut a, dst, dst);
            a.op(&[0xdb], t0, dst);
            a.psra_imm(Lanes::I32, t0, 31);
            a.op(&[0xef], dst, t0);
        }
        TruncSatF32 { signed: false } => {
            a.zero(t2);
            a.mov(dst, src);
            a.ps(0x5f, dst, t2);
            a.ones(t2);
            a.psrl_imm(Lanes::I32, t2, 1);
            a.ps(0x5b, t2, t2);
            a.mov(t0, dst);
            cvttps2dq(&mut a, dst, dst);
            a.ps(0x5c, t0, t2);
            a.cmp(Lanes::F32, CMP_LE, t2, t0);
            cvttps2dq(&mut a, t0, t0);
            a.op(&[0xef], t0, t2);
            a.zero(t2);
            a.op(&[0x38, 0x3d], t0, t2);
            a.op(&[0xfe], dst, t0);
        }
        TruncSatF64Zero { signed: true } => {
            a.mov(t0, src);
            a.cmp(Lanes::F64, CMP_EQ, t0, t0);
            a.m.vector_const(t2, splat64(2147483647.0f64.to_bits()));
            a.op(&[0x54], t0, t2);
            a.mov(dst, src);
            a.op(&[0x5d], dst, t0);
            a.op(&[0xe6], dst, dst);
        }
        TruncSatF64Zero { signed: false } => {
            a.zero(t0);
            a.mov(dst, src);
            a.op(&[0x5f], dst, t0);
            a.m.vector_const(t2, splat64(4294967295.0f64.to_bits()));
            a.op(&[0x5d], dst, t2);
            a.op_imm(&[0x3a, 0x09], dst, dst, 3);
            a.m.vector_const(t2, splat64(0x4330_0000_0000_0000));
            a.op(&[0x58], dst, t2);
            let bytes = sse(None, &[0xc6], a.x(dst), a.x(t0), Some(0x88));
            a.m.e.custom(&bytes);
        }
        Demote => a.op(&[0x5a], dst, src),
        Promote => a.ps(0x5a, dst, src),
        Extend { to, high, signed } => {
            let from = match to {
                Lanes::I16 => Lanes::I8,
                Lanes::I32 => Lanes::I16,
                _ => Lanes::I32,
            };
            if high {
                a.pshufd(dst, src, 0xee);
                a.extend(from, signed, dst, dst);
            } else {
                a.extend(from, signed, dst, src);
            }
        }
        ExtAddPairwise {
            to: Lanes::I16,
            signed,
        } => {
            // `pmaddubsw` multiplies unsigned bytes by signed bytes.
            a.ones(t0);
            a.op(&[0x38, 0x1c], t0, t0);
            if signed {
                a.op(&[0x38, 0x04], t0, src);
                a.mov(dst, t0);
            } else {
                a.mov(dst, src);
                a.op(&[0x38, 0x04], dst, t0);
            }
        }
        ExtAddPairwise { signed, .. } => {
            a.mov(dst, src);
            if !signed {
                // Bias to signed, and add the bias of two lanes back.
                a.ones(t0);
                a.psll_imm(Lanes::I16, t0, 15);
                a.op(&[0xef], dst, t0);
            }
            a.ones(t0);
            a.psrl_imm(Lanes::I16, t0, 15);
            a.op(&[0xf5], dst, t0);
            if !signed {
                a.ones(t0);
                a.psrl_imm(Lanes::I32, t0, 31);
                a.psll_imm(Lanes::I32, t0, 16);
                a.op(&[0xfe], dst, t0);
            }
        }
    }
}

fn cvttps2dq(a: &mut Asm<'_, '_>, dst: FReg, src: FReg) {
    let bytes = sse(Some(0xf3), &[0x5b], a.x(dst), a.x(src), None);
    a.m.e.custom(&bytes);
}

fn splat32(value: u32) -> u128 {
    u128::from_le_bytes(
        [value.to_le_bytes(); 4]
            .concat()
            .try_into()
            .expect("16 bytes"),
    )
}

fn splat64(value: u64) -> u128 {
    (value as u128) | (value as u128) << 64
}

pub fn ternary(m: &mut ModuleCompiler<'_>, op: Ternary, dst: FReg, b: FReg, c: FReg, temp: FReg) {
    let mut a = Asm { m };
    match op {
        Ternary::Bitselect => {
            // ((a ^ b) & c) ^ b.
            a.op(&[0xef], dst, b);
            a.op(&[0xdb], dst, c);
            a.op(&[0xef], dst, b);
        }
        Ternary::Madd(l) => {
            a.float(l, 0x59, dst, b);
            a.float(l, 0x58, dst, c);
        }
        Ternary::Nmadd(l) => {
            a.float(l, 0x59, dst, b);
            a.mov(temp, c);
            a.float(l, 0x5c, temp, dst);
            a.mov(dst, temp);
        }
    }
}

pub fn shift(
    m: &mut ModuleCompiler<'_>,
    op: Shift,
    lanes: Lanes,
    dst: FReg,
    count: ShiftCount,
    t: Temps,
) {
    let mut a = Asm { m };
    let (t0, t2) = (t.t0, t.t2);
    let log2 = lanes.log2_bytes() as usize;
    if let ShiftCount::Imm(0) = count {
        return;
    }
    match (lanes, op) {
        (Lanes::I8, Shift::ShrS) => {
            // Each byte in the high half of a word, shifted 8 more.
            a.mov(t0, dst);
            a.op(&[0x68], t0, t0);
            a.op(&[0x60], dst, dst);
            match count {
                ShiftCount::Imm(n) => {
                    a.psra_imm(Lanes::I16, t0, n as u8 + 8);
                    a.psra_imm(Lanes::I16, dst, n as u8 + 8);
                }
                ShiftCount::Reg => {
                    a.m.e.op2(
                        SLJIT_ADD32,
                        Operand::reg(R0),
                        Operand::reg(R0),
                        Operand::imm(8),
                    );
                    a.movd_from(t2, R0);
                    a.op(&[0xe1], t0, t2);
                    a.op(&[0xe1], dst, t2);
                }
            }
            a.op(&[0x63], dst, t0);
        }
        (Lanes::I8, _) => {
            // A 16-bit shift, then the bits that crossed bytes cleared.
            let left = op == Shift::Shl;
            match count {
                ShiftCount::Imm(n) => {
                    if left {
                        a.psll_imm(Lanes::I16, dst, n as u8);
                    } else {
                        a.psrl_imm(Lanes::I16, dst, n as u8);
                    }
                    let mask = if left { 0xffu8 << n } else { 0xff >> n };
                    a.m.vector_const(t0, u128::from_le_bytes([mask; 16]));
                }
                ShiftCount::Reg => {
                    a.movd_from(t2, R0);
                    a.op(&[if left { 0xf1 } else { 0xd1 }], dst, t2);
                    let op = if left { SLJIT_SHL32 } else { SLJIT_LSHR32 };
                    a.m.e
                        .op2(op, Operand::reg(R1), Operand::imm(0xff), Operand::reg(R0));
                    a.m.e.vec_splat(0, false, t0, Operand::reg(R1));
                }
            }
            a.op(&[0xdb], dst, t0);
        }
        (Lanes::I64, Shift::ShrS) => {
            // ((x >>u n) ^ m) - m with m = sign bit >>u n.
            match count {
                ShiftCount::Imm(n) => {
                    a.m.vector_const(t0, splat64((1u64 << 63) >> n));
                    a.psrl_imm(Lanes::I64, dst, n as u8);
                }
                ShiftCount::Reg => {
                    a.movd_from(t2, R0);
                    a.m.vector_const(t0, splat64(1 << 63));
                    a.op(&[0xd3], t0, t2);
                    a.op(&[0xd3], dst, t2);
                }
            }
            a.op(&[0xef], dst, t0);
            a.op(&[0xfb], dst, t0);
        }
        _ => match count {
            ShiftCount::Imm(n) => match op {
                Shift::Shl => a.psll_imm(lanes, dst, n as u8),
                Shift::ShrU => a.psrl_imm(lanes, dst, n as u8),
                Shift::ShrS => a.psra_imm(lanes, dst, n as u8),
            },
            ShiftCount::Reg => {
                a.movd_from(t2, R0);
                let opcode = match op {
                    Shift::Shl => [0xf1, 0xf1, 0xf2, 0xf3][log2],
                    Shift::ShrU => [0xd1, 0xd1, 0xd2, 0xd3][log2],
                    Shift::ShrS => [0xe1, 0xe1, 0xe2][log2],
                };
                a.op(&[opcode], dst, t2);
            }
        },
    }
}

pub fn test(m: &mut ModuleCompiler<'_>, op: Test, dst: Reg, src: FReg, t: Temps) {
    let mut a = Asm { m };
    // `setnz` for any_true, `setz` for all_true (no lane equal to zero).
    let setcc = match op {
        Test::AnyTrue => {
            a.op(&[0x38, 0x17], src, src);
            0x95
        }
        Test::AllTrue(l) => {
            a.zero(t.t0);
            a.pcmpeq(l, t.t0, src);
            a.op(&[0x38, 0x17], t.t0, t.t0);
            0x94
        }
        Test::Bitmask(_) => unreachable!("SLJIT's simd_sign"),
    };
    let r = a.m.e.machine_index(dst) as u8;
    let rex_b = 0x40 | (r >> 3);
    let rex_rb = 0x40 | ((r >> 3) << 2) | (r >> 3);
    let modrm = 0xc0 | ((r & 7) << 3) | (r & 7);
    a.m.e.custom(&[rex_b, 0x0f, setcc, 0xc0 | (r & 7)]);
    a.m.e.custom(&[rex_rb, 0x0f, 0xb6, modrm]);
}

pub fn shuffle(m: &mut ModuleCompiler<'_>, dst: FReg, b: FReg, lanes: [u8; 16], t: Temps) {
    let mut a = Asm { m };
    let pick = |from_b: bool| {
        u128::from_le_bytes(lanes.map(|l| match (l < 16, from_b) {
            (true, false) => l,
            (false, true) => l - 16,
            _ => 0x80,
        }))
    };
    let from_a = lanes.iter().any(|&l| l < 16);
    let from_b = lanes.iter().any(|&l| l >= 16);
    if from_b {
        a.m.vector_const(t.t0, pick(true));
        a.mov(t.t2, b);
        a.op(&[0x38, 0x00], t.t2, t.t0);
    }
    if from_a {
        a.m.vector_const(t.t0, pick(false));
        a.op(&[0x38, 0x00], dst, t.t0);
        if from_b {
            a.op(&[0xeb], dst, t.t2);
        }
    } else {
        a.mov(dst, t.t2);
    }
}
