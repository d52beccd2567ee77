/* A C host of the loader's no_std core (src/lib.rs): no mmap, memory from
 * malloc, code made executable with mprotect (an MPU on a microcontroller).
 *
 *   ./nostd-host fib.vwa     (compiled with --bounds-checks explicit)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int vw_core_run(const uint8_t *artifact, size_t len, int64_t *result);
void vw_core_error(char *buf, size_t cap);

uint8_t *vw_host_alloc_memory(size_t len) {
    void *p = NULL;
    if (posix_memalign(&p, 65536, len) != 0) return NULL;
    memset(p, 0, len);
    return p;
}

void vw_host_free_memory(uint8_t *base, size_t len) { (void)len; free(base); }

uint8_t *vw_host_alloc_code(const uint8_t *code, size_t len) {
    void *p = NULL;
    size_t pages = (len + 4095) & ~(size_t)4095;
    if (posix_memalign(&p, 4096, pages) != 0) return NULL;
    memcpy(p, code, len);
    if (mprotect(p, pages, PROT_READ | PROT_EXEC) != 0) { free(p); return NULL; }
    __builtin___clear_cache((char *)p, (char *)p + len);
    return p;
}

void vw_host_free_code(uint8_t *base, size_t len) {
    mprotect(base, (len + 4095) & ~(size_t)4095, PROT_READ | PROT_WRITE);
    free(base);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s ARTIFACT.vwa\n", argv[0]); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc(n > 0 ? (size_t)n : 1);
    if (!bytes || fread(bytes, 1, (size_t)n, f) != (size_t)n) { perror("read"); return 1; }
    fclose(f);
    int64_t result = 0;
    int status = vw_core_run(bytes, (size_t)n, &result);
    if (status != 0) {
        char message[512];
        vw_core_error(message, sizeof message);
        fprintf(stderr, "error %d: %s\n", status, message);
        return 1;
    }
    printf("%lld\n", (long long)result);
    return 0;
}
