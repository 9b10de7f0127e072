/* sender.c - the sender thread of a tracker. */
#define _GNU_SOURCE /* SCHED_BATCH, gettid: background threads yield to training */
#include "track/sender.h"

#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "shardlearn/clock.h"
#include "shardlearn/log.h"
#include "track/deliver.h"
#include "track/http.h"
#include "track/state.h"

/* The syncer and the sender run beside ranks that keep every core busy.
 * Woken at normal priority they preempt the training thread that woke them
 * (measured: ~0.7 ms an iteration); as batch threads at a lower priority
 * they take no wake-up preemption and only a small share of a busy core. */
void sl_track_background_priority(void) {
    struct sched_param sp = {.sched_priority = 0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
}

/* Waits on the condition for at most `seconds` (or until woken); s->mu held. */
static void wait_for(struct sl_sender *s, double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double at = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec + seconds;
    ts.tv_sec = (time_t)at;
    ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* Sets *flag under the lock and wakes whoever waits for the sender. */
static void announce(struct sl_sender *s, int *flag) {
    pthread_mutex_lock(&s->mu);
    if (flag) *flag = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void note_cpu(struct sl_sender *s) {
    struct timespec cpu;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    pthread_mutex_lock(&s->mu);
    s->cpu = (double)cpu.tv_sec + 1e-9 * (double)cpu.tv_nsec;
    pthread_mutex_unlock(&s->mu);
}

/* Transient: wait out the backoff, then try again, until training is
 * over and the flush timeout is spent (close sets stop). New
 * records do not cut the wait short - a struggling server is not
 * hammered once an iteration - but the end of training does. */
static void back_off(struct sl_sender *s, int closing, double *backoff) {
    pthread_mutex_lock(&s->mu);
    const double until = sl_wtime() + *backoff;
    *backoff = fmin(2 * *backoff, SL_MAX_BACKOFF);
    while (!atomic_load(&s->stop) && s->closing == closing && sl_wtime() < until)
        wait_for(s, until - sl_wtime());
    pthread_mutex_unlock(&s->mu);
}

static void *sender_main(void *arg) {
    struct sl_sender *s = arg;
    sl_track_background_priority();
    struct sl_sync_state st;
    const double first = sl_mlflow_first_backoff();
    double backoff = first;
    sl_mlflow_load_state(s->dir, &st);
    struct sl_mlflow_conn *conn = sl_mlflow_conn_create(s->uri);
    if (!conn) {
        sl_warn("tracking: cannot initialise libcurl; the run stays in %s (deliver later with "
                "shardlearn mlflow-sync)",
                s->dir);
        announce(s, &s->warned);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->wake && !s->closing && !atomic_load(&s->stop))
            wait_for(s, 1.0);
        s->wake = 0;
        int closing = s->closing;
        pthread_mutex_unlock(&s->mu);
        if (atomic_load(&s->stop)) break;
        char msg[512] = "";
        int64_t acked = st.acked;
        enum sl_deliver r = sl_mlflow_deliver(conn, s->dir, &st, &s->stop, 0, msg, sizeof msg);
        note_cpu(s);
        if (r == SL_DELIVER_DONE) {
            backoff = first;
            if (closing && st.finished_sent) {
                announce(s, &s->done);
                break;
            }
            continue;
        }
        if (r == SL_DELIVER_REJECTED) {
            /* Reported once; the journal keeps everything for mlflow-sync. */
            sl_warn("tracking: %s; the run stays in %s (deliver later with shardlearn mlflow-sync)",
                    msg, s->dir);
            announce(s, &s->warned);
            break;
        }
        /* A try that moved the journal forward starts the backoff over. */
        if (st.acked > acked) backoff = first;
        back_off(s, closing, &backoff);
    }
    sl_mlflow_conn_destroy(conn);
    announce(s, NULL);
    return NULL;
}

int sl_sender_start(struct sl_sender *s, const char *dir, const char *uri) {
    /* The journal already holds committed records (the start record at
     * least): the thread delivers them at once. */
    *s = (struct sl_sender){.dir = dir, .uri = uri, .wake = 1};
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        return -1;
    }
    s->started = 1;
    return 0;
}

void sl_sender_notify(struct sl_sender *s) {
    if (!s->started) return;
    pthread_mutex_lock(&s->mu);
    s->wake = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

double sl_sender_cpu(struct sl_sender *s) {
    if (!s->started) return 0.0;
    pthread_mutex_lock(&s->mu);
    double c = s->cpu;
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* Sets stop under the lock (so no wait misses it), wakes and joins the
 * thread, frees its mutex. */
static void stop_thread(struct sl_sender *s) {
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, 1); /* aborts a request in flight and any wait */
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    s->started = 0;
}

void sl_sender_abandon(struct sl_sender *s) {
    if (s->started) stop_thread(s);
}

int sl_sender_close(struct sl_sender *s, double flush_timeout) {
    if (!s->started) return 0;
    double deadline = sl_wtime() + flush_timeout;
    pthread_mutex_lock(&s->mu);
    s->closing = 1;
    pthread_cond_broadcast(&s->cv);
    while (!s->done && !s->warned && sl_wtime() < deadline)
        wait_for(s, 0.1);
    const int done = s->done;
    pthread_mutex_unlock(&s->mu);
    stop_thread(s);
    if (!done && !s->warned) /* the thread has ended: no lock needed */
        sl_warn("tracking: the server did not take everything within %.0fs; the rest is in %s "
                "(deliver with: shardlearn mlflow-sync %s)",
                flush_timeout, s->dir, s->dir);
    return done;
}
