//! The value stack: where each wasm operand lives, and the small register
//! allocator behind it.
//!
//! A value is a constant not yet emitted, a lazy read of a local, a register,
//! or its home slot (fixed per stack height, see `func.rs`). Registers come
//! from a pool of scratch registers; when the pool is empty the deepest value
//! held in a register is spilled to its home slot. `R0`/`R1` are never in the
//! pool: operator lowerings use them as temporaries within one operator.

use vibewasm_format::ValType;

use super::func::{mov_op, FuncCompiler};
use crate::emitter::{freg, FReg, Operand, Reg, R2, R3, R4, R5, R6, SP};

/// Registers that hold integer wasm values. A function may lend the last
/// ones to its locals (see `func::assign_local_registers`).
pub const POOL: [Reg; 5] = [R2, R3, R4, R5, R6];
/// Pool registers a function always keeps for its value stack.
pub const MIN_POOL: usize = 3;
/// Float registers that hold f32/f64 values; `FT0`/`FT1` are temporaries
/// within one operator, like `R0`/`R1`.
const FPOOL: [FReg; 8] = [
    freg(0),
    freg(1),
    freg(2),
    freg(3),
    freg(4),
    freg(5),
    freg(6),
    freg(7),
];
pub const FT0: FReg = freg(8);
pub const FT1: FReg = freg(9);
/// A third temporary, for the SIMD lowerings that need one: in a function
/// with `v128` values it is not a local's register (see
/// `func::assign_local_registers`).
pub const FT2: FReg = freg(14);
/// Float registers every function declares (`SLJIT_ENTER_FLOAT`).
pub const FLOAT_REGISTERS: i32 = 15;
/// Float registers that hold float locals (see `func::assign_local_registers`);
/// the last is [`FT2`] in functions with `v128` values.
pub const FLOAT_LOCAL_REGISTERS: [FReg; 5] = [freg(10), freg(11), freg(12), freg(13), freg(14)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// A constant (i32 values sign-extended).
    Const(i64),
    /// The current value of a local (materialised before the local changes).
    Local(u32),
    Reg(Reg),
    FReg(FReg),
    /// The home slot of the value's stack height.
    Slot,
}

#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub loc: Loc,
    pub ty: ValType,
    /// The first 8-byte home slot of the value: the slots of the values
    /// below it come first, a `v128` takes two (`ValType::slots`), so the
    /// arguments of a call lie in their slots exactly as the callee's
    /// argument array expects them.
    pub slot: u32,
}

pub struct ValueStack {
    entries: Vec<Entry>,
    /// `POOL[..pool_len]` hold values; the rest hold locals.
    pool_len: usize,
    /// Bit `i` set: `POOL[i]` holds a value.
    used: u8,
    /// Bit `i` set: `FPOOL[i]` holds a value.
    used_f: u8,
    /// Bit `i` set: `POOL[i]` holds an i32 whose upper half is known to be
    /// zero (see [`FuncCompiler::push_reg_zero_extended`]). Cleared when the
    /// register is claimed again; read right after the value is popped.
    zero_extended: u8,
}

impl ValueStack {
    /// An empty stack whose values use `POOL[..pool_len]`.
    pub fn new(pool_len: usize) -> Self {
        debug_assert!((MIN_POOL..=POOL.len()).contains(&pool_len));
        ValueStack {
            entries: Vec::new(),
            pool_len,
            used: 0,
            used_f: 0,
            zero_extended: 0,
        }
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn get(&self, height: usize) -> Entry {
        self.entries[height]
    }
    fn claim(&mut self, loc: Loc) {
        match loc {
            Loc::Reg(r) => {
                self.used |= 1 << pool_index(r);
                self.zero_extended &= !(1 << pool_index(r));
            }
            Loc::FReg(f) => self.used_f |= 1 << fpool_index(f),
            _ => {}
        }
    }
    fn release(&mut self, loc: Loc) {
        match loc {
            Loc::Reg(r) => self.used &= !(1 << pool_index(r)),
            Loc::FReg(f) => self.used_f &= !(1 << fpool_index(f)),
            _ => {}
        }
    }
    pub fn push(&mut self, loc: Loc, ty: ValType) {
        self.claim(loc);
        let slot = self.slot_index(self.entries.len());
        self.entries.push(Entry { loc, ty, slot });
    }
    /// The first home slot of the value at `height`; above the stack, the
    /// slots of 8-byte values pushed from the top on (a helper's
    /// immediates).
    pub fn slot_index(&self, height: usize) -> u32 {
        match self.entries.get(height) {
            Some(entry) => entry.slot,
            None => {
                let next = self
                    .entries
                    .last()
                    .map_or(0, |e| e.slot + e.ty.slots() as u32);
                next + (height - self.entries.len()) as u32
            }
        }
    }
    /// Removes the top entry; its register (if any) becomes free, but keeps
    /// its value until something else is allocated.
    pub fn pop(&mut self) -> Entry {
        let entry = self.entries.pop().expect("validated: stack not empty");
        self.release(entry.loc);
        entry
    }
    pub fn truncate(&mut self, len: usize) {
        while self.entries.len() > len {
            self.pop();
        }
    }
    fn set_loc(&mut self, height: usize, loc: Loc) {
        self.release(self.entries[height].loc);
        self.claim(loc);
        self.entries[height].loc = loc;
    }
    fn free_reg(&self) -> Option<Reg> {
        (0..self.pool_len)
            .find(|i| self.used & (1 << i) == 0)
            .map(|i| POOL[i])
    }
    fn free_freg(&self) -> Option<FReg> {
        (0..FPOOL.len())
            .find(|i| self.used_f & (1 << i) == 0)
            .map(|i| FPOOL[i])
    }
    fn free_freg_other_than(&self, avoid: FReg) -> Option<FReg> {
        (0..FPOOL.len())
            .find(|&i| self.used_f & (1 << i) == 0 && FPOOL[i] != avoid)
            .map(|i| FPOOL[i])
    }
}

fn pool_index(r: Reg) -> usize {
    POOL.iter()
        .position(|p| *p == r)
        .expect("only pool registers hold values")
}

fn fpool_index(r: FReg) -> usize {
    FPOOL
        .iter()
        .position(|p| *p == r)
        .expect("only pool float registers hold values")
}

pub fn is_float(ty: ValType) -> bool {
    matches!(ty, ValType::F32 | ValType::F64)
}

/// The float move for `ty` (f32 or f64).
pub fn fmov_op(ty: ValType) -> i32 {
    if ty == ValType::F32 {
        sljit_sys::SLJIT_MOV_F32
    } else {
        sljit_sys::SLJIT_MOV_F64
    }
}

impl FuncCompiler<'_, '_> {
    pub fn slot(&self, height: usize) -> Operand {
        Operand::mem(SP, self.slot_offset(height) as i64)
    }

    /// The frame offset of the home slot of the value at `height`.
    pub fn slot_offset(&self, height: usize) -> i32 {
        self.stack_base + 8 * self.stack.slot_index(height) as i32
    }

    /// Where local `index` lives: its register, or its frame slot.
    pub fn local_operand(&self, index: u32) -> Operand {
        match (
            self.local_regs[index as usize],
            self.local_fregs[index as usize],
        ) {
            (Some(r), _) => Operand::reg(r),
            (_, Some(f)) => Operand::freg(f),
            _ => self.local_slot(index),
        }
    }

    /// The frame slot of local `index` (a local in a register has one too).
    pub fn local_slot(&self, index: u32) -> Operand {
        Operand::mem(SP, self.local_offsets[index as usize] as i64)
    }

    /// Locals in caller-saved registers (every float local; integer locals
    /// in pool registers) go to their frame slots around a call
    /// (`save`), and come back afterwards (`!save`).
    pub fn save_scratch_locals(&mut self, save: bool) {
        for k in 0..self.caller_saved_locals.len() {
            let i = self.caller_saved_locals[k] as usize;
            let ty = self.locals[i];
            let slot = self.local_slot(i as u32);
            if let Some(f) = self.local_fregs[i] {
                let (dst, src) = if save {
                    (slot, Operand::freg(f))
                } else {
                    (Operand::freg(f), slot)
                };
                if ty == ValType::V128 {
                    self.move_vector(dst, src);
                } else {
                    self.m.e.fop1(fmov_op(ty), dst, src);
                }
            } else if let Some(r) = self.local_regs[i] {
                let (dst, src) = if save {
                    (slot, Operand::reg(r))
                } else {
                    (Operand::reg(r), slot)
                };
                // All 64 bits: an i32 local comes back exactly as it was,
                // zero-extended (`is_zero_extended` relies on it).
                self.m.e.op1(sljit_sys::SLJIT_MOV, dst, src);
            }
        }
    }

    /// Where the value at `height` can be read from.
    pub fn operand_at(&self, height: usize) -> Operand {
        self.operand_of(self.stack.get(height), height)
    }

    fn operand_of(&self, entry: Entry, height: usize) -> Operand {
        match entry.loc {
            Loc::Const(c) => Operand::imm(c),
            Loc::Local(i) => self.local_operand(i),
            Loc::Reg(r) => Operand::reg(r),
            Loc::FReg(f) => Operand::freg(f),
            Loc::Slot => self.slot(height),
        }
    }

    /// The float register a value at `loc` sits in, if any (a float local
    /// may live in one).
    pub fn float_register_of(&self, loc: Loc) -> Option<FReg> {
        match loc {
            Loc::FReg(f) => Some(f),
            Loc::Local(i) => self.local_fregs[i as usize],
            _ => None,
        }
    }

    /// Copies a value (read from `src`, found at `loc`) to `dst`: memory, a
    /// local's register, or a register of the value's class.
    pub fn move_value(&mut self, dst: Operand, src: Operand, loc: Loc, ty: ValType) {
        if ty == ValType::V128 {
            return self.move_vector(dst, src);
        }
        if !is_float(ty) {
            return self.m.e.op1(mov_op(ty), dst, src);
        }
        let dst_is_register = !dst.is_imm() && !dst.is_mem();
        match loc {
            // Float registers cannot take immediates.
            Loc::Const(bits) if dst_is_register => {
                self.m
                    .float_const(FReg(dst.arg), ty == ValType::F32, bits as u64)
            }
            _ if dst_is_register || self.float_register_of(loc).is_some() => {
                self.m.e.fop1(fmov_op(ty), dst, src)
            }
            // Memory to memory (or a constant to memory): the bits as an integer.
            _ => self.m.e.op1(mov_op(ty), dst, src),
        }
    }

    /// Pops the top value and says where to read it. A register it was in is
    /// free again, so read it before the next allocation that may spill.
    pub fn pop(&mut self) -> (Operand, ValType) {
        let (operand, entry) = self.pop_entry();
        (operand, entry.ty)
    }

    /// Like [`Self::pop`], also saying where the value was.
    pub fn pop_entry(&mut self) -> (Operand, Entry) {
        let height = self.stack.len() - 1;
        let entry = self.stack.pop();
        (self.operand_of(entry, height), entry)
    }

    pub fn push_reg(&mut self, reg: Reg, ty: ValType) {
        self.stack.push(Loc::Reg(reg), ty);
    }

    /// Pushes an i32 that the instruction just emitted into `reg` wrote as
    /// a 32-bit register (x86-64 then clears the upper half). Only such
    /// values, and i32 locals in registers, index memory without a
    /// zero-extending move: SLJIT leaves the upper half of other 32-bit
    /// results undefined (`i32.load8_s` sign-extends to 64 bits, a 32-bit
    /// move to the same register is no instruction at all).
    pub fn push_reg_zero_extended(&mut self, reg: Reg) {
        self.stack.push(Loc::Reg(reg), ValType::I32);
        self.stack.zero_extended |= 1 << pool_index(reg);
    }

    /// Whether the i32 at `loc` (just popped) has a zero upper half in its
    /// register: see [`Self::push_reg_zero_extended`]. An i32 local's
    /// register is only ever written by 32-bit moves and loads (`local.set`,
    /// parameters), zero (initialisation), or its own saved 64 bits (after
    /// a call), so it always is.
    pub fn is_zero_extended(&self, loc: Loc) -> bool {
        match loc {
            Loc::Reg(r) => self.stack.zero_extended & (1 << pool_index(r)) != 0,
            Loc::Local(i) => {
                self.locals[i as usize] == ValType::I32 && self.local_regs[i as usize].is_some()
            }
            _ => false,
        }
    }

    pub fn push_const(&mut self, value: i64, ty: ValType) {
        self.stack.push(Loc::Const(value), ty);
    }

    /// A free pool register, spilling the deepest register value if needed.
    pub fn alloc_reg(&mut self) -> Reg {
        if let Some(r) = self.stack.free_reg() {
            return r;
        }
        let height = (0..self.stack.len())
            .find(|&h| matches!(self.stack.get(h).loc, Loc::Reg(_)))
            .expect("a full pool means some value holds a register");
        self.store_home(height);
        self.stack.free_reg().expect("just spilled")
    }

    /// A free float register, spilling the deepest float register value if needed.
    pub fn alloc_freg(&mut self) -> FReg {
        if let Some(r) = self.stack.free_freg() {
            return r;
        }
        let height = (0..self.stack.len())
            .find(|&h| matches!(self.stack.get(h).loc, Loc::FReg(_)))
            .expect("a full pool means some value holds a float register");
        self.store_home(height);
        self.stack.free_freg().expect("just spilled")
    }

    /// A free float register other than `avoid` if there is one (without
    /// spilling), else any (see [`Self::alloc_freg`]).
    pub fn alloc_freg_other_than(&mut self, avoid: FReg) -> FReg {
        match self.stack.free_freg_other_than(avoid) {
            Some(r) => r,
            None => self.alloc_freg(),
        }
    }

    pub fn push_freg(&mut self, reg: FReg, ty: ValType) {
        self.stack.push(Loc::FReg(reg), ty);
    }

    /// Pops a float value as an operand a float instruction accepts: a
    /// constant is loaded into `temp` first.
    pub fn pop_float(&mut self, temp: FReg) -> (Operand, ValType) {
        let height = self.stack.len() - 1;
        let entry = self.stack.pop();
        if let Loc::Const(bits) = entry.loc {
            self.m
                .float_const(temp, entry.ty == ValType::F32, bits as u64);
            return (Operand::freg(temp), entry.ty);
        }
        (self.operand_of(entry, height), entry.ty)
    }

    /// Moves the value at `height` into its home slot.
    pub fn store_home(&mut self, height: usize) {
        let entry = self.stack.get(height);
        if entry.loc == Loc::Slot {
            return;
        }
        let src = self.operand_of(entry, height);
        let dst = self.slot(height);
        self.move_value(dst, src, entry.loc, entry.ty);
        self.stack.set_loc(height, Loc::Slot);
    }

    /// Copies the value at `height` to the home slot numbered `slot`
    /// without changing what the compiler believes about the stack (for
    /// branch edges).
    pub fn copy_to_slot(&mut self, height: usize, slot: u32) {
        let entry = self.stack.get(height);
        if entry.loc == Loc::Slot && entry.slot == slot {
            return;
        }
        let src = self.operand_of(entry, height);
        let dst = Operand::mem(SP, (self.stack_base + 8 * slot as i32) as i64);
        self.move_value(dst, src, entry.loc, entry.ty);
    }

    /// Copies the top `arity` values to the home slots of the values from
    /// `base` on (a branch's or a join's results), lowest first: a value
    /// never moves up, so none is overwritten before it is read.
    pub fn copy_results_to(&mut self, base: usize, arity: usize) {
        let len = self.stack.len();
        let mut slot = self.stack.slot_index(base);
        for h in len - arity..len {
            self.copy_to_slot(h, slot);
            slot += self.stack.get(h).ty.slots() as u32;
        }
    }

    /// Spills every register value (before a call clobbers the scratch registers).
    pub fn spill_registers(&mut self) {
        for h in 0..self.stack.len() {
            if matches!(self.stack.get(h).loc, Loc::Reg(_) | Loc::FReg(_)) {
                self.store_home(h);
            }
        }
    }

    /// Puts the stack in the canonical state of a control-flow join: values
    /// at `from` and above in their home slots, and below it nothing in a
    /// register or reading a local (constants may stay).
    pub fn flush_for_join(&mut self, from: usize) {
        for h in 0..self.stack.len() {
            let keep = match self.stack.get(h).loc {
                Loc::Slot => true,
                Loc::Const(_) => h < from,
                Loc::Local(_) | Loc::Reg(_) | Loc::FReg(_) => false,
            };
            if !keep {
                self.store_home(h);
            }
        }
    }

    /// Materialises every lazy read of local `index` before the local changes.
    pub fn flush_local(&mut self, index: u32) {
        self.flush_local_below(index, self.stack.len());
    }

    /// Like [`Self::flush_local`], for the values below `height` only.
    pub fn flush_local_below(&mut self, index: u32, height: usize) {
        for h in 0..height {
            if self.stack.get(h).loc == Loc::Local(index) {
                self.store_home(h);
            }
        }
    }

    pub fn push_local(&mut self, index: u32, ty: ValType) {
        self.stack.push(Loc::Local(index), ty);
    }

    pub fn push_slot(&mut self, ty: ValType) {
        self.stack.push(Loc::Slot, ty);
    }

    pub fn top_loc(&self) -> Loc {
        self.stack.get(self.stack.len() - 1).loc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_tracked_through_push_and_pop() {
        let mut stack = ValueStack::new(POOL.len());
        for r in POOL {
            assert!(stack.free_reg().is_some());
            stack.push(Loc::Reg(r), ValType::I32);
        }
        assert_eq!(stack.free_reg(), None);
        stack.pop();
        assert_eq!(stack.free_reg(), Some(R6));
        stack.truncate(0);
        assert_eq!(stack.free_reg(), Some(R2));
    }
}
