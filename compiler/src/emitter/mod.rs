//! A thin safe layer over SLJIT: the only module that calls `sljit_*`.
//!
//! Everything above speaks in [`Operand`]s, [`Reg`]s, [`Label`]s and
//! [`Jump`]s. The compiler object lives as long as the [`Emitter`]; labels and
//! jumps are raw SLJIT records owned by it, valid until it is dropped.

use std::ffi::c_void;

use sljit_sys as sys;
use vibewasm_format::Arch;

use crate::sljit::Backend;

use crate::error::CompileError;

mod simd;

/// A general-purpose register (SLJIT numbering: `R0..`, `S0..`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg(pub i32);

pub const R0: Reg = Reg(sys::SLJIT_R0);
pub const R1: Reg = Reg(sys::SLJIT_R1);
pub const R2: Reg = Reg(sys::SLJIT_R2);
pub const R3: Reg = Reg(sys::SLJIT_R3);
pub const R4: Reg = Reg(sys::SLJIT_R4);
pub const R5: Reg = Reg(sys::SLJIT_R5);
pub const R6: Reg = Reg(sys::SLJIT_R6);
/// Holds `vmctx` in all generated code.
pub const S0: Reg = Reg(sys::SLJIT_S0);
/// Holds the base of linear memory 0 in functions that access memory.
pub const S1: Reg = Reg(sys::SLJIT_S1);
/// Holds the `*const MemoryDef` of memory 0 in functions that access memory
/// with explicit bounds checks.
pub const S2: Reg = Reg(sys::SLJIT_S2);
/// The saved registers memory does not need hold the most used locals (see
/// `codegen::func::assign_local_registers`).
pub const S3: Reg = Reg(sys::SLJIT_S3);
pub const S4: Reg = Reg(sys::SLJIT_S4);
pub const S5: Reg = Reg(sys::SLJIT_S5);
pub const SP: Reg = Reg(sys::SLJIT_SP);

/// A floating-point register (SLJIT numbering: `FR0..`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FReg(pub i32);

/// Float registers `FR0..FR(n)`; SLJIT numbers them consecutively.
pub const fn freg(n: i32) -> FReg {
    FReg(sys::SLJIT_FR0 + n)
}

/// An SLJIT operand: a `(arg, argw)` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operand {
    pub arg: i32,
    pub argw: i64,
}

impl Operand {
    /// A register, general or float (neither memory nor an immediate).
    pub fn is_reg(&self) -> bool {
        self.arg & sys::SLJIT_MEM == 0 && self.arg != sys::SLJIT_IMM
    }
    pub fn reg(r: Reg) -> Operand {
        Operand { arg: r.0, argw: 0 }
    }
    pub fn freg(r: FReg) -> Operand {
        Operand { arg: r.0, argw: 0 }
    }
    pub fn imm(value: i64) -> Operand {
        Operand {
            arg: sys::SLJIT_IMM,
            argw: value,
        }
    }
    /// `[base + offset]`.
    pub fn mem(base: Reg, offset: i64) -> Operand {
        Operand {
            arg: sys::SLJIT_MEM | base.0,
            argw: offset,
        }
    }
    /// `[base + (index << shift)]`, `shift` in `0..=3`.
    pub fn mem2(base: Reg, index: Reg, shift: u8) -> Operand {
        Operand {
            arg: sys::SLJIT_MEM | base.0 | (index.0 << 8),
            argw: shift as i64,
        }
    }
    pub fn as_reg(self) -> Option<Reg> {
        (self.arg > 0 && self.arg < sys::SLJIT_IMM && self.arg & sys::SLJIT_MEM == 0)
            .then_some(Reg(self.arg))
    }
    pub fn is_mem(self) -> bool {
        self.arg & sys::SLJIT_MEM != 0
    }
    pub fn is_imm(self) -> bool {
        self.arg == sys::SLJIT_IMM
    }
}

/// Argument-type word for calls and `enter` (SLJIT's `SLJIT_ARGSn` macros).
pub fn arg_types(ret: i32, args: &[i32]) -> i32 {
    args.iter().enumerate().fold(ret, |acc, (i, a)| {
        acc | (a << ((i as i32 + 1) * sys::SLJIT_ARG_SHIFT))
    })
}

/// The argument types of a wasm function as its `enter` declares them
/// (under `SLJIT_ENTER_REG_ARG` the arguments array arrives in `R0`, the
/// results array in `R1`; see `vibewasm_format::vmctx`).
pub fn wasm_entry_args() -> i32 {
    arg_types(
        sys::SLJIT_ARG_TYPE_RET_VOID,
        &[sys::SLJIT_ARG_TYPE_W_R, sys::SLJIT_ARG_TYPE_W_R],
    )
}

/// The argument types of a call to a wasm function (`SLJIT_CALL_REG_ARG`).
pub fn wasm_call_args() -> i32 {
    arg_types(
        sys::SLJIT_ARG_TYPE_RET_VOID,
        &[sys::SLJIT_ARG_TYPE_W, sys::SLJIT_ARG_TYPE_W],
    )
}

/// A position in the code.
#[derive(Clone, Copy, Debug)]
pub struct Label(*mut sys::sljit_label);

/// A jump or call whose target is set later.
#[derive(Clone, Copy, Debug)]
pub struct Jump(*mut sys::sljit_jump);

/// A PC-relative jump table: `len` 32-bit slots inside the code, filled after
/// code generation with `target - table`.
pub struct JumpTable {
    _buffer: Box<sys_ro::ReadOnlyBuffer>,
    pub label: Label,
    /// Entries whose label does not exist yet are set later with
    /// [`Emitter::set_table_target`].
    pub targets: Vec<Option<Label>>,
}

/// An entry of a jump table, to be pointed at a label once it exists.
#[derive(Clone, Copy, Debug)]
pub struct TableEntry {
    table: usize,
    index: usize,
}

mod sys_ro {
    /// `struct sljit_read_only_buffer` (opaque in the bindings).
    #[repr(C)]
    pub struct ReadOnlyBuffer {
        pub next: *mut ReadOnlyBuffer,
        pub size: usize,
        pub label_or_addr: usize,
    }

    /// `struct sljit_generate_code_buffer` (opaque in the bindings).
    #[repr(C)]
    pub struct GenerateCodeBuffer {
        pub buffer: *mut std::ffi::c_void,
        pub size: usize,
        pub executable_offset: isize,
    }
}

/// Owns one SLJIT compiler for a whole module.
pub struct Emitter {
    compiler: *mut sys::sljit_compiler,
    /// The target's SLJIT, which made `compiler`.
    b: Backend,
    arch: Arch,
    tables: Vec<JumpTable>,
    /// The first SIMD operation SLJIT refused (it reports those by return
    /// value only, without latching an error): `(type, status)`.
    simd_refused: Option<(i32, i32)>,
    /// The first SIMD operator without a lowering for this target.
    simd_unsupported: Option<String>,
}

macro_rules! check {
    ($self:ident, $call:expr) => {{
        // SAFETY: `compiler` is a live SLJIT compiler owned by `self`, and the
        // operands were built by `Operand`/`Reg`, so they name registers and
        // addressing modes SLJIT accepts.
        let status = unsafe { $call };
        $self.note(status);
    }};
}

impl Emitter {
    pub fn new(arch: Arch) -> Result<Emitter, CompileError> {
        let b = Backend::for_arch(arch);
        // SAFETY: creating a compiler has no preconditions; null means out of memory.
        let compiler = unsafe { (b.f.create_compiler)(std::ptr::null_mut()) };
        if compiler.is_null() {
            return Err(CompileError::Internal(
                "sljit_create_compiler failed".into(),
            ));
        }
        Ok(Emitter {
            compiler,
            b,
            arch,
            tables: Vec::new(),
            simd_refused: None,
            simd_unsupported: None,
        })
    }

    /// The target the code is generated for.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// SLJIT latches its first error; we read it once at the end.
    fn note(&self, _status: i32) {}

    pub fn error(&self) -> i32 {
        // SAFETY: `compiler` is live.
        unsafe { (self.b.f.get_compiler_error)(self.compiler) }
    }

    pub fn enter(&mut self, options: i32, args: i32, scratches: i32, saveds: i32, local_size: i32) {
        check!(
            self,
            (self.b.f.emit_enter)(self.compiler, options, args, scratches, saveds, local_size)
        );
    }

    /// Sets the function context (what `enter` would) without emitting
    /// code: for code outside any function's body.
    pub fn set_context(
        &mut self,
        options: i32,
        args: i32,
        scratches: i32,
        saveds: i32,
        local_size: i32,
    ) {
        check!(
            self,
            (self.b.f.set_context)(self.compiler, options, args, scratches, saveds, local_size)
        );
    }

    /// The current function's epilogue without its return (saved registers
    /// restored, frame freed, the return address left in place): a tail
    /// call's, before the branch to the callee. Argument registers keep
    /// their values.
    pub fn frame_release(&mut self) {
        check!(self, (self.b.f.emit_frame_release)(self.compiler));
    }

    pub fn return_void(&mut self) {
        check!(self, (self.b.f.emit_return_void)(self.compiler));
    }

    pub fn return_value(&mut self, op: i32, src: Operand) {
        check!(
            self,
            (self.b.f.emit_return)(self.compiler, op, self.b.gp(src.arg), src.argw)
        );
    }

    pub fn op0(&mut self, op: i32) {
        check!(self, (self.b.f.emit_op0)(self.compiler, op));
    }

    pub fn op1(&mut self, op: i32, dst: Operand, src: Operand) {
        // SLJIT leaves the upper half of a 32-bit move's result undefined:
        // x86-64 zeroes it, SLJIT's aarch64 sign-extends loads and
        // immediates (`ldrsw`). The compiler counts on x86-64's zeroes
        // (`FuncCompiler::is_zero_extended`), so aarch64 gets them too, from
        // the zero-extending form of the same instruction (`ldr w`).
        let op = if self.arch == Arch::Aarch64 && op == sys::SLJIT_MOV32 && !src.is_reg() {
            sys::SLJIT_MOV_U32
        } else {
            op
        };
        check!(
            self,
            (self.b.f.emit_op1)(
                self.compiler,
                op,
                self.b.gp(dst.arg),
                dst.argw,
                self.b.gp(src.arg),
                src.argw
            )
        );
    }

    pub fn op2(&mut self, op: i32, dst: Operand, a: Operand, b: Operand) {
        check!(
            self,
            (self.b.f.emit_op2)(
                self.compiler,
                op,
                self.b.gp(dst.arg),
                dst.argw,
                self.b.gp(a.arg),
                a.argw,
                self.b.gp(b.arg),
                b.argw
            )
        );
    }

    /// An op2 that only sets flags.
    pub fn op2u(&mut self, op: i32, a: Operand, b: Operand) {
        check!(
            self,
            (self.b.f.emit_op2u)(
                self.compiler,
                op,
                self.b.gp(a.arg),
                a.argw,
                self.b.gp(b.arg),
                b.argw
            )
        );
    }

    pub fn op_flags(&mut self, op: i32, dst: Operand, condition: i32) {
        check!(
            self,
            (self.b.f.emit_op_flags)(self.compiler, op, self.b.gp(dst.arg), dst.argw, condition)
        );
    }

    /// `dst = condition ? src1 : src2`.
    pub fn select(&mut self, condition: i32, dst: Reg, src1: Operand, src2: Reg) {
        check!(
            self,
            (self.b.f.emit_select)(
                self.compiler,
                condition,
                self.b.reg(dst.0),
                self.b.gp(src1.arg),
                src1.argw,
                self.b.reg(src2.0)
            )
        );
    }

    pub fn fop1(&mut self, op: i32, dst: Operand, src: Operand) {
        let x86 = self.arch == Arch::X86_64;
        if x86 && op & !sys::SLJIT_32 == sys::SLJIT_MOV_F64 && dst.is_reg() && src.is_reg() {
            self.float_copy(FReg(dst.arg), FReg(src.arg));
            return;
        }
        // Conversions have one general operand.
        let base = op & 0xff;
        let int_dst = matches!(
            base,
            sys::SLJIT_CONV_SW_FROM_F64 | sys::SLJIT_CONV_S32_FROM_F64
        );
        let int_src = matches!(
            base,
            sys::SLJIT_CONV_F64_FROM_SW
                | sys::SLJIT_CONV_F64_FROM_S32
                | sys::SLJIT_CONV_F64_FROM_UW
                | sys::SLJIT_CONV_F64_FROM_U32
        );
        let dst_arg = if int_dst {
            self.b.gp(dst.arg)
        } else {
            self.b.fp(dst.arg)
        };
        let src_arg = if int_src {
            self.b.gp(src.arg)
        } else {
            self.b.fp(src.arg)
        };
        check!(
            self,
            (self.b.f.emit_fop1)(self.compiler, op, dst_arg, dst.argw, src_arg, src.argw)
        );
    }

    /// Copies float register `src` to `dst`. On x86-64 SLJIT copies with
    /// `movsd`/`movss`, which merge into `dst`'s old contents and so make
    /// every copy wait for whatever last wrote `dst` (a dependency chain
    /// through a loop's float registers); `movapd` copies the whole
    /// register and depends on `src` alone, as optimising compilers do.
    /// aarch64's `fmov` (SLJIT's) already does.
    pub fn float_copy(&mut self, dst: FReg, src: FReg) {
        if dst == src {
            return;
        }
        match self.arch {
            Arch::X86_64 => {
                let (d, s) = (self.float_machine_index(dst), self.float_machine_index(src));
                self.custom(&crate::codegen::x86_64::sse(
                    Some(0x66),
                    &[0x28],
                    d,
                    s,
                    None,
                ));
            }
            Arch::Aarch64 => check!(
                self,
                (self.b.f.emit_fop1)(self.compiler, sys::SLJIT_MOV_F64, dst.0, 0, src.0, 0)
            ),
        }
    }

    pub fn fop2(&mut self, op: i32, dst: Operand, a: Operand, b: Operand) {
        let base = op & !sys::SLJIT_32;
        let arithmetic = (sys::SLJIT_ADD_F64..=sys::SLJIT_DIV_F64).contains(&base);
        // x86-64 only: SLJIT's aarch64 float arithmetic has three operands.
        if self.arch == Arch::X86_64 && arithmetic && dst.is_reg() && a.is_reg() && dst != a {
            let commutative = base == sys::SLJIT_ADD_F64 || base == sys::SLJIT_MUL_F64;
            if dst == b && commutative {
                // `dst = b op a` in place: no copy at all.
                return self.fop2_checked(op, dst, dst, a);
            }
            if dst != b {
                // SLJIT would copy `a` into `dst` with a merging `movsd`.
                self.float_copy(FReg(dst.arg), FReg(a.arg));
                return self.fop2_checked(op, dst, dst, b);
            }
        }
        self.fop2_checked(op, dst, a, b);
    }

    fn fop2_checked(&mut self, op: i32, dst: Operand, a: Operand, b: Operand) {
        check!(
            self,
            (self.b.f.emit_fop2)(
                self.compiler,
                op,
                self.b.fp(dst.arg),
                dst.argw,
                self.b.fp(a.arg),
                a.argw,
                self.b.fp(b.arg),
                b.argw
            )
        );
    }

    /// Loads a constant into a float register (no data pool: PC-independent).
    pub fn fset(&mut self, dst: FReg, ty_is_f32: bool, bits: u64) {
        if ty_is_f32 {
            check!(
                self,
                (self.b.f.emit_fset32)(self.compiler, dst.0, f32::from_bits(bits as u32))
            );
        } else {
            check!(
                self,
                (self.b.f.emit_fset64)(self.compiler, dst.0, f64::from_bits(bits))
            );
        }
    }

    /// Moves raw bits between a float and a general register.
    pub fn fcopy(&mut self, op: i32, freg: FReg, reg: Reg) {
        check!(
            self,
            (self.b.f.emit_fcopy)(self.compiler, op, freg.0, self.b.reg(reg.0))
        );
    }

    pub fn fcmp(&mut self, condition: i32, a: Operand, b: Operand) -> Jump {
        // SAFETY: `compiler` is live; operands are well-formed.
        Jump(unsafe {
            (self.b.f.emit_fcmp)(
                self.compiler,
                condition,
                self.b.fp(a.arg),
                a.argw,
                self.b.fp(b.arg),
                b.argw,
            )
        })
    }

    /// `dst = condition ? src1 : src2` for float registers.
    pub fn fselect(&mut self, condition: i32, dst: FReg, src1: Operand, src2: FReg) {
        check!(
            self,
            (self.b.f.emit_fselect)(
                self.compiler,
                condition,
                dst.0,
                self.b.fp(src1.arg),
                src1.argw,
                src2.0
            )
        );
    }

    /// The machine encoding of a float register (xmm number on x86).
    pub fn float_machine_index(&self, reg: FReg) -> i32 {
        // SAFETY: a pure table lookup.
        unsafe { (self.b.f.get_register_index)(sys::SLJIT_FLOAT_REGISTER, reg.0) }
    }

    pub fn label(&mut self) -> Label {
        // SAFETY: `compiler` is live; a null label is reported through `error`.
        Label(unsafe { (self.b.f.emit_label)(self.compiler) })
    }

    pub fn aligned_label(&mut self, log2_align: i32) -> Label {
        // SAFETY: as `label`; no read-only buffers are requested.
        Label(unsafe {
            (self.b.f.emit_aligned_label)(self.compiler, log2_align, std::ptr::null_mut())
        })
    }

    pub fn jump(&mut self, kind: i32) -> Jump {
        // SAFETY: `compiler` is live.
        Jump(unsafe { (self.b.f.emit_jump)(self.compiler, kind) })
    }

    pub fn cmp(&mut self, condition: i32, a: Operand, b: Operand) -> Jump {
        // SAFETY: `compiler` is live; operands are well-formed.
        Jump(unsafe {
            (self.b.f.emit_cmp)(
                self.compiler,
                condition,
                self.b.gp(a.arg),
                a.argw,
                self.b.gp(b.arg),
                b.argw,
            )
        })
    }

    pub fn icall(&mut self, kind: i32, args: i32, target: Operand) {
        check!(
            self,
            (self.b.f.emit_icall)(
                self.compiler,
                kind,
                args,
                self.b.gp(target.arg),
                target.argw
            )
        );
    }

    pub fn ijump(&mut self, target: Operand) {
        check!(
            self,
            (self.b.f.emit_ijump)(
                self.compiler,
                sys::SLJIT_JUMP,
                self.b.gp(target.arg),
                target.argw
            )
        );
    }

    pub fn set_label(&mut self, jump: Jump, label: Label) {
        if jump.0.is_null() || label.0.is_null() {
            return; // the compiler already latched an allocation error
        }
        // SAFETY: both records belong to this live compiler.
        unsafe { (self.b.f.set_label)(jump.0, label.0) }
    }

    /// `dst = SP + offset`.
    pub fn local_address(&mut self, dst: Reg, offset: i32) {
        check!(
            self,
            (self.b.f.get_local_base)(self.compiler, self.b.reg(dst.0), 0, offset as i64)
        );
    }

    /// Raw machine code: one x86-64 instruction (at most 15 bytes), or
    /// aarch64 instructions (4 bytes each, which SLJIT takes one at a time).
    pub fn custom(&mut self, bytes: &[u8]) {
        let step = match self.arch {
            Arch::X86_64 => bytes.len().max(1),
            Arch::Aarch64 => 4,
        };
        debug_assert!(self.arch == Arch::X86_64 || bytes.len().is_multiple_of(4));
        for instruction in bytes.chunks(step) {
            // SLJIT copies the bytes; its pointer is not const.
            let mut copy = [0u8; 16];
            let copy = &mut copy[..instruction.len()];
            copy.copy_from_slice(instruction);
            check!(
                self,
                (self.b.f.emit_op_custom)(
                    self.compiler,
                    copy.as_mut_ptr() as *mut c_void,
                    copy.len() as u32
                )
            );
        }
    }

    /// The machine encoding of a register (for [`Emitter::custom`]).
    pub fn machine_index(&self, reg: Reg) -> i32 {
        // SAFETY: a pure table lookup.
        unsafe { (self.b.f.get_register_index)(sys::SLJIT_GP_REGISTER, self.b.reg(reg.0)) }
    }

    /// `dst = address of label` (PC-relative in a buffer above 4 GiB).
    pub fn label_address(&mut self, dst: Reg) -> Jump {
        // SAFETY: `compiler` is live.
        Jump(unsafe {
            (self.b.f.emit_op_addr)(self.compiler, sys::SLJIT_MOV_ABS_ADDR, self.b.reg(dst.0), 0)
        })
    }

    /// Reserves a jump table of `targets.len()` entries here in the code.
    /// Returns its label; entries are filled by [`Emitter::generate`].
    /// Points a jump table entry at `label`.
    pub fn set_table_target(&mut self, entry: TableEntry, label: Label) {
        self.tables[entry.table].targets[entry.index] = Some(label);
    }

    /// The entries of the jump table made last.
    pub fn table_entry(&self, index: usize) -> TableEntry {
        TableEntry {
            table: self.tables.len() - 1,
            index,
        }
    }

    pub fn jump_table(&mut self, targets: Vec<Option<Label>>) -> Label {
        let mut buffer = Box::new(sys_ro::ReadOnlyBuffer {
            next: std::ptr::null_mut(),
            size: 4 * targets.len().max(1),
            label_or_addr: 0,
        });
        // SAFETY: `buffer` is boxed and kept alive in `self.tables` until code
        // generation has filled in its label, as SLJIT requires.
        let label = Label(unsafe {
            (self.b.f.emit_aligned_label)(
                self.compiler,
                sys::SLJIT_LABEL_ALIGN_4,
                &mut *buffer as *mut sys_ro::ReadOnlyBuffer as *mut sys::sljit_read_only_buffer,
            )
        });
        self.tables.push(JumpTable {
            _buffer: buffer,
            label,
            targets,
        });
        label
    }

    /// Offset of `label` from the start of the generated code.
    pub fn label_offset(&self, label: Label, code_start: usize) -> usize {
        // SAFETY: called after generation, while the compiler is alive.
        unsafe { (self.b.f.get_label_addr)(label.0) as usize - code_start }
    }

    /// Generates the machine code into a fresh buffer and returns the bytes
    /// together with a closure-friendly base address for label offsets.
    pub fn generate(&mut self, reserve: usize) -> Result<Generated, CompileError> {
        if self.error() != 0 {
            return Err(CompileError::Internal(format!(
                "SLJIT reported error {} while emitting",
                self.error()
            )));
        }
        if let Some(what) = &self.simd_unsupported {
            return Err(CompileError::Unsupported {
                message: format!("{what} on {:?}", self.arch),
                func: None,
                offset: None,
            });
        }
        if let Some((ty, status)) = self.simd_refused {
            return Err(CompileError::Internal(format!(
                "SLJIT refused SIMD operation {ty:#x} (error {status})"
            )));
        }
        // Untouched pages of an anonymous map cost nothing, so a generous
        // reservation avoids having to know SLJIT's worst-case size.
        let mut buffer = memmap2::MmapMut::map_anon(reserve)
            .map_err(|e| CompileError::Internal(format!("cannot reserve code buffer: {e}")))?;
        // SLJIT makes `label_address` RIP-relative only above 4 GiB; below,
        // it would embed an absolute address.
        if (buffer.as_ptr() as usize) < (1usize << 32) {
            return Err(CompileError::Internal(
                "code buffer below 4 GiB: label addresses would not be PC-relative".into(),
            ));
        }
        let mut desc = sys_ro::GenerateCodeBuffer {
            buffer: buffer.as_mut_ptr() as *mut c_void,
            size: reserve,
            executable_offset: 0,
        };
        // SAFETY: `desc` describes a writable buffer of `reserve` bytes that
        // outlives the call; SLJIT writes the code into it and never runs it.
        let start = unsafe {
            (self.b.f.generate_code)(
                self.compiler,
                sys::SLJIT_GENERATE_CODE_BUFFER,
                &mut desc as *mut sys_ro::GenerateCodeBuffer as *mut c_void,
            )
        };
        if start.is_null() {
            return Err(CompileError::Internal(format!(
                "SLJIT code generation failed (error {})",
                self.error()
            )));
        }
        // SAFETY: the compiler has generated code and is still alive.
        let size = unsafe { (self.b.f.get_generated_code_size)(self.compiler) } as usize;
        let start = start as usize;
        let base = buffer.as_ptr() as usize;
        if start != base || size > reserve {
            return Err(CompileError::Internal("unexpected code placement".into()));
        }
        let mut code = buffer[..size].to_vec();
        for table in &self.tables {
            // The first buffer's label is the table label.
            let table_offset = self.label_offset(table.label, base);
            for (k, target) in table.targets.iter().enumerate() {
                let target = target.ok_or_else(|| {
                    CompileError::Internal("a jump table entry was never resolved".into())
                })?;
                let target_offset = self.label_offset(target, base);
                let delta = target_offset as i64 - table_offset as i64;
                let at = table_offset + 4 * k;
                code[at..at + 4].copy_from_slice(&(delta as i32).to_le_bytes());
            }
        }
        Ok(Generated { code, base })
    }
}

/// Generated machine code, and the address it was generated at (to turn
/// label addresses into offsets).
pub struct Generated {
    pub code: Vec<u8>,
    pub base: usize,
}

impl Drop for Emitter {
    fn drop(&mut self) {
        // SAFETY: the compiler was created by `sljit_create_compiler` and is
        // freed exactly once; generated code lives in our own buffer, not in
        // SLJIT's allocator, so nothing else needs freeing.
        unsafe { (self.b.f.free_compiler)(self.compiler) }
    }
}
