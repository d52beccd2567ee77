/* hello.c: embedding vibewasm from C.
 *
 * Loads a compiled artifact (hello.vwa, from hello.wat), defines the host
 * function it imports, instantiates it, calls an export, and handles a
 * trap. Build and run (from the repository root):
 *
 *   cargo build -p vibewasm-capi --release
 *   cargo run --release -p vibewasm-compiler -- compile examples/c/hello.wat -o hello.vwa
 *   cc examples/c/hello.c -Icapi/include target/release/libvibewasm.a \
 *      -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o hello
 *   ./hello hello.vwa
 */
#include <stdio.h>

#include "vibewasm.h"

/* env.log_i32: (i32) -> (). Arguments arrive in argv; results, if the
 * function had any, would be written back to argv[0..]. Returning nonzero
 * traps (with the message given to vw_caller_trap). */
static int32_t log_i32(void *env, vw_caller *caller, size_t argc, vw_val *argv) {
  (void)env;
  (void)caller;
  (void)argc;
  printf("wasm says %d\n", argv[0].of.i32);
  return 0;
}

/* Prints a failure and its error message, and releases the error. */
static int fail(const char *what, vw_error *error) {
  fprintf(stderr, "%s: %s\n", what, vw_error_message(error));
  vw_error_delete(error);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s hello.vwa\n", argv[0]);
    return 2;
  }
  int status = 1;
  vw_error *error = NULL;
  vw_trap *trap = NULL;
  vw_engine *engine = vw_engine_new();
  vw_store *store = NULL;
  vw_module *module = NULL;
  vw_linker *linker = NULL;
  vw_instance *instance = NULL;
  vw_func *func = NULL;

  if (vw_store_new(engine, &store, &error) != VW_OK) {
    status = fail("store", error);
    goto out;
  }
  if (vw_module_from_file(engine, argv[1], &module, &error) != VW_OK) {
    status = fail("load", error);
    goto out;
  }
  if (vw_linker_new(store, &linker, &error) != VW_OK) {
    status = fail("linker", error);
    goto out;
  }
  vw_valkind params[] = {VW_I32};
  if (vw_linker_define_func(linker, "env", "log_i32", params, 1, NULL, 0, log_i32, NULL, NULL,
                            &error) != VW_OK) {
    status = fail("define env.log_i32", error);
    goto out;
  }
  if (vw_linker_instantiate(linker, store, module, &instance, &trap, &error) != VW_OK) {
    status = fail("instantiate", error); /* a start-function trap would be in `trap` */
    goto out;
  }

  /* A call: arguments and results are tagged values. */
  if (vw_instance_get_func(instance, "double_and_log", &func, &error) != VW_OK) {
    status = fail("double_and_log", error);
    goto out;
  }
  vw_val args[1] = {{.kind = VW_I32, .of.i32 = 21}};
  vw_val results[1];
  if (vw_call(store, func, 1, args, 1, results, &trap, &error) != VW_OK) {
    status = fail("call", error);
    goto out;
  }
  printf("double_and_log(21) = %d\n", results[0].of.i32);

  /* A trap: VW_TRAP, with its kind, message and wasm backtrace. */
  vw_val div_args[2] = {{.kind = VW_I32, .of.i32 = 1}, {.kind = VW_I32, .of.i32 = 0}};
  vw_status s = vw_instance_call(instance, "divide", 2, div_args, 1, results, &trap, &error);
  if (s == VW_TRAP) {
    printf("divide(1, 0) trapped: %s\n", vw_trap_message(trap));
    for (size_t i = 0; i < vw_trap_frame_count(trap); i++)
      printf("  frame %zu: %s at wasm offset %#llx\n", i, vw_trap_frame_func_name(trap, i),
             (unsigned long long)vw_trap_frame_wasm_offset(trap, i));
    status = vw_trap_kind(trap) == VW_TRAP_INTEGER_DIVIDE_BY_ZERO ? 0 : 1;
    vw_trap_delete(trap);
  } else if (s == VW_ERROR) {
    status = fail("divide", error);
  }

out:
  vw_func_delete(func);
  vw_instance_delete(instance);
  vw_linker_delete(linker);
  vw_module_delete(module);
  vw_store_delete(store);
  vw_engine_delete(engine);
  return status;
}
