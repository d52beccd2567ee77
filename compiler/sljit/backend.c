/*
 * One SLJIT back end as a table of function pointers (compiler/build.rs).
 *
 * The build script compiles this file once per target the compiler can
 * generate code for, each time with that target's SLJIT_CONFIG_* macro and
 * VW_BACKEND naming the table. SLJIT_CONFIG_STATIC makes every SLJIT
 * function static to this translation unit, so the back ends of several
 * targets live in one binary without clashing: each exports nothing but
 * its table. The Rust side (`compiler/src/sljit.rs`) declares the same
 * struct, field for field in this order.
 *
 * The SLJIT sources come from the sljit-sys crate (the same SLJIT as the
 * constants its bindings hold), with one change the build script makes:
 * x86-64 CPU features are fixed instead of asked of the compiling CPU
 * (CPUID), so that code never depends on the machine that compiled it.
 */
#define SLJIT_CONFIG_STATIC 1
#include "sljitLir.c"

/*
 * Releases the current function's frame (restores the saved registers,
 * frees the locals) and leaves the return address where `enter` found it,
 * emitting nothing else: what SLJIT_CALL_RETURN emits before its jump. The
 * compiler then places a branch of its own, which the linker points at
 * another chunk's function (a tail call; SLJIT's own jumps reach only
 * labels of the same compiler). The argument registers are untouched.
 */
static sljit_s32 vw_emit_frame_release(struct sljit_compiler *compiler)
{
	CHECK_ERROR();
#if (defined SLJIT_CONFIG_X86_64 && SLJIT_CONFIG_X86_64)
	compiler->mode32 = 0;
#endif
	return emit_stack_frame_release(compiler, 0);
}

struct vw_sljit_backend {
	__typeof__(&sljit_create_compiler) create_compiler;
	__typeof__(&sljit_free_compiler) free_compiler;
	__typeof__(&sljit_get_compiler_error) get_compiler_error;
	__typeof__(&sljit_generate_code) generate_code;
	__typeof__(&sljit_get_generated_code_size) get_generated_code_size;
	__typeof__(&sljit_get_register_index) get_register_index;
	__typeof__(&sljit_emit_enter) emit_enter;
	__typeof__(&sljit_set_context) set_context;
	__typeof__(&sljit_emit_return_void) emit_return_void;
	__typeof__(&sljit_emit_return) emit_return;
	__typeof__(&sljit_emit_op0) emit_op0;
	__typeof__(&sljit_emit_op1) emit_op1;
	__typeof__(&sljit_emit_op2) emit_op2;
	__typeof__(&sljit_emit_op2u) emit_op2u;
	__typeof__(&sljit_emit_op_flags) emit_op_flags;
	__typeof__(&sljit_emit_select) emit_select;
	__typeof__(&sljit_emit_fop1) emit_fop1;
	__typeof__(&sljit_emit_fop2) emit_fop2;
	__typeof__(&sljit_emit_fset32) emit_fset32;
	__typeof__(&sljit_emit_fset64) emit_fset64;
	__typeof__(&sljit_emit_fcopy) emit_fcopy;
	__typeof__(&sljit_emit_fcmp) emit_fcmp;
	__typeof__(&sljit_emit_fselect) emit_fselect;
	__typeof__(&sljit_emit_label) emit_label;
	__typeof__(&sljit_emit_aligned_label) emit_aligned_label;
	__typeof__(&sljit_emit_jump) emit_jump;
	__typeof__(&sljit_emit_cmp) emit_cmp;
	__typeof__(&sljit_emit_icall) emit_icall;
	__typeof__(&sljit_emit_ijump) emit_ijump;
	__typeof__(&sljit_set_label) set_label;
	__typeof__(&sljit_get_local_base) get_local_base;
	__typeof__(&sljit_emit_op_custom) emit_op_custom;
	__typeof__(&sljit_emit_op_addr) emit_op_addr;
	__typeof__(&sljit_get_label_addr) get_label_addr;
	__typeof__(&sljit_emit_simd_mov) emit_simd_mov;
	__typeof__(&sljit_emit_simd_replicate) emit_simd_replicate;
	__typeof__(&sljit_emit_simd_lane_mov) emit_simd_lane_mov;
	__typeof__(&sljit_emit_simd_lane_replicate) emit_simd_lane_replicate;
	__typeof__(&sljit_emit_simd_extend) emit_simd_extend;
	__typeof__(&sljit_emit_simd_sign) emit_simd_sign;
	__typeof__(&sljit_emit_simd_op2) emit_simd_op2;
	__typeof__(&vw_emit_frame_release) emit_frame_release;
	/* SLJIT_NUMBER_OF_REGISTERS etc. are checked against the Rust tables. */
	sljit_s32 number_of_registers;
	sljit_s32 number_of_float_registers;
	sljit_s32 s0;
	sljit_s32 sp;
};

const struct vw_sljit_backend VW_BACKEND = {
	sljit_create_compiler,
	sljit_free_compiler,
	sljit_get_compiler_error,
	sljit_generate_code,
	sljit_get_generated_code_size,
	sljit_get_register_index,
	sljit_emit_enter,
	sljit_set_context,
	sljit_emit_return_void,
	sljit_emit_return,
	sljit_emit_op0,
	sljit_emit_op1,
	sljit_emit_op2,
	sljit_emit_op2u,
	sljit_emit_op_flags,
	sljit_emit_select,
	sljit_emit_fop1,
	sljit_emit_fop2,
	sljit_emit_fset32,
	sljit_emit_fset64,
	sljit_emit_fcopy,
	sljit_emit_fcmp,
	sljit_emit_fselect,
	sljit_emit_label,
	sljit_emit_aligned_label,
	sljit_emit_jump,
	sljit_emit_cmp,
	sljit_emit_icall,
	sljit_emit_ijump,
	sljit_set_label,
	sljit_get_local_base,
	sljit_emit_op_custom,
	sljit_emit_op_addr,
	sljit_get_label_addr,
	sljit_emit_simd_mov,
	sljit_emit_simd_replicate,
	sljit_emit_simd_lane_mov,
	sljit_emit_simd_lane_replicate,
	sljit_emit_simd_extend,
	sljit_emit_simd_sign,
	sljit_emit_simd_op2,
	vw_emit_frame_release,
	SLJIT_NUMBER_OF_REGISTERS,
	SLJIT_NUMBER_OF_FLOAT_REGISTERS,
	SLJIT_S0,
	SLJIT_SP,
};
