//! `v128` loads and stores, through the one bounds-checked access of
//! `codegen::memory` (16 bytes, or the lanes the operator touches).

use vibewasm_format::ValType;
use wasmparser::MemArg;

use super::super::memory::Address;
use super::super::stack::FT1;
use super::{FuncCompiler, Lanes};
use crate::emitter::{FReg, Operand};

/// How a load fills the vector.
#[derive(Clone, Copy, Debug)]
pub enum VectorLoad {
    /// All 16 bytes.
    Full,
    /// 8 bytes, each lane of `Lanes` widened to twice its width.
    Extend(Lanes, bool),
    /// One lane, copied to every lane.
    Splat(Lanes),
    /// One lane into lane 0, the others zero.
    Zero(Lanes),
}

impl VectorLoad {
    fn size(self) -> u64 {
        match self {
            VectorLoad::Full => 16,
            VectorLoad::Extend(..) => 8,
            VectorLoad::Splat(l) | VectorLoad::Zero(l) => 1 << l.log2_bytes(),
        }
    }
}

fn operand(address: Address) -> Operand {
    match address {
        Address::Operand(operand) => operand,
        Address::Indexed { .. } => unreachable!("SIMD accesses never ask for indexed addresses"),
    }
}

impl FuncCompiler<'_, '_> {
    pub fn vector_load(&mut self, memarg: MemArg, kind: VectorLoad) {
        self.note_simd(false);
        let (index, entry) = self.pop_entry();
        // Allocate before the access: a spill must not land in a fault site.
        let dst = self.alloc_freg();
        self.access(
            (index, entry.loc),
            memarg,
            kind.size(),
            false,
            |fc, address| {
                let mem = operand(address);
                let e = &mut fc.m.e;
                match kind {
                    VectorLoad::Full => e.vec_move(false, dst, mem),
                    VectorLoad::Extend(from, signed) => {
                        e.vec_extend(from.log2_bytes(), signed, dst, mem)
                    }
                    VectorLoad::Splat(l) => e.vec_splat(l.log2_bytes(), false, dst, mem),
                    VectorLoad::Zero(l) => {
                        e.vec_lane(false, l.log2_bytes(), false, true, dst, 0, mem)
                    }
                }
            },
        );
        self.push_freg(dst, ValType::V128);
    }

    pub fn vector_store(&mut self, memarg: MemArg) {
        self.note_simd(false);
        let value = self.pop_vector(FT1);
        let (index, entry) = self.pop_entry();
        self.access((index, entry.loc), memarg, 16, false, |fc, address| {
            fc.m.e.vec_move(true, value, operand(address))
        });
    }

    /// `v128.loadN_lane`: one lane from memory into the vector.
    pub fn vector_load_lane(&mut self, memarg: MemArg, lanes: Lanes, lane: u8) {
        self.vector_lane_access(false, memarg, lanes, lane);
    }

    /// `v128.storeN_lane`.
    pub fn vector_store_lane(&mut self, memarg: MemArg, lanes: Lanes, lane: u8) {
        self.vector_lane_access(true, memarg, lanes, lane);
    }

    /// Moves lane `lane` between the vector on top of the stack and memory
    /// at the address below it; a load leaves the updated vector.
    fn vector_lane_access(&mut self, store: bool, memarg: MemArg, lanes: Lanes, lane: u8) {
        self.note_simd(false);
        let src = self.pop_vector(FT1);
        let (index, entry) = self.pop_entry();
        // A load writes the lane into a register of its own (allocated
        // before the access: a spill must not land in a fault site).
        let v: FReg = if store || src != FT1 {
            src
        } else {
            let dst = self.alloc_freg();
            self.m.e.vec_move(false, dst, Operand::freg(src));
            dst
        };
        let log2 = lanes.log2_bytes();
        self.access(
            (index, entry.loc),
            memarg,
            1 << log2,
            false,
            |fc, address| {
                fc.m.e
                    .vec_lane(store, log2, false, false, v, lane as u32, operand(address))
            },
        );
        if !store {
            self.push_freg(v, ValType::V128);
        }
    }
}
