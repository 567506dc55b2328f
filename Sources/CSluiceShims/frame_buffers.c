#include "CSluiceShims.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

// A few spare frame buffers per thread. Thread-local in C because Swift has no cheap thread-local
// storage; a pthread key's destructor frees the spares when the thread ends (a server's loop
// threads end with it, and tests start many servers).
enum { SPARE_LIMIT = 32 };

static __thread void *spares[SPARE_LIMIT];
static __thread int spare_count;
static __thread int registered;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void free_spares(void *unused) {
    (void)unused;
    while (spare_count > 0) free(spares[--spare_count]);
}

static void make_exit_key(void) { pthread_key_create(&exit_key, free_spares); }

void *sluice_frame_buffer_take(void) {
    if (spare_count > 0) return spares[--spare_count];
    if (!registered) {
        // Any non-NULL value makes the destructor run at thread exit.
        pthread_once(&exit_key_once, make_exit_key);
        pthread_setspecific(exit_key, (void *)(uintptr_t)1);
        registered = 1;
    }
    return malloc(SLUICE_FRAME_BUFFER_SIZE);
}

void sluice_frame_buffer_release(const void *data, size_t length, void *unused) {
    (void)length;
    (void)unused;
    if (spare_count < SPARE_LIMIT && registered) {
        spares[spare_count++] = (void *)data;
    } else {
        free((void *)data);
    }
}
