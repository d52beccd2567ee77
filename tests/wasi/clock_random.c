/* Clock and randomness sanity checks; prints one "name: ok|FAIL" line each
 * and exits with the number of failures. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void check(const char *name, int ok) {
    printf("%s: %s\n", name, ok ? "ok" : "FAIL");
    if (!ok)
        failures++;
}

int main(void) {
    struct timespec a, b, res;
    check("realtime after 2020", clock_gettime(CLOCK_REALTIME, &a) == 0 && a.tv_sec > 1577836800);
    check("time() after 2020", time(NULL) > 1577836800);
    check("monotonic resolution", clock_getres(CLOCK_MONOTONIC, &res) == 0 &&
                                      (res.tv_sec > 0 || res.tv_nsec > 0));
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec nap = {0, 30 * 1000 * 1000};
    int slept = nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ms = (long long)(b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    check("nanosleep 30ms", slept == 0 && ms >= 30 && ms < 5000);
    check("monotonic advances", b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec > a.tv_nsec));
    check("sched_yield", sched_yield() == 0);

    unsigned char r1[64], r2[64], zero[64] = {0};
    check("getentropy", getentropy(r1, sizeof r1) == 0 && getentropy(r2, sizeof r2) == 0);
    check("random bytes differ", memcmp(r1, r2, sizeof r1) != 0);
    check("random bytes not zero", memcmp(r1, zero, sizeof r1) != 0);
    return failures;
}
