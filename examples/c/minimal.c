/* minimal.c: the smallest useful C host of vibewasm.
 *
 * Loads an artifact, instantiates it with no imports, calls its export
 * `run` (no parameters, one i32 or i64 result) and prints the result.
 * Errors and traps go to stderr with exit status 1. The README's "Size"
 * section measures this program built for size (from the repository root):
 *
 *   cargo build -p vibewasm-capi --profile minsize --no-default-features \
 *      --features blake3-pure
 *   cc -Os examples/c/minimal.c -Icapi/include target/minsize/libvibewasm.a \
 *      -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -Wl,--gc-sections -o minimal
 *   strip minimal
 *   vibewasmc compile --bounds-checks explicit fib.wasm -o fib.vwa
 *   ./minimal fib.vwa
 */
#include <inttypes.h>
#include <stdio.h>

#include "vibewasm.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s module.vwa\n", argv[0]);
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
  vw_val result;
  const char *step = "store";

  if (vw_store_new(engine, &store, &error) != VW_OK)
    goto fail;
  step = "load";
  if (vw_module_from_file(engine, argv[1], &module, &error) != VW_OK)
    goto fail;
  step = "linker";
  if (vw_linker_new(store, &linker, &error) != VW_OK)
    goto fail;
  step = "instantiate";
  if (vw_linker_instantiate(linker, store, module, &instance, &trap, &error) != VW_OK)
    goto fail;
  step = "run";
  if (vw_instance_call(instance, "run", 0, NULL, 1, &result, &trap, &error) != VW_OK)
    goto fail;
  if (result.kind == VW_I64)
    printf("%" PRId64 "\n", result.of.i64);
  else if (result.kind == VW_I32)
    printf("%" PRId32 "\n", result.of.i32);
  else {
    fprintf(stderr, "run: expected an i32 or i64 result\n");
    goto out;
  }
  status = 0;
  goto out;

fail:
  /* A trap (from the start function or `run`) comes with its own message;
   * anything else is an error. */
  if (trap != NULL)
    fprintf(stderr, "%s: trap: %s\n", step, vw_trap_message(trap));
  else
    fprintf(stderr, "%s: %s\n", step, vw_error_message(error));
  vw_trap_delete(trap);
  vw_error_delete(error);
out:
  vw_instance_delete(instance);
  vw_linker_delete(linker);
  vw_module_delete(module);
  vw_store_delete(store);
  vw_engine_delete(engine);
  return status;
}
