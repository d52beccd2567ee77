//! Operations SLJIT lacks, for the operator families: each picks its
//! target's instructions from `x86_64.rs` or `aarch64.rs` (the only
//! files that encode bytes), so that no operator file knows the
//! architecture.

use vibewasm_format::{cpu, Arch};

use super::{aarch64, x86_64, ModuleCompiler};
use crate::emitter::{FReg, Reg};

/// A wasm float rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    Ceil,
    Floor,
    Trunc,
    /// To nearest, ties to even.
    Nearest,
}

impl ModuleCompiler<'_> {
    /// `dst = sqrt(dst)`.
    pub fn float_sqrt(&mut self, is_f32: bool, dst: FReg) {
        let d = self.e.float_machine_index(dst);
        match self.e.arch() {
            Arch::X86_64 => {
                let prefix = x86_64::scalar_prefix(is_f32);
                self.e
                    .custom(&x86_64::sse(Some(prefix), &[0x51], d, d, None));
            }
            Arch::Aarch64 => {
                self.e
                    .custom(&aarch64::float_unary(aarch64::FSQRT, is_f32, d, d));
            }
        }
    }

    /// `dst = round(dst)` as `mode` says. x86-64: `roundss`/`roundsd`
    /// (SSE4.1, required by the artifact).
    pub fn float_round(&mut self, mode: Rounding, is_f32: bool, dst: FReg) {
        let d = self.e.float_machine_index(dst);
        match self.e.arch() {
            Arch::X86_64 => {
                // Bit 3 suppresses the inexact exception.
                let imm = match mode {
                    Rounding::Nearest => 0,
                    Rounding::Floor => 1,
                    Rounding::Ceil => 2,
                    Rounding::Trunc => 3,
                } | 8;
                let opcode = if is_f32 { 0x0a } else { 0x0b };
                self.e
                    .custom(&x86_64::sse(Some(0x66), &[0x3a, opcode], d, d, Some(imm)));
                self.cpu_features |= cpu::SSE41;
            }
            Arch::Aarch64 => {
                let base = match mode {
                    Rounding::Ceil => aarch64::FRINTP,
                    Rounding::Floor => aarch64::FRINTM,
                    Rounding::Trunc => aarch64::FRINTZ,
                    Rounding::Nearest => aarch64::FRINTN,
                };
                self.e.custom(&aarch64::float_unary(base, is_f32, d, d));
            }
        }
    }

    /// `a = min(a, b)` (or max) with wasm's rules in one instruction, where
    /// the target has one (aarch64); `false` where it does not, and the
    /// caller builds the sequence ([`ModuleCompiler::float_min_max_step`]).
    pub fn float_min_max(&mut self, is_min: bool, is_f32: bool, a: FReg, b: FReg) -> bool {
        match self.e.arch() {
            Arch::X86_64 => false,
            Arch::Aarch64 => {
                let (a, b) = (self.e.float_machine_index(a), self.e.float_machine_index(b));
                self.e
                    .custom(&aarch64::float_min_max(is_min, is_f32, a, a, b));
                true
            }
        }
    }

    /// x86-64 pieces of wasm `min`/`max` (`float::float_min_max`): for
    /// equal operands, `a = a | b` (min: keeps a -0) or `a & b` (max);
    /// for different ordered ones, `minss`/`maxss` (sd for f64).
    pub fn float_min_max_step(
        &mut self,
        equal: bool,
        is_min: bool,
        is_f32: bool,
        a: FReg,
        b: FReg,
    ) {
        let (a, b) = (self.e.float_machine_index(a), self.e.float_machine_index(b));
        let bytes = if equal {
            let logic = if is_min { 0x56 } else { 0x54 }; // orps / andps
            x86_64::sse(None, &[logic], a, b, None)
        } else {
            let op = if is_min { 0x5d } else { 0x5f };
            x86_64::sse(Some(x86_64::scalar_prefix(is_f32)), &[op], a, b, None)
        };
        self.e.custom(&bytes);
    }

    /// Whether the target counts bits in one instruction (or a short
    /// sequence): [`ModuleCompiler::popcnt`]; else the caller counts by
    /// itself.
    pub fn has_popcnt(&self) -> bool {
        match self.e.arch() {
            Arch::X86_64 => self.allowed_features & cpu::POPCNT != 0,
            Arch::Aarch64 => true,
        }
    }

    /// `dst = popcnt(src)`, where [`ModuleCompiler::has_popcnt`]. `tmp` is
    /// a float register the aarch64 sequence may use.
    pub fn popcnt(&mut self, dst: Reg, src: Reg, is_64: bool, tmp: FReg) {
        let (d, s) = (self.e.machine_index(dst), self.e.machine_index(src));
        match self.e.arch() {
            Arch::X86_64 => {
                self.e.custom(&x86_64::bit_count(0xb8, d, s, is_64));
                self.cpu_features |= cpu::POPCNT;
            }
            Arch::Aarch64 => {
                let t = self.e.float_machine_index(tmp);
                for word in aarch64::popcnt(d, s, t, is_64) {
                    self.e.custom(&word);
                }
            }
        }
    }

    /// x86-64's feature for `clz` (`leading`) or `ctz`.
    fn count_zeros_feature(leading: bool) -> u64 {
        if leading {
            cpu::LZCNT
        } else {
            cpu::BMI1
        }
    }

    /// Whether `clz` (`leading`) or `ctz` is x86-64's LZCNT or TZCNT,
    /// which the target allows ([`ModuleCompiler::count_zeros`]); else
    /// SLJIT's own `SLJIT_CLZ`/`SLJIT_CTZ` (its x86-64 back end is built
    /// never to pick those instructions itself: `build.rs`).
    pub fn has_count_zeros(&self, leading: bool) -> bool {
        self.e.arch() == Arch::X86_64
            && self.allowed_features & Self::count_zeros_feature(leading) != 0
    }

    /// `dst = clz(src)` (`leading`) or `ctz(src)`, where
    /// [`ModuleCompiler::has_count_zeros`].
    pub fn count_zeros(&mut self, leading: bool, dst: Reg, src: Reg, is_64: bool) {
        let (d, s) = (self.e.machine_index(dst), self.e.machine_index(src));
        let opcode = if leading { 0xbd } else { 0xbc };
        self.e.custom(&x86_64::bit_count(opcode, d, s, is_64));
        self.cpu_features |= Self::count_zeros_feature(leading);
    }
}
