// A persistent pool of worker threads for `Parallel` (LongLMCore). Decode runs about 200 small matrix products
// per token; waking threads for each through the system's dispatch queue cost about a quarter of a decode step
// in the scheduler. Workers here stay: after a job they spin for a short while (the next product usually
// follows within microseconds), then sleep on a condition variable until the next job.
//
// One job at a time: a call made while another job runs (from another thread, or from inside a job's item)
// runs its items inline on the calling thread, so nesting never deadlocks.
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "longlm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
static inline void cpu_relax(void) { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax(void) { __asm__ __volatile__("yield"); }
#else
static inline void cpu_relax(void) {}
#endif

enum { MAX_WORKERS = 255 };
/// How long an idle worker spins before it sleeps.
static const int64_t SPIN_NANOSECONDS = 100000;

static struct {
    pthread_mutex_t lock;         // guards sleeping and waking
    pthread_cond_t wake;
    int started;                  // worker threads started (under run_lock)
    atomic_int ready;             // workers that have read the generation they start from
    atomic_uint_fast64_t generation;   // one more per job
    // The current job: written before `generation` is advanced, read after it is seen.
    longlm_pool_task task;
    void *context;
    int64_t count;
    int participants;             // workers 0 ..< participants take items of this job
    atomic_int_fast64_t next;     // the next item to take
    // Workers that have not yet finished this job: every started worker, participant or not, so no worker can
    // still be reading this job's fields when the next job writes them.
    atomic_int active;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;   // one job at a time
static _Thread_local int inside_job = 0;

static int64_t now_nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void take_items(void) {
    int64_t i;
    while ((i = atomic_fetch_add(&pool.next, 1)) < pool.count) pool.task(pool.context, i);
}

static void *worker_main(void *argument) {
    int index = (int)(intptr_t)argument;
    inside_job = 1;   // a worker's own calls run inline
    uint_fast64_t seen = atomic_load(&pool.generation);
    atomic_fetch_add(&pool.ready, 1);   // its creator waits for this, so the next job is not missed
    for (;;) {
        uint_fast64_t generation = atomic_load(&pool.generation);
        if (generation == seen) {
            int64_t deadline = now_nanoseconds() + SPIN_NANOSECONDS;
            int spins = 0;
            while ((generation = atomic_load(&pool.generation)) == seen) {
                cpu_relax();
                if (++spins % 64 == 0 && now_nanoseconds() > deadline) {
                    pthread_mutex_lock(&pool.lock);
                    while ((generation = atomic_load(&pool.generation)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
                    pthread_mutex_unlock(&pool.lock);
                    break;
                }
            }
        }
        seen = generation;
        if (index < pool.participants) take_items();
        atomic_fetch_sub(&pool.active, 1);
    }
    return 0;
}

/// Starts workers until `count` exist (under run_lock). Returns how many exist.
static int start_workers(int count) {
    while (pool.started < count && pool.started < MAX_WORKERS) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, worker_main, (void *)(intptr_t)pool.started);
        pthread_attr_destroy(&attributes);
        if (failed) break;
        pool.started++;
        while (atomic_load(&pool.ready) < pool.started) cpu_relax();
    }
    return pool.started;
}

void longlm_pool_run(int threads, int64_t count, longlm_pool_task task, void *context) {
    if (count <= 0) return;
    int64_t helpers = threads - 1 < count - 1 ? threads - 1 : count - 1;
    if (helpers <= 0 || inside_job || pthread_mutex_trylock(&run_lock) != 0) {
        for (int64_t i = 0; i < count; i++) task(context, i);
        return;
    }
    int available = start_workers((int)helpers);
    if (available < helpers) helpers = available;
    if (helpers <= 0) {
        pthread_mutex_unlock(&run_lock);
        for (int64_t i = 0; i < count; i++) task(context, i);
        return;
    }
    pool.task = task;
    pool.context = context;
    pool.count = count;
    pool.participants = (int)helpers;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.active, pool.started);
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.generation, 1);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    inside_job = 1;
    take_items();
    inside_job = 0;
    while (atomic_load(&pool.active) > 0) cpu_relax();
    pthread_mutex_unlock(&run_lock);
}
