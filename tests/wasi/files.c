/* Files inside a pre-opened directory (argv[1] is its guest name), and
 * attempts to get out of it. Expects the directory to hold input.txt and
 * the symbolic links link_out -> ../secret.txt, link_abs -> /etc/passwd,
 * link_in -> input.txt and dirlink -> .., and the empty directory inner
 * (made by the test). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

static char buf[4096];
static const char *dir;

/* dir/name, in one of a few rotating buffers. */
static const char *at(const char *name) {
    static char paths[8][512];
    static int next;
    next = (next + 1) % 8;
    snprintf(paths[next], sizeof paths[next], "%s/%s", dir, name);
    return paths[next];
}

static void try_read(const char *label, const char *path) {
    errno = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        printf("open %s: OPENED (%zu bytes)\n", label, n);
        fclose(f);
    } else {
        printf("open %s: refused, errno %d (%s)\n", label, errno, strerror(errno));
    }
}

static void try_write(const char *label, const char *path) {
    errno = 0;
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("pwned\n", f);
        fclose(f);
        printf("write %s: WRITTEN\n", label);
    } else {
        printf("write %s: refused, errno %d (%s)\n", label, errno, strerror(errno));
    }
}

/* path_open straight on the first pre-open (fd 3), bypassing wasi-libc's
 * own path handling. */
static void raw_open(const char *path) {
    __wasi_fd_t fd;
    __wasi_errno_t e = __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, 0,
                                        __WASI_RIGHTS_FD_READ, 0, 0, &fd);
    printf("raw path_open %s: errno %d\n", path, e);
    if (e == 0)
        (void)__wasi_fd_close(fd);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *label, const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        printf("list %s: errno %d\n", label, errno);
        return;
    }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("list %s:", label);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    dir = argc > 1 ? argv[1] : ".";

    /* Copy input.txt to copy.txt. */
    FILE *in = fopen(at("input.txt"), "rb");
    if (!in) {
        printf("cannot open input.txt: %s\n", strerror(errno));
        return 1;
    }
    FILE *out = fopen(at("copy.txt"), "wb");
    if (!out) {
        printf("cannot create copy.txt: %s\n", strerror(errno));
        return 1;
    }
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        fwrite(buf, 1, n, out);
        total += n;
    }
    fclose(in);
    fclose(out);
    printf("copied %zu bytes\n", total);

    /* Write, append, read back, seek. */
    out = fopen(at("log.txt"), "w");
    fprintf(out, "line 1\n");
    fclose(out);
    out = fopen(at("log.txt"), "a");
    fprintf(out, "line 2\n");
    fclose(out);
    in = fopen(at("log.txt"), "r");
    n = fread(buf, 1, sizeof buf - 1, in);
    buf[n] = 0;
    printf("log.txt: %s", buf);
    fseek(in, 5, SEEK_SET);
    int c = fgetc(in);
    printf("at 5: '%c', tell %ld\n", c, ftell(in));
    fseek(in, -2, SEEK_END);
    printf("end-2: tell %ld\n", ftell(in));
    fclose(in);

    struct stat st;
    if (stat(at("copy.txt"), &st) == 0)
        printf("stat copy.txt: size %lld, regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    if (lstat(at("link_out"), &st) == 0)
        printf("lstat link_out: symlink %d\n", S_ISLNK(st.st_mode));

    /* A subdirectory: create, fill, rename, list, remove. */
    if (mkdir(at("sub"), 0755) != 0)
        printf("mkdir sub: %s\n", strerror(errno));
    out = fopen(at("sub/a.txt"), "w");
    fputs("a", out);
    fclose(out);
    if (rename(at("sub/a.txt"), at("sub/b.txt")) != 0)
        printf("rename: %s\n", strerror(errno));
    list("sub", at("sub"));
    try_read("sub/../input.txt", at("sub/../input.txt"));
    unlink(at("sub/b.txt"));
    if (rmdir(at("sub")) != 0)
        printf("rmdir sub: %s\n", strerror(errno));
    printf("sub exists after rmdir: %s\n", access(at("sub"), F_OK) == 0 ? "yes" : "no");
    unlink(at("log.txt"));
    list("dir", dir);

    /* Ways out, all refused. */
    try_read("../secret.txt", at("../secret.txt"));
    try_read("/etc/passwd", "/etc/passwd");
    try_read("link_out", at("link_out"));
    try_read("link_abs", at("link_abs"));
    try_read("link_in", at("link_in"));
    try_read("dirlink/secret.txt", at("dirlink/secret.txt"));
    try_write("../escape.txt", at("../escape.txt"));
    try_write("link_out", at("link_out"));
    raw_open("/etc/passwd");
    raw_open("../secret.txt");
    raw_open("./../secret.txt");
    raw_open("inner/../../secret.txt");
    raw_open("inner/../input.txt");
    raw_open("link_out");
    raw_open("dirlink/secret.txt");
    raw_open("input.txt");
    return 0;
}
