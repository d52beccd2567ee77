//! aarch64 SIMD lowerings (NEON).

use super::{Binary, Lanes, Shift, ShiftCount, Temps, Ternary, Test, Unary};
use crate::emitter::{Emitter, FReg, Reg};

const NOT_YET: &str = "SIMD operator";

pub fn binary(e: &mut Emitter, _op: Binary, _dst: FReg, _b: FReg, _t: Temps) {
    e.simd_unsupported(NOT_YET);
}

pub fn unary(e: &mut Emitter, _op: Unary, _dst: FReg, _src: FReg, _t: Temps) {
    e.simd_unsupported(NOT_YET);
}

pub fn ternary(e: &mut Emitter, _op: Ternary, _dst: FReg, _b: FReg, _c: FReg, _temp: FReg) {
    e.simd_unsupported(NOT_YET);
}

pub fn shift(
    e: &mut Emitter,
    _op: Shift,
    _lanes: Lanes,
    _dst: FReg,
    _count: ShiftCount,
    _t: Temps,
) {
    e.simd_unsupported(NOT_YET);
}

pub fn test(e: &mut Emitter, _op: Test, _dst: Reg, _src: FReg, _t: Temps) {
    e.simd_unsupported(NOT_YET);
}

pub fn shuffle(e: &mut Emitter, _dst: FReg, _b: FReg, _lanes: [u8; 16], _t: Temps) {
    e.simd_unsupported(NOT_YET);
}
