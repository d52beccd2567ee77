//! Code generation for a whole module, in chunks of functions that are
//! compiled independently (in parallel when there are threads for it) and
//! then linked into one code section by `link.rs`. Each chunk has one SLJIT
//! compiler; calls between functions are `call rel32`s whose displacement
//! the linker fills, wherever the callee landed.
//!
//! Code layout, in emission order:
//!
//! ```text
//! host_entry trampoline   extern "C" fn(vmctx, argv, code) -> u32   (chunk 0)
//! trap path               shared by every trap stub: records the trap, unwinds
//!                         to the trampoline, returns 1               (chunk 0)
//! import stubs            one per imported function: calls the host through
//!                         vmctx                                      (chunk 0)
//! defined functions       each followed by its out-of-line trap stubs, in
//!                         index order, chunk after chunk
//! ```

mod aarch64;
mod calls;
mod compare;
mod control;
mod conversion;
mod float;
mod func;
mod integer;
pub mod link;
mod machine;
mod memory;
mod prepass;
mod simd;
pub(crate) mod sljit_regs;
mod stack;
mod table;
mod variables;
mod visit;
pub(crate) mod x86_64;

use vibewasm_format::vmctx::{self, VmctxLayout};
use vibewasm_format::{
    self as format, Arch, CodeRange, Metadata, RelocTarget, Target, TrapCode, TrapSite,
};

use crate::emitter::{self, arg_types, Emitter, Jump, Label, Operand, Reg, R0, R1, R2, R3, S0};
use crate::error::CompileError;
use link::{ChunkCode, LinkTarget, Patch};

pub use func::FuncCompiler;

/// State shared by the functions of one chunk of the module.
pub struct ModuleCompiler<'m> {
    pub e: Emitter,
    pub meta: &'m Metadata,
    pub layout: VmctxLayout,
    /// Functions of this chunk in emission order: index, entry label, where
    /// its frame is built (after the stack check) and the bytes the check
    /// made sure the frame fits in.
    functions: Vec<(u32, Label, Label, u32)>,
    /// 4-byte fields the linker fills, each ending at its label.
    patches: Vec<(Label, Patch)>,
    /// The sites of trap stubs, in chunk-local numbering.
    trap_stubs: Vec<TrapSite>,
    /// In chunk 0: the shared trap path and the host entry trampoline.
    trap_common: Option<Label>,
    host_entry: Option<Label>,
    relocations: Vec<RelocTarget>,
    /// The CPU features the target allows the code to use, and those it
    /// used (the artifact requires them).
    pub allowed_features: u64,
    pub cpu_features: u64,
    pub options: format::CodeOptions,
    /// Hold operator encodings to WebAssembly 2.0's binary rules
    /// (`crate::strict`; [`crate::Language::Wasm2`]).
    pub strict_wasm2: bool,
    /// Unchecked accesses: `(start, end, wasm offset, trap code)`.
    fault_sites: Vec<(Label, Label, u32, TrapCode)>,
    /// Return addresses of calls, with the wasm offset of the call.
    call_sites: Vec<(Label, u32)>,
    /// Bytes of wasm code in the chunk, to size the code buffer.
    wasm_size: usize,
    /// Float constants (bit patterns) placed after the chunk's code, and
    /// the loads that read them `(end of the load, pool entry)`.
    float_pool: Vec<u64>,
    float_pool_entries: std::collections::HashMap<u64, usize>,
    /// `v128` constants: their first of two consecutive pool entries.
    vector_pool_entries: std::collections::HashMap<u128, usize>,
    float_loads: Vec<(Label, usize)>,
    /// Some signature or global of the module has a `v128` in it: then any
    /// function may hold one on its stack (see `func.rs`, frame layout).
    pub module_has_v128: bool,
    /// Which memories and tables are 64-bit (memory64, table64), imports
    /// first: looked up at every access, so computed once.
    memory64: Vec<bool>,
    table64: Vec<bool>,
}

impl<'m> ModuleCompiler<'m> {
    pub fn new(
        meta: &'m Metadata,
        wasm_size: usize,
        target: &Target,
        options: format::CodeOptions,
    ) -> Result<Self, CompileError> {
        let e = Emitter::new(target.arch)?;
        Ok(ModuleCompiler {
            e,
            meta,
            layout: VmctxLayout::new(meta),
            functions: Vec::new(),
            patches: Vec::new(),
            trap_stubs: Vec::new(),
            trap_common: None,
            host_entry: None,
            relocations: Vec::new(),
            allowed_features: target.cpu_features,
            cpu_features: 0,
            options,
            strict_wasm2: false,
            fault_sites: Vec::new(),
            call_sites: Vec::new(),
            wasm_size,
            float_pool: Vec::new(),
            float_pool_entries: Default::default(),
            vector_pool_entries: Default::default(),
            float_loads: Vec::new(),
            module_has_v128: meta.types.iter().any(|t| {
                t.params.contains(&format::ValType::V128)
                    || t.results.contains(&format::ValType::V128)
            }) || (0..meta.num_globals()).any(|g| {
                meta.global_type(g)
                    .is_some_and(|t| t.ty == format::ValType::V128)
            }),
            memory64: (0..meta.num_memories())
                .map(|i| meta.memory_is_64(i))
                .collect(),
            table64: (0..meta.num_tables())
                .map(|i| meta.table_is_64(i))
                .collect(),
        })
    }

    /// Whether memory `index` is a 64-bit one (memory64).
    pub fn memory_is_64(&self, index: u32) -> bool {
        self.memory64.get(index as usize).copied().unwrap_or(false)
    }

    /// Whether table `index` is a 64-bit one (table64).
    pub fn table_is_64(&self, index: u32) -> bool {
        self.table64.get(index as usize).copied().unwrap_or(false)
    }

    /// Notes that the code reads a vmctx slot the loader must fill.
    pub fn use_slot(&mut self, target: RelocTarget) {
        if !self.relocations.contains(&target) {
            self.relocations.push(target);
        }
    }

    /// Starts function `index` and builds its wasm-convention frame (`S0`
    /// is vmctx and kept, the argument array arrives in `R0` and the
    /// results array in `R1`), checking
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
        // At most what `enter` pushes and allocates: the saved registers
        // (fewer: S0 is kept), the locals, and up to 15 bytes that align
        // the frame. `finish` checks the real prologue against it.
        // aarch64 also stores the frame record (x29, x30) and rounds to 16.
        let bytes = match self.e.arch() {
            Arch::X86_64 => local_size as u32 + 8 * saveds as u32 + 16,
            Arch::Aarch64 => (local_size as u32 + 8 * saveds as u32 + 8 + 15) & !15,
        };
        // The stack check before `enter` runs in no function's context (or
        // in the one before, which may have fewer scratch registers): it
        // gets one for the registers it uses.
        self.e.set_context(
            sljit_sys::SLJIT_ENTER_REG_ARG | 1, // SLJIT_ENTER_KEEP(1)
            emitter::wasm_entry_args(),
            4,
            1,
            0,
        );
        let overflow = emit_stack_check(&mut self.e, bytes);
        let frame = self.e.label();
        self.functions.push((index, label, frame, bytes));
        self.e.enter(
            sljit_sys::SLJIT_ENTER_REG_ARG | 1, // SLJIT_ENTER_KEEP(1): S0 is vmctx, never saved
            emitter::wasm_entry_args(),
            scratches,
            saveds,
            local_size,
        );
        overflow
    }

    /// Loads the float constant `bits` (an f32's in the low 32 bits) into
    /// `dst`: +0 by clearing the register, any other value from the
    /// chunk's constant pool, one PC-relative load (SLJIT would build it in
    /// a general register and move it over: two instructions, 15 bytes).
    /// On aarch64 SLJIT's `fset` is used for now: a literal load reaches
    /// only 1 MiB, less than a large function's code.
    pub fn float_const(&mut self, dst: emitter::FReg, is_f32: bool, bits: u64) {
        if bits == 0 || self.e.arch() == Arch::Aarch64 {
            return self.e.fset(dst, is_f32, bits);
        }
        let entry = match self.float_pool_entries.get(&bits) {
            Some(&entry) => entry,
            None => {
                self.float_pool.push(bits);
                self.float_pool_entries
                    .insert(bits, self.float_pool.len() - 1);
                self.float_pool.len() - 1
            }
        };
        let xmm = self.e.float_machine_index(dst);
        self.e.custom(&x86_64::load_float_pc_relative(xmm, is_f32));
        let end = self.e.label();
        self.float_loads.push((end, entry));
    }

    /// Loads the `v128` constant `bits` into `dst`: zero by clearing the
    /// register; on x86-64 any other value from the chunk's constant pool
    /// (one load instead of four instructions through a general register);
    /// on aarch64 through `R0` ([`emitter::Emitter::vec_const`]).
    pub fn vector_const(&mut self, dst: emitter::FReg, bits: u128) {
        if self.e.arch() == Arch::Aarch64 {
            return self.e.vec_const(dst, bits);
        }
        let xmm = self.e.float_machine_index(dst);
        if bits == 0 {
            return self
                .e
                .custom(&x86_64::sse(Some(0x66), &[0xef], xmm, xmm, None));
        }
        let entry = match self.vector_pool_entries.get(&bits) {
            Some(&entry) => entry,
            None => {
                let entry = self.float_pool.len();
                self.float_pool.extend([bits as u64, (bits >> 64) as u64]);
                self.vector_pool_entries.insert(bits, entry);
                entry
            }
        };
        self.e.custom(&x86_64::load_vector_pc_relative(xmm));
        let end = self.e.label();
        self.float_loads.push((end, entry));
    }

    /// Moves `value` (a general or float register, as `m` says) from or to
    /// `[base + index + offset]` in one instruction, which SLJIT cannot
    /// express (see [`x86_64::indexed_move`]).
    pub fn indexed_move(
        &mut self,
        m: x86_64::IndexedMove,
        value: Operand,
        base: Reg,
        index: Reg,
        offset: i32,
    ) {
        let reg = if m.float {
            self.e.float_machine_index(emitter::FReg(value.arg))
        } else {
            self.e.machine_index(Reg(value.arg))
        };
        let (base, index) = (self.e.machine_index(base), self.e.machine_index(index));
        self.e
            .custom(&x86_64::indexed_move(m, reg, base, index, offset));
    }

    /// Whether memory can be addressed as `[base + index + displacement]`
    /// in one instruction ([`ModuleCompiler::indexed_move`]).
    pub fn has_indexed_displacement(&self) -> bool {
        self.e.arch() == Arch::X86_64
    }

    /// A direct call to function `callee`, wherever the linker puts it.
    pub fn call_function(&mut self, callee: u32, wasm_offset: u32) {
        match self.e.arch() {
            Arch::X86_64 => self.e.custom(&x86_64::CALL_REL32),
            Arch::Aarch64 => self.e.custom(&aarch64::bytes(aarch64::BL)),
        }
        let returns_here = self.e.label();
        self.patches
            .push((returns_here, Patch::Branch(LinkTarget::Function(callee))));
        self.call_sites.push((returns_here, wasm_offset));
    }

    /// A tail call to function `callee`: releases the current frame and
    /// jumps to the callee wherever the linker puts it, which returns to
    /// this function's caller. The arguments must be in place (`R0`, `R1`,
    /// see `calls.rs`). No call site: no return address points here.
    pub fn tail_call_function(&mut self, callee: u32) {
        self.e.frame_release();
        match self.e.arch() {
            Arch::X86_64 => self.e.custom(&x86_64::JMP_REL32),
            Arch::Aarch64 => self.e.custom(&aarch64::bytes(aarch64::B)),
        }
        let jump_end = self.e.label();
        self.patches
            .push((jump_end, Patch::Branch(LinkTarget::Function(callee))));
    }

    /// Marks the position after a call instruction, for backtraces.
    pub fn call_returns_here(&mut self, wasm_offset: u32) {
        let label = self.e.label();
        self.call_sites.push((label, wasm_offset));
    }

    /// Records an unchecked memory access between `start` and `end` whose
    /// fault raises `code` at `wasm_offset` (see [`format::FaultSite`]).
    pub fn add_fault_site(&mut self, start: Label, end: Label, wasm_offset: u32, code: TrapCode) {
        self.fault_sites.push((start, end, wasm_offset, code));
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
    /// gets neither a stub nor a number: it is a fault site of its own
    /// (`add_fault_site`), whose number the fault handler puts in the
    /// trap-site register before resuming at the shared trap path (see
    /// [`format::FaultSite`]). That saves 10 bytes of code and a trap-table
    /// record per memory access.
    pub fn emit_trap_stub(&mut self, jumps: &[Jump], site: TrapSite) {
        if jumps.is_empty() {
            return;
        }
        let label = self.e.label();
        for jump in jumps {
            self.e.set_label(*jump, label);
        }
        let overflow = site.code == TrapCode::StackOverflow;
        // Numbered in the chunk; the linker adds the chunk's first number.
        let index = self.trap_stubs.len() as u32;
        let r1 = self.e.machine_index(R1);
        match self.e.arch() {
            Arch::X86_64 => {
                if overflow {
                    self.e
                        .custom(&x86_64::sub_sp(format::OVERFLOW_STUB_SHIFT as u8));
                }
                self.e.custom(&x86_64::mov32_imm(r1, index));
            }
            Arch::Aarch64 => {
                if overflow {
                    self.e.custom(&aarch64::bytes(aarch64::PUSH_FRAME_RECORD));
                }
                self.e.custom(&aarch64::mov32_imm(r1, index));
            }
        }
        let number_end = self.e.label();
        self.patches.push((number_end, Patch::TrapSiteNumber));
        match self.e.arch() {
            Arch::X86_64 => self.e.custom(&x86_64::JMP_REL32),
            Arch::Aarch64 => self.e.custom(&aarch64::bytes(aarch64::B)),
        }
        let jump_end = self.e.label();
        self.patches
            .push((jump_end, Patch::Branch(LinkTarget::TrapPath)));
        self.trap_stubs.push(site);
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
        // The stack pointer itself (not `local_address`, which is above
        // the frame record on aarch64): the trap exit restores it.
        read_sp(e, R0);
        e.op1(SLJIT_MOV, entry_sp, Operand::reg(R0));
        // Arguments and results in the one array `argv`.
        e.op1(SLJIT_MOV, Operand::reg(R0), Operand::reg(emitter::S1));
        e.op1(SLJIT_MOV, Operand::reg(R1), Operand::reg(emitter::S1));
        e.icall(
            SLJIT_CALL_REG_ARG,
            emitter::wasm_call_args(),
            Operand::reg(emitter::S2),
        );
        e.op1(SLJIT_MOV, Operand::reg(R2), saved_runtime);
        e.op1(SLJIT_MOV, Operand::reg(R0), outer_entry_sp);
        e.op1(SLJIT_MOV, entry_sp, Operand::reg(R0));
        e.return_value(SLJIT_MOV32, Operand::imm(0));

        // The fault handler resumes here with the site number in R1, which
        // the format calls the trap-site register.
        debug_assert_eq!(
            e.machine_index(R1),
            match e.arch() {
                Arch::X86_64 => format::TRAP_SITE_REGISTER_X86_64,
                Arch::Aarch64 => format::TRAP_SITE_REGISTER_AARCH64,
            } as i32
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
        read_sp(e, R1);
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
        let r0 = e.machine_index(R0);
        match e.arch() {
            Arch::X86_64 => e.custom(&x86_64::load_sp(r0, vmctx::RUNTIME_ENTRY_SP)),
            Arch::Aarch64 => e.custom(&aarch64::load_sp(r0, vmctx::RUNTIME_ENTRY_SP)),
        }
        e.op1(SLJIT_MOV, Operand::reg(R2), saved_runtime);
        e.op1(SLJIT_MOV, Operand::reg(R0), outer_entry_sp);
        e.op1(SLJIT_MOV, entry_sp, Operand::reg(R0));
        e.return_value(SLJIT_MOV32, Operand::imm(1));
        self.host_entry = Some(entry);
        self.trap_common = Some(common);
    }

    /// The code of imported function `index`: a wasm-convention function that
    /// calls another instance's function or the host, as its vmctx record says.
    ///
    /// A host function gets one array for its arguments and results
    /// (`HostCallFn`), in this stub's frame: the arguments are copied there
    /// from `R0`, the results from there to `R1`. The two differ after a
    /// tail call, whose arguments are in the caller's vmctx, where a tail
    /// call of wasm the host calls back may overwrite them.
    ///
    /// Frame: `[SP+0]` our vmctx (calls to another instance), `[SP+8]` the
    /// results array, `[SP+16..]` the host function's array.
    pub fn emit_import_stub(&mut self, index: u32) {
        use sljit_sys::*;
        let record = self.layout.imported_func(index) as i64;
        self.use_slot(RelocTarget::ImportedFunc(index));
        let ty = self.meta.func_type(index).expect("validated").clone();
        let param_slots: usize = ty.params.iter().map(|t| t.slots()).sum();
        let result_slots: usize = ty.results.iter().map(|t| t.slots()).sum();
        const HOST_ARGV: i64 = 16;
        let frame = HOST_ARGV as i32 + 8 * param_slots.max(result_slots) as i32;
        let overflow = self.enter_function(index, 3, 1, frame);
        let e = &mut self.e;
        e.op1(
            SLJIT_MOV,
            Operand::reg(R2),
            Operand::mem(S0, record + vmctx::IMPORT_CALLEE as i64),
        );
        let to_host = e.cmp(SLJIT_EQUAL, Operand::reg(R2), Operand::imm(0));
        // Another instance's function: run it with its own vmctx.
        let saved_ctx = Operand::mem(emitter::SP, 0);
        e.op1(SLJIT_MOV, saved_ctx, Operand::reg(S0));
        e.op1(
            SLJIT_MOV,
            Operand::reg(S0),
            Operand::mem(R2, vmctx::FUNC_REF_VMCTX as i64),
        );
        e.icall(
            SLJIT_CALL_REG_ARG,
            emitter::wasm_call_args(),
            Operand::mem(R2, vmctx::FUNC_REF_CODE as i64),
        );
        self.call_returns_here(0);
        let e = &mut self.e;
        e.op1(SLJIT_MOV, Operand::reg(S0), saved_ctx);
        e.return_void();
        // A host function: host_fn(host_env, vmctx, argv).
        let label = e.label();
        e.set_label(to_host, label);
        let results = Operand::mem(emitter::SP, 8);
        e.op1(SLJIT_MOV, results, Operand::reg(R1));
        for k in 0..param_slots as i64 {
            e.op1(
                SLJIT_MOV,
                Operand::mem(emitter::SP, HOST_ARGV + 8 * k),
                Operand::mem(R0, 8 * k),
            );
        }
        e.local_address(R2, HOST_ARGV as i32);
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
        if result_slots > 0 {
            e.op1(SLJIT_MOV, Operand::reg(R1), results);
        }
        for k in 0..result_slots as i64 {
            e.op1(
                SLJIT_MOV,
                Operand::mem(R1, 8 * k),
                Operand::mem(emitter::SP, HOST_ARGV + 8 * k),
            );
        }
        e.return_void();
        let site = |code| TrapSite {
            func: index,
            wasm_offset: 0,
            code,
        };
        self.emit_trap_stub(&overflow, site(TrapCode::StackOverflow));
        self.emit_trap_stub(&[failed], site(TrapCode::HostError));
    }

    /// Generates the chunk's machine code; offsets in the result are from
    /// the chunk's start, for `link::link` to place.
    pub fn finish(mut self) -> Result<ChunkCode, CompileError> {
        // The float constants, 8 bytes each, after every function.
        let pool = (!self.float_pool.is_empty()).then(|| {
            let label = self.e.aligned_label(3);
            for bits in &self.float_pool {
                self.e.custom(&bits.to_le_bytes());
            }
            label
        });
        // Generous: generated code is far below 64 bytes per wasm byte.
        let reserve = 1 << 20 | (self.wasm_size.saturating_mul(64)).next_multiple_of(4096);
        let mut generated = self.e.generate(reserve)?;
        if let Some(pool) = pool {
            let pool = self.e.label_offset(pool, generated.base) as u32;
            for &(end, entry) in &self.float_loads {
                let end = self.e.label_offset(end, generated.base) as u32;
                // Only x86-64 uses the pool (see `float_const`).
                let value = x86_64::rel32(end, pool + 8 * entry as u32);
                x86_64::write_field(&mut generated.code, end as usize, value);
            }
        }
        let e = &self.e;
        let offset = |label: Label| e.label_offset(label, generated.base) as u32;
        let code_len = generated.code.len() as u32;
        let mut functions = Vec::with_capacity(self.functions.len());
        for (k, &(index, entry, frame, checked)) in self.functions.iter().enumerate() {
            let start = offset(entry);
            let end = self
                .functions
                .get(k + 1)
                .map_or(code_len, |next| offset(next.1));
            let prologue = &generated.code[offset(frame) as usize..end as usize];
            let frame_size = match self.e.arch() {
                Arch::X86_64 => x86_64::frame_size(prologue)?,
                Arch::Aarch64 => aarch64::frame_size(prologue)?,
            };
            // The stack check before the prologue must cover what the
            // prologue really allocates (plus the return address).
            if frame_size > checked {
                return Err(CompileError::Internal(format!(
                    "function {index}: a frame of {frame_size} bytes, {checked} checked"
                )));
            }
            functions.push((
                index,
                CodeRange {
                    offset: start,
                    len: end - start,
                    frame_size,
                },
            ));
        }
        let mut call_sites: Vec<format::CallSite> = self
            .call_sites
            .iter()
            .map(|(label, wasm_offset)| format::CallSite {
                return_offset: offset(*label),
                wasm_offset: *wasm_offset,
            })
            .collect();
        call_sites.sort_by_key(|c| c.return_offset);
        let mut fault_sites = Vec::with_capacity(self.fault_sites.len());
        for &(start, end, wasm_offset, code) in &self.fault_sites {
            let (start, end) = (offset(start), offset(end));
            let len = end
                .checked_sub(start)
                .and_then(|len| u8::try_from(len).ok())
                .ok_or_else(|| {
                    CompileError::Internal(format!("an unchecked access of {start}..{end}"))
                })?;
            fault_sites.push(format::FaultSite {
                start,
                len,
                wasm_offset,
                code,
            });
        }
        fault_sites.sort_by_key(|f| f.start);
        let patches = self
            .patches
            .iter()
            .map(|(label, patch)| (offset(*label), *patch))
            .collect();
        Ok(ChunkCode {
            functions,
            host_entry: self.host_entry.map(offset),
            trap_path: self.trap_common.map(offset),
            traps: self.trap_stubs,
            fault_sites,
            call_sites,
            relocations: self.relocations,
            patches,
            cpu_features: self.cpu_features,
            arch: self.e.arch(),
            code: generated.code,
        })
    }
}

/// Emits, before a function's `enter`, the check that `bytes` more of stack
/// fit above the limit in the runtime state: two branches, taken when
/// the stack pointer minus `bytes` wraps or falls below the limit.
/// Uses `R2` and `R3` (`R0` and `R1` hold the argument and result arrays).
fn emit_stack_check(e: &mut Emitter, bytes: u32) -> [Jump; 2] {
    use sljit_sys::*;
    read_sp(e, R2);
    e.op2(
        SLJIT_SUB | (SLJIT_LESS << 10), // SLJIT_SET(SLJIT_LESS): borrow
        Operand::reg(R2),
        Operand::reg(R2),
        Operand::imm(bytes as i64),
    );
    let wrapped = e.jump(SLJIT_LESS);
    e.op1(
        SLJIT_MOV,
        Operand::reg(R3),
        Operand::mem(S0, vmctx::RUNTIME as i64),
    );
    let below = e.cmp(
        SLJIT_LESS,
        Operand::reg(R2),
        Operand::mem(R3, vmctx::RUNTIME_STACK_LIMIT as i64),
    );
    [wrapped, below]
}

/// `dst = SP`, outside any `enter`d frame's view (SLJIT only offers
/// addresses of its locals, above the frame record on aarch64).
fn read_sp(e: &mut Emitter, dst: Reg) {
    let dst = e.machine_index(dst);
    match e.arch() {
        Arch::X86_64 => e.custom(&x86_64::mov_from_sp(dst)),
        Arch::Aarch64 => e.custom(&aarch64::mov_from_sp(dst)),
    }
}
