/* sender.h - the sender thread: ships what the server has not acknowledged
 * (deliver.h) while training runs, and never blocks the training thread.
 * The threads share only the flags below: under mu, except stop, which is
 * atomic because libcurl's progress callback reads it in the middle of a
 * request, where the lock cannot be taken. The sender reads the journal
 * file itself, complete lines only. */
#ifndef SHARDLEARN_TRACK_SENDER_H
#define SHARDLEARN_TRACK_SENDER_H

#include <pthread.h>
#include <stdatomic.h>

struct sl_sender {
    const char *dir; /* the run directory; the owner's, outlives the thread */
    const char *uri; /* the tracking URI; the owner's, outlives the thread */
    pthread_t thread;
    int started; /* the thread runs; every other call is a no-op without it */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wake;        /* new records committed */
    int closing;     /* training is over: deliver what is left, then exit */
    atomic_int stop; /* give up now (flush timeout passed); atomic, not under mu */
    int done;        /* the sender delivered everything including the finish record */
    int warned;      /* a rejection was reported */
    double cpu;      /* CPU seconds of the sender thread, under mu */
};

/* Starts the thread for the run directory dir and the server at uri (both
 * borrowed), which delivers at once what the journal holds. 0, or -1 when no
 * thread could be started (s->started stays 0). */
int sl_sender_start(struct sl_sender *s, const char *dir, const char *uri);
/* New records are committed to the journal. */
void sl_sender_notify(struct sl_sender *s);
/* CPU seconds the thread has used so far (0 without one). */
double sl_sender_cpu(struct sl_sender *s);
/* Stops the thread at once (a request in flight is aborted) and joins it,
 * saying nothing: the caller has said why. */
void sl_sender_abandon(struct sl_sender *s);
/* Training is over: waits at most flush_timeout seconds for the sender to
 * deliver everything, then stops it (saying so in one line when the journal
 * is not all delivered), joins it and frees its mutex. */
/* 1 when everything was delivered (0 without a thread). */
int sl_sender_close(struct sl_sender *s, double flush_timeout);

/* Lowers the calling thread to a background priority (see sender.c). */
void sl_track_background_priority(void);

#endif
