//! Code generation for a whole module: one SLJIT compiler holds every
//! function, so wasm-to-wasm calls are plain PC-relative `call`s.
//!
//! Code layout, in emission order:
//!
//! ```text
//! host_entry trampoline   extern "C" fn(vmctx, argv, code) -> u32
//! trap path               shared by every trap stub: records the trap, unwinds
//!                         to the trampoline, returns 1
//! import stubs            one per imported function: calls the host through vmctx
//! defined functions       each followed by its out-of-line trap stubs
//! ```

mod calls;
mod compare;
mod control;
mod conversion;
mod float;
mod func;
mod integer;
mod memory;
mod prepass;
mod stack;
mod table;
mod variables;
mod visit;

use vibewasm_format::vmctx::{self, VmctxLayout};
use vibewasm_format::{self as format, CodeRange, Metadata, RelocTarget, TrapCode, TrapSite};

use crate::emitter::{self, arg_types, Emitter, Jump, Label, Operand, Reg, R0, R1, R2, S0};
use crate::error::CompileError;

pub use func::FuncCompiler;

/// The result of code generation.
pub struct CompiledCode {
    pub code: Vec<u8>,
    pub functions: Vec<CodeRange>,
    pub host_entry: u32,
    pub traps: Vec<TrapSite>,
    pub relocations: Vec<format::Relocation>,
    pub fault_sites: Vec<format::FaultSite>,
    pub call_sites: Vec<format::CallSite>,
    pub cpu_features: u64,
}

/// State shared by all functions of the module being compiled.
pub struct ModuleCompiler<'m> {
    pub e: Emitter,
    pub meta: &'m Metadata,
    pub layout: VmctxLayout,
    func_labels: Vec<Option<Label>>,
    /// Per function: where its frame is built (after the stack check) and
    /// the bytes the check made sure the frame fits in.
    frames: Vec<Option<(Label, u32)>>,
    pending_calls: Vec<(Jump, u32)>,
    trap_stubs: Vec<(Label, TrapSite)>,
    /// The shared trap path every trap stub jumps to.
    trap_common: Option<Label>,
    host_entry: Option<Label>,
    relocations: Vec<RelocTarget>,
    pub cpu_features: u64,
    pub options: format::CodeOptions,
    /// Unchecked memory accesses `(start, end, trap site)` (guard-page mode).
    fault_sites: Vec<(Label, Label, usize)>,
    /// Return addresses of calls, with the wasm offset of the call.
    call_sites: Vec<(Label, u32)>,
    /// Bytes of wasm code, to size the code buffer.
    wasm_size: usize,
}

impl<'m> ModuleCompiler<'m> {
    pub fn new(
        meta: &'m Metadata,
        wasm_size: usize,
        options: format::CodeOptions,
    ) -> Result<Self, CompileError> {
        Ok(ModuleCompiler {
            e: Emitter::new()?,
            meta,
            layout: VmctxLayout::new(meta),
            func_labels: vec![None; meta.func_types.len()],
            frames: vec![None; meta.func_types.len()],
            pending_calls: Vec::new(),
            trap_stubs: Vec::new(),
            trap_common: None,
            host_entry: None,
            relocations: Vec::new(),
            cpu_features: 0,
            options,
            fault_sites: Vec::new(),
            call_sites: Vec::new(),
            wasm_size,
        })
    }

    /// Notes that the code reads a vmctx slot the loader must fill.
    pub fn use_slot(&mut self, target: RelocTarget) {
        if !self.relocations.contains(&target) {
            self.relocations.push(target);
        }
    }

    /// Starts function `index` and builds its wasm-convention frame (`S0`
    /// is vmctx and kept, the argument array arrives in `R0`), checking
    /// first that the frame fits above the stack limit. Returns the
    /// branches taken when it does not: the caller makes them raise
    /// [`TrapCode::StackOverflow`], whose stub then runs with no frame
    /// built (see [`TrapSite::frame_size`]).
    ///
    /// Checking before `enter` allocates is what keeps the trap path
    /// above the stack limit (in the red zone the loader keeps below it):
    /// allocating first put the stack pointer up to a whole frame (1 MiB)
    /// below the limit, past the thread's guard page.
    pub fn enter_function(
        &mut self,
        index: u32,
        scratches: i32,
        saveds: i32,
        local_size: i32,
    ) -> [Jump; 2] {
        let label = self.e.aligned_label(4);
        self.func_labels[index as usize] = Some(label);
        // At most what `enter` pushes and allocates: the saved registers
        // (fewer: S0 is kept), the locals, and up to 15 bytes that align
        // the frame. `finish` checks the real prologue against it.
        let bytes = local_size as u32 + 8 * saveds as u32 + 16;
        let overflow = emit_stack_check(&mut self.e, bytes);
        let frame = self.e.label();
        self.frames[index as usize] = Some((frame, bytes));
        self.e.enter(
            sljit_sys::SLJIT_ENTER_REG_ARG | 1, // SLJIT_ENTER_KEEP(1): S0 is vmctx, never saved
            emitter::wasm_entry_args(),
            scratches,
            saveds,
            local_size,
        );
        overflow
    }

    /// A direct call to function `callee`, linked once every function exists.
    pub fn call_function(&mut self, callee: u32, wasm_offset: u32) {
        let jump = self
            .e
            .call(sljit_sys::SLJIT_CALL_REG_ARG, emitter::wasm_call_args());
        self.pending_calls.push((jump, callee));
        self.call_returns_here(wasm_offset);
    }

    /// Marks the position after a call instruction, for backtraces.
    pub fn call_returns_here(&mut self, wasm_offset: u32) {
        let label = self.e.label();
        self.call_sites.push((label, wasm_offset));
    }

    /// Records an unchecked memory access between `start` and `end` whose
    /// fault raises the trap of stub number `site` (see `emit_trap_stub`).
    pub fn add_fault_site(&mut self, start: Label, end: Label, site: usize) {
        self.fault_sites.push((start, end, site));
    }

    /// The number the next trap stub will get.
    pub fn next_trap_site(&self) -> usize {
        self.trap_stubs.len()
    }

    /// Emits the trap stub of one site: its site number in `R1` and a jump
    /// to the shared trap path (`emit_trampoline`), 10 bytes. Guard-page
    /// faults resume here too, so every stub runs with the trapping frame's
    /// stack pointer and `vmctx`. `jumps` are the branches that raise it.
    /// A stack-overflow stub runs at function entry, before the frame
    /// exists: it first aligns the stack pointer for the call into the
    /// runtime ([`format::OVERFLOW_STUB_SHIFT`]).
    ///
    /// A site that only faults (an unchecked access of guard-page code)
    /// gets no stub: the fault handler itself puts the site number in the
    /// trap-site register and resumes at the shared trap path, which is the
    /// site's `code_offset` (see [`format::FaultSite`]). That saves 10
    /// bytes of code per memory access.
    pub fn emit_trap_stub(&mut self, jumps: &[Jump], site: TrapSite) {
        use sljit_sys::*;
        let trap_common = self.trap_common.expect("trampoline emitted first");
        if jumps.is_empty() {
            self.trap_stubs.push((trap_common, site));
            return;
        }
        let label = self.e.label();
        for jump in jumps {
            self.e.set_label(*jump, label);
        }
        if site.code == TrapCode::StackOverflow {
            self.e.custom(&sub_sp(format::OVERFLOW_STUB_SHIFT as u8));
        }
        let index = self.trap_stubs.len();
        self.e
            .op1(SLJIT_MOV32, Operand::reg(R1), Operand::imm(index as i64));
        let to_common = self.e.jump(SLJIT_JUMP);
        self.e.set_label(to_common, trap_common);
        self.trap_stubs.push((label, site));
    }

    /// The host entry trampoline and the shared trap exit.
    ///
    /// Frame: `[SP+0]` the entry SP of the enclosing entry (nested entries:
    /// host -> wasm -> host -> wasm), `[SP+8]` the runtime state. A trap
    /// may be raised by code of another module than the one entered (after
    /// a cross-instance call); its `trap_exit` restores the SP of whichever
    /// trampoline was entered last. That works because every trampoline has
    /// exactly this frame and epilogue.
    pub fn emit_trampoline(&mut self) {
        use sljit_sys::*;
        let e = &mut self.e;
        let entry = e.aligned_label(4);
        // C ABI: vmctx, argv and code arrive in S0, S1 and S2. Saving all six
        // callee-saved registers lets a trap skip the epilogues of the wasm
        // frames it unwinds: the host's registers come back from here.
        e.enter(
            0,
            arg_types(SLJIT_ARG_TYPE_32, &[SLJIT_ARG_TYPE_P; 3]),
            3,
            6,
            16,
        );
        let outer_entry_sp = Operand::mem(emitter::SP, 0);
        let saved_runtime = Operand::mem(emitter::SP, 8);
        let entry_sp = Operand::mem(R2, vmctx::RUNTIME_ENTRY_SP as i64);
        e.op1(
            SLJIT_MOV,
            Operand::reg(R2),
            Operand::mem(S0, vmctx::RUNTIME as i64),
        );
        e.op1(SLJIT_MOV, saved_runtime, Operand::reg(R2));
        e.op1(SLJIT_MOV, Operand::reg(R0), entry_sp);
        e.op1(SLJIT_MOV, outer_entry_sp, Operand::reg(R0));
        e.local_address(R0, 0);
        e.op1(SLJIT_MOV, entry_sp, Operand::reg(R0));
        e.op1(SLJIT_MOV, Operand::reg(R1), Operand::reg(emitter::S2));
        e.op1(SLJIT_MOV, Operand::reg(R0), Operand::reg(emitter::S1));
        e.icall(
            SLJIT_CALL_REG_ARG,
            emitter::wasm_call_args(),
            Operand::reg(R1),
        );
        e.op1(SLJIT_MOV, Operand::reg(R2), saved_runtime);
        e.op1(SLJIT_MOV, Operand::reg(R0), outer_entry_sp);
        e.op1(SLJIT_MOV, entry_sp, Operand::reg(R0));
        e.return_value(SLJIT_MOV32, Operand::imm(0));

        // The fault handler resumes here with the site number in R1, which
        // the format calls the trap-site register.
        debug_assert_eq!(
            Emitter::machine_index(R1),
            format::TRAP_SITE_REGISTER_X86_64 as i32
        );
        // The shared trap path, reached by a jump from a trap stub (or the
        // fault handler) with the site number in R1, on the trapping
        // frame's stack: records the
        // site and the trapping vmctx in the runtime state; the wasm frames
        // die at the unwind, so the runtime records the call stack now,
        // walking up from this stack pointer.
        let common = e.label();
        e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem(S0, vmctx::RUNTIME as i64),
        );
        e.op1(
            SLJIT_MOV32,
            Operand::mem(R0, vmctx::RUNTIME_TRAP_SITE as i64),
            Operand::reg(R1),
        );
        e.op1(
            SLJIT_MOV,
            Operand::mem(R0, vmctx::RUNTIME_TRAP_VMCTX as i64),
            Operand::reg(S0),
        );
        e.custom(&mov_from_sp(R1));
        e.op1(
            SLJIT_MOV,
            Operand::mem(R0, vmctx::RUNTIME_TRAP_SP as i64),
            Operand::reg(R1),
        );
        e.op1(SLJIT_MOV, Operand::reg(R0), Operand::reg(S0));
        e.icall(
            SLJIT_CALL,
            arg_types(SLJIT_ARG_TYPE_32, &[SLJIT_ARG_TYPE_P, SLJIT_ARG_TYPE_P]),
            Operand::mem(S0, self.layout.helper(vmctx::Helper::RecordTrap) as i64),
        );
        let e = &mut self.e;
        e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem(S0, vmctx::RUNTIME as i64),
        );
        // Falls through into the trap exit, with the runtime state in R0.
        e.custom(&load_sp(R0, vmctx::RUNTIME_ENTRY_SP));
        e.op1(SLJIT_MOV, Operand::reg(R2), saved_runtime);
        e.op1(SLJIT_MOV, Operand::reg(R0), outer_entry_sp);
        e.op1(SLJIT_MOV, entry_sp, Operand::reg(R0));
        e.return_value(SLJIT_MOV32, Operand::imm(1));
        self.host_entry = Some(entry);
        self.trap_common = Some(common);
    }

    /// The code of imported function `index`: a wasm-convention function that
    /// calls another instance's function or the host, as its vmctx record says.
    pub fn emit_import_stub(&mut self, index: u32) {
        use sljit_sys::*;
        let record = self.layout.imported_func(index) as i64;
        self.use_slot(RelocTarget::ImportedFunc(index));
        let overflow = self.enter_function(index, 3, 1, 16);
        let e = &mut self.e;
        e.op1(
            SLJIT_MOV,
            Operand::reg(R1),
            Operand::mem(S0, record + vmctx::IMPORT_CALLEE as i64),
        );
        let to_host = e.cmp(SLJIT_EQUAL, Operand::reg(R1), Operand::imm(0));
        // Another instance's function: run it with its own vmctx.
        let saved_ctx = Operand::mem(emitter::SP, 0);
        e.op1(SLJIT_MOV, saved_ctx, Operand::reg(S0));
        e.op1(
            SLJIT_MOV,
            Operand::reg(S0),
            Operand::mem(R1, vmctx::FUNC_REF_VMCTX as i64),
        );
        e.icall(
            SLJIT_CALL_REG_ARG,
            emitter::wasm_call_args(),
            Operand::mem(R1, vmctx::FUNC_REF_CODE as i64),
        );
        self.call_returns_here(0);
        let e = &mut self.e;
        e.op1(SLJIT_MOV, Operand::reg(S0), saved_ctx);
        e.return_void();
        // A host function: host_fn(host_env, vmctx, argv).
        let label = e.label();
        e.set_label(to_host, label);
        e.op1(SLJIT_MOV, Operand::reg(R2), Operand::reg(R0));
        e.op1(SLJIT_MOV, Operand::reg(R1), Operand::reg(S0));
        e.op1(
            SLJIT_MOV,
            Operand::reg(R0),
            Operand::mem(S0, record + vmctx::IMPORT_HOST_ENV as i64),
        );
        e.icall(
            SLJIT_CALL,
            arg_types(SLJIT_ARG_TYPE_32, &[SLJIT_ARG_TYPE_P; 3]),
            Operand::mem(S0, record + vmctx::IMPORT_HOST_FN as i64),
        );
        self.call_returns_here(0);
        let e = &mut self.e;
        let failed = e.cmp(
            SLJIT_NOT_EQUAL | SLJIT_32,
            Operand::reg(R0),
            Operand::imm(0),
        );
        e.return_void();
        let site = |code| TrapSite {
            code_offset: 0,
            func: index,
            wasm_offset: 0,
            code,
        };
        self.emit_trap_stub(&overflow, site(TrapCode::StackOverflow));
        self.emit_trap_stub(&[failed], site(TrapCode::HostError));
    }

    /// Links calls and generates the machine code.
    pub fn finish(mut self) -> Result<CompiledCode, CompileError> {
        let mut labels = Vec::with_capacity(self.func_labels.len());
        for (i, label) in self.func_labels.iter().enumerate() {
            labels.push(label.ok_or_else(|| {
                CompileError::Internal(format!("function {i} was never emitted"))
            })?);
        }
        for (jump, callee) in std::mem::take(&mut self.pending_calls) {
            self.e.set_label(jump, labels[callee as usize]);
        }
        // Generous: generated code is far below 64 bytes per wasm byte.
        let reserve = 1 << 20 | (self.wasm_size.saturating_mul(64)).next_multiple_of(4096);
        let generated = self.e.generate(reserve)?;
        let offset = |label: Label| self.e.label_offset(label, generated.base) as u32;
        let starts: Vec<u32> = labels.iter().map(|l| offset(*l)).collect();
        let code_len = generated.code.len() as u32;
        let functions = starts
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                let end = starts.get(i + 1).copied().unwrap_or(code_len);
                let (frame, checked) = self.frames[i].expect("every function entered");
                let frame_start = offset(frame) as usize;
                let frame_size = frame_size(&generated.code[frame_start..end as usize])?;
                // The stack check before the prologue must cover what the
                // prologue really allocates (plus the return address).
                if frame_size > checked {
                    return Err(CompileError::Internal(format!(
                        "function {i}: a frame of {frame_size} bytes, {checked} checked"
                    )));
                }
                Ok(CodeRange {
                    offset: start,
                    len: end - start,
                    frame_size,
                })
            })
            .collect::<Result<_, CompileError>>()?;
        let mut call_sites: Vec<format::CallSite> = self
            .call_sites
            .iter()
            .map(|(label, wasm_offset)| format::CallSite {
                return_offset: offset(*label),
                wasm_offset: *wasm_offset,
            })
            .collect();
        call_sites.sort_by_key(|c| c.return_offset);
        let traps = self
            .trap_stubs
            .iter()
            .map(|(label, site)| TrapSite {
                code_offset: offset(*label),
                ..*site
            })
            .collect();
        let host_entry = offset(self.host_entry.expect("trampoline emitted"));
        let relocations = self
            .relocations
            .iter()
            .map(|target| format::Relocation {
                slot: match *target {
                    RelocTarget::Helper(h) => self
                        .layout
                        .helper(vmctx::Helper::from_u32(h).expect("known helper")),
                    RelocTarget::ImportedFunc(f) => self.layout.imported_func(f),
                } as u32,
                target: *target,
            })
            .collect();
        let fault_sites = self
            .fault_sites
            .iter()
            .map(|(start, end, trap)| format::FaultSite {
                start: offset(*start),
                end: offset(*end),
                trap: *trap as u32,
            })
            .collect();
        Ok(CompiledCode {
            call_sites,
            fault_sites,
            code: generated.code,
            functions,
            host_entry,
            traps,
            relocations,
            cpu_features: self.cpu_features,
        })
    }
}

/// The bytes between a function's body stack pointer and its return
/// address, read off the prologue SLJIT generated (x86-64: register pushes,
/// then `sub rsp, imm`).
fn frame_size(code: &[u8]) -> Result<u32, CompileError> {
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

/// Emits, before a function's `enter`, the check that `bytes` more of stack
/// fit above the limit in the runtime state: two branches, taken when
/// the stack pointer minus `bytes` wraps or falls below the limit.
/// Uses `R1` and `R2` (`R0` holds the argument array).
fn emit_stack_check(e: &mut Emitter, bytes: u32) -> [Jump; 2] {
    use sljit_sys::*;
    e.custom(&mov_from_sp(R1));
    e.op2(
        SLJIT_SUB | (SLJIT_LESS << 10), // SLJIT_SET(SLJIT_LESS): borrow
        Operand::reg(R1),
        Operand::reg(R1),
        Operand::imm(bytes as i64),
    );
    let wrapped = e.jump(SLJIT_LESS);
    e.op1(
        SLJIT_MOV,
        Operand::reg(R2),
        Operand::mem(S0, vmctx::RUNTIME as i64),
    );
    let below = e.cmp(
        SLJIT_LESS,
        Operand::reg(R1),
        Operand::mem(R2, vmctx::RUNTIME_STACK_LIMIT as i64),
    );
    [wrapped, below]
}

/// x86-64 `sub rsp, imm8`: SLJIT has no way to move the stack pointer
/// outside `enter` and `return`.
fn sub_sp(imm: u8) -> [u8; 4] {
    debug_assert!(imm < 0x80, "a sign-extended imm8");
    [0x48, 0x83, 0xec, imm]
}

/// x86-64 `mov dst, rsp`: the stack pointer of the trapping frame, which
/// the shared trap path (not a function of its own in SLJIT's view) reads,
/// and the stack pointer a function is entered with, before `enter`.
fn mov_from_sp(dst: Reg) -> Vec<u8> {
    let dst = Emitter::machine_index(dst);
    let rex = 0x48 | if dst >= 8 { 0x01 } else { 0 };
    // mov r/m64, r64 with r = rsp (4), rm = dst.
    vec![rex as u8, 0x89, 0xc0 | (4 << 3) | (dst & 7) as u8]
}

/// x86-64 `mov rsp, [base + disp32]`: SLJIT has no way to set the stack
/// pointer, which the trap exit needs to drop every wasm frame at once.
fn load_sp(base: Reg, disp: i32) -> Vec<u8> {
    let base = Emitter::machine_index(base);
    debug_assert!(base & 7 != 4, "an rsp/r12 base would need a SIB byte");
    let rex = 0x48 | if base >= 8 { 0x01 } else { 0 };
    let modrm = 0x80 | (4 << 3) | (base & 7) as u8;
    let mut bytes = vec![rex as u8, 0x8b, modrm];
    bytes.extend_from_slice(&disp.to_le_bytes());
    bytes
}
