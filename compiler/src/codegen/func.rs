//! Compiling one function: frame layout, prologue, the operator loop, traps
//! and returns. Operator families live in the sibling modules.
//!
//! Frame (offsets from SP, fixed for the whole body):
//!
//! ```text
//! 0                 the caller's results array (`R1` at entry; unused
//!                   without results)
//! 8                 saved vmctx (around call_indirect, which may switch it)
//! 16                locals, 8 bytes each, 16 for a v128 (parameters first)
//! stack_base        value stack home slots: 8 bytes per value, 16 per v128
//! ```
//!
//! The home slots are numbered by `stack::Entry::slot`; a function that may
//! hold a `v128` reserves two slots per stack height.
//!
//! Every value-stack height has a fixed home slot, so spilling is a store and
//! SP never moves inside a body.

use vibewasm_format::vmctx;
use vibewasm_format::{BoundsChecks, TrapCode, TrapSite, ValType};
use wasmparser::{FuncValidator, FunctionBody, ValidatorResources};

use super::control::ControlFrame;
use super::prepass::prepass;
use super::stack::ValueStack;
use super::ModuleCompiler;
use crate::emitter::{Jump, Label, Operand, Reg, R0, R1, S0, S1, S2, S3, S4, S5, SP};
use crate::error::CompileError;
use crate::module::val_type;

pub const RESULTS_SLOT: i32 = 0;
pub const CTX_SLOT: i32 = 8;
const LOCALS_BASE: i32 = 16;
/// SLJIT's limit on `local_size`.
const MAX_FRAME: i64 = 1 << 20;

/// A pending trap: the jumps (or faulting instructions) that raise it and
/// what it is.
struct PendingTrap {
    jumps: Vec<Jump>,
    faults: Vec<(Label, Label)>,
    code: TrapCode,
    wasm_offset: u32,
}

pub struct FuncCompiler<'a, 'm> {
    pub m: &'a mut ModuleCompiler<'m>,
    pub index: u32,
    pub locals: Vec<ValType>,
    pub stack_base: i32,
    pub stack: ValueStack,
    pub control: Vec<ControlFrame>,
    pub reachable: bool,
    pub results: Vec<ValType>,
    pub uses_memory: bool,
    /// `S2` holds memory 0's `MemoryDef` (explicit bounds checks read its
    /// length); in guard-page mode only `S1`, the base, is kept.
    pub memory_def_in_s2: bool,
    /// The register each local lives in, if it has one (else its frame slot).
    pub local_regs: Vec<Option<Reg>>,
    /// The float register each float local lives in, if it has one.
    pub local_fregs: Vec<Option<crate::emitter::FReg>>,
    /// The frame offset of each local's slot (see [`slot_offsets`]).
    pub local_offsets: Vec<i32>,
    /// The locals in caller-saved registers (every float local in a
    /// register, integer locals in pool registers): saved around calls.
    pub caller_saved_locals: Vec<u32>,
    /// Wasm byte offset of the operator being compiled.
    pub offset: u64,
    traps: Vec<PendingTrap>,
    /// Operators compiled since fuel was last charged.
    pending_fuel: u32,
}

impl<'a, 'm> FuncCompiler<'a, 'm> {
    /// Validates and compiles one function body.
    ///
    /// `operators` is scratch space, empty on entry and on return: kept by
    /// the caller across functions so that its memory stays warm.
    pub fn compile<'b>(
        m: &'a mut ModuleCompiler<'m>,
        index: u32,
        validator: &mut FuncValidator<ValidatorResources>,
        body: &FunctionBody<'b>,
        wasm: &[u8],
        operators: &mut Vec<(wasmparser::Operator<'b>, u64)>,
    ) -> Result<(), CompileError> {
        let func = Some(index);
        let invalid = |e| CompileError::from_parser(e, func, true);
        let malformed = |e| CompileError::from_parser(e, func, false);

        // Locals.
        let ty = m
            .meta
            .func_type(index)
            .expect("validated function type")
            .clone();
        let mut locals = ty.params.clone();
        let mut reader = body.get_locals_reader().map_err(malformed)?;
        for _ in 0..reader.get_count() {
            let offset = reader.original_position();
            let (count, wty) = reader.read().map_err(malformed)?;
            validator
                .define_locals(offset, count, wty)
                .map_err(invalid)?;
            let ty = val_type(wty, offset)?;
            if locals.len() as u64 + count as u64 > MAX_FRAME as u64 / 8 {
                return Err(CompileError::Limit {
                    message: format!("more than {} locals", MAX_FRAME / 8),
                    func,
                });
            }
            locals.extend(std::iter::repeat_n(ty, count as usize));
        }

        // Pass 1: validate, and learn the frame size before the prologue;
        // the operators are decoded once, here.
        operators.clear();
        let strict = m.strict_wasm2;
        let facts = prepass(
            validator,
            body,
            index,
            locals.len(),
            wasm,
            strict,
            operators,
        )?;
        let local_slots: usize = locals.iter().map(|t| t.slots()).sum();
        let stack_base = LOCALS_BASE + 8 * local_slots as i32;
        let uses_v128 = facts.simd || m.module_has_v128 || locals.contains(&ValType::V128);
        let slots_per_height = if uses_v128 { 2 } else { 1 };
        let frame_size = stack_base as i64 + 8 * slots_per_height * facts.max_height as i64;
        if frame_size > MAX_FRAME {
            return Err(CompileError::Limit {
                message: format!("stack frame of {frame_size} bytes (at most {MAX_FRAME})"),
                func,
            });
        }

        let memory_def_in_s2 =
            facts.uses_memory && m.options.bounds_checks == BoundsChecks::Explicit;
        let (local_regs, local_fregs, pool_len) =
            assign_local_registers(&locals, &facts, memory_def_in_s2, uses_v128);
        let locals_len = locals.len();
        let local_offsets = slot_offsets(&locals, ty.params.len(), &facts.local_weights, |i| {
            local_regs[i].is_some() || local_fregs[i].is_some()
        });
        let mut fc = FuncCompiler {
            m,
            index,
            locals,
            stack_base,
            stack: ValueStack::new(pool_len),
            control: Vec::new(),
            reachable: true,
            results: ty.results.clone(),
            uses_memory: facts.uses_memory,
            memory_def_in_s2,
            caller_saved_locals: (0..locals_len as u32)
                .filter(|&i| {
                    local_fregs[i as usize].is_some()
                        || local_regs[i as usize].is_some_and(|r| super::stack::POOL.contains(&r))
                })
                .collect(),
            local_regs,
            local_fregs,
            local_offsets,
            offset: body.range().start,
            traps: Vec::new(),
            pending_fuel: 0,
        };
        fc.prologue(ty.params.len(), frame_size as i32);
        fc.control.push(ControlFrame::function(ty.results.clone()));

        // Pass 2: translate the operators pass 1 decoded.
        let mut ops = operators.drain(..).peekable();
        while let Some((op, offset)) = ops.next() {
            fc.offset = offset;
            // A comparison consumed by the next operator's branch becomes
            // one compare-and-jump.
            if fc.reachable && super::compare::fusible(&op) {
                if let Some((
                    wasmparser::Operator::BrIf { .. } | wasmparser::Operator::If { .. },
                    _,
                )) = ops.peek()
                {
                    let (next, next_offset) = ops.next().expect("peeked");
                    fc.fused_compare_branch(&op, next, next_offset)?;
                    continue;
                }
            }
            fc.visit(op)?;
        }
        fc.emit_trap_stubs();
        Ok(())
    }

    fn prologue(&mut self, num_params: usize, frame_size: i32) {
        use sljit_sys::*;
        // S0 is vmctx; then S1 (and S2) for memory, then the locals'
        // saved registers.
        let memory_regs = match (self.uses_memory, self.memory_def_in_s2) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        };
        let highest = self
            .local_regs
            .iter()
            .flatten()
            .filter_map(|r| saved_index(*r))
            .chain(std::iter::once(memory_regs))
            .max()
            .unwrap_or(0);
        let saveds = highest + 1;
        let overflow = self.m.enter_function(
            self.index,
            // SLJIT_ENTER_FLOAT and SLJIT_ENTER_VECTOR: on both targets the
            // vector registers are the float registers.
            7 | (super::stack::FLOAT_REGISTERS << 8) | (super::stack::FLOAT_REGISTERS << 16),
            saveds,
            frame_size,
        );
        self.traps.push(PendingTrap {
            jumps: overflow.to_vec(),
            faults: Vec::new(),
            code: TrapCode::StackOverflow,
            wasm_offset: self.offset as u32,
        });
        // A function without results never reads it (nor do the callees
        // of its tail calls, which have no results either).
        if !self.results.is_empty() {
            self.m.e.op1(
                SLJIT_MOV,
                Operand::mem(SP, RESULTS_SLOT as i64),
                Operand::reg(R1),
            );
        }
        let (argv_slots, _) = vibewasm_format::slot_offsets(&self.locals[..num_params]);
        for (i, argv_slot) in argv_slots.into_iter().enumerate() {
            let ty = self.locals[i];
            let src = Operand::mem(R0, 8 * argv_slot as i64);
            if ty == ValType::V128 {
                let dst = match self.local_fregs[i] {
                    Some(f) => Operand::freg(f),
                    None => Operand::mem(SP, self.local_offsets[i] as i64),
                };
                self.move_vector(dst, src);
                continue;
            }
            let e = &mut self.m.e;
            match (self.local_regs[i], self.local_fregs[i]) {
                // An i32 argument's upper slot bytes are undefined: the
                // 32-bit load zero-extends, as an i32 local's register must
                // be (`stack::is_zero_extended`).
                (Some(r), _) => e.op1(mov_op(ty), Operand::reg(r), src),
                (_, Some(f)) => e.fop1(super::stack::fmov_op(ty), Operand::freg(f), src),
                _ => e.op1(
                    SLJIT_MOV,
                    Operand::mem(SP, self.local_offsets[i] as i64),
                    src,
                ),
            }
        }
        let e = &mut self.m.e;
        for i in num_params..self.locals.len() {
            if let Some(r) = self.local_regs[i] {
                e.op1(SLJIT_MOV, Operand::reg(r), Operand::imm(0));
            }
            if let Some(f) = self.local_fregs[i] {
                e.fset(f, false, 0);
            }
        }
        // Declared locals in registers have the last slots of the declared
        // region (`slot_offsets`), read only after a call saved them there:
        // only the slots before them need zeroing.
        let declared = (num_params..self.locals.len())
            .filter(|&i| self.local_regs[i].is_none() && self.local_fregs[i].is_none())
            .map(|i| self.locals[i].slots())
            .sum::<usize>();
        let first = LOCALS_BASE
            + 8 * self.locals[..num_params]
                .iter()
                .map(|t| t.slots() as i32)
                .sum::<i32>();
        if declared <= 16 {
            // From a zeroed register: 4 bytes shorter than an immediate.
            if declared > 0 {
                e.op1(SLJIT_MOV, Operand::reg(R1), Operand::imm(0));
            }
            for i in 0..declared as i32 {
                e.op1(
                    SLJIT_MOV,
                    Operand::mem(SP, (first + 8 * i) as i64),
                    Operand::reg(R1),
                );
            }
        } else {
            e.local_address(R1, first);
            e.op1(SLJIT_MOV, Operand::reg(R0), Operand::imm(declared as i64));
            let top = e.label();
            e.op1(SLJIT_MOV, Operand::mem(R1, 0), Operand::imm(0));
            e.op2(
                SLJIT_ADD,
                Operand::reg(R1),
                Operand::reg(R1),
                Operand::imm(8),
            );
            e.op2(
                SLJIT_SUB | SLJIT_SET_Z,
                Operand::reg(R0),
                Operand::reg(R0),
                Operand::imm(1),
            );
            let again = e.jump(SLJIT_NOT_ZERO);
            e.set_label(again, top);
        }
        if self.m.options.epoch {
            self.epoch_check();
        }
        let e = &mut self.m.e;
        if self.uses_memory {
            let def = if self.memory_def_in_s2 { S2 } else { R0 };
            e.op1(
                SLJIT_MOV,
                Operand::reg(def),
                Operand::mem(S0, vmctx::MEMORY0 as i64),
            );
            e.op1(
                SLJIT_MOV,
                Operand::reg(S1),
                Operand::mem(def, vmctx::MEMORY_DEF_BASE as i64),
            );
        }
    }

    /// Counts one executed operator for fuel metering.
    pub fn count_fuel(&mut self) {
        self.pending_fuel += 1;
    }

    /// Charges the operators counted since the last charge (at the end of a
    /// straight-line region). Uses `R0`.
    pub fn charge_fuel(&mut self) {
        use sljit_sys::*;
        if !self.m.options.fuel || self.pending_fuel == 0 {
            return;
        }
        let cost = std::mem::take(&mut self.pending_fuel);
        let e = &mut self.m.e;
        let fuel = Operand::mem(R0, vmctx::RUNTIME_FUEL as i64);
        e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem(S0, vmctx::RUNTIME as i64),
        );
        // SLJIT_SET(SLJIT_SIG_LESS): fuel < cost, so it would go negative.
        e.op2(
            SLJIT_SUB | (SLJIT_SIG_LESS << 10),
            fuel,
            fuel,
            Operand::imm(cost as i64),
        );
        let out = e.jump(SLJIT_SIG_LESS);
        self.trap_on(out, TrapCode::OutOfFuel);
    }

    /// Traps with "interrupted" once the engine's epoch reached the
    /// deadline. Uses `R0` and `R1`.
    pub fn epoch_check(&mut self) {
        use sljit_sys::*;
        let e = &mut self.m.e;
        e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem(S0, vmctx::RUNTIME as i64),
        );
        e.op1(
            SLJIT_MOV,
            Operand::reg(R1),
            Operand::mem(R0, vmctx::RUNTIME_EPOCH_COUNTER as i64),
        );
        e.op1(SLJIT_MOV, Operand::reg(R1), Operand::mem(R1, 0));
        let due = e.cmp(
            SLJIT_GREATER_EQUAL,
            Operand::reg(R1),
            Operand::mem(R0, vmctx::RUNTIME_EPOCH_DEADLINE as i64),
        );
        self.trap_on(due, TrapCode::Interrupted);
    }

    /// The pending trap `code` at the current operator.
    fn pending_trap(&mut self, code: TrapCode) -> &mut PendingTrap {
        let wasm_offset = self.offset as u32;
        // Traps are pushed in the order of their operators, so only the
        // last few can be at this operator: searching them all made
        // functions with many trap sites compile in quadratic time.
        let position = self
            .traps
            .iter()
            .rev()
            .take_while(|t| t.wasm_offset == wasm_offset)
            .position(|t| t.code == code)
            .map(|from_end| self.traps.len() - 1 - from_end);
        let index = position.unwrap_or_else(|| {
            self.traps.push(PendingTrap {
                jumps: Vec::new(),
                faults: Vec::new(),
                code,
                wasm_offset,
            });
            self.traps.len() - 1
        });
        &mut self.traps[index]
    }

    /// Branch here to raise `code` at the current operator.
    pub fn trap_on(&mut self, jump: Jump, code: TrapCode) {
        self.pending_trap(code).jumps.push(jump);
    }

    /// A fault between `start` and `end` raises `code` at the current operator.
    pub fn trap_on_fault(&mut self, start: Label, end: Label, code: TrapCode) {
        self.pending_trap(code).faults.push((start, end));
    }

    /// Traps unconditionally; the rest of the block is unreachable.
    pub fn trap(&mut self, code: TrapCode) {
        let jump = self.m.e.jump(sljit_sys::SLJIT_JUMP);
        self.trap_on(jump, code);
        self.reachable = false;
    }

    fn emit_trap_stubs(&mut self) {
        for trap in std::mem::take(&mut self.traps) {
            let site = TrapSite {
                func: self.index,
                wasm_offset: trap.wasm_offset,
                code: trap.code,
            };
            for (start, end) in trap.faults {
                self.m
                    .add_fault_site(start, end, trap.wasm_offset, trap.code);
            }
            self.m.emit_trap_stub(&trap.jumps, site);
        }
    }

    /// Writes the top `results.len()` values to the caller's results array
    /// and returns.
    pub fn emit_return(&mut self) {
        use sljit_sys::*;
        let n = self.results.len();
        if n > 0 {
            self.m.e.op1(
                SLJIT_MOV,
                Operand::reg(R1),
                Operand::mem(SP, RESULTS_SLOT as i64),
            );
            let len = self.stack.len();
            let (result_slots, _) = vibewasm_format::slot_offsets(&self.results);
            for (k, slot) in result_slots.into_iter().enumerate() {
                let src = self.operand_at(len - n + k);
                let entry = self.stack.get(len - n + k);
                self.move_value(Operand::mem(R1, 8 * slot as i64), src, entry.loc, entry.ty);
            }
        }
        self.m.e.return_void();
    }

    pub fn unsupported(&self, what: impl std::fmt::Display) -> CompileError {
        CompileError::unsupported(format!("{what}"), Some(self.index), self.offset)
    }
}

/// The move that copies a value of type `ty` between registers and slots.
pub fn mov_op(ty: ValType) -> i32 {
    match ty {
        ValType::I32 | ValType::F32 => sljit_sys::SLJIT_MOV32,
        _ => sljit_sys::SLJIT_MOV,
    }
}

/// `n` for saved register `S<n>` (SLJIT numbers it `S0 - n`); `None` for
/// a scratch register.
fn saved_index(r: Reg) -> Option<i32> {
    [S0, S1, S2, S3, S4, S5].contains(&r).then_some(S0.0 - r.0)
}

/// The frame offset of each local's slot. Parameters come first, in
/// order; the declared locals after them (a contiguous region the prologue
/// zeroes) are ordered by weight, those in registers (whose slots are used
/// only around calls) last: x86-64 addresses the first 128 bytes of the
/// frame with a 1-byte displacement, the rest with 4 bytes, and big
/// functions have hundreds of locals.
fn slot_offsets(
    locals: &[ValType],
    num_params: usize,
    weights: &[u32],
    in_register: impl Fn(usize) -> bool,
) -> Vec<i32> {
    let mut declared: Vec<usize> = (num_params..weights.len()).collect();
    declared.sort_by_key(|&i| (in_register(i), std::cmp::Reverse(weights[i]), i));
    let mut offsets = vec![0; weights.len()];
    let mut next = LOCALS_BASE;
    for i in (0..num_params).chain(declared) {
        offsets[i] = next;
        next += 8 * locals[i].slots() as i32;
    }
    offsets
}

/// Gives the most used locals (uses inside loops weigh more) registers:
/// integer locals get the callee-saved registers the function does not need
/// otherwise (they survive calls); then, in a function without calls in its
/// loops, the last pool registers, each to a local used more than the value
/// stack would use it (such a local is saved around the calls the function
/// makes, like float locals; in a function without calls it costs nothing,
/// so even a parameter read once is better off there than copied to its
/// slot); float locals get float registers. Returns the registers and the
/// value stack's pool size.
fn assign_local_registers(
    locals: &[ValType],
    facts: &super::prepass::BodyFacts,
    memory_def_in_s2: bool,
    uses_v128: bool,
) -> (Vec<Option<Reg>>, Vec<Option<crate::emitter::FReg>>, usize) {
    use super::stack::{FLOAT_LOCAL_REGISTERS, MIN_POOL, POOL};
    /// Below this weight a register is not worth its save and restore.
    const MIN_WEIGHT: u32 = 3;
    let saved: &[Reg] = match (facts.uses_memory, memory_def_in_s2) {
        (true, true) => &[S3, S4, S5],
        (true, false) => &[S2, S3, S4, S5],
        (false, _) => &[S1, S2, S3, S4, S5],
    };
    let by_weight = |float: bool| {
        let mut candidates: Vec<usize> = (0..locals.len())
            .filter(|&i| {
                // v128 locals live in float (vector) registers too, unless
                // calls in loops would save and restore them every time
                // (16 bytes each way).
                let vector = locals[i] == ValType::V128;
                (super::stack::is_float(locals[i]) || vector) == float
                    && !(vector && facts.calls_in_loops)
                    && facts.local_weights[i] > 0
            })
            .collect();
        candidates.sort_by_key(|&i| (std::cmp::Reverse(facts.local_weights[i]), i));
        candidates
    };
    let worth_saving = |local: &usize| facts.local_weights[*local] >= MIN_WEIGHT;
    let mut regs = vec![None; locals.len()];
    let mut integers = by_weight(false).into_iter().peekable();
    for reg in saved {
        match integers.next_if(worth_saving) {
            Some(local) => regs[local] = Some(*reg),
            None => break,
        }
    }
    // The pool shrinks from its end, so the value stack keeps a prefix.
    let mut pool_len = POOL.len();
    if !facts.calls_in_loops {
        for local in integers {
            if pool_len == MIN_POOL
                || (facts.calls && !worth_saving(&local))
                || facts.local_weights[local] <= facts.deep_weights[pool_len - 1 - MIN_POOL]
            {
                break;
            }
            pool_len -= 1;
            regs[local] = Some(POOL[pool_len]);
        }
    }
    let mut fregs = vec![None; locals.len()];
    let floats = by_weight(true).into_iter().filter(worth_saving);
    // SIMD lowerings use the last one as a temporary (`stack::FT2`).
    let float_registers =
        &FLOAT_LOCAL_REGISTERS[..FLOAT_LOCAL_REGISTERS.len() - usize::from(uses_v128)];
    for (local, reg) in floats.zip(float_registers.iter().copied()) {
        fregs[local] = Some(reg);
    }
    (regs, fregs, pool_len)
}
