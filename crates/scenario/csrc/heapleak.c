/* memscen's heap-leak worker: a small C program, so that its call chains
 * are plain C functions with frame pointers that a recorder's stack walk
 * sees whole, and so that the binary is small enough to keep beside a
 * recording for symbolization elsewhere.
 *
 * It leaks through memtrace_leak_outer -> memtrace_leak_middle ->
 * memtrace_leak_alloc -> malloc, and churns through memtrace_churn_outer
 * -> memtrace_churn_middle -> memtrace_churn_alloc -> malloc (then
 * memtrace_churn_free -> free for every block). It reports where each
 * function is at run time; memscen takes their sizes from the symbol table.
 *
 * Usage: memscen-heap LEAK_COUNT CHURN_COUNT CHURN_BATCH WAIT_UPROBES_MS
 * Protocol (as memscen's Rust workers): one JSON line per event on stdout
 * ({"name":..., "boottime_ns":..., "data":{...}}); at a hold it waits for
 * a line (or EOF) on stdin.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The leak's sizes, cycled: block i has LEAK_SIZES[i % 4] bytes. All below
 * glibc's mmap threshold (128 KiB), so the heap grows by brk, not by the
 * C library's own mmap calls. */
static const size_t LEAK_SIZES[4] = {64, 512, 4096, 12288};
static const size_t CHURN_SIZES[3] = {32, 256, 2048};

#define NOINLINE __attribute__((noinline, noclone, used))

/* Keeps every leaked block reachable from a global, so the compiler cannot
 * drop the allocations; nothing ever frees them. */
static void **leaked;
/* Blocks of one churn batch. */
static void **batch;
/* Written through every allocated block so that malloc is not elided. */
static volatile unsigned char sink;

static uint64_t boottime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void emit(const char *name, const char *data)
{
    printf("{\"name\":\"%s\",\"boottime_ns\":%llu,\"data\":{%s}}\n", name,
           (unsigned long long)boottime_ns(), data);
    fflush(stdout);
}

static void hold(const char *name, const char *data)
{
    char line[64];
    emit(name, data);
    if (!fgets(line, sizeof line, stdin))
        return;
}

/* --- the leak chain ----------------------------------------------------- */

NOINLINE void *memtrace_leak_alloc(size_t size)
{
    unsigned char *p = malloc(size);
    /* A use after the call: malloc is not a tail call, so this frame is on
     * the stack at malloc's return. */
    if (p)
        p[0] = (unsigned char)size;
    return p;
}

NOINLINE void *memtrace_leak_middle(size_t size)
{
    void *p = memtrace_leak_alloc(size);
    if (p)
        sink = *(unsigned char *)p;
    return p;
}

NOINLINE size_t memtrace_leak_outer(size_t count)
{
    size_t made = 0;
    for (size_t i = 0; i < count; i++) {
        leaked[i] = memtrace_leak_middle(LEAK_SIZES[i % 4]);
        made += leaked[i] != NULL;
    }
    return made;
}

/* --- the churn chain: everything it allocates, it frees ----------------- */

NOINLINE void *memtrace_churn_alloc(size_t size)
{
    unsigned char *p = malloc(size);
    if (p)
        p[0] = (unsigned char)size;
    return p;
}

NOINLINE void memtrace_churn_free(void *p)
{
    free(p);
    sink = 0;
}

NOINLINE size_t memtrace_churn_middle(size_t n,
                                                                 size_t first)
{
    size_t made = 0;
    for (size_t i = 0; i < n; i++) {
        batch[i] = memtrace_churn_alloc(CHURN_SIZES[(first + i) % 3]);
        made += batch[i] != NULL;
    }
    for (size_t i = 0; i < n; i++)
        memtrace_churn_free(batch[i]);
    return made;
}

NOINLINE size_t memtrace_churn_outer(size_t count,
                                                               size_t per_batch)
{
    size_t made = 0;
    for (size_t done = 0; done < count; done += per_batch) {
        size_t n = count - done < per_batch ? count - done : per_batch;
        made += memtrace_churn_middle(n, done);
    }
    return made;
}

/* --- what memscen needs to know about this binary ----------------------- */

/* Whether a uprobe is installed on the C library function `name` in this
 * process: the kernel writes a breakpoint (int3 on x86, brk on arm64) over
 * the probed instruction in this process's copy of the page. memrec probes
 * glibc's free past its first instruction (a 3-byte NULL test) on x86. */
static int probed(const char *name)
{
    const unsigned char *f = dlsym(RTLD_DEFAULT, name);
    if (!f)
        return 0;
#if defined(__x86_64__) || defined(__i386__)
    return f[0] == 0xcc || f[3] == 0xcc;
#elif defined(__aarch64__)
    return *(const uint32_t *)f == 0xd42000a0u; /* brk #5, BRK64_OPCODE_UPROBES */
#else
    return 0;
#endif
}

static int all_probed(void)
{
    return probed("malloc") && probed("free");
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s LEAK_COUNT CHURN_COUNT CHURN_BATCH WAIT_UPROBES_MS\n",
                argv[0]);
        return 2;
    }
    size_t leak_count = strtoull(argv[1], NULL, 10);
    size_t churn_count = strtoull(argv[2], NULL, 10);
    size_t churn_batch = strtoull(argv[3], NULL, 10);
    long wait_ms = strtol(argv[4], NULL, 10);
    if (churn_batch == 0)
        churn_batch = 1;
    /* Allocated before any chain runs, outside them. */
    leaked = calloc(leak_count ? leak_count : 1, sizeof *leaked);
    batch = calloc(churn_batch, sizeof *batch);
    if (!leaked || !batch)
        return 3;

    char data[1024];
    snprintf(data, sizeof data, "\"pid\":%d", (int)getpid());
    emit("start", data);

    /* Where each function is in this process (PIE: wherever it was loaded). */
    struct {
        const char *name;
        void *addr;
    } fns[] = {
        {"memtrace_leak_alloc", (void *)memtrace_leak_alloc},
        {"memtrace_leak_middle", (void *)memtrace_leak_middle},
        {"memtrace_leak_outer", (void *)memtrace_leak_outer},
        {"memtrace_churn_alloc", (void *)memtrace_churn_alloc},
        {"memtrace_churn_free", (void *)memtrace_churn_free},
        {"memtrace_churn_middle", (void *)memtrace_churn_middle},
        {"memtrace_churn_outer", (void *)memtrace_churn_outer},
    };
    size_t off = 0;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0] && off < sizeof data; i++)
        off += snprintf(data + off, sizeof data - off, "%s\"%s\":%llu",
                        i ? "," : "\"functions\":{", fns[i].name,
                        (unsigned long long)(uintptr_t)fns[i].addr);
    if (off < sizeof data)
        snprintf(data + off, sizeof data - off, "}");
    emit("functions", data);

    /* A recorder attaches its uprobes some time after this process
     * appears; the chains run once they are in place (or after the wait). */
    uint64_t t0 = boottime_ns();
    int seen = all_probed();
    while (!seen && (long)((boottime_ns() - t0) / 1000000) < wait_ms) {
        usleep(10000);
        seen = all_probed();
    }
    snprintf(data, sizeof data, "\"uprobes_seen\":%s,\"waited_ms\":%llu",
             seen ? "true" : "false",
             (unsigned long long)((boottime_ns() - t0) / 1000000));
    emit("uprobes", data);

    emit("leak-start", "");
    size_t leaked_n = memtrace_leak_outer(leak_count);
    snprintf(data, sizeof data, "\"count\":%zu", leaked_n);
    emit("leak-done", data);

    emit("churn-start", "");
    size_t churned = memtrace_churn_outer(churn_count, churn_batch);
    snprintf(data, sizeof data, "\"count\":%zu", churned);
    emit("churn-done", data);

    /* Alive while memscen reads its status and a recorder its mappings;
     * the leak is released only by exit. */
    hold("hold", "");
    return leaked_n == leak_count && churned == churn_count ? 0 : 1;
}
