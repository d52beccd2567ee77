//! Linear memory: loads, stores, `memory.size`, `memory.grow`, and the one
//! place that decides how an access is bounds-checked.
//!
//! In every function that touches memory 0, `S1` holds its base; with
//! explicit bounds checks `S2` holds its `MemoryDef` too, whose `len`
//! changes on grow. A guard-page memory never moves; an explicit-check one
//! may move when it grows (the loader's movable reservations), so `S1` is
//! reloaded after every call that may grow it. Other memories
//! (multi-memory) are reached through their `MemoryDef` slot in the vmctx
//! at each access.
//!
//! A 64-bit memory (memory64) is always checked explicitly, whatever the
//! module's strategy: guard pages cannot bound a 64-bit address (an index
//! near 2^64 plus an offset near 2^64 is anywhere in the address space),
//! so `index + offset + size` is computed with a carry check that traps
//! and compared with the memory's length ([`FuncCompiler::memory64_address`]).
//! The loader gives such memories movable reservations, so their base is
//! read from their `MemoryDef` at each access (memory 0's `S1`, reloaded
//! after calls, with explicit checks). 32-bit memories are unaffected.

use sljit_sys::*;
use vibewasm_format::vmctx::{self, Helper};
use vibewasm_format::{BoundsChecks, TrapCode, ValType};
use wasmparser::{MemArg, MemArgTarget};

use super::func::FuncCompiler;
use super::stack::{is_float, Loc};
use super::x86_64::IndexedMove;
use crate::emitter::{Operand, Reg, R0, R1, S0, S1, S2};

/// `SLJIT_SET(SLJIT_CARRY)` (a macro of `sljitLir.h`): the flag an add
/// sets on unsigned overflow.
const SLJIT_SET_CARRY: i32 = SLJIT_CARRY << 10;

/// One kind of memory access: its width in bytes, the SLJIT move that
/// performs it, and the wasm type of the value.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy)]
pub enum Access {
    I32,
    I64,
    F32,
    F64,
    I32_8S,
    I32_8U,
    I32_16S,
    I32_16U,
    I64_8S,
    I64_8U,
    I64_16S,
    I64_16U,
    I64_32S,
    I64_32U,
}

impl Access {
    fn size(self) -> u64 {
        match self {
            Access::I32_8S | Access::I32_8U | Access::I64_8S | Access::I64_8U => 1,
            Access::I32_16S | Access::I32_16U | Access::I64_16S | Access::I64_16U => 2,
            Access::I32 | Access::F32 | Access::I64_32S | Access::I64_32U => 4,
            Access::I64 | Access::F64 => 8,
        }
    }

    /// The move for a load; stores use the same width (signedness is
    /// irrelevant when storing).
    fn mov(self) -> i32 {
        match self {
            Access::I32 => SLJIT_MOV32,
            Access::I64 => SLJIT_MOV,
            Access::F32 => SLJIT_MOV_F32,
            Access::F64 => SLJIT_MOV_F64,
            Access::I32_8S => SLJIT_MOV32_S8,
            Access::I32_8U => SLJIT_MOV32_U8,
            Access::I32_16S => SLJIT_MOV32_S16,
            Access::I32_16U => SLJIT_MOV32_U16,
            Access::I64_8S => SLJIT_MOV_S8,
            Access::I64_8U => SLJIT_MOV_U8,
            Access::I64_16S => SLJIT_MOV_S16,
            Access::I64_16U => SLJIT_MOV_U16,
            Access::I64_32S => SLJIT_MOV_S32,
            Access::I64_32U => SLJIT_MOV_U32,
        }
    }

    /// The access as one instruction with a `[base + index + offset]`
    /// operand (see [`Address::Indexed`]).
    fn indexed(self, store: bool) -> IndexedMove {
        let signed = matches!(
            self,
            Access::I32_8S | Access::I32_16S | Access::I64_8S | Access::I64_16S | Access::I64_32S
        );
        IndexedMove {
            bytes: self.size() as u8,
            store,
            float: is_float(self.ty()),
            signed: signed && !store,
            wide: self.ty() == ValType::I64,
        }
    }

    fn ty(self) -> ValType {
        match self {
            Access::I32 | Access::I32_8S | Access::I32_8U | Access::I32_16S | Access::I32_16U => {
                ValType::I32
            }
            Access::F32 => ValType::F32,
            Access::F64 => ValType::F64,
            _ => ValType::I64,
        }
    }
}

/// The memory `memarg` names. Arrays are GC's, which the validator
/// refuses.
pub(super) fn memory_index(memarg: &MemArg) -> u32 {
    match memarg.target {
        MemArgTarget::Memory(index) => index,
        MemArgTarget::Array(_) => unreachable!("GC is not enabled in the validator"),
    }
}

/// Where an access goes.
#[derive(Clone, Copy)]
pub(super) enum Address {
    /// An SLJIT memory operand.
    Operand(Operand),
    /// `[S1 + index + offset]`, one instruction that SLJIT cannot express
    /// (emitted by `ModuleCompiler::indexed_move`): guard-page accesses
    /// with a constant offset below 2^31 and a zero-extended index.
    Indexed { index: Reg, offset: i32 },
}

impl FuncCompiler<'_, '_> {
    /// Emits one access of `size` bytes at `index + offset` of the memory
    /// `memarg` names: `emit` gets the address. Explicit mode checks the
    /// end of the access against the memory size first; guard-page mode
    /// records the access as a fault site instead. With `indexed`, `emit`
    /// can take an [`Address::Indexed`] (of memory 0). Uses `R0` and `R1`.
    pub(super) fn access(
        &mut self,
        (index, index_loc): (Operand, Loc),
        memarg: MemArg,
        size: u64,
        indexed: bool,
        emit: impl FnOnce(&mut Self, Address),
    ) {
        let guarded = self.m.options.bounds_checks == BoundsChecks::GuardPages;
        let (memory, offset) = (memory_index(&memarg), memarg.offset);
        if self.m.memory_is_64(memory) {
            // Explicitly checked in both modes: no fault site.
            let address = self.memory64_address(memory, index, offset, size);
            emit(self, address);
            return;
        }
        let address = if memory != 0 {
            self.other_memory_address(memory, index, offset, size)
        } else if index.is_imm() {
            // A constant address: at most 2^33, a displacement.
            let address = (index.argw as u32) as u64 + offset;
            if !guarded {
                let len = Operand::mem(S2, vmctx::MEMORY_DEF_LEN as i64);
                let out = self
                    .m
                    .e
                    .cmp(SLJIT_LESS, len, Operand::imm((address + size) as i64));
                self.trap_on(out, TrapCode::MemoryOutOfBounds);
            }
            Address::Operand(Operand::mem(S1, address as i64))
        } else if let (Some(reg), 0, true) = (index.as_reg(), offset, guarded) {
            // Guard pages bound the access only if the index's upper half
            // is zero: an address with it set would reach outside the
            // memory's reservation. Known zero-extended values (see
            // `push_reg_zero_extended`) index memory directly; every other
            // one is zero-extended into R1 first.
            if self.is_zero_extended(index_loc) {
                Address::Operand(Operand::mem2(S1, reg, 0))
            } else {
                self.m.e.op1(SLJIT_MOV_U32, Operand::reg(R1), index);
                Address::Operand(Operand::mem2(S1, R1, 0))
            }
        } else if indexed && guarded && offset < 1 << 31 && self.m.has_indexed_displacement() {
            // At most 2^32 + 2^31 past the base: inside the guard region.
            let index = match index.as_reg() {
                Some(reg) if self.is_zero_extended(index_loc) => reg,
                _ => {
                    self.m.e.op1(SLJIT_MOV_U32, Operand::reg(R1), index);
                    R1
                }
            };
            Address::Indexed {
                index,
                offset: offset as i32,
            }
        } else if let (Some(reg), true, true) = (
            index.as_reg(),
            guarded,
            offset < 1 << 31 && self.is_zero_extended(index_loc),
        ) {
            // A zero-extended index plus the offset in one 64-bit add (a
            // `lea`): at most 2^32 + 2^31, inside the guard region.
            self.m.e.op2(
                SLJIT_ADD,
                Operand::reg(R1),
                Operand::reg(reg),
                Operand::imm(offset as i64),
            );
            Address::Operand(Operand::mem2(S1, R1, 0))
        } else {
            let e = &mut self.m.e;
            e.op1(SLJIT_MOV_U32, Operand::reg(R1), index);
            if offset != 0 {
                e.op2(
                    SLJIT_ADD,
                    Operand::reg(R1),
                    Operand::reg(R1),
                    Operand::imm(offset as i64),
                );
            }
            if !guarded {
                let len = Operand::mem(S2, vmctx::MEMORY_DEF_LEN as i64);
                e.op2(
                    SLJIT_ADD,
                    Operand::reg(R0),
                    Operand::reg(R1),
                    Operand::imm(size as i64),
                );
                let out = e.cmp(SLJIT_GREATER, Operand::reg(R0), len);
                self.trap_on(out, TrapCode::MemoryOutOfBounds);
            }
            Address::Operand(Operand::mem2(S1, R1, 0))
        };
        if guarded {
            let start = self.m.e.label();
            emit(self, address);
            let end = self.m.e.label();
            self.trap_on_fault(start, end, TrapCode::MemoryOutOfBounds);
        } else {
            emit(self, address);
        }
    }

    /// The address of an access to memory `memory` other than 0, in `R0`
    /// and `R1`: the `MemoryDef` comes from the vmctx, then the end of the
    /// access is checked against its size (explicit mode; guard pages bound
    /// `index + offset < 2^33` as for memory 0).
    fn other_memory_address(
        &mut self,
        memory: u32,
        index: Operand,
        offset: u64,
        size: u64,
    ) -> Address {
        let guarded = self.m.options.bounds_checks == BoundsChecks::GuardPages;
        let slot = self.m.layout.memory(memory) as i64;
        let e = &mut self.m.e;
        e.op1(SLJIT_MOV_U32, Operand::reg(R1), index);
        let end = if guarded { offset } else { offset + size };
        if end != 0 {
            e.op2(
                SLJIT_ADD,
                Operand::reg(R1),
                Operand::reg(R1),
                Operand::imm(end as i64),
            );
        }
        e.op1(SLJIT_MOV, Operand::reg(R0), Operand::mem(S0, slot));
        if !guarded {
            let len = Operand::mem(R0, vmctx::MEMORY_DEF_LEN as i64);
            let out = e.cmp(SLJIT_GREATER, Operand::reg(R1), len);
            self.trap_on(out, TrapCode::MemoryOutOfBounds);
        }
        let e = &mut self.m.e;
        e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem(R0, vmctx::MEMORY_DEF_BASE as i64),
        );
        if !guarded {
            // `R1` is the end of the access: start `size` bytes earlier.
            e.op2(
                SLJIT_SUB,
                Operand::reg(R0),
                Operand::reg(R0),
                Operand::imm(size as i64),
            );
        }
        Address::Operand(Operand::mem2(R0, R1, 0))
    }

    /// The address of an access to the 64-bit memory `memory`, in `R0`
    /// and `R1` (or `S1` and `R1`), checked in both bounds-check modes:
    /// `R1 = index + offset + size` traps on a carry (an `offset` of up to
    /// 2^64 - 1 must not wrap into the memory), then on `R1 > len`. The
    /// `MemoryDef` is `S2` for memory 0 with explicit checks, else the
    /// vmctx slot's (with guard pages `S2` holds no `MemoryDef`, and `S1`
    /// may be stale: a 64-bit memory's reservation moves when it grows).
    fn memory64_address(&mut self, memory: u32, index: Operand, offset: u64, size: u64) -> Address {
        let in_registers = memory == 0 && self.memory_def_in_s2;
        let slot = match memory {
            0 => vmctx::MEMORY0,
            _ => self.m.layout.memory(memory),
        } as i64;
        let e = &mut self.m.e;
        e.op1(SLJIT_MOV, Operand::reg(R1), index);
        let def = if in_registers {
            S2
        } else {
            e.op1(SLJIT_MOV, Operand::reg(R0), Operand::mem(S0, slot));
            R0
        };
        let wrapped = match offset.checked_add(size) {
            Some(end) => {
                e.op2(
                    SLJIT_ADD | SLJIT_SET_CARRY,
                    Operand::reg(R1),
                    Operand::reg(R1),
                    Operand::imm(end as i64),
                );
                e.jump(SLJIT_CARRY)
            }
            // At least 2^64: every index is out of bounds.
            None => e.jump(SLJIT_JUMP),
        };
        self.trap_on(wrapped, TrapCode::MemoryOutOfBounds);
        let e = &mut self.m.e;
        let len = Operand::mem(def, vmctx::MEMORY_DEF_LEN as i64);
        let out = e.cmp(SLJIT_GREATER, Operand::reg(R1), len);
        self.trap_on(out, TrapCode::MemoryOutOfBounds);
        // `R1` is the end of the access: start `size` bytes earlier.
        let base = match in_registers {
            true => Operand::reg(S1),
            false => Operand::mem(R0, vmctx::MEMORY_DEF_BASE as i64),
        };
        let e = &mut self.m.e;
        e.op2(SLJIT_SUB, Operand::reg(R0), base, Operand::imm(size as i64));
        Address::Operand(Operand::mem2(R0, R1, 0))
    }

    /// Reloads memory 0's base into `S1` after a call that may have grown
    /// it: with explicit checks the loader may have moved it (guard-page
    /// memories never move, and functions without memory 0 keep nothing).
    pub(super) fn reload_memory0_base(&mut self) {
        if self.memory_def_in_s2 {
            let base = Operand::mem(S2, vmctx::MEMORY_DEF_BASE as i64);
            self.m.e.op1(SLJIT_MOV, Operand::reg(S1), base);
        }
    }

    pub fn load(&mut self, memarg: MemArg, access: Access) {
        let (index, entry) = self.pop_entry();
        let index = (index, entry.loc);
        // The destination register is chosen first: allocating may spill,
        // and a spill must not land inside a fault site.
        let ty = access.ty();
        let emit = |fc: &mut Self, dst: Operand, address| match address {
            Address::Operand(address) if is_float(ty) => fc.m.e.fop1(access.mov(), dst, address),
            Address::Operand(address) => fc.m.e.op1(access.mov(), dst, address),
            Address::Indexed { index, offset } => {
                fc.m.indexed_move(access.indexed(false), dst, S1, index, offset)
            }
        };
        if is_float(ty) {
            let dst = self.alloc_freg();
            self.access(index, memarg, access.size(), true, |fc, address| {
                emit(fc, Operand::freg(dst), address)
            });
            self.push_freg(dst, ty);
        } else {
            let dst = self.alloc_reg();
            self.access(index, memarg, access.size(), true, |fc, address| {
                emit(fc, Operand::reg(dst), address)
            });
            self.push_reg(dst, ty);
        }
    }

    pub fn store(&mut self, memarg: MemArg, access: Access) {
        let (value, entry) = self.pop_entry();
        let (index, index_entry) = self.pop_entry();
        // A value in a register (a float one for float stores) can be
        // stored with an indexed address.
        let indexed = value.is_reg();
        self.access(
            (index, index_entry.loc),
            memarg,
            access.size(),
            indexed,
            |fc, address| match address {
                Address::Indexed { index, offset } => {
                    fc.m.indexed_move(access.indexed(true), value, S1, index, offset)
                }
                // A float in a register is stored as a float; in memory or
                // as a constant, its bits are moved as an integer.
                Address::Operand(address) if is_float(access.ty()) => {
                    fc.move_value(address, value, entry.loc, entry.ty)
                }
                Address::Operand(address) => fc.m.e.op1(access.mov(), address, value),
            },
        );
    }

    pub fn visit_memory_size(&mut self, memory: u32) {
        let dst = self.alloc_reg();
        let slot = match memory {
            0 => vmctx::MEMORY0,
            _ => self.m.layout.memory(memory),
        };
        // A 64-bit memory's size is an i64 (memory64).
        let ty = match self.m.memory_is_64(memory) {
            true => ValType::I64,
            false => ValType::I32,
        };
        let e = &mut self.m.e;
        let def = if self.memory_def_in_s2 && memory == 0 {
            S2
        } else {
            e.op1(SLJIT_MOV, Operand::reg(dst), Operand::mem(S0, slot as i64));
            dst
        };
        e.op1(
            SLJIT_MOV,
            Operand::reg(dst),
            Operand::mem(def, vmctx::MEMORY_DEF_LEN as i64),
        );
        e.op2(
            SLJIT_LSHR,
            Operand::reg(dst),
            Operand::reg(dst),
            Operand::imm(16),
        );
        self.push_reg(dst, ty);
    }

    /// Memory 0 has helpers without immediates (the common case costs
    /// nothing for multi-memory); other memories pass their indices. The
    /// helpers know each memory's type: a 64-bit memory's operands are
    /// whole slots and its `memory.grow` fails with an i64 -1.
    pub fn visit_memory_grow(&mut self, memory: u32) {
        let result = match self.m.memory_is_64(memory) {
            true => &[ValType::I64],
            false => &[ValType::I32],
        };
        match memory {
            0 => self.call_helper(Helper::MemoryGrow, 1, &[], result),
            _ => self.call_helper(Helper::MultiMemoryGrow, 1, &[memory as i64], result),
        }
    }

    /// `memory.copy`, `memory.fill`, `memory.init` and `data.drop` run in
    /// the loader: they are loops over untrusted lengths with bounds rules
    /// that only pay off inline for small constant sizes.
    ///
    /// Within a 32-bit memory 0 (the common case, and `bulkmem`'s hot
    /// path) `MemoryCopy` and `MemoryFill` take no immediates and read the
    /// memory's descriptor straight from the vmctx.
    pub fn visit_memory_copy(&mut self, dst_memory: u32, src_memory: u32) {
        match (dst_memory, src_memory) {
            (0, 0) if !self.m.memory_is_64(0) => self.call_helper(Helper::MemoryCopy, 3, &[], &[]),
            _ => {
                let memories = [dst_memory as i64, src_memory as i64];
                self.call_helper(Helper::MultiMemoryCopy, 3, &memories, &[])
            }
        }
    }

    pub fn visit_memory_fill(&mut self, memory: u32) {
        match memory {
            0 if !self.m.memory_is_64(0) => self.call_helper(Helper::MemoryFill, 3, &[], &[]),
            _ => self.call_helper(Helper::MultiMemoryFill, 3, &[memory as i64], &[]),
        }
    }

    pub fn visit_memory_init(&mut self, memory: u32, segment: u32) {
        match memory {
            0 => self.call_helper(Helper::MemoryInit, 3, &[segment as i64], &[]),
            _ => {
                let immediates = [memory as i64, segment as i64];
                self.call_helper(Helper::MultiMemoryInit, 3, &immediates, &[])
            }
        }
    }

    pub fn visit_data_drop(&mut self, segment: u32) {
        self.call_helper(Helper::DataDrop, 0, &[segment as i64], &[]);
    }
}
