/* The worker pool and completion queues. No Python here: workers never take
 * the GIL and never touch a Python object. The system calls a job makes are
 * in sys.c. */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#ifdef AFC_HAVE_EVENTFD
#include <sys/eventfd.h>
#endif
#include <time.h>
#ifdef AFC_HAVE_SENDFILE
#include <sys/sendfile.h>
#endif
#include <unistd.h>

#define AFC_MAX_THREADS 256

/* The pool's state (see "the pool" below) is guarded by pool_mu. */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;

/* Finished jobs whose loop has gone away; reclaimed with the GIL held. */
static pthread_mutex_t orphan_mu = PTHREAD_MUTEX_INITIALIZER;
static afc_job *orphans;

/* Live completion queues, so a forked child can reset their locks. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static afc_cq *registry;

/* Bumped in a forked child: queues made before are stale there (their
 * eventfd is shared with the parent). Only written by the child's single
 * thread during the atfork handler, read with the GIL held. */
static unsigned long fork_generation;

unsigned long
afc_fork_generation(void)
{
    return fork_generation;
}

#ifndef AFC_HAVE_EVENTFD
/* Portable wake-up: a non-blocking, close-on-exec pipe. Returns the read
 * end (the loop watches it) and stores the write end, or -1 and errno. */
static int
afc_self_pipe(int *wfd)
{
    int p[2];
    if (pipe(p) < 0) {
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (fcntl(p[i], F_SETFL, O_NONBLOCK) < 0 ||
            fcntl(p[i], F_SETFD, FD_CLOEXEC) < 0) {
            int e = errno;
            close(p[0]);
            close(p[1]);
            errno = e;
            return -1;
        }
    }
    *wfd = p[1];
    return p[0];
}
#endif

/* ---- adaptive spinning ----
 *
 * Both waits that spin (an idle worker waiting for the next job, a loop
 * thread waiting a few microseconds for the one job it has in the pool)
 * pay only when the thread they wait for runs on another CPU meanwhile.
 * On a contended machine the spinner takes the CPU that thread needs, and
 * the spin ends by its time limit, not by the event. So a spin happens
 * only when (1) the load average (getloadavg, sampled at most every 50 ms) is
 * below the number of CPUs, and (2) recent spins of that kind paid: a score
 * gains one for a spin that saw its event and loses two for one that timed
 * out; at zero only one chance in 32 spins, to notice when spinning pays
 * again. Scores are updated with plain atomic loads and stores: a lost
 * update between two threads only nudges a heuristic. */
#define AFC_SPIN_SCORE_MAX 16
#ifndef SI_LOAD_SHIFT
#define SI_LOAD_SHIFT 16
#endif

struct afc_spin {
    atomic_int score;
    atomic_uint chances;
};

static struct afc_spin worker_spin = {AFC_SPIN_SCORE_MAX / 2, 0};
static struct afc_spin loop_spin = {AFC_SPIN_SCORE_MAX / 2, 0};
static atomic_llong load_sampled_ns;     /* relaxed: a sampling clock */
static atomic_int machine_busy;          /* relaxed: a hint */
static atomic_uint worker_spins;         /* relaxed: spins begun (tests) */
static long ncpu_online = 1;             /* set once, by init_pool */

static int
machine_contended(void)
{
    int64_t now = afc_now_ns();
    long long last =
        atomic_load_explicit(&load_sampled_ns, memory_order_relaxed);
    if (now - last > 50 * 1000000LL) {
        double load;
        atomic_store_explicit(&load_sampled_ns, now, memory_order_relaxed);
        int busy = getloadavg(&load, 1) == 1 && load >= (double)ncpu_online;
        atomic_store_explicit(&machine_busy, busy, memory_order_relaxed);
    }
    return atomic_load_explicit(&machine_busy, memory_order_relaxed);
}

static int
spin_may(struct afc_spin *sp)
{
    if (machine_contended()) {
        return 0;
    }
    if (atomic_load_explicit(&sp->score, memory_order_relaxed) > 0) {
        return 1;
    }
    return (atomic_fetch_add_explicit(&sp->chances, 1,
                                      memory_order_relaxed) & 31) == 0;
}

static void
spin_done(struct afc_spin *sp, int paid)
{
    int sc = atomic_load_explicit(&sp->score, memory_order_relaxed);
    if (paid) {
        sc = sc < AFC_SPIN_SCORE_MAX ? sc + 1 : AFC_SPIN_SCORE_MAX;
    }
    else {
        sc = sc > 2 ? sc - 2 : 0;
    }
    atomic_store_explicit(&sp->score, sc, memory_order_relaxed);
}

/* ---- completion queues ---- */

static void
cq_lock(afc_cq *cq)
{
    pthread_mutex_lock((pthread_mutex_t *)cq->mu);
}

static void
cq_unlock(afc_cq *cq)
{
    pthread_mutex_unlock((pthread_mutex_t *)cq->mu);
}

static void
cq_init_sync(afc_cq *cq)
{
    pthread_condattr_t ca;
    pthread_mutex_init((pthread_mutex_t *)cq->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init((pthread_cond_t *)cq->cv, &ca);
    pthread_condattr_destroy(&ca);
}

afc_cq *
afc_cq_new(const void *owner)
{
    afc_cq *cq = calloc(1, sizeof(*cq));
    pthread_mutex_t *mu = malloc(sizeof(*mu));
    pthread_cond_t *cv = malloc(sizeof(*cv));
    if (cq == NULL || mu == NULL || cv == NULL) {
        free(cq);
        free(mu);
        free(cv);
        errno = ENOMEM;
        return NULL;
    }
    /* Failing to make the eventfd (every descriptor in use) is not an
     * error: the loop then learns of completions through afc_cq_wait, from
     * a thread that schedules the drain with call_soon_threadsafe, so calls
     * that need no descriptor of their own (stat, ...) still work. */
#ifdef AFC_HAVE_EVENTFD
    cq->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
#else
    cq->efd = afc_self_pipe(&cq->wfd);
#endif
    cq->mu = mu;
    cq->cv = cv;
    cq_init_sync(cq);
    cq->owner = owner;
    atomic_init(&cq->refs, 1);
    pthread_mutex_lock(&reg_mu);
    cq->generation = fork_generation;
    cq->reg_next = registry;
    if (registry != NULL) {
        registry->reg_prev = cq;
    }
    registry = cq;
    pthread_mutex_unlock(&reg_mu);
    return cq;
}

void
afc_cq_incref(afc_cq *cq)
{
    /* Relaxed is enough: a new reference is always taken from an existing
     * one, whose holder keeps the queue alive meanwhile. */
    atomic_fetch_add_explicit(&cq->refs, 1, memory_order_relaxed);
}

void
afc_cq_decref(afc_cq *cq)
{
    /* acq_rel: the thread that frees must see every write made by the
     * holders of the other references before they dropped them. */
    if (atomic_fetch_sub_explicit(&cq->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    pthread_mutex_lock(&reg_mu);
    if (cq->reg_prev != NULL) {
        cq->reg_prev->reg_next = cq->reg_next;
    }
    else {
        registry = cq->reg_next;
    }
    if (cq->reg_next != NULL) {
        cq->reg_next->reg_prev = cq->reg_prev;
    }
    pthread_mutex_unlock(&reg_mu);
    if (cq->efd >= 0) {
        close(cq->efd);
#ifndef AFC_HAVE_EVENTFD
        close(cq->wfd);
#endif
    }
    pthread_mutex_destroy((pthread_mutex_t *)cq->mu);
    pthread_cond_destroy((pthread_cond_t *)cq->cv);
    free(cq->mu);
    free(cq->cv);
    free(cq);
}

/* Worker side: hand a finished job to its loop. *slot is the worker's
 * record of the job it runs (for fork); it is cleared inside the same
 * critical section that publishes the job, so a child forked at any
 * moment finds the job in exactly one of the two places. */
static void
cq_push(afc_job *job, afc_job **slot)
{
    afc_cq *cq = job->cq;
    job->next = NULL;
    cq_lock(cq);
    if (cq->orphaned) {
        cq_unlock(cq);
        if (job->kind == AFC_JOB_OPEN && job->path != NULL &&
            job->err == 0 && job->res >= 0) {
            /* Nobody will ever adopt this descriptor. */
            close((int)job->res);
            job->res = -1;
            job->err = ECANCELED;
        }
        pthread_mutex_lock(&orphan_mu);
        job->next = orphans;
        orphans = job;
        *slot = NULL;
        pthread_mutex_unlock(&orphan_mu);
        return;
    }
    int was_empty = cq->head == NULL;
    if (was_empty) {
        cq->head = job;
    }
    else {
        cq->tail->next = job;
    }
    cq->tail = job;
    *slot = NULL;
    atomic_store_explicit(&cq->ready, 1, memory_order_release);
    if (was_empty) {
        /* Under the lock: once it is released, the loop thread may take
         * this job and drop the last reference to the queue. */
        if (cq->efd >= 0) {
            ssize_t r;
#ifdef AFC_HAVE_EVENTFD
            uint64_t one = 1;
            AFC_RETRY(r, write(cq->efd, &one, sizeof(one)));
#else
            char one = 1;
            AFC_RETRY(r, write(cq->wfd, &one, 1));
#endif
            (void)r;
        }
        if (cq->nwaiters > 0) {
            pthread_cond_broadcast((pthread_cond_t *)cq->cv);
        }
    }
    cq_unlock(cq);
}

void
afc_cq_ack(afc_cq *cq)
{
    if (cq->efd < 0) {
        return;
    }
    uint64_t v;
    ssize_t r;
#ifdef AFC_HAVE_EVENTFD
    AFC_RETRY(r, read(cq->efd, &v, sizeof(v)));
#else
    /* A pipe keeps every byte: read until it is empty. */
    do {
        AFC_RETRY(r, read(cq->efd, &v, sizeof(v)));
    } while (r == (ssize_t)sizeof(v));
#endif
}

afc_job *
afc_cq_take(afc_cq *cq)
{
    cq_lock(cq);
    afc_job *list = cq->head;
    cq->head = cq->tail = NULL;
    atomic_store_explicit(&cq->ready, 0, memory_order_relaxed);
    cq_unlock(cq);
    return list;
}

int
afc_cq_wait_ready(afc_cq *cq, long ns)
{
    if (atomic_load_explicit(&cq->ready, memory_order_acquire)) {
        return 1;
    }
    if (!spin_may(&loop_spin)) {
        return 0;
    }
    int64_t deadline = afc_now_ns() + ns;
    while (!atomic_load_explicit(&cq->ready, memory_order_acquire)) {
        if (afc_now_ns() >= deadline) {
            spin_done(&loop_spin, 0);
            return 0;
        }
    }
    spin_done(&loop_spin, 1);
    return 1;
}

int
afc_cq_wait(afc_cq *cq, long ns)
{
    int64_t deadline = afc_now_ns() + ns;
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000),
                          .tv_nsec = (long)(deadline % 1000000000)};
    cq_lock(cq);
    cq->nwaiters++;
    while (cq->head == NULL && !cq->orphaned) {
        if (pthread_cond_timedwait((pthread_cond_t *)cq->cv,
                                   (pthread_mutex_t *)cq->mu,
                                   &ts) == ETIMEDOUT) {
            break;
        }
    }
    cq->nwaiters--;
    int ready = cq->head != NULL;
    cq_unlock(cq);
    return ready;
}

afc_job *
afc_cq_orphan(afc_cq *cq)
{
    cq_lock(cq);
    cq->orphaned = 1;
    afc_job *list = cq->head;
    cq->head = cq->tail = NULL;
    pthread_cond_broadcast((pthread_cond_t *)cq->cv);
    cq_unlock(cq);
    return list;
}

afc_job *
afc_take_orphans(const void *owner)
{
    afc_job *mine = NULL;
    pthread_mutex_lock(&orphan_mu);
    afc_job **pp = &orphans;
    while (*pp != NULL) {
        afc_job *job = *pp;
        if (job->cq->owner == owner) {
            *pp = job->next;
            job->next = mine;
            mine = job;
        }
        else {
            pp = &job->next;
        }
    }
    pthread_mutex_unlock(&orphan_mu);
    return mine;
}

afc_job *
afc_fork_take_stale(const void *owner)
{
    afc_job *list = NULL;
    pthread_mutex_lock(&reg_mu);
    for (afc_cq *cq = registry; cq != NULL; cq = cq->reg_next) {
        if (cq->generation == fork_generation || cq->owner != owner) {
            continue;
        }
        cq_lock(cq);
        if (cq->head != NULL) {
            cq->tail->next = list;
            list = cq->head;
            cq->head = cq->tail = NULL;
        }
        cq_unlock(cq);
    }
    pthread_mutex_unlock(&reg_mu);
    return list;
}

/* ---- the pool ----
 *
 * Two lanes. Jobs on descriptors that can block indefinitely (job->slow)
 * wait in the slow lane; the others in the regular lane. Each lane may
 * have at most max_threads jobs on workers at a time (the pool size), and
 * the pool has at most twice that many threads, started as needed. So jobs
 * on slow descriptors hold at most half of the pool's threads (libuv's
 * bound), and however many pipe reads or FIFO opens are stuck, regular
 * files keep the pool size's worth of workers, for every loop. A program
 * with only regular files never has more than max_threads threads; slow
 * jobs keep the capacity they had before the lanes (max_threads), which
 * matters when they wait for each other (a pipe's reader and writer, the
 * two ends of a FIFO being opened). Within the pool, the oldest runnable
 * job goes first.
 *
 * Wake-ups. Every runnable job must have a worker committed to taking it
 * within bounded time, or every worker is busy. The committed workers
 * ("takers") are: the spinner (it polls submit_seq and, at the latest when
 * its spin ends, takes the pool lock and looks at the queues), the idle
 * workers that were sent a wake-up (nwake: each wake-up is a token that
 * exactly one sleeper consumes, so a spurious wake-up cannot lose one), and
 * the workers just created (nstarting). ensure_takers() runs under pool_mu
 * after anything that can make a job runnable and, while the runnable jobs
 * outnumber the takers, wakes one more sleeper or starts one more worker.
 * So a job submitted while a worker spins no longer relies on that one
 * spinner when there is already a job for it: the spinner accounts for one
 * job only, and a second job in the same window wakes someone else (the
 * lost wake-up that deadlocked a pipe's reader and writer). A worker that
 * finishes a job looks at the queues before it spins or sleeps, so a job
 * left waiting because every worker was busy is taken as soon as one is
 * free. */

/* One idle worker at a time keeps polling the queue for a short while
 * before it sleeps: a program that awaits one call after another hands the
 * next job over within microseconds, and waking a sleeping thread (on a
 * virtual machine, an idle CPU) costs tens of them. */
#define AFC_SPIN_NS (200 * 1000)

static afc_job *fast_head, *fast_tail;   /* pool_mu: regular-file lane */
static afc_job *slow_head, *slow_tail;   /* pool_mu: slow lane */
static int nfast, nslow;                 /* pool_mu: jobs in each lane */
static int nslow_running;                /* pool_mu: slow jobs on workers */
static int nfast_running;                /* pool_mu: regular jobs on them */
static unsigned long job_seq;            /* pool_mu: submission order */
static int nthreads;                     /* pool_mu: workers started */
static int max_threads;                  /* pool_mu: 0: not decided yet */
static int nidle;                        /* pool_mu: asleep on pool_cv */
static int nwake;                        /* pool_mu: wake-ups not taken */
static int nstarting;                    /* pool_mu: created, not running */
static int nspinning;                    /* pool_mu */
static int fail_next, fail_err;          /* pool_mu: test hook */
static afc_job *running[2 * AFC_MAX_THREADS]; /* the job worker i runs: set
                                            under pool_mu, cleared in
                                            cq_push (see there); read by
                                            the fork child only */
/* Bumped by every submission (release), polled by the spinner (acquire). */
static atomic_uint submit_seq;

/* Jobs of one lane that may run at once. */
static int
lane_limit(void)
{
    return max_threads;
}

static int
runnable_locked(void)
{
    int sroom = lane_limit() - nslow_running;
    int froom = lane_limit() - nfast_running;
    sroom = sroom < 0 ? 0 : sroom;
    froom = froom < 0 ? 0 : froom;
    return (nfast < froom ? nfast : froom) + (nslow < sroom ? nslow : sroom);
}

static void *worker_main(void *arg);

static int
spawn_locked(void)
{
    pthread_t t;
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1024 * 1024);
    /* The new thread inherits this mask: it is born with every signal
     * blocked, so none can be delivered to it before worker_main runs. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t, &attr, worker_main,
                            (void *)(intptr_t)nthreads);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        nthreads++;
        nstarting++;
    }
    return rc;
}

/* Make sure every runnable job has a taker (see above). Returns 0, or the
 * error of a failed pthread_create. */
static int
ensure_takers_locked(void)
{
    int need = runnable_locked() - (nspinning + nwake + nstarting);
    while (need > 0) {
        if (nidle > nwake) {
            nwake++;
            pthread_cond_signal(&pool_cv);
        }
        else if (nthreads < 2 * max_threads) {
            int rc = spawn_locked();
            if (rc != 0) {
                return rc;
            }
        }
        else {
            break;  /* all busy: the first to finish takes it */
        }
        need--;
    }
    return 0;
}

static int
enqueue_locked(afc_job *job)
{
    job->next = NULL;
    job->seq = ++job_seq;
    if (job->slow) {
        if (slow_tail != NULL) {
            slow_tail->next = job;
        }
        else {
            slow_head = job;
        }
        slow_tail = job;
        nslow++;
    }
    else {
        if (fast_tail != NULL) {
            fast_tail->next = job;
        }
        else {
            fast_head = job;
        }
        fast_tail = job;
        nfast++;
    }
    atomic_fetch_add_explicit(&submit_seq, 1, memory_order_release);
    return ensure_takers_locked();
}

static void
unlink_locked(afc_job *job)
{
    afc_job **head = job->slow ? &slow_head : &fast_head;
    afc_job **tail = job->slow ? &slow_tail : &fast_tail;
    afc_job *prev = NULL;
    for (afc_job *j = *head; j != NULL; prev = j, j = j->next) {
        if (j != job) {
            continue;
        }
        if (prev != NULL) {
            prev->next = j->next;
        }
        else {
            *head = j->next;
        }
        if (*tail == j) {
            *tail = prev;
        }
        if (job->slow) {
            nslow--;
        }
        else {
            nfast--;
        }
        return;
    }
}

/* The oldest runnable job, or NULL. */
static afc_job *
take_locked(void)
{
    int slow_ok = slow_head != NULL && nslow_running < lane_limit();
    int fast_ok = fast_head != NULL && nfast_running < lane_limit();
    afc_job *job;
    if (fast_ok && (!slow_ok || fast_head->seq < slow_head->seq)) {
        job = fast_head;
        fast_head = job->next;
        if (fast_head == NULL) {
            fast_tail = NULL;
        }
        nfast--;
        nfast_running++;
    }
    else if (slow_ok) {
        job = slow_head;
        slow_head = job->next;
        if (slow_head == NULL) {
            slow_tail = NULL;
        }
        nslow--;
        nslow_running++;
    }
    else {
        return NULL;
    }
    job->next = NULL;
    return job;
}

/* A path open may block indefinitely (a FIFO waits for its other end, a
 * tty or device may wait for a carrier), and the path alone does not say
 * which. A path open goes to the regular lane first; there the worker
 * stats the path, and unless it names a regular file or a directory (or
 * nothing yet: O_CREAT makes a regular file), the job moves to the slow
 * lane before any open(2). A path swapped for a FIFO between the stat and
 * the open can still block a regular worker: that race costs one worker,
 * never a wrong result. */
static int
probe_is_slow(afc_job *job)
{
    struct stat st;
    int r;
    if (job->kind == AFC_JOB_OPEN && job->path != NULL) {
        AFC_RETRY(r, fstatat(AT_FDCWD, job->path, &st,
                             (job->flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW
                                                       : 0));
    }
    else if (job->kind == AFC_JOB_FS && job->fsop == AFC_FS_COPYFILE) {
        /* the source: open already, or opened by path in copy_file */
        AFC_RETRY(r, job->fd >= 0 ? fstat(job->fd, &st)
                                  : stat(job->path, &st));
    }
    else if (job->kind == AFC_JOB_FS && job->fsop == AFC_FS_SENDFILE) {
        /* a socket or pipe to send to can block for as long as its
         * reader likes; fd2 (the source) is usually a regular file */
        AFC_RETRY(r, fstat(job->fd, &st));
        if (r == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
            AFC_RETRY(r, fstat(job->fd2, &st));
        }
    }
    else {
        return 0;
    }
    return r == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
           !S_ISBLK(st.st_mode);
}

static void *
worker_main(void *arg)
{
    int idx = (int)(intptr_t)arg;
    sigset_t all;
    /* Signals are the main thread's business (Python runs its handlers
     * there); a worker never takes one, so its system calls are not
     * interrupted by them (already blocked since birth: spawn_locked). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_setname_np(pthread_self(), "afc-worker");
    pthread_mutex_lock(&pool_mu);
    nstarting--;
    int spun = 0;
    for (;;) {
        afc_job *job = take_locked();
        if (job != NULL) {
            running[idx] = job;
            pthread_mutex_unlock(&pool_mu);
            spun = 0;
            if (!job->slow && probe_is_slow(job)) {
                pthread_mutex_lock(&pool_mu);
                nfast_running--;
                running[idx] = NULL;
                job->slow = 1;
                (void)enqueue_locked(job);
                continue;
            }
            int was_slow = job->slow;  /* job is not ours after cq_push */
            afc_job_run(job);
            cq_push(job, &running[idx]);
            pthread_mutex_lock(&pool_mu);
            if (was_slow) {
                nslow_running--;
            }
            else {
                nfast_running--;
            }
            continue;
        }
        /* Spin only when no other worker is busy on a regular file (on a
         * small machine a spinner next to a busy worker would take the
         * loop's CPU; a worker blocked on a pipe uses none), and only when
         * spinning pays (see adaptive spinning). */
        if (!spun && nspinning == 0 && nfast_running == 0 &&
            spin_may(&worker_spin)) {
            spun = 1;
            nspinning++;
            atomic_fetch_add_explicit(&worker_spins, 1, memory_order_relaxed);
            unsigned seq0 =
                atomic_load_explicit(&submit_seq, memory_order_relaxed);
            pthread_mutex_unlock(&pool_mu);
            int64_t deadline = afc_now_ns() + AFC_SPIN_NS;
            int paid = 1;
            while (atomic_load_explicit(&submit_seq, memory_order_acquire) ==
                   seq0) {
                if (afc_now_ns() >= deadline) {
                    paid = 0;
                    break;
                }
            }
            spin_done(&worker_spin, paid);
            pthread_mutex_lock(&pool_mu);
            nspinning--;
            continue;
        }
        nidle++;
        while (nwake == 0) {
            pthread_cond_wait(&pool_cv, &pool_mu);
        }
        nwake--;
        nidle--;
    }
    return NULL;
}

static int
default_size(void)
{
    const char *s = getenv("AIOFILES_C_THREADS");
    if (s != NULL && *s) {
        long n = strtol(s, NULL, 10);
        if (n >= 1 && n <= AFC_MAX_THREADS) {
            return (int)n;
        }
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n = ncpu > 0 ? (int)ncpu * 2 : 4;
    return n < 4 ? 4 : (n > 32 ? 32 : n);
}

void
afc_pool_set_size(int n)
{
    if (n < 1) {
        n = 1;
    }
    if (n > AFC_MAX_THREADS) {
        n = AFC_MAX_THREADS;
    }
    pthread_mutex_lock(&pool_mu);
    max_threads = n;
    (void)ensure_takers_locked();  /* a larger pool may take more now */
    pthread_mutex_unlock(&pool_mu);
}

int
afc_pool_size(void)
{
    pthread_mutex_lock(&pool_mu);
    if (max_threads == 0) {
        max_threads = default_size();
    }
    int n = max_threads;
    pthread_mutex_unlock(&pool_mu);
    return n;
}

int
afc_pool_slow_limit(void)
{
    pthread_mutex_lock(&pool_mu);
    if (max_threads == 0) {
        max_threads = default_size();
    }
    int n = lane_limit();
    pthread_mutex_unlock(&pool_mu);
    return n;
}

unsigned
afc_pool_spins(void)
{
    return atomic_load_explicit(&worker_spins, memory_order_relaxed);
}

void
afc_pool_fail_submits(int n, int err)
{
    pthread_mutex_lock(&pool_mu);
    fail_next = n;
    fail_err = err;
    pthread_mutex_unlock(&pool_mu);
}

/* Whether a job on a slow descriptor can actually wait on it: reads,
 * writes (a flush prefix too) and opens can; a seek, fstat, isatty, or a
 * close with nothing to flush cannot, and needs no slow-lane worker (so
 * it does not queue behind blocked reads of other files). */
static int
job_may_block(const afc_job *job)
{
    switch (job->kind) {
    case AFC_JOB_READ:
    case AFC_JOB_PREAD:
    case AFC_JOB_WRITE:
    case AFC_JOB_WRITE1:
        return 1;
    case AFC_JOB_OPEN:
        return job->path != NULL;
    case AFC_JOB_FS:
        return job->fsop == AFC_FS_SENDFILE || job->fsop == AFC_FS_COPYFILE;
    default:
        return job->wlen > 0;
    }
}

int
afc_pool_submit(afc_job *job)
{
    if (job->slow && !job_may_block(job)) {
        job->slow = 0;
    }
    pthread_mutex_lock(&pool_mu);
    if (max_threads == 0) {
        max_threads = default_size();
    }
    if (fail_next > 0) {
        fail_next--;
        int e = fail_err;
        pthread_mutex_unlock(&pool_mu);
        return e;
    }
    int rc = enqueue_locked(job);
    if (rc != 0) {
        if (nthreads == 0) {
            /* No worker at all: take the job back. */
            unlink_locked(job);
        }
        else {
            rc = 0;  /* a running worker will get to it */
        }
    }
    pthread_mutex_unlock(&pool_mu);
    return rc;
}

/* ---- fork ---- */

static void
atfork_prepare(void)
{
    /* Every lock a worker may hold, so that the child sees each list
     * either before or after any change, never in the middle of one. */
    pthread_mutex_lock(&reg_mu);
    pthread_mutex_lock(&pool_mu);
    for (afc_cq *cq = registry; cq != NULL; cq = cq->reg_next) {
        cq_lock(cq);
    }
    pthread_mutex_lock(&orphan_mu);
}

static void
atfork_parent(void)
{
    pthread_mutex_unlock(&orphan_mu);
    for (afc_cq *cq = registry; cq != NULL; cq = cq->reg_next) {
        cq_unlock(cq);
    }
    pthread_mutex_unlock(&pool_mu);
    pthread_mutex_unlock(&reg_mu);
}

/* Child: a job the parent had queued or running will never be run here;
 * hand it to its queue as failed (AFC_ERR_FORKED), for the interpreter's
 * after-fork hook (afc_fork_take_stale) to complete. Never the queue's
 * eventfd: the parent shares it. */
static void
fork_fail_job(afc_job *job)
{
    afc_cq *cq = job->cq;
    job->err = AFC_ERR_FORKED;
    job->next = NULL;
    if (cq->orphaned) {
        job->next = orphans;
        orphans = job;
        return;
    }
    if (cq->head == NULL) {
        cq->head = job;
    }
    else {
        cq->tail->next = job;
    }
    cq->tail = job;
}

static void
atfork_child(void)
{
    /* Only this thread exists now, and it holds every lock (prepare). */
    afc_job *lanes[2] = {fast_head, slow_head};
    for (int i = 0; i < 2; i++) {
        afc_job *job = lanes[i];
        while (job != NULL) {
            afc_job *next = job->next;
            fork_fail_job(job);
            job = next;
        }
    }
    for (int i = 0; i < nthreads && i < 2 * AFC_MAX_THREADS; i++) {
        if (running[i] != NULL) {
            fork_fail_job(running[i]);
            running[i] = NULL;
        }
    }
    fast_head = fast_tail = slow_head = slow_tail = NULL;
    nfast = nslow = nslow_running = nfast_running = 0;
    nthreads = nidle = nwake = nstarting = nspinning = 0;
    pthread_mutex_init(&orphan_mu, NULL);
    pthread_mutex_init(&pool_mu, NULL);
    pthread_cond_init(&pool_cv, NULL);
    for (afc_cq *cq = registry; cq != NULL; cq = cq->reg_next) {
        cq_init_sync(cq);
    }
    fork_generation++;
    pthread_mutex_init(&reg_mu, NULL);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init_pool(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    ncpu_online = n > 0 ? n : 1;
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void
afc_pool_init_once(void)
{
    pthread_once(&init_once, init_pool);
}
