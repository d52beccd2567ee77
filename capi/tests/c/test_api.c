/* The C API from C: every vw_ function, on artifacts the Rust harness
 * (capi/tests/c_api.rs) compiles into the directory given as argv[1].
 * Prints one line per failed check on stderr, and "c api: N checks, 0
 * failed" on stdout; exits nonzero if any check failed. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vibewasm.h"

static int checks, failures;
static const char *dir;

#define CHECK(cond)                                                        \
  do {                                                                     \
    checks++;                                                              \
    if (!(cond)) {                                                         \
      failures++;                                                          \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,     \
              #cond);                                                      \
    }                                                                      \
  } while (0)

/* A setup step that must succeed: reports the error and stops. */
#define MUST(call)                                                         \
  do {                                                                     \
    vw_error *must_err_ = NULL;                                            \
    vw_trap *must_trap_ = NULL;                                            \
    (void)must_trap_;                                                      \
    if (must_status_(call) != VW_OK) {                                     \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
              vw_error_message(must_err_));                                \
      exit(3);                                                             \
    }                                                                      \
  } while (0)
static vw_status must_status_(vw_status s) { return s; }

/* Whether `text` contains `part`. */
static int contains(const char *text, const char *part) {
  return text && part && strstr(text, part) != NULL;
}

static char *path_of(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static unsigned char *read_file(const char *name, size_t *len) {
  FILE *f = fopen(path_of(name), "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path_of(name));
    exit(3);
  }
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc(*len);
  if (fread(data, 1, *len, f) != *len) exit(3);
  fclose(f);
  return data;
}

static vw_val i32v(int32_t x) { vw_val v; v.kind = VW_I32; v.of.i32 = x; return v; }
static vw_val i64v(int64_t x) { vw_val v; v.kind = VW_I64; v.of.i64 = x; return v; }

/* ---- host functions ---------------------------------------------------- */

static int host_add_calls;

static int32_t host_add(void *env, vw_caller *caller, size_t argc, vw_val *argv) {
  (void)caller;
  host_add_calls += *(int *)env;
  if (argc != 2 || argv[0].kind != VW_I32 || argv[1].kind != VW_I32) return 1;
  argv[0].of.i32 = argv[0].of.i32 + argv[1].of.i32 + 1000;
  return 0;
}

static int32_t host_fail(void *env, vw_caller *caller, size_t argc, vw_val *argv) {
  (void)env;
  char msg[64];
  if (argc != 1) return 1;
  snprintf(msg, sizeof msg, "host says no to %d", argv[0].of.i32);
  vw_error *err = NULL;
  if (vw_caller_trap(caller, msg, &err) != VW_OK) return 2;
  return argv[0].of.i32 == 0 ? 0 : 1;
}

/* sum_mem(ptr, len) -> i64: reads the calling instance's memory. */
static int32_t host_sum(void *env, vw_caller *caller, size_t argc, vw_val *argv) {
  (void)env;
  uint8_t *mem = NULL;
  size_t len = 0;
  vw_error *err = NULL;
  if (argc != 2 || vw_caller_memory(caller, &mem, &len, &err) != VW_OK) return 1;
  uint32_t ptr = (uint32_t)argv[0].of.i32, n = (uint32_t)argv[1].of.i32;
  if ((uint64_t)ptr + n > len) {
    vw_caller_trap(caller, "sum_mem out of bounds", NULL);
    return 1;
  }
  int64_t sum = 0;
  for (uint32_t i = 0; i < n; i++) sum += mem[ptr + i];
  argv[0] = i64v(sum);
  return 0;
}

/* fill_mem(ptr, len, byte): writes the calling instance's memory. */
static int32_t host_fill(void *env, vw_caller *caller, size_t argc, vw_val *argv) {
  (void)env;
  uint8_t *mem = NULL;
  size_t len = 0;
  if (argc != 3 || vw_caller_memory(caller, &mem, &len, NULL) != VW_OK) return 1;
  uint32_t ptr = (uint32_t)argv[0].of.i32, n = (uint32_t)argv[1].of.i32;
  if ((uint64_t)ptr + n > len) return 1;
  memset(mem + ptr, argv[2].of.i32, n);
  return 0;
}

/* A host function that writes a result of the wrong kind. */
static int32_t host_bad_result(void *env, vw_caller *caller, size_t argc, vw_val *argv) {
  (void)env; (void)caller; (void)argc;
  argv[0] = i64v(1);
  return 0;
}

static int finalized;
static void finalize(void *env) { finalized += *(int *)env; }

static int one = 1;

/* Defines env.* for api.vwa. */
static void define_env(vw_linker *linker) {
  vw_valkind ii[] = {VW_I32, VW_I32}, iii[] = {VW_I32, VW_I32, VW_I32};
  vw_valkind i[] = {VW_I32}, l[] = {VW_I64};
  MUST(vw_linker_define_func(linker, "env", "add", ii, 2, i, 1, host_add, &one, finalize, &must_err_));
  MUST(vw_linker_define_func(linker, "env", "fail", i, 1, NULL, 0, host_fail, NULL, NULL, &must_err_));
  MUST(vw_linker_define_func(linker, "env", "sum_mem", ii, 2, l, 1, host_sum, NULL, NULL, &must_err_));
  MUST(vw_linker_define_func(linker, "env", "fill_mem", iii, 3, NULL, 0, host_fill, NULL, NULL, &must_err_));
  MUST(vw_linker_define_func(linker, "env", "bad_result", NULL, 0, i, 1, host_bad_result, NULL, NULL, &must_err_));
}

typedef struct {
  vw_engine *engine;
  vw_store *store;
  vw_module *module;
  vw_linker *linker;
  vw_instance *instance;
} world;

static world open_world(const char *artifact) {
  world w;
  w.instance = NULL;
  w.engine = vw_engine_new();
  MUST(vw_store_new(w.engine, &w.store, &must_err_));
  MUST(vw_module_from_file(w.engine, path_of(artifact), &w.module, &must_err_));
  MUST(vw_linker_new(w.store, &w.linker, &must_err_));
  return w;
}

static void close_world(world *w) {
  vw_instance_delete(w->instance);
  vw_linker_delete(w->linker);
  vw_module_delete(w->module);
  vw_store_delete(w->store);
  vw_engine_delete(w->engine);
}

static world api_world(void) {
  world w = open_world("api.vwa");
  define_env(w.linker);
  MUST(vw_linker_instantiate(w.linker, w.store, w.module, &w.instance, &must_trap_, &must_err_));
  return w;
}

/* ---- tests -------------------------------------------------------------- */

static void test_calls(void) {
  world w = api_world();
  vw_error *err = NULL;
  vw_trap *trap = NULL;
  vw_func *add = NULL;
  CHECK(vw_instance_get_func(w.instance, "add", &add, &err) == VW_OK && add);
  CHECK(vw_func_param_count(add) == 2 && vw_func_result_count(add) == 1);
  CHECK(vw_func_param_kind(add, 0) == VW_I32 && vw_func_result_kind(add, 0) == VW_I32);
  CHECK(vw_func_param_kind(add, 2) == 255);

  vw_val args[2] = {i32v(40), i32v(2)}, res[1];
  CHECK(vw_call(w.store, add, 2, args, 1, res, &trap, &err) == VW_OK);
  CHECK(res[0].kind == VW_I32 && res[0].of.i32 == 42);
  CHECK(err == NULL && trap == NULL);

  /* Argument count and kinds are checked before anything runs. */
  CHECK(vw_call(w.store, add, 1, args, 1, res, &trap, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "takes 2 arguments, 1 given"));
  vw_error_delete(err);
  vw_val wrong[2] = {i64v(1), i32v(2)};
  CHECK(vw_call(w.store, add, 2, wrong, 1, res, &trap, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "argument 0"));
  CHECK(contains(vw_error_message(err), "i32 expected"));
  vw_error_delete(err);
  wrong[0].kind = 99;
  CHECK(vw_call(w.store, add, 2, wrong, 1, res, &trap, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_call(w.store, add, 2, args, 0, res, &trap, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "room for 0"));
  vw_error_delete(err);

  /* Several kinds of values, several results. */
  vw_func *mix = NULL;
  MUST(vw_instance_get_func(w.instance, "mix", &mix, &must_err_));
  vw_val margs[3];
  margs[0] = i64v(-5);
  margs[1].kind = VW_F32; margs[1].of.f32 = 1.5f;
  margs[2].kind = VW_F64; margs[2].of.f64 = 0.25;
  vw_val mres[2];
  CHECK(vw_call(w.store, mix, 3, margs, 2, mres, &trap, &err) == VW_OK);
  CHECK(mres[0].kind == VW_F64 && mres[0].of.f64 == 1.75);
  CHECK(mres[1].kind == VW_I64 && mres[1].of.i64 == -10);
  vw_func_delete(mix);

  /* v128 */
  vw_func *vadd = NULL;
  MUST(vw_instance_get_func(w.instance, "v128_add", &vadd, &must_err_));
  vw_val vargs[2], vres[1];
  vargs[0].kind = vargs[1].kind = VW_V128;
  for (int i = 0; i < 16; i++) { vargs[0].of.v128[i] = (uint8_t)i; vargs[1].of.v128[i] = 1; }
  CHECK(vw_call(w.store, vadd, 2, vargs, 1, vres, &trap, &err) == VW_OK);
  CHECK(vres[0].kind == VW_V128 && vres[0].of.v128[0] == 1 && vres[0].of.v128[4] == 5 &&
        vres[0].of.v128[15] == 16);
  vw_func_delete(vadd);

  /* externref goes through wasm unchanged; funcref results are handles. */
  vw_val ext, eres[1];
  ext.kind = VW_EXTERNREF; ext.of.externref = 0xfeedULL;
  CHECK(vw_instance_call(w.instance, "ext_id", 1, &ext, 1, eres, &trap, &err) == VW_OK);
  CHECK(eres[0].kind == VW_EXTERNREF && eres[0].of.externref == 0xfeedULL);
  vw_val fres[1];
  CHECK(vw_instance_call(w.instance, "get_fn", 0, NULL, 1, fres, &trap, &err) == VW_OK);
  CHECK(fres[0].kind == VW_FUNCREF && fres[0].of.funcref != NULL);
  CHECK(vw_func_param_count(fres[0].of.funcref) == 2);
  CHECK(vw_call(w.store, fres[0].of.funcref, 2, args, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 42);
  vw_val_delete(&fres[0]);
  CHECK(fres[0].of.funcref == NULL);

  /* Exports by index. */
  size_t n = vw_instance_export_count(w.instance);
  int seen_memory = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(vw_instance_export_name(w.instance, i), "memory") == 0)
      seen_memory = vw_instance_export_kind(w.instance, i) == VW_EXTERN_MEMORY;
  CHECK(n > 10 && seen_memory);
  CHECK(vw_instance_export_name(w.instance, n) == NULL && vw_instance_export_kind(w.instance, n) == 255);

  /* Another instance's exports, defined in a second linker of the store. */
  vw_module *user = NULL;
  vw_linker *lib = NULL;
  vw_instance *user_instance = NULL;
  MUST(vw_module_from_file(w.engine, path_of("user.vwa"), &user, &must_err_));
  MUST(vw_linker_new(w.store, &lib, &must_err_));
  CHECK(vw_linker_instantiate(lib, w.store, user, &user_instance, &trap, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_linker_define_instance(lib, "lib", w.instance, &err) == VW_OK);
  CHECK(vw_linker_instantiate(lib, w.store, user, &user_instance, &trap, &err) == VW_OK);
  CHECK(vw_instance_call(user_instance, "add_first_bytes", 0, NULL, 1, res, &trap, &err) == VW_OK &&
        res[0].of.i32 == 3);
  vw_instance_delete(user_instance);
  vw_linker_delete(lib);
  vw_module_delete(user);

  CHECK(vw_instance_get_func(w.instance, "nope", &add, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "nope"));
  vw_error_delete(err);
  CHECK(vw_instance_get_func(w.instance, "memory", &add, &err) == VW_ERROR);
  vw_error_delete(err);
  vw_func_delete(add);
  close_world(&w);
}

static void test_traps(void) {
  world w = api_world();
  vw_error *err = NULL;
  vw_trap *trap = NULL;
  vw_val arg = i32v(0), res[1];
  CHECK(vw_instance_call(w.instance, "call_div", 1, &arg, 1, res, &trap, &err) == VW_TRAP);
  CHECK(err == NULL && trap != NULL);
  CHECK(vw_trap_kind(trap) == VW_TRAP_INTEGER_DIVIDE_BY_ZERO);
  CHECK(strcmp(vw_trap_message(trap), "integer divide by zero") == 0);
  CHECK(vw_trap_frame_count(trap) == 2);
  CHECK(vw_trap_frame_func_name(trap, 0) && strcmp(vw_trap_frame_func_name(trap, 0), "div") == 0);
  CHECK(vw_trap_frame_func_name(trap, 1) && strcmp(vw_trap_frame_func_name(trap, 1), "call_div") == 0);
  CHECK(vw_trap_frame_func_index(trap, 0) == 5); /* after the 5 imports */
  CHECK(vw_trap_frame_wasm_offset(trap, 0) > 0);
  CHECK(vw_trap_frame_wasm_offset(trap, 1) > vw_trap_frame_wasm_offset(trap, 0));
  CHECK(contains(vw_trap_frame_module(trap, 0), "api.vwa"));
  CHECK(vw_trap_frame_func_index(trap, 2) == UINT32_MAX && vw_trap_frame_wasm_offset(trap, 2) == -1);
  CHECK(vw_trap_frame_func_name(trap, 2) == NULL);
  CHECK(contains(vw_trap_display(trap), "wasm backtrace"));
  CHECK(!vw_trap_exit_status(trap, NULL));
  vw_trap_delete(trap);

  /* Without a trap out-parameter the message comes as an error. */
  CHECK(vw_instance_call(w.instance, "call_div", 1, &arg, 1, res, NULL, &err) == VW_TRAP);
  CHECK(contains(vw_error_message(err), "integer divide by zero"));
  vw_error_delete(err);

  /* unreachable */
  CHECK(vw_instance_call(w.instance, "boom", 0, NULL, 0, NULL, &trap, &err) == VW_TRAP);
  CHECK(vw_trap_kind(trap) == VW_TRAP_UNREACHABLE && strcmp(vw_trap_message(trap), "unreachable") == 0);
  vw_trap_delete(trap);

  /* Memory out of bounds. */
  arg = i32v(1 << 30);
  CHECK(vw_instance_call(w.instance, "load8", 1, &arg, 1, res, &trap, &err) == VW_TRAP);
  CHECK(vw_trap_kind(trap) == VW_TRAP_MEMORY_OUT_OF_BOUNDS);
  CHECK(strcmp(vw_trap_message(trap), "out of bounds memory access") == 0);
  vw_trap_delete(trap);

  /* A host function that traps with its own message; one that succeeds. */
  arg = i32v(7);
  CHECK(vw_instance_call(w.instance, "call_fail", 1, &arg, 0, NULL, &trap, &err) == VW_TRAP);
  CHECK(vw_trap_kind(trap) == VW_TRAP_HOST);
  CHECK(strcmp(vw_trap_message(trap), "host says no to 7") == 0);
  CHECK(vw_trap_frame_count(trap) >= 1);
  vw_trap_delete(trap);
  arg = i32v(0);
  CHECK(vw_instance_call(w.instance, "call_fail", 1, &arg, 0, NULL, &trap, &err) == VW_OK);
  CHECK(vw_instance_call(w.instance, "call_bad_result", 0, NULL, 1, res, &trap, &err) == VW_TRAP);
  CHECK(contains(vw_trap_message(trap), "wrote result 0"));
  vw_trap_delete(trap);

  /* Host function results go back to wasm. */
  vw_val args[2] = {i32v(1), i32v(2)};
  int before = host_add_calls;
  CHECK(vw_instance_call(w.instance, "call_host_add", 2, args, 1, res, &trap, &err) == VW_OK);
  CHECK(res[0].of.i32 == 1003 && host_add_calls == before + 1);

  /* Deep recursion: "call stack exhausted", with a long backtrace. */
  MUST(vw_store_set_max_wasm_stack(w.store, 64 * 1024, &must_err_));
  arg = i32v(0);
  CHECK(vw_instance_call(w.instance, "recurse", 1, &arg, 1, res, &trap, &err) == VW_TRAP);
  CHECK(vw_trap_kind(trap) == VW_TRAP_STACK_OVERFLOW);
  CHECK(strcmp(vw_trap_message(trap), "call stack exhausted") == 0);
  CHECK(vw_trap_frame_count(trap) > 50);
  vw_trap_delete(trap);
  /* A trap in the start function fails instantiation with VW_TRAP. */
  vw_module *start = NULL;
  vw_instance *never = NULL;
  MUST(vw_module_from_file(w.engine, path_of("start_trap.vwa"), &start, &must_err_));
  CHECK(vw_linker_instantiate(w.linker, w.store, start, &never, &trap, &err) == VW_TRAP);
  CHECK(never == NULL && err == NULL);
  CHECK(vw_trap_kind(trap) == VW_TRAP_INTEGER_DIVIDE_BY_ZERO);
  CHECK(vw_trap_frame_count(trap) == 1);
  vw_trap_delete(trap);
  vw_module_delete(start);
  /* The store still works after a trap. */
  CHECK(vw_instance_call(w.instance, "add", 2, args, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 3);
  close_world(&w);
}

static void test_host_memory(void) {
  world w = api_world();
  vw_error *err = NULL;
  vw_trap *trap = NULL;
  vw_val res[1];
  /* The data segment puts 1 2 3 4 at 16; the host sums them. */
  CHECK(vw_instance_call(w.instance, "sum16", 0, NULL, 1, res, &trap, &err) == VW_OK);
  CHECK(res[0].kind == VW_I64 && res[0].of.i64 == 10);
  /* The host writes wasm memory; wasm reads it back. */
  vw_val fill[3] = {i32v(100), i32v(8), i32v(0x5a)};
  CHECK(vw_instance_call(w.instance, "fill", 3, fill, 0, NULL, &trap, &err) == VW_OK);
  vw_val at = i32v(107);
  CHECK(vw_instance_call(w.instance, "load8", 1, &at, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 0x5a);
  at = i32v(108);
  CHECK(vw_instance_call(w.instance, "load8", 1, &at, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 0);
  /* Out of bounds for the host: it traps with its message. */
  vw_val far[3] = {i32v(65530), i32v(100), i32v(1)};
  CHECK(vw_instance_call(w.instance, "fill", 3, far, 0, NULL, &trap, &err) == VW_TRAP);
  CHECK(strcmp(vw_trap_message(trap), "host function returned 1") == 0);
  vw_trap_delete(trap);
  close_world(&w);
  /* Deleting the linker and the instance released the host function. */
  CHECK(finalized >= 1);
}

static void test_externs(void) {
  world w = api_world();
  vw_error *err = NULL;
  vw_trap *trap = NULL;

  /* Exported memory. */
  vw_memory *mem = NULL;
  uint64_t pages = 0, old = 0;
  MUST(vw_instance_get_memory(w.instance, "memory", &mem, &must_err_));
  CHECK(vw_memory_size(mem, &pages, &err) == VW_OK && pages == 1);
  unsigned char buf[4] = {0};
  CHECK(vw_memory_read(mem, 16, buf, 4, &err) == VW_OK);
  CHECK(buf[0] == 1 && buf[3] == 4);
  const unsigned char hi[] = "hi!";
  CHECK(vw_memory_write(mem, 200, hi, 3, &err) == VW_OK);
  vw_val at = i32v(201), res[1];
  CHECK(vw_instance_call(w.instance, "load8", 1, &at, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 'i');
  CHECK(vw_memory_read(mem, 65535, buf, 2, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "out of bounds"));
  vw_error_delete(err);
  CHECK(vw_memory_grow(mem, 2, &old, &err) == VW_OK && old == 1);
  CHECK(vw_memory_size(mem, &pages, &err) == VW_OK && pages == 3);
  CHECK(vw_instance_call(w.instance, "size", 0, NULL, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 3);
  CHECK(vw_memory_grow(mem, 5, &old, &err) == VW_ERROR); /* max 4 */
  vw_error_delete(err);
  CHECK(vw_memory_read(mem, 3 * 65536 - 1, buf, 1, &err) == VW_OK);
  vw_memory_delete(mem);

  /* Exported global. */
  vw_global *counter = NULL, *pi = NULL;
  vw_val v;
  MUST(vw_instance_get_global(w.instance, "counter", &counter, &must_err_));
  CHECK(vw_global_get(counter, &v, &err) == VW_OK && v.kind == VW_I32 && v.of.i32 == 5);
  v = i32v(77);
  CHECK(vw_global_set(counter, &v, &err) == VW_OK);
  CHECK(vw_instance_call(w.instance, "get_counter", 0, NULL, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 77);
  v = i64v(1);
  CHECK(vw_global_set(counter, &v, &err) == VW_ERROR);
  vw_error_delete(err);
  MUST(vw_instance_get_global(w.instance, "pi", &pi, &must_err_));
  CHECK(vw_global_get(pi, &v, &err) == VW_OK && v.kind == VW_F64 && v.of.f64 == 3.5);
  CHECK(vw_global_set(pi, &v, &err) == VW_ERROR); /* immutable */
  vw_error_delete(err);
  vw_global_delete(counter);
  vw_global_delete(pi);

  /* Exported table: element 0 is $add; call_indirect through it. */
  vw_table *table = NULL;
  uint64_t size = 0;
  MUST(vw_instance_get_table(w.instance, "table", &table, &must_err_));
  CHECK(vw_table_size(table, &size, &err) == VW_OK && size == 2);
  vw_val elem;
  CHECK(vw_table_get(table, 0, &elem, &err) == VW_OK && elem.kind == VW_FUNCREF && elem.of.funcref);
  CHECK(vw_table_set(table, 1, &elem, &err) == VW_OK);
  vw_val_delete(&elem);
  vw_val ci[3] = {i32v(1), i32v(20), i32v(22)};
  CHECK(vw_instance_call(w.instance, "call_table", 3, ci, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 42);
  vw_val null_ref;
  null_ref.kind = VW_FUNCREF; null_ref.of.funcref = NULL;
  CHECK(vw_table_set(table, 1, &null_ref, &err) == VW_OK);
  CHECK(vw_instance_call(w.instance, "call_table", 3, ci, 1, res, &trap, &err) == VW_TRAP);
  CHECK(vw_trap_kind(trap) == VW_TRAP_UNINITIALIZED_ELEMENT);
  vw_trap_delete(trap);
  CHECK(vw_table_grow(table, 3, &null_ref, &old, &err) == VW_OK && old == 2);
  CHECK(vw_table_size(table, &size, &err) == VW_OK && size == 5);
  CHECK(vw_table_get(table, 5, &elem, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_table_grow(table, 100, &null_ref, &old, &err) == VW_ERROR); /* max 10 */
  vw_error_delete(err);
  vw_table_delete(table);
  CHECK(vw_instance_get_table(w.instance, "nope", &table, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_instance_get_memory(w.instance, "nope", &mem, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_instance_get_global(w.instance, "nope", &counter, &err) == VW_ERROR);
  vw_error_delete(err);
  close_world(&w);

  /* Host-created memory, table and global, imported by a module. */
  world h = open_world("imports.vwa");
  vw_memory *hm = NULL;
  vw_table *ht = NULL;
  vw_global *hg = NULL;
  MUST(vw_memory_new(h.store, 1, VW_NO_MAX, &hm, &must_err_));
  MUST(vw_table_new(h.store, VW_FUNCREF, 3, 8, &null_ref, &ht, &must_err_));
  vw_val g0 = i64v(41);
  MUST(vw_global_new(h.store, VW_I64, true, &g0, &hg, &must_err_));
  MUST(vw_linker_define_memory(h.linker, "host", "mem", hm, &must_err_));
  MUST(vw_linker_define_table(h.linker, "host", "tab", ht, &must_err_));
  MUST(vw_linker_define_global(h.linker, "host", "g", hg, &must_err_));
  CHECK(vw_linker_define_global(h.linker, "host", "g", hg, &err) == VW_ERROR); /* duplicate */
  vw_error_delete(err);
  MUST(vw_linker_instantiate(h.linker, h.store, h.module, &h.instance, &must_trap_, &must_err_));
  const unsigned char seven = 7;
  CHECK(vw_memory_write(hm, 10, &seven, 1, &err) == VW_OK);
  at = i32v(10);
  CHECK(vw_instance_call(h.instance, "peek", 1, &at, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 7);
  vw_val poke[2] = {i32v(11), i32v(9)};
  CHECK(vw_instance_call(h.instance, "poke", 2, poke, 0, NULL, &trap, &err) == VW_OK);
  CHECK(vw_memory_read(hm, 11, buf, 1, &err) == VW_OK && buf[0] == 9);
  CHECK(vw_instance_call(h.instance, "bump", 0, NULL, 1, res, &trap, &err) == VW_OK && res[0].of.i64 == 42);
  CHECK(vw_global_get(hg, &v, &err) == VW_OK && v.of.i64 == 42);
  CHECK(vw_instance_call(h.instance, "tab_size", 0, NULL, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 3);
  /* A memory of another store is refused. */
  vw_store *other = NULL;
  vw_memory *om = NULL;
  MUST(vw_store_new(h.engine, &other, &must_err_));
  MUST(vw_memory_new(other, 1, 1, &om, &must_err_));
  CHECK(vw_linker_define_memory(h.linker, "host", "other", om, &err) == VW_ERROR);
  vw_error_delete(err);
  vw_memory_delete(om);
  vw_store_delete(other);
  /* An instance's exports in a linker: a second module imports them. */
  vw_memory_delete(hm);
  vw_table_delete(ht);
  vw_global_delete(hg);
  close_world(&h);
}

static void test_fuel_epochs(void) {
  world w = open_world("fuel.vwa");
  vw_error *err = NULL;
  vw_trap *trap = NULL;
  uint64_t fuel = 0;
  MUST(vw_linker_instantiate(w.linker, w.store, w.module, &w.instance, &must_trap_, &must_err_));
  MUST(vw_store_set_fuel(w.store, 10000, &must_err_));
  CHECK(vw_store_get_fuel(w.store, &fuel, &err) == VW_OK && fuel == 10000);
  vw_val arg = i32v(10), res[1];
  CHECK(vw_instance_call(w.instance, "count", 1, &arg, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 10);
  CHECK(vw_store_get_fuel(w.store, &fuel, &err) == VW_OK && fuel < 10000 && fuel > 0);
  CHECK(vw_instance_call(w.instance, "spin", 0, NULL, 0, NULL, &trap, &err) == VW_TRAP);
  CHECK(vw_trap_kind(trap) == VW_TRAP_OUT_OF_FUEL);
  CHECK(strcmp(vw_trap_message(trap), "out of fuel") == 0);
  vw_trap_delete(trap);
  CHECK(vw_store_add_fuel(w.store, 500, &fuel, &err) == VW_OK && fuel >= 500);
  CHECK(vw_instance_call(w.instance, "count", 1, &arg, 1, res, &trap, &err) == VW_OK);
  close_world(&w);
}

typedef struct {
  vw_engine *engine;
  int ticks;
} ticker;

static int32_t host_tick(void *env, vw_caller *caller, size_t argc, vw_val *argv) {
  (void)caller; (void)argc; (void)argv;
  ticker *t = env;
  uint64_t epoch = 0;
  t->ticks++;
  return vw_engine_increment_epoch(t->engine, &epoch, NULL) == VW_OK ? 0 : 1;
}

/* A watchdog thread: advances the engine's epoch every 5 ms until told to
 * stop. */
typedef struct {
  vw_engine *engine;
  volatile int stop;
  int increments;
} watchdog;

static void *watchdog_main(void *arg) {
  watchdog *w = arg;
  struct timespec pause = {0, 5 * 1000 * 1000};
  while (!w->stop) {
    nanosleep(&pause, NULL);
    if (vw_engine_increment_epoch(w->engine, NULL, NULL) == VW_OK) w->increments++;
  }
  return NULL;
}

static void test_epochs(void) {
  world w = open_world("epoch.vwa");
  vw_error *err = NULL;
  vw_trap *trap = NULL;
  ticker t = {w.engine, 0};
  MUST(vw_linker_define_func(w.linker, "env", "tick", NULL, 0, NULL, 0, host_tick, &t, NULL, &must_err_));
  MUST(vw_linker_instantiate(w.linker, w.store, w.module, &w.instance, &must_trap_, &must_err_));
  MUST(vw_store_set_epoch_deadline(w.store, 5, &must_err_));
  CHECK(vw_instance_call(w.instance, "spin", 0, NULL, 0, NULL, &trap, &err) == VW_TRAP);
  CHECK(vw_trap_kind(trap) == VW_TRAP_INTERRUPTED);
  CHECK(strcmp(vw_trap_message(trap), "interrupted") == 0);
  CHECK(t.ticks >= 5 && t.ticks <= 6);
  vw_trap_delete(trap);
  /* Without a deadline a bounded loop runs to its end. */
  MUST(vw_store_clear_epoch_deadline(w.store, &must_err_));
  vw_val arg = i32v(20);
  t.ticks = 0;
  CHECK(vw_instance_call(w.instance, "ticks", 1, &arg, 0, NULL, &trap, &err) == VW_OK && t.ticks == 20);
  uint64_t epoch = 0;
  CHECK(vw_engine_increment_epoch(w.engine, &epoch, &err) == VW_OK && epoch > 20);
  /* Another thread interrupts an endless loop that calls nothing. */
  watchdog dog = {w.engine, 0, 0};
  pthread_t thread;
  MUST(vw_store_set_epoch_deadline(w.store, 2, &must_err_));
  CHECK(pthread_create(&thread, NULL, watchdog_main, &dog) == 0);
  CHECK(vw_instance_call(w.instance, "spin_pure", 0, NULL, 0, NULL, &trap, &err) == VW_TRAP);
  dog.stop = 1;
  pthread_join(thread, NULL);
  CHECK(vw_trap_kind(trap) == VW_TRAP_INTERRUPTED);
  CHECK(dog.increments >= 2);
  vw_trap_delete(trap);
  close_world(&w);
}

static void test_loading(void) {
  vw_engine *engine = vw_engine_new_with_limits(256 * 1024, 16);
  vw_error *err = NULL;
  vw_module *module = NULL;
  size_t len = 0;
  unsigned char *bytes = read_file("api.vwa", &len);

  /* From a buffer: the buffer may be freed afterwards. */
  unsigned char *copy = malloc(len);
  memcpy(copy, bytes, len);
  CHECK(vw_module_from_buffer(engine, copy, len, &module, &err) == VW_OK && module);
  memset(copy, 0, len);
  free(copy);
  vw_store *store = NULL;
  vw_linker *linker = NULL;
  vw_instance *instance = NULL;
  vw_trap *trap = NULL;
  MUST(vw_store_new(engine, &store, &must_err_));
  MUST(vw_linker_new(store, &linker, &must_err_));
  /* What the module imports and exports, before instantiating it. */
  CHECK(vw_module_import_count(module) == 5);
  CHECK(strcmp(vw_module_import_module(module, 0), "env") == 0);
  CHECK(strcmp(vw_module_import_name(module, 2), "sum_mem") == 0);
  CHECK(vw_module_import_kind(module, 4) == VW_EXTERN_FUNC);
  CHECK(vw_module_import_name(module, 5) == NULL && vw_module_import_module(module, 5) == NULL);
  CHECK(vw_module_import_kind(module, 5) == 255);
  size_t exports = vw_module_export_count(module);
  int table_kind = -1;
  for (size_t i = 0; i < exports; i++)
    if (strcmp(vw_module_export_name(module, i), "table") == 0) table_kind = vw_module_export_kind(module, i);
  CHECK(exports > 10 && table_kind == VW_EXTERN_TABLE);
  CHECK(vw_module_export_name(module, exports) == NULL && vw_module_export_kind(module, exports) == 255);
  CHECK(vw_module_import_count(NULL) == 0 && vw_module_export_count(NULL) == 0);
  /* Missing imports are a link error. */
  CHECK(vw_linker_instantiate(linker, store, module, &instance, &trap, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "env"));
  vw_error_delete(err);
  define_env(linker);
  CHECK(vw_linker_instantiate(linker, store, module, &instance, &trap, &err) == VW_OK);
  vw_val args[2] = {i32v(2), i32v(3)}, res[1];
  CHECK(vw_instance_call(instance, "add", 2, args, 1, res, &trap, &err) == VW_OK && res[0].of.i32 == 5);
  vw_instance_delete(instance);
  /* A memory limit for the linker's instances: growing past it fails. */
  instance = NULL;
  CHECK(vw_linker_set_memory_limit_pages(linker, 2, &err) == VW_OK);
  CHECK(vw_linker_instantiate(linker, store, module, &instance, &trap, &err) == VW_OK);
  vw_memory *limited = NULL;
  uint64_t old_pages = 0;
  MUST(vw_instance_get_memory(instance, "memory", &limited, &must_err_));
  CHECK(vw_memory_grow(limited, 1, &old_pages, &err) == VW_OK && old_pages == 1);
  CHECK(vw_memory_grow(limited, 1, &old_pages, &err) == VW_ERROR);
  vw_error_delete(err);
  vw_memory_delete(limited);
  CHECK(vw_linker_set_memory_limit_pages(NULL, 2, &err) == VW_ERROR);
  vw_error_delete(err);
  vw_instance_delete(instance);
  vw_linker_delete(linker);
  vw_store_delete(store);
  vw_module_delete(module);

  /* A corrupted artifact is an error, not a crash. */
  unsigned char *bad = malloc(len);
  memcpy(bad, bytes, len);
  bad[len / 2] ^= 0xff;
  module = NULL;
  CHECK(vw_module_from_buffer(engine, bad, len, &module, &err) == VW_ERROR && module == NULL);
  CHECK(contains(vw_error_message(err), "checksum"));
  vw_error_delete(err);
  CHECK(vw_module_from_buffer(engine, bytes, 40, &module, &err) == VW_ERROR);
  CHECK(strlen(vw_error_message(err)) > 0);
  vw_error_delete(err);
  CHECK(vw_module_from_buffer(engine, (const unsigned char *)"not an artifact", 15, &module, &err) == VW_ERROR);
  vw_error_delete(err);
  FILE *f = fopen(path_of("corrupt.vwa"), "wb");
  fwrite(bad, 1, len, f);
  fclose(f);
  CHECK(vw_module_from_file(engine, path_of("corrupt.vwa"), &module, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "corrupt.vwa"));
  vw_error_delete(err);
  CHECK(vw_module_from_file(engine, path_of("missing.vwa"), &module, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "missing.vwa"));
  vw_error_delete(err);
  free(bad);

  /* Signed artifacts. */
  vw_trusted_keys *keys = vw_trusted_keys_new();
  CHECK(vw_module_from_file_trusted(engine, path_of("signed.vwa"), keys, &module, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_trusted_keys_add_file(keys, path_of("key.pub"), &err) == VW_OK);
  CHECK(vw_module_from_file_trusted(engine, path_of("signed.vwa"), keys, &module, &err) == VW_OK);
  vw_module_delete(module);
  CHECK(vw_module_from_file_trusted(engine, path_of("api.vwa"), keys, &module, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "not signed"));
  vw_error_delete(err);
  CHECK(vw_trusted_keys_add_file(keys, path_of("missing.pub"), &err) == VW_ERROR);
  vw_error_delete(err);
  vw_trusted_keys_delete(keys);

  size_t key_len = 0, signed_len = 0;
  unsigned char *key = read_file("key.bin", &key_len);
  unsigned char *other = read_file("other-key.bin", &key_len);
  unsigned char *signed_bytes = read_file("signed.vwa", &signed_len);
  keys = vw_trusted_keys_new();
  CHECK(vw_trusted_keys_add_bytes(keys, other, 32, &err) == VW_OK);
  CHECK(vw_module_from_buffer_trusted(engine, signed_bytes, signed_len, keys, &module, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "not one of the 1 trusted key(s)"));
  vw_error_delete(err);
  CHECK(vw_trusted_keys_add_bytes(keys, key, 31, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "32 bytes"));
  vw_error_delete(err);
  CHECK(vw_trusted_keys_add_bytes(keys, key, 32, &err) == VW_OK);
  CHECK(vw_module_from_buffer_trusted(engine, signed_bytes, signed_len, keys, &module, &err) == VW_OK);
  vw_module_delete(module);
  vw_trusted_keys_delete(keys);
  free(key);
  free(other);
  free(signed_bytes);
  free(bytes);
  vw_engine_delete(engine);
}

static void test_null_handles(void) {
  vw_error *err = NULL;
  vw_trap *trap = NULL;
  vw_val v = i32v(1);
  uint64_t u = 0;
  vw_store *store = NULL;
  vw_module *module = NULL;
  CHECK(vw_store_new(NULL, &store, &err) == VW_ERROR && store == NULL);
  CHECK(strcmp(vw_error_message(err), "engine is NULL") == 0);
  vw_error_delete(err);
  CHECK(vw_call(NULL, NULL, 0, NULL, 0, NULL, &trap, &err) == VW_ERROR && trap == NULL);
  CHECK(contains(vw_error_message(err), "is NULL"));
  vw_error_delete(err);
  vw_engine *engine = vw_engine_new();
  CHECK(vw_module_from_file(engine, NULL, &module, &err) == VW_ERROR);
  CHECK(strcmp(vw_error_message(err), "path is NULL") == 0);
  vw_error_delete(err);
  CHECK(vw_module_from_file(engine, path_of("api.vwa"), NULL, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_module_from_buffer(engine, NULL, 10, &module, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_memory_size(NULL, &u, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_global_set(NULL, &v, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_table_get(NULL, 0, &v, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_linker_define_func(NULL, "a", "b", NULL, 0, NULL, 0, host_add, &one, finalize, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_linker_instantiate(NULL, NULL, NULL, NULL, &trap, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_wasi_run_start(NULL, NULL, &trap, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_caller_memory(NULL, NULL, NULL, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_store_set_fuel(NULL, 1, &err) == VW_ERROR);
  vw_error_delete(err);
  CHECK(vw_engine_increment_epoch(NULL, NULL, &err) == VW_ERROR);
  vw_error_delete(err);
  /* A NULL error out-parameter is fine: only the status says it. */
  CHECK(vw_store_set_max_wasm_stack(NULL, 1, NULL) == VW_ERROR);
  CHECK(vw_trap_kind(NULL) == 0 && vw_trap_frame_count(NULL) == 0);
  CHECK(strcmp(vw_trap_message(NULL), "") == 0 && strcmp(vw_error_message(NULL), "") == 0);
  CHECK(vw_func_param_count(NULL) == 0 && vw_instance_export_count(NULL) == 0);
  /* A bad kind is an error too. */
  CHECK(vw_global_new(NULL, 42, false, &v, NULL, &err) == VW_ERROR);
  vw_error_delete(err);
  vw_store *s = NULL;
  vw_global *g = NULL;
  MUST(vw_store_new(engine, &s, &must_err_));
  CHECK(vw_global_new(s, 42, false, &v, &g, &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "not a vw_valkind"));
  vw_error_delete(err);
  vw_store_delete(s);
  /* Deleting NULL does nothing. */
  vw_engine_delete(NULL); vw_store_delete(NULL); vw_module_delete(NULL);
  vw_linker_delete(NULL); vw_instance_delete(NULL); vw_func_delete(NULL);
  vw_memory_delete(NULL); vw_table_delete(NULL); vw_global_delete(NULL);
  vw_trap_delete(NULL); vw_error_delete(NULL); vw_trusted_keys_delete(NULL);
  vw_wasi_config_delete(NULL); vw_val_delete(NULL);
  vw_engine_delete(engine);
}

static void test_wasi(void) {
  world w = open_world("wasi.vwa");
  vw_error *err = NULL;
  vw_trap *trap = NULL;
  vw_wasi_config *config = vw_wasi_config_new();
  MUST(vw_wasi_config_arg(config, "hello", &must_err_));
  MUST(vw_wasi_config_arg(config, "world", &must_err_));
  MUST(vw_wasi_config_arg(config, "!", &must_err_));
  MUST(vw_wasi_config_env(config, "GREETING", "hi", &must_err_));
  MUST(vw_wasi_config_inherit_stdio(config, &must_err_));
  CHECK(vw_wasi_config_preopen_dir(config, dir, ".", &err) == VW_OK);
  CHECK(vw_wasi_config_preopen_dir(config, path_of("no-such-dir"), "/x", &err) == VW_ERROR);
  CHECK(contains(vw_error_message(err), "no-such-dir"));
  vw_error_delete(err);
  MUST(vw_linker_define_wasi(w.linker, config, &must_err_));
  vw_wasi_config_delete(config);
  MUST(vw_linker_instantiate(w.linker, w.store, w.module, &w.instance, &must_trap_, &must_err_));
  fflush(stdout);
  int32_t code = -1;
  /* The program prints a line and exits with 10 * argc + environment size. */
  CHECK(vw_wasi_run_start(w.instance, &code, &trap, &err) == VW_OK);
  CHECK(code == 31);
  printf("wasi exit code %d\n", code);
  /* Called as a plain function, proc_exit is a trap with an exit status. */
  CHECK(vw_instance_call(w.instance, "_start", 0, NULL, 0, NULL, &trap, &err) == VW_TRAP);
  int32_t status = 0;
  CHECK(vw_trap_exit_status(trap, &status) && status == 31);
  vw_trap_delete(trap);
  close_world(&w);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s ARTIFACT-DIR\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  test_calls();
  test_traps();
  test_host_memory();
  test_externs();
  test_fuel_epochs();
  test_epochs();
  test_loading();
  test_null_handles();
  test_wasi();
  printf("c api: %d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
