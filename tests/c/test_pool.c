/* C-level tests of the worker pool and the completion queues (no Python).
 *
 * Built against cext/pool.c by tests/test_pool_c.py (and .ci/run), plain
 * and with -fsanitize=thread. Each test prints one line; any failure
 * prints FAIL and exits 1. A hang is caught by the caller's timeout.
 *
 * usage: test_pool [scale]   (scale multiplies the repetition counts)
 */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int scale = 1;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

/* Wait for one finished job of cq (eventfd when there is one, else the
 * queue's condition variable), as a loop thread would. */
static afc_job *
take_some(afc_cq *cq)
{
    for (;;) {
        if (cq->efd >= 0) {
            struct pollfd p = {.fd = cq->efd, .events = POLLIN};
            int r = poll(&p, 1, 10000);
            CHECK(r >= 0 || errno == EINTR);
            CHECK(r != 0);  /* 10 s with nothing: a lost wake-up */
            afc_cq_ack(cq);
        }
        else {
            CHECK(afc_cq_wait(cq, 10L * 1000000000L));
        }
        afc_job *list = afc_cq_take(cq);
        if (list != NULL) {
            return list;
        }
    }
}

/* Collect n finished jobs of cq; returns how many had err != 0. */
static int
collect(afc_cq *cq, int n)
{
    int errors = 0;
    while (n > 0) {
        afc_job *list = take_some(cq);
        while (list != NULL) {
            afc_job *j = list;
            list = j->next;
            if (j->err != 0) {
                errors++;
            }
            afc_cq_decref(j->cq);
            n--;
        }
    }
    CHECK(n == 0);
    return errors;
}

static void
job_prep(afc_job *j, afc_cq *cq, int kind, int fd)
{
    memset(j, 0, sizeof(*j));
    j->kind = kind;
    j->work = afc_work_file;
    j->fd = fd;
    j->off = -1;
    j->woff = -1;
    j->cq = cq;
    afc_cq_incref(cq);
}

/* Many loops in threads, each with its own queue, submitting bursts of
 * short jobs and collecting them. */
struct loop_arg {
    int id;
    int rounds;
    int fd;
};

static void *
loop_thread(void *p)
{
    struct loop_arg *a = p;
    afc_cq *cq = afc_cq_new(a);
    CHECK(cq != NULL);
    enum { BURST = 16 };
    afc_job jobs[BURST];
    char bufs[BURST][64];
    for (int r = 0; r < a->rounds; r++) {
        int n = 1 + (r * 7 + a->id) % BURST;
        for (int i = 0; i < n; i++) {
            job_prep(&jobs[i], cq, i % 3 ? AFC_JOB_PREAD : AFC_JOB_NOP,
                     a->fd);
            jobs[i].ptr = bufs[i];
            jobs[i].len = sizeof(bufs[i]);
            jobs[i].minfill = sizeof(bufs[i]);
            jobs[i].off = i;
            CHECK(afc_pool_submit(&jobs[i]) == 0);
        }
        CHECK(collect(cq, n) == 0);
        for (int i = 0; i < n; i++) {
            if (jobs[i].kind == AFC_JOB_PREAD) {
                CHECK(jobs[i].res == 64);
                CHECK(bufs[i][0] == (char)('a' + i % 26));
            }
        }
    }
    afc_cq_decref(cq);
    return NULL;
}

static int
data_file(void)
{
    char path[] = "/tmp/afc_test_pool_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    char buf[4096];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (char)('a' + i % 26);
    }
    CHECK(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
    return fd;
}

static void
test_many_loops(void)
{
    enum { NLOOPS = 6 };
    pthread_t t[NLOOPS];
    struct loop_arg a[NLOOPS];
    int fd = data_file();
    for (int i = 0; i < NLOOPS; i++) {
        a[i] = (struct loop_arg){.id = i, .rounds = 300 * scale, .fd = fd};
        CHECK(pthread_create(&t[i], NULL, loop_thread, &a[i]) == 0);
    }
    for (int i = 0; i < NLOOPS; i++) {
        pthread_join(t[i], NULL);
    }
    close(fd);
    printf("ok many loops (%d loops x %d rounds)\n", NLOOPS, 300 * scale);
}

/* A pipe's reader and writer submitted back to back, over and over: the
 * read blocks until the write runs, so the write must be taken by another
 * worker whatever the spinning state (the lost wake-up). */
static void
test_pipe_pairs(void)
{
    afc_cq *cq = afc_cq_new(NULL);
    CHECK(cq != NULL);
    int reps = 2000 * scale;
    for (int r = 0; r < reps; r++) {
        int p[2];
        CHECK(pipe(p) == 0);
        afc_job rd, wr;
        char in[8], out[8] = "payload";
        job_prep(&rd, cq, AFC_JOB_READ, p[0]);
        rd.ptr = in;
        rd.len = sizeof(in);
        rd.slow = 1;
        job_prep(&wr, cq, AFC_JOB_WRITE, p[1]);
        wr.ptr = out;
        wr.len = sizeof(out);
        wr.slow = 1;
        CHECK(afc_pool_submit(&rd) == 0);
        if (r % 2) {
            usleep(20);  /* now and then, while a worker spins */
        }
        CHECK(afc_pool_submit(&wr) == 0);
        CHECK(collect(cq, 2) == 0);
        CHECK(rd.res == 8 && memcmp(in, out, 8) == 0);
        close(p[0]);
        close(p[1]);
    }
    afc_cq_decref(cq);
    printf("ok pipe pairs (%d)\n", reps);
}

/* More blocked pipe reads than the pool has workers: regular jobs still
 * run; then the writers come and everything completes. */
static void
test_slow_lane(void)
{
    int limit = afc_pool_slow_limit();
    CHECK(limit == afc_pool_size());
    int n = limit + 2;
    afc_cq *slow_cq = afc_cq_new(NULL);
    afc_cq *cq = afc_cq_new(NULL);
    int (*p)[2] = calloc((size_t)n, sizeof(*p));
    afc_job *rd = calloc((size_t)n, sizeof(*rd));
    char (*in)[4] = calloc((size_t)n, sizeof(*in));
    for (int i = 0; i < n; i++) {
        CHECK(pipe(p[i]) == 0);
        job_prep(&rd[i], slow_cq, AFC_JOB_READ, p[i][0]);
        rd[i].ptr = in[i];
        rd[i].len = sizeof(in[i]);
        rd[i].slow = 1;
        CHECK(afc_pool_submit(&rd[i]) == 0);
    }
    usleep(50000);
    int fd = data_file();
    for (int r = 0; r < 200 * scale; r++) {
        afc_job j;
        char buf[16];
        job_prep(&j, cq, AFC_JOB_PREAD, fd);
        j.ptr = buf;
        j.len = sizeof(buf);
        j.off = 0;
        CHECK(afc_pool_submit(&j) == 0);
        CHECK(collect(cq, 1) == 0);
        CHECK(j.res == 16 && buf[1] == 'b');
    }
    /* A job on a slow descriptor that cannot block (fstat) needs no
     * slow-lane worker: it does not queue behind the blocked reads. */
    afc_job fs;
    job_prep(&fs, cq, AFC_JOB_FSTAT, p[0][0]);
    fs.slow = 1;
    CHECK(afc_pool_submit(&fs) == 0);
    CHECK(collect(cq, 1) == 0);
    CHECK(S_ISFIFO(fs.st.st_mode));
    CHECK(afc_cq_take(slow_cq) == NULL);  /* nothing came back yet */
    for (int i = 0; i < n; i++) {
        CHECK(write(p[i][1], "abc", 3) == 3);
    }
    CHECK(collect(slow_cq, n) == 0);
    for (int i = 0; i < n; i++) {
        CHECK(rd[i].res == 3);
        close(p[i][0]);
        close(p[i][1]);
    }
    close(fd);
    free(p);
    free(rd);
    free(in);
    afc_cq_decref(slow_cq);
    afc_cq_decref(cq);
    printf("ok slow lane (%d blocked reads, limit %d)\n", n, limit);
}

/* A path open of a FIFO moves to the slow lane (the worker's probe). */
static void
test_fifo_open_pairs(void)
{
    char dir[] = "/tmp/afc_test_fifo_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof(path), "%s/fifo", dir);
    CHECK(mkfifo(path, 0600) == 0);
    afc_cq *cq = afc_cq_new(NULL);
    for (int r = 0; r < 200 * scale; r++) {
        afc_job o[2];
        for (int i = 0; i < 2; i++) {
            job_prep(&o[i], cq, AFC_JOB_OPEN, -1);
            o[i].path = path;
            o[i].flags = i ? O_WRONLY : O_RDONLY;
            o[i].whence = SEEK_CUR;
            CHECK(afc_pool_submit(&o[i]) == 0);
        }
        CHECK(collect(cq, 2) == 0);
        close((int)o[0].res);
        close((int)o[1].res);
    }
    afc_cq_decref(cq);
    unlink(path);
    rmdir(dir);
    printf("ok fifo open pairs (%d)\n", 200 * scale);
}

/* A queue orphaned while its jobs run: they land on the orphan list of
 * their owner, and an open job's descriptor is closed by the worker. */
static void
test_orphans(void)
{
    static int owner_a, owner_b;
    afc_cq *a = afc_cq_new(&owner_a);
    afc_cq *b = afc_cq_new(&owner_b);
    int p[2];
    CHECK(pipe(p) == 0);
    afc_job rd, op, nop;
    char c;
    job_prep(&rd, a, AFC_JOB_READ, p[0]);
    rd.ptr = &c;
    rd.len = 1;
    rd.slow = 1;
    CHECK(afc_pool_submit(&rd) == 0);
    usleep(20000);
    CHECK(afc_cq_orphan(a) == NULL);
    job_prep(&op, a, AFC_JOB_OPEN, -1);
    op.path = "/dev/null";
    op.flags = O_RDONLY;
    CHECK(afc_pool_submit(&op) == 0);
    job_prep(&nop, b, AFC_JOB_NOP, -1);
    CHECK(afc_pool_submit(&nop) == 0);
    CHECK(collect(b, 1) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    int got = 0;
    for (int i = 0; i < 1000 && got < 2; i++) {
        CHECK(afc_take_orphans(&owner_b) == NULL);
        afc_job *list = afc_take_orphans(&owner_a);
        while (list != NULL) {
            afc_job *j = list;
            list = j->next;
            if (j == &op) {
                CHECK(op.res == -1 && op.err == ECANCELED);
            }
            afc_cq_decref(j->cq);
            got++;
        }
        usleep(1000);
    }
    CHECK(got == 2);
    close(p[0]);
    close(p[1]);
    afc_cq_decref(a);
    afc_cq_decref(b);
    printf("ok orphans\n");
}

/* fork() with a job blocked in a worker and one queued: in the child both
 * come back as AFC_ERR_FORKED, and new jobs run at once. */
static void
test_fork(void)
{
    static int owner;
    afc_cq *cq = afc_cq_new(&owner);
    int p[2];
    CHECK(pipe(p) == 0);
    afc_job rd;
    char c;
    job_prep(&rd, cq, AFC_JOB_READ, p[0]);
    rd.ptr = &c;
    rd.len = 1;
    rd.slow = 1;
    CHECK(afc_pool_submit(&rd) == 0);
    usleep(20000);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        afc_job *list = afc_fork_take_stale(&owner);
        if (list != &rd || rd.next != NULL || rd.err != AFC_ERR_FORKED) {
            _exit(3);
        }
        afc_cq *cq2 = afc_cq_new(&owner);
        afc_job nop;
        job_prep(&nop, cq2, AFC_JOB_NOP, -1);
        if (afc_pool_submit(&nop) != 0 || collect(cq2, 1) != 0) {
            _exit(4);
        }
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(afc_fork_take_stale(&owner) == NULL);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(collect(cq, 1) == 0);
    CHECK(rd.res == 1 && c == 'x');
    close(p[0]);
    close(p[1]);
    afc_cq_decref(cq);
    printf("ok fork\n");
}

/* Workers never take a signal: a storm of SIGALRM at this process only
 * lands on the main thread, and pipe I/O in the pool is unaffected. */
static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void
test_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;  /* no SA_RESTART, as Python installs them */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 100}, {0, 100}};
    setitimer(ITIMER_REAL, &it, NULL);
    test_pipe_pairs();
    memset(&it, 0, sizeof(it));
    setitimer(ITIMER_REAL, &it, NULL);
    signal(SIGALRM, SIG_DFL);
    CHECK(alarms > 0);
    printf("ok signals (%d SIGALRM)\n", (int)alarms);
}

static double
cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
wall_ms(void)
{
    return (double)afc_now_ns() / 1e6;
}

/* Spinning stops when it does not pay: a loop's wait for a job that never
 * comes soon, repeated, soon returns at once instead of spinning for its
 * whole time limit; an idle worker that never sees a job within its spin
 * stops burning CPU between spaced submissions. */
static void
test_adaptive_spin(void)
{
    afc_cq *cq = afc_cq_new(NULL);
    for (int i = 0; i < 40; i++) {
        CHECK(!afc_cq_wait_ready(cq, 1000000));
    }
    double t0 = wall_ms();
    for (int i = 0; i < 64; i++) {
        CHECK(!afc_cq_wait_ready(cq, 1000000));
    }
    double waited = wall_ms() - t0;
    CHECK(waited < 16.0);  /* spinning each time: 64 ms */
    /* Jobs 2 ms apart: each idle worker's 200 us spin would time out. */
    for (int i = 0; i < 20; i++) {
        afc_job j;
        job_prep(&j, cq, AFC_JOB_NOP, -1);
        CHECK(afc_pool_submit(&j) == 0);
        CHECK(collect(cq, 1) == 0);
        usleep(2000);
    }
    double c0 = cpu_ms();
    unsigned spins0 = afc_pool_spins();
    for (int i = 0; i < 200; i++) {
        afc_job j;
        job_prep(&j, cq, AFC_JOB_NOP, -1);
        CHECK(afc_pool_submit(&j) == 0);
        CHECK(collect(cq, 1) == 0);
        usleep(2000);
    }
    double cpu = cpu_ms() - c0;
    unsigned spins = afc_pool_spins() - spins0;
    CHECK(spins <= 20);  /* spinning each time: 200 (40 ms of CPU) */
    afc_cq_decref(cq);
    printf("ok adaptive spin (64 futile waits %.1f ms; 200 spaced jobs: "
           "%u spins, %.1f ms CPU)\n", waited, spins, cpu);
}

int
main(int argc, char **argv)
{
    if (argc > 1) {
        scale = atoi(argv[1]);
        if (scale < 1) {
            scale = 1;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    afc_pool_init_once();
    afc_pool_set_size(4);
    test_many_loops();
    test_pipe_pairs();
    test_slow_lane();
    test_fifo_open_pairs();
    test_orphans();
    test_fork();
    test_signals();
    test_adaptive_spin();
    printf("ALL OK\n");
    return 0;
}
