/*  =========================================================================
    curve_bench_sockets - curve's virtual sockets next to libzmq's CURVE

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_bench_sockets prints tables; it is a benchmark, not a test, and it
    never fails on a timing. Over tcp://127.0.0.1 (ephemeral ports) it
    measures three contenders side by side in the same run:

        curve       curve_client -> curve_server (CurveZMQ in the payloads)
        zmq-curve   DEALER -> ROUTER with libzmq's own CURVE (zcert keys,
                    ZMQ_CURVE_SERVER, no ZAP handler)
        zmq-null    DEALER -> ROUTER with no security

    1.  Throughput at 64 B, 1 KiB, 16 KiB and 256 KiB: a sender thread sends
        N one-frame messages, the main thread receives and counts them at
        the server; time from the first send to the last receive, and the
        process CPU per message.
    2.  Round-trip latency at 64 B: one message out, echoed by the server
        application, one in flight; p50 and p99.
    3.  Handshakes: N clients (in a helper process) connect at once to a
        fresh server; wall time until the server reports N completed
        handshakes, and the server's CPU per handshake. A fourth row runs
        curve's server behind a broker (one TCP connection for all).
    4.  Server memory per established client: RSS of a fresh server process
        before and after N clients (in the helper process) are connected
        and idle.

    Usage: curve_bench_sockets [--quick] [--verbose] [--test NAME]...
@discuss
    The machine this runs on is shared and noisy, so contenders take turns
    round by round (A B C, B C A, C A B, ...), numbers are medians over
    rounds, and ratios between contenders measured in the same run are what
    to read. --quick runs short rounds for a smoke test; --verbose prints
    every round; --test runs only the tests named.

    In tests 1 and 2 both ends live in this process and share libzmq's one
    I/O thread: libzmq's CURVE encrypts and decrypts there, while curve
    does it in its two actor threads. On two machines each libzmq end would
    have its own I/O thread.

    Processes. Before any ZeroMQ state exists, the program forks helpers
    that wait on a pipe for line commands: one runs clients (and the
    broker) for tests 3 and 4, so that the server's CPU and RSS are the
    server's alone; and one fresh process per contender hosts the server of
    test 4, so that no contender reuses memory another one freed. Helpers
    die with the parent. Server CPU in test 3 is read from each thread's
    CPU clock: curve's actor and libzmq's threads count, this program's
    main thread (which only reads the monitor) is shown apart.

    Test 3's libzmq servers get a listen backlog above the client count: at
    the default (100) the kernel drops SYNs of clients connecting all at
    once and they retry a second later, which measures TCP's timer, not
    libzmq. curve's clients connect one actor at a time and do not need it.
    Test 4's clients: for curve, raw DEALERs driving curve_codec (one thread
    for all; the server's client TTL is raised since they send no
    heartbeats); for libzmq, plain DEALERs.

    Every return value is checked and any failure aborts with a message: a
    benchmark that silently fails measures nothing. Each received message
    has its size and edges checked against what was sent.
@end
*/

#include "curve.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

//  Rounds per contender; odd, so that the median is one real round
#define ROUNDS_FULL         5
#define ROUNDS_QUICK        3
#define ROUNDS_MAX          ROUNDS_FULL

//  Wall time one throughput run aims at, in nanoseconds
#define RUN_NS_FULL         400000000LL
#define RUN_NS_QUICK        40000000LL

//  Round trips per contender, and per block of turns
#define TRIPS_FULL          5000
#define TRIPS_QUICK         500
#define TRIPS_BLOCK_FULL    250
#define TRIPS_BLOCK_QUICK   100
#define TRIPS_WARMUP        200
#define LATENCY_SIZE        64

//  Handshakes: clients per round, rounds
#define HANDSHAKES_FULL     200
#define HANDSHAKES_QUICK    50
#define HS_ROUNDS_FULL      5
#define HS_ROUNDS_QUICK     1

//  Memory: established clients measured
#define MEMORY_FULL         1000
#define MEMORY_QUICK        200

//  Longest wait for anything, in milliseconds
#define TIMEOUT_MSEC        30000

//  Settling time before reading RSS, in milliseconds
#define SETTLE_BEFORE_MSEC  300
#define SETTLE_AFTER_MSEC   500

//  Reference only, NOT measured here: libzmq CURVE on this machine class
#define REF_HANDSHAKES_CORE 1600.0      //  Handshakes per second per core

//  Targets the project tracks
#define TARGET_TPUT_SMALL   1.0         //  curve / zmq-curve at 64 B
#define TARGET_TPUT_LARGE   1.5         //  curve / zmq-curve at 1 KiB and up
#define TARGET_LATENCY      1.3         //  curve / zmq-curve p50, at most
#define TARGET_HANDSHAKE    2.5         //  curve / zmq-curve per core
#define TARGET_MEMORY_KIB   4.0         //  curve's own KiB per client

//  The contenders
typedef enum {
    KIND_CURVE,
    KIND_ZMQ_CURVE,
    KIND_ZMQ_NULL,
    KINDS
} kind_t;

static const char *s_kind_names [KINDS] = { "curve", "zmq-curve", "zmq-null" };

//  Throughput payload sizes, and libzmq CURVE's reference rates for them
static const size_t s_sizes [] = { 64, 1024, 16 * 1024, 256 * 1024 };
static const double s_reference_rates [] = { 1080000, 302000, 30000, 3500 };
#define SIZES (sizeof s_sizes / sizeof s_sizes [0])

//  Who we are, in messages (helpers name themselves)
static const char *s_role = "curve_bench_sockets";

//  --verbose: print every round's sample too
static bool s_verbose = false;


//  --------------------------------------------------------------------------
//  Failure: print what failed and abort, whatever NDEBUG says

static void
s_die (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "%s: FAILED: ", s_role);
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    fflush (stdout);
    fflush (stderr);
    abort ();
}

static const char *
s_zmq_error (void)
{
    return zmq_strerror (zmq_errno ());
}


//  --------------------------------------------------------------------------
//  Clocks, CPU and memory

static int64_t
s_now_ns (void)
{
    struct timespec now;
    if (clock_gettime (CLOCK_MONOTONIC, &now))
        s_die ("clock_gettime (CLOCK_MONOTONIC): %s", strerror (errno));
    return (int64_t) now.tv_sec * 1000000000LL + now.tv_nsec;
}

//  CPU time of the whole process, all threads, in nanoseconds
static int64_t
s_cpu_ns (void)
{
    struct rusage usage;
    if (getrusage (RUSAGE_SELF, &usage))
        s_die ("getrusage: %s", strerror (errno));
    return ((int64_t) usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
           * 1000000000LL
         + ((int64_t) usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000;
}

//  CPU time of this process's live threads by kind (ns): the main thread,
//  libzmq's threads (named ZMQbg/...), and all others (czmq actors are
//  unnamed). Each thread's CPU clock is read directly (the clock id that
//  pthread_getcpuclockid makes from a thread id), which, unlike schedstat,
//  includes the time a running thread has used since it was last scheduled.
typedef struct {
    int64_t main;
    int64_t zmq;
    int64_t other;
} threads_cpu_t;

static void
s_threads_cpu (threads_cpu_t *cpu)
{
    memset (cpu, 0, sizeof *cpu);
    DIR *dir = opendir ("/proc/self/task");
    if (!dir)
        s_die ("opendir /proc/self/task: %s", strerror (errno));
    long pid = (long) getpid ();
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        long tid = atol (entry->d_name);
        clockid_t clock = (clockid_t) ((~(unsigned long) tid << 3) | 6);
        struct timespec runtime;
        if (clock_gettime (clock, &runtime))
            continue;               //  The thread ended meanwhile
        int64_t used = (int64_t) runtime.tv_sec * 1000000000LL
                     + runtime.tv_nsec;
        char path [320];
        char comm [64] = "";
        snprintf (path, sizeof path, "/proc/self/task/%s/comm", entry->d_name);
        FILE *file = fopen (path, "r");
        if (file) {
            if (!fgets (comm, sizeof comm, file))
                comm [0] = 0;
            fclose (file);
        }
        if (tid == pid)
            cpu->main += used;
        else
        if (strncmp (comm, "ZMQbg", 5) == 0)
            cpu->zmq += used;
        else
            cpu->other += used;
    }
    closedir (dir);
}

//  Resident set size of this process, in KiB
static long
s_rss_kib (void)
{
    FILE *file = fopen ("/proc/self/statm", "r");
    if (!file)
        s_die ("open /proc/self/statm: %s", strerror (errno));
    long size = 0, resident = 0;
    int fields = fscanf (file, "%ld %ld", &size, &resident);
    fclose (file);
    if (fields != 2)
        s_die ("cannot read /proc/self/statm");
    return resident * (sysconf (_SC_PAGESIZE) / 1024);
}


//  --------------------------------------------------------------------------
//  Statistics

static int
s_compare_double (const void *left, const void *right)
{
    double a = *(const double *) left;
    double b = *(const double *) right;
    return (a > b) - (a < b);
}

static double
s_median (const double *values, int count)
{
    double sorted [ROUNDS_MAX];
    memcpy (sorted, values, (size_t) count * sizeof (double));
    qsort (sorted, (size_t) count, sizeof (double), s_compare_double);
    return count % 2? sorted [count / 2]
                    : (sorted [count / 2 - 1] + sorted [count / 2]) / 2;
}

//  (largest - smallest) / median
static double
s_spread (const double *values, int count)
{
    double low = values [0], high = values [0];
    for (int index = 1; index < count; index++) {
        if (values [index] < low)
            low = values [index];
        if (values [index] > high)
            high = values [index];
    }
    double median = s_median (values, count);
    return median > 0? (high - low) / median: 0;
}

//  Median over rounds of top [r] / bottom [r]: the two ran next to each
//  other, so this cancels slow drifts of the machine
static double
s_paired_ratio (const double *top, const double *bottom, int count)
{
    double ratio [ROUNDS_MAX];
    for (int index = 0; index < count; index++)
        ratio [index] = top [index] / bottom [index];
    return s_median (ratio, count);
}

static void *
s_alloc (size_t size)
{
    void *memory = malloc (size);
    if (!memory)
        s_die ("out of memory (%zu octets)", size);
    return memory;
}

static const char *
s_size_label (size_t size, char *label, size_t label_size)
{
    if (size >= 1024)
        snprintf (label, label_size, "%zu KiB", size / 1024);
    else
        snprintf (label, label_size, "%zu B", size);
    return label;
}


//  --------------------------------------------------------------------------
//  Helper processes: forked before any ZeroMQ state exists, they read one
//  command per line and answer one line per command

typedef void (helper_fn) (FILE *in, FILE *out);

typedef struct {
    const char *name;               //  For messages
    pid_t pid;                      //  Its process
    FILE *to;                       //  Commands to it
    FILE *from;                     //  Its answers
} helper_t;

//  Parent ends of every helper's pipes, closed in each later child so that
//  a helper sees end of file as soon as the parent goes
#define HELPER_FDS_MAX 32
static int s_helper_fds [HELPER_FDS_MAX];
static int s_helper_fd_count;

static void
s_helper_start (helper_t *self, const char *name, helper_fn *body)
{
    int down [2], up [2];
    if (pipe (down) || pipe (up))
        s_die ("pipe: %s", strerror (errno));
    if (s_helper_fd_count + 2 > HELPER_FDS_MAX)
        s_die ("too many helpers");
    pid_t parent = getpid ();
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    if (pid < 0)
        s_die ("fork: %s", strerror (errno));
    if (pid == 0) {
        //  The helper: dies with the parent, keeps only its own pipe ends
        if (prctl (PR_SET_PDEATHSIG, SIGKILL))
            s_die ("prctl (PR_SET_PDEATHSIG): %s", strerror (errno));
        if (getppid () != parent)
            _exit (1);
        s_role = name;
        for (int index = 0; index < s_helper_fd_count; index++)
            close (s_helper_fds [index]);
        close (down [1]);
        close (up [0]);
        FILE *in = fdopen (down [0], "r");
        FILE *out = fdopen (up [1], "w");
        if (!in || !out)
            s_die ("fdopen: %s", strerror (errno));
        body (in, out);
        fclose (in);
        fclose (out);
        exit (0);                   //  czmq's atexit checks for leaks
    }
    close (down [0]);
    close (up [1]);
    self->name = name;
    self->pid = pid;
    self->to = fdopen (down [1], "w");
    self->from = fdopen (up [0], "r");
    if (!self->to || !self->from)
        s_die ("fdopen: %s", strerror (errno));
    s_helper_fds [s_helper_fd_count++] = down [1];
    s_helper_fds [s_helper_fd_count++] = up [0];
}

//  Write one line; the peer must be alive
static void
s_line_send (FILE *file, const char *peer, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    int rc = vfprintf (file, format, args);
    va_end (args);
    if (rc < 0 || fputc ('\n', file) == EOF || fflush (file))
        s_die ("cannot write to %s: %s", peer, strerror (errno));
}

//  Read one line, without its newline; dies at end of file
static char *
s_line_recv (FILE *file, const char *peer, char *line, size_t size)
{
    if (!fgets (line, (int) size, file))
        s_die ("%s went away (see its message above)", peer);
    line [strcspn (line, "\n")] = 0;
    return line;
}

//  Send a command and expect an answer that starts with "OK"
static void
s_helper_call (helper_t *self, const char *format, ...)
{
    char command [512];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    s_line_send (self->to, self->name, "%s", command);
    char line [512];
    s_line_recv (self->from, self->name, line, sizeof line);
    if (strncmp (line, "OK", 2))
        s_die ("%s answered '%s' to '%s'", self->name, line, command);
}

static void
s_helper_stop (helper_t *self)
{
    s_line_send (self->to, self->name, "QUIT");
    fclose (self->to);
    fclose (self->from);
    int status = 0;
    if (waitpid (self->pid, &status, 0) != self->pid)
        s_die ("waitpid (%s): %s", self->name, strerror (errno));
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        s_die ("%s ended badly (status 0x%x)", self->name, status);
}


//  --------------------------------------------------------------------------
//  A server of any kind, with a way to wait for completed handshakes: the
//  curve server's monitor (CONNECTED), or libzmq's socket monitor
//  (HANDSHAKE_SUCCEEDED)

typedef struct {
    kind_t kind;
    zcert_t *cert;                  //  Server certificate
    curve_server_t *curve;          //  KIND_CURVE
    zsock_t *router;                //  libzmq kinds
    zsock_t *events;                //  Monitor (curve's is borrowed)
    char *endpoint;                 //  Where it listens
    size_t handshakes;              //  Completed handshakes seen
} server_t;

//  A curve server binds tcp://127.0.0.1:*, or if broker is not NULL
//  connects to that endpoint (a broker's back end), which is then its
//  endpoint
static server_t *
s_server_new (kind_t kind, size_t clients, bool idle_clients,
              const char *broker)
{
    static int sequence = 0;
    server_t *self = (server_t *) s_alloc (sizeof *self);
    memset (self, 0, sizeof *self);
    self->kind = kind;
    self->cert = zcert_new ();
    if (!self->cert)
        s_die ("zcert_new");
    if (kind == KIND_CURVE) {
        self->curve = curve_server_new (self->cert);
        if (!self->curve)
            s_die ("curve_server_new");
        //  All clients may be in their handshake at the same time
        curve_server_set_max_pending (self->curve, clients * 2 + 16);
        if (idle_clients)
            curve_server_set_client_ttl (self->curve, 3600 * 1000);
        if (broker) {
            if (curve_server_connect (self->curve, broker))
                s_die ("curve_server_connect %s", broker);
            self->endpoint = strdup (broker);
        }
        else {
            if (curve_server_bind (self->curve, "tcp://127.0.0.1:*") <= 0)
                s_die ("curve_server_bind tcp://127.0.0.1:*");
            self->endpoint = curve_server_endpoint (self->curve);
        }
        if (!self->endpoint || !*self->endpoint)
            s_die ("curve_server_endpoint");
        self->events = curve_server_monitor (self->curve);
        zsock_set_rcvtimeo (curve_server_sock (self->curve), TIMEOUT_MSEC);
    }
    else {
        if (broker)
            s_die ("only curve servers go behind a broker here");
        self->router = zsock_new (ZMQ_ROUTER);
        if (!self->router)
            s_die ("zsock_new (ROUTER)");
        zsock_set_linger (self->router, 0);
        zsock_set_rcvtimeo (self->router, TIMEOUT_MSEC);
        //  All clients connect at once: see the backlog note at the top
        zsock_set_backlog (self->router, (int) clients + 128);
        if (kind == KIND_ZMQ_CURVE) {
            zcert_apply (self->cert, self->router);
            zsock_set_curve_server (self->router, 1);
        }
        char monitor [96];
        snprintf (monitor, sizeof monitor,
                  "inproc://curve-bench-monitor-%ld-%d", (long) getpid (),
                  ++sequence);
        if (zmq_socket_monitor (zsock_resolve (self->router), monitor,
                                ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                              | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                              | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                              | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
            s_die ("zmq_socket_monitor: %s", s_zmq_error ());
        self->events = zsock_new (ZMQ_PAIR);
        if (!self->events)
            s_die ("zsock_new (PAIR)");
        zsock_set_linger (self->events, 0);
        if (zsock_connect (self->events, "%s", monitor))
            s_die ("connect to the socket monitor: %s", s_zmq_error ());
        if (zsock_bind (self->router, "tcp://127.0.0.1:*") <= 0)
            s_die ("zsock_bind tcp://127.0.0.1:*: %s", s_zmq_error ());
        self->endpoint = zsock_last_endpoint (self->router);
        if (!self->endpoint)
            s_die ("zsock_last_endpoint");
    }
    return self;
}

static void
s_server_destroy (server_t **self_p)
{
    server_t *self = *self_p;
    if (!self)
        return;
    if (self->curve)
        curve_server_destroy (&self->curve);
    else {
        //  Closing the ROUTER stops its monitor
        zsock_destroy (&self->router);
        zsock_destroy (&self->events);
    }
    zcert_destroy (&self->cert);
    zstr_free (&self->endpoint);
    free (self);
    *self_p = NULL;
}

//  Wait until the server has completed count handshakes in all; dies on a
//  failed handshake or after the timeout
static void
s_server_await (server_t *self, size_t count, int timeout)
{
    zpoller_t *poller = zpoller_new (self->events, NULL);
    if (!poller)
        s_die ("zpoller_new");
    int64_t deadline = zclock_mono () + timeout;
    while (self->handshakes < count) {
        int64_t wait = deadline - zclock_mono ();
        if (wait <= 0)
            s_die ("%s server: %zu of %zu handshakes after %d ms",
                   s_kind_names [self->kind], self->handshakes, count,
                   timeout);
        if (!zpoller_wait (poller, (int) wait)) {
            if (zpoller_terminated (poller))
                s_die ("interrupted");
            continue;
        }
        zmsg_t *msg = zmsg_recv (self->events);
        if (!msg)
            s_die ("%s server: cannot read its monitor",
                   s_kind_names [self->kind]);
        if (self->kind == KIND_CURVE) {
            char *name = zmsg_popstr (msg);
            if (!name)
                s_die ("curve server: empty monitor event");
            if (streq (name, "CONNECTED"))
                self->handshakes++;
            else
            if (streq (name, "DENIED") || streq (name, "ZAP")
            ||  streq (name, "DROPPED")) {
                zframe_t *detail = zmsg_last (msg);
                char *text = detail? zframe_strdup (detail): NULL;
                s_die ("curve server: %s %s", name, text? text: "");
            }
            zstr_free (&name);
        }
        else {
            zframe_t *frame = zmsg_first (msg);
            uint16_t event = 0;
            if (!frame || zframe_size (frame) < 6)
                s_die ("libzmq monitor: malformed event");
            memcpy (&event, zframe_data (frame), sizeof event);
            if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                self->handshakes++;
            else
                s_die ("%s server: handshake failed (event 0x%x)",
                       s_kind_names [self->kind], event);
        }
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
}


//  --------------------------------------------------------------------------
//  A connected client and server in this process, for tests 1 and 2

typedef struct {
    kind_t kind;
    server_t *server;
    zcert_t *cert;                  //  Client certificate
    curve_client_t *client;         //  KIND_CURVE
    zsock_t *dealer;                //  libzmq kinds
} pair_t;

//  Client sends a message (takes it)
static void
s_pair_send (pair_t *self, zmsg_t **msg_p)
{
    int rc = self->client? curve_client_send (self->client, msg_p)
                         : zmsg_send (msg_p, self->dealer);
    if (rc)
        s_die ("%s client: send failed: %s", s_kind_names [self->kind],
               s_zmq_error ());
}

//  Server receives [routing][frames]
static zmsg_t *
s_pair_server_recv (pair_t *self)
{
    zmsg_t *msg = self->client? curve_server_recv (self->server->curve)
                              : zmsg_recv (self->server->router);
    if (!msg)
        s_die ("%s server: nothing received within %d ms",
               s_kind_names [self->kind], TIMEOUT_MSEC);
    return msg;
}

//  Server sends [routing][frames] (takes it)
static void
s_pair_server_send (pair_t *self, zmsg_t **msg_p)
{
    int rc = self->client? curve_server_send (self->server->curve, msg_p)
                         : zmsg_send (msg_p, self->server->router);
    if (rc)
        s_die ("%s server: send failed: %s", s_kind_names [self->kind],
               s_zmq_error ());
}

//  Client receives
static zmsg_t *
s_pair_client_recv (pair_t *self)
{
    zmsg_t *msg = self->client? curve_client_recv (self->client)
                              : zmsg_recv (self->dealer);
    if (!msg)
        s_die ("%s client: nothing received within %d ms",
               s_kind_names [self->kind], TIMEOUT_MSEC);
    return msg;
}

//  A message of one frame
static zmsg_t *
s_message (const uint8_t *payload, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg || zmsg_addmem (msg, payload, size))
        s_die ("zmsg_addmem: out of memory");
    return msg;
}

//  The frame carries the payload sent: same size, same first and last
//  octets (a whole compare would cost more than some contenders' work)
static void
s_check_payload (zframe_t *frame, const uint8_t *payload, size_t size,
                 const char *who)
{
    size_t edge = size < 16? size: 16;
    if (!frame || zframe_size (frame) != size
    ||  memcmp (zframe_data (frame), payload, edge)
    ||  memcmp (zframe_data (frame) + size - edge, payload + size - edge,
                edge))
        s_die ("%s: received a message that is not the one sent", who);
}

//  One message out and its echo back; checks both
static void
s_pair_round_trip (pair_t *self, const uint8_t *payload, size_t size)
{
    zmsg_t *msg = s_message (payload, size);
    s_pair_send (self, &msg);
    msg = s_pair_server_recv (self);
    if (zmsg_size (msg) != 2)
        s_die ("%s server: message of %zu frames", s_kind_names [self->kind],
               zmsg_size (msg));
    s_check_payload (zmsg_last (msg), payload, size, "server");
    s_pair_server_send (self, &msg);
    msg = s_pair_client_recv (self);
    if (zmsg_size (msg) != 1)
        s_die ("%s client: message of %zu frames", s_kind_names [self->kind],
               zmsg_size (msg));
    s_check_payload (zmsg_first (msg), payload, size, "client");
    zmsg_destroy (&msg);
}

static pair_t *
s_pair_new (kind_t kind, const uint8_t *payload)
{
    pair_t *self = (pair_t *) s_alloc (sizeof *self);
    memset (self, 0, sizeof *self);
    self->kind = kind;
    self->server = s_server_new (kind, 1, false, NULL);
    self->cert = zcert_new ();
    if (!self->cert)
        s_die ("zcert_new");
    const char *server_key = zcert_public_txt (self->server->cert);
    if (kind == KIND_CURVE) {
        self->client = curve_client_new (self->cert);
        if (!self->client)
            s_die ("curve_client_new");
        if (curve_client_connect (self->client, self->server->endpoint,
                                  server_key))
            s_die ("curve_client_connect %s", self->server->endpoint);
        char *detail = NULL;
        char *name = curve_client_wait (self->client, "CONNECTED|REJECTED",
                                        TIMEOUT_MSEC, &detail);
        if (!name || !streq (name, "CONNECTED"))
            s_die ("curve client: %s %s", name? name: "no CONNECTED event",
                   detail? detail: "");
        zstr_free (&name);
        zstr_free (&detail);
        zsock_set_rcvtimeo (curve_client_sock (self->client), TIMEOUT_MSEC);
    }
    else {
        self->dealer = zsock_new (ZMQ_DEALER);
        if (!self->dealer)
            s_die ("zsock_new (DEALER)");
        zsock_set_linger (self->dealer, 0);
        zsock_set_rcvtimeo (self->dealer, TIMEOUT_MSEC);
        if (kind == KIND_ZMQ_CURVE) {
            zcert_apply (self->cert, self->dealer);
            zsock_set_curve_serverkey (self->dealer, server_key);
        }
        if (zsock_connect (self->dealer, "%s", self->server->endpoint))
            s_die ("zsock_connect %s: %s", self->server->endpoint,
                   s_zmq_error ());
    }
    s_server_await (self->server, 1, TIMEOUT_MSEC);
    s_pair_round_trip (self, payload, LATENCY_SIZE);
    return self;
}

static void
s_pair_destroy (pair_t **self_p)
{
    pair_t *self = *self_p;
    if (!self)
        return;
    curve_client_destroy (&self->client);
    zsock_destroy (&self->dealer);
    s_server_destroy (&self->server);
    zcert_destroy (&self->cert);
    free (self);
    *self_p = NULL;
}


//  --------------------------------------------------------------------------
//  1. Throughput

typedef struct {
    pair_t *pair;
    const uint8_t *payload;
    size_t size;
    size_t count;
    int64_t start;                  //  When the first send began
} sender_t;

static void *
s_sender (void *args)
{
    sender_t *self = (sender_t *) args;
    self->start = s_now_ns ();
    for (size_t index = 0; index < self->count; index++) {
        zmsg_t *msg = s_message (self->payload, self->size);
        s_pair_send (self->pair, &msg);
    }
    return NULL;
}

//  Send count messages from a thread, receive them here; wall time from
//  the first send to the last receive, and the process's CPU meanwhile
static void
s_throughput_run (pair_t *pair, const uint8_t *payload, size_t size,
                  size_t count, double *wall_ns, double *cpu_ns)
{
    sender_t sender = { pair, payload, size, count, 0 };
    int64_t cpu_start = s_cpu_ns ();
    pthread_t thread;
    int rc = pthread_create (&thread, NULL, s_sender, &sender);
    if (rc)
        s_die ("pthread_create: %s", strerror (rc));
    for (size_t index = 0; index < count; index++) {
        zmsg_t *msg = s_pair_server_recv (pair);
        if (zmsg_size (msg) != 2)
            s_die ("%s server: message of %zu frames",
                   s_kind_names [pair->kind], zmsg_size (msg));
        s_check_payload (zmsg_last (msg), payload, size, "server");
        zmsg_destroy (&msg);
    }
    int64_t end = s_now_ns ();
    rc = pthread_join (thread, NULL);
    if (rc)
        s_die ("pthread_join: %s", strerror (rc));
    *cpu_ns = (double) (s_cpu_ns () - cpu_start);
    *wall_ns = (double) (end - sender.start);
    if (*wall_ns < 1)
        *wall_ns = 1;
}

//  Messages per run so that one run takes about run_ns; the runs that
//  find it also warm up buffers, TCP windows and the CPU clock. The
//  fastest rate seen counts, so that one stalled run does not shrink N.
static size_t
s_calibrate (pair_t *pair, const uint8_t *payload, size_t size,
             int64_t run_ns)
{
    size_t count = (2 << 20) / size;
    if (count < 20)
        count = 20;
    if (count > 20000)
        count = 20000;
    double wall = 0, cpu = 0;
    double best = 0;                //  Messages per nanosecond
    while (true) {
        s_throughput_run (pair, payload, size, count, &wall, &cpu);
        if ((double) count / wall > best)
            best = (double) count / wall;
        if (wall >= (double) run_ns / 4 || count >= 50000000)
            break;
        count *= 4;
    }
    //  Once more at full length, where the rate may differ
    double wanted = best * (double) run_ns;
    count = wanted < 20? 20: (size_t) wanted;
    s_throughput_run (pair, payload, size, count, &wall, &cpu);
    if ((double) count / wall > best)
        best = (double) count / wall;
    wanted = best * (double) run_ns;
    return wanted < 20? 20: (size_t) wanted;
}

typedef struct {
    size_t count;                   //  Messages per run
    double rate [ROUNDS_MAX];       //  Messages per second, per round
    double cpu [ROUNDS_MAX];        //  Process CPU / wall time
    double cpu_msg [ROUNDS_MAX];    //  Process CPU per message, ns
} tput_t;

static void
s_bench_throughput (pair_t **pairs, int rounds, int64_t run_ns)
{
    printf ("\n1. Throughput: a sender thread sends N one-frame messages, "
            "the server side counts\n"
            "   them (curve_server_sock; zmsg_recv on the ROUTER); time from "
            "the first send to\n"
            "   the last receive. Medians over %d rounds, contenders taking "
            "turns. MB/s counts\n"
            "   payload octets (10^6). cpu = process CPU (all threads, both "
            "ends) / wall time;\n"
            "   us/msg = that CPU per message (what it costs, however many "
            "cores it spreads on).\n"
            "   vs curve = curve msg/s / this contender's, from the medians; "
            "paired = median\n"
            "   of per-round ratios. spread = (fastest - slowest round) / "
            "median.\n\n", rounds);
    printf ("%8s  %-10s %8s %10s %8s %5s %8s %7s %9s %7s  %s\n", "payload",
            "contender", "N/run", "msg/s", "MB/s", "cpu", "us/msg", "spread",
            "vs curve", "paired", "target");

    uint8_t *payload = (uint8_t *) s_alloc (s_sizes [SIZES - 1]);
    randombytes_buf (payload, s_sizes [SIZES - 1]);

    for (size_t which = 0; which < SIZES; which++) {
        size_t size = s_sizes [which];
        tput_t result [KINDS];
        memset (result, 0, sizeof result);
        for (int kind = 0; kind < KINDS; kind++)
            result [kind].count = s_calibrate (pairs [kind], payload, size,
                                               run_ns);
        for (int round = 0; round < rounds; round++)
            for (int turn = 0; turn < KINDS; turn++) {
                int kind = (round + turn) % KINDS;
                tput_t *self = &result [kind];
                double wall, cpu;
                s_throughput_run (pairs [kind], payload, size, self->count,
                                  &wall, &cpu);
                self->rate [round] = (double) self->count * 1e9 / wall;
                self->cpu [round] = cpu / wall;
                self->cpu_msg [round] = cpu / (double) self->count;
                if (s_verbose)
                    printf ("   [%zu B %s round %d: %.0f msg/s, cpu %.0f%%]\n",
                            size, s_kind_names [kind], round,
                            self->rate [round], self->cpu [round] * 100);
            }
        double median [KINDS];
        for (int kind = 0; kind < KINDS; kind++)
            median [kind] = s_median (result [kind].rate, rounds);
        double target = size < 1024? TARGET_TPUT_SMALL: TARGET_TPUT_LARGE;
        char label [32];
        for (int kind = 0; kind < KINDS; kind++) {
            tput_t *self = &result [kind];
            printf ("%8s  %-10s %8zu %10.0f %8.1f %4.0f%% %8.2f %6.1f%%",
                    kind == 0? s_size_label (size, label, sizeof label): "",
                    s_kind_names [kind], self->count, median [kind],
                    median [kind] * (double) size / 1e6,
                    s_median (self->cpu, rounds) * 100,
                    s_median (self->cpu_msg, rounds) / 1e3,
                    s_spread (self->rate, rounds) * 100);
            if (kind == KIND_CURVE)
                printf ("\n");
            else {
                double ratio = median [KIND_CURVE] / median [kind];
                printf (" %8.2fx %6.2fx", ratio,
                        s_paired_ratio (result [KIND_CURVE].rate, self->rate,
                                        rounds));
                if (kind == KIND_ZMQ_CURVE)
                    printf ("  >=%.1fx %s", target,
                            ratio >= target? "ok": "BELOW");
                printf ("\n");
            }
        }
        printf ("%8s  %-10s %8s %10.0f %8.1f  (reference, NOT measured "
                "here)\n", "", "zmq-curve", "ref", s_reference_rates [which],
                s_reference_rates [which] * (double) size / 1e6);
        fflush (stdout);
    }
    free (payload);
}


//  --------------------------------------------------------------------------
//  2. Latency

static void
s_latency_block (pair_t *pair, const uint8_t *payload, size_t trips,
                 double *samples)
{
    for (size_t index = 0; index < trips; index++) {
        int64_t start = s_now_ns ();
        s_pair_round_trip (pair, payload, LATENCY_SIZE);
        if (samples)
            samples [index] = (double) (s_now_ns () - start);
    }
}

static double
s_percentile (const double *sorted, size_t count, int percent)
{
    size_t index = count * (size_t) percent / 100;
    return sorted [index < count? index: count - 1];
}

static void
s_bench_latency (pair_t **pairs, size_t trips, size_t block)
{
    uint8_t payload [LATENCY_SIZE];
    randombytes_buf (payload, sizeof payload);
    double *samples [KINDS];
    for (int kind = 0; kind < KINDS; kind++) {
        samples [kind] = (double *) s_alloc (trips * sizeof (double));
        s_latency_block (pairs [kind], payload, TRIPS_WARMUP, NULL);
    }
    size_t blocks = trips / block;
    for (size_t turn_block = 0; turn_block < blocks; turn_block++)
        for (int turn = 0; turn < KINDS; turn++) {
            int kind = (int) ((turn_block + (size_t) turn) % KINDS);
            s_latency_block (pairs [kind], payload, block,
                             samples [kind] + turn_block * block);
        }
    size_t count = blocks * block;

    printf ("\n2. Round-trip latency: %d B out, echoed by the server "
            "application, one message\n"
            "   in flight; %zu round trips per contender (after %d warm-up), "
            "in blocks of %zu\n"
            "   taking turns. Microseconds.\n\n", LATENCY_SIZE, count,
            TRIPS_WARMUP, block);
    printf ("   %-10s %8s %8s %8s %8s %8s\n", "contender", "min", "p50",
            "mean", "p99", "max");
    double p50 [KINDS], p99 [KINDS];
    for (int kind = 0; kind < KINDS; kind++) {
        double *values = samples [kind];
        qsort (values, count, sizeof (double), s_compare_double);
        double sum = 0;
        for (size_t index = 0; index < count; index++)
            sum += values [index];
        p50 [kind] = s_percentile (values, count, 50);
        p99 [kind] = s_percentile (values, count, 99);
        printf ("   %-10s %8.1f %8.1f %8.1f %8.1f %8.1f\n",
                s_kind_names [kind], values [0] / 1e3, p50 [kind] / 1e3,
                sum / (double) count / 1e3, p99 [kind] / 1e3,
                values [count - 1] / 1e3);
        free (samples [kind]);
    }
    double ratio = p50 [KIND_CURVE] / p50 [KIND_ZMQ_CURVE];
    printf ("\n   p50 curve / zmq-curve %6.2fx   target <= %.1fx %s\n",
            ratio, TARGET_LATENCY, ratio <= TARGET_LATENCY? "ok": "ABOVE");
    printf ("   p99 curve / zmq-curve %6.2fx\n",
            p99 [KIND_CURVE] / p99 [KIND_ZMQ_CURVE]);
    printf ("   p50 curve / zmq-null  %6.2fx\n",
            p50 [KIND_CURVE] / p50 [KIND_ZMQ_NULL]);
    fflush (stdout);
}


//  --------------------------------------------------------------------------
//  Clients in the helper process, for tests 3 and 4

typedef enum {
    CLIENTS_CURVE,                  //  curve_client actors
    CLIENTS_RAW,                    //  DEALERs driving curve_codec
    CLIENTS_ZMQ_CURVE,              //  DEALERs with libzmq CURVE
    CLIENTS_ZMQ_NULL                //  Plain DEALERs
} clients_kind_t;

static const char *s_clients_names [] = {
    "curve", "raw-curve", "zmq-curve", "zmq-null"
};

typedef struct {
    clients_kind_t kind;
    size_t count;
    char endpoint [256];
    char server_key [CURVE_Z85_KEY_BYTES + 1];
    uint8_t server_key_bin [CURVE_KEY_BYTES];
    zcert_t *cert;                  //  Shared by all the clients
    curve_client_t **curve;         //  CLIENTS_CURVE
    zsock_t **socks;                //  The others
    curve_codec_t **codecs;         //  CLIENTS_RAW
} clients_t;

static void
s_clients_prepare (clients_t *self, const char *kind, const char *endpoint,
                   const char *server_key, size_t count)
{
    memset (self, 0, sizeof *self);
    int found = -1;
    for (int index = 0; index < 4; index++)
        if (streq (kind, s_clients_names [index]))
            found = index;
    if (found < 0)
        s_die ("unknown client kind '%s'", kind);
    if (strlen (endpoint) >= sizeof self->endpoint
    ||  strlen (server_key) != CURVE_Z85_KEY_BYTES
    ||  !zmq_z85_decode (self->server_key_bin, server_key))
        s_die ("bad endpoint or key");
    self->kind = (clients_kind_t) found;
    self->count = count;
    strcpy (self->endpoint, endpoint);
    strcpy (self->server_key, server_key);
    self->cert = zcert_new ();
    if (!self->cert)
        s_die ("zcert_new");
    if (self->kind == CLIENTS_CURVE) {
        self->curve = (curve_client_t **) s_alloc (count * sizeof (void *));
        for (size_t index = 0; index < count; index++) {
            self->curve [index] = curve_client_new (self->cert);
            if (!self->curve [index])
                s_die ("curve_client_new (client %zu)", index);
        }
        return;
    }
    self->socks = (zsock_t **) s_alloc (count * sizeof (void *));
    if (self->kind == CLIENTS_RAW)
        self->codecs = (curve_codec_t **) s_alloc (count * sizeof (void *));
    for (size_t index = 0; index < count; index++) {
        zsock_t *sock = zsock_new (ZMQ_DEALER);
        if (!sock)
            s_die ("zsock_new (DEALER %zu): %s", index, s_zmq_error ());
        zsock_set_linger (sock, 0);
        zsock_set_rcvtimeo (sock, TIMEOUT_MSEC);
        if (self->kind == CLIENTS_ZMQ_CURVE) {
            zcert_apply (self->cert, sock);
            zsock_set_curve_serverkey (sock, server_key);
        }
        self->socks [index] = sock;
        if (self->kind == CLIENTS_RAW) {
            self->codecs [index] = curve_codec_new_client (
                zcert_public_key (self->cert), zcert_secret_key (self->cert),
                self->server_key_bin);
            if (!self->codecs [index])
                s_die ("curve_codec_new_client");
        }
    }
}

//  Raw client: send the codec's pending command
static void
s_raw_send (zsock_t *sock, curve_codec_t *codec, const char *what)
{
    size_t size = 0;
    const uint8_t *data = curve_codec_send_buf (codec, &size);
    if (!data)
        s_die ("raw client: no %s to send", what);
    zframe_t *frame = zframe_new (data, size);
    if (!frame || zframe_send (&frame, sock, 0))
        s_die ("raw client: cannot send %s: %s", what, s_zmq_error ());
    curve_codec_send_ack (codec);
}

//  Raw client: receive one command and give it to the codec
static void
s_raw_recv (zsock_t *sock, curve_codec_t *codec, const char *what)
{
    zframe_t *frame = zframe_recv (sock);
    if (!frame)
        s_die ("raw client: no %s within %d ms", what, TIMEOUT_MSEC);
    if (curve_codec_recv (codec, zframe_data (frame), zframe_size (frame)))
        s_die ("raw client: %s: %s", what, curve_codec_reason (codec));
    zframe_destroy (&frame);
}

//  Connect every client. curve clients wait until each is CONNECTED; raw
//  clients complete their handshakes, all of them in step; libzmq clients
//  return at once (their server counts the handshakes)
static void
s_clients_go (clients_t *self)
{
    if (self->kind == CLIENTS_CURVE) {
        for (size_t index = 0; index < self->count; index++)
            if (curve_client_connect (self->curve [index], self->endpoint,
                                      self->server_key))
                s_die ("curve_client_connect %s", self->endpoint);
        for (size_t index = 0; index < self->count; index++) {
            char *detail = NULL;
            char *name = curve_client_wait (self->curve [index],
                                            "CONNECTED|REJECTED",
                                            TIMEOUT_MSEC, &detail);
            if (!name || !streq (name, "CONNECTED"))
                s_die ("curve client %zu: %s %s", index,
                       name? name: "not connected", detail? detail: "");
            zstr_free (&name);
            zstr_free (&detail);
        }
        return;
    }
    for (size_t index = 0; index < self->count; index++) {
        if (zsock_connect (self->socks [index], "%s", self->endpoint))
            s_die ("zsock_connect %s: %s", self->endpoint, s_zmq_error ());
        if (self->kind == CLIENTS_RAW)
            s_raw_send (self->socks [index], self->codecs [index], "HELLO");
    }
    if (self->kind != CLIENTS_RAW)
        return;
    for (size_t index = 0; index < self->count; index++) {
        s_raw_recv (self->socks [index], self->codecs [index], "WELCOME");
        s_raw_send (self->socks [index], self->codecs [index], "INITIATE");
    }
    for (size_t index = 0; index < self->count; index++) {
        s_raw_recv (self->socks [index], self->codecs [index], "READY");
        if (curve_codec_state (self->codecs [index]) != CURVE_CODEC_READY)
            s_die ("raw client: not ready after READY");
    }
}

static void
s_clients_release (clients_t *self)
{
    for (size_t index = 0; index < self->count; index++) {
        if (self->curve)
            curve_client_destroy (&self->curve [index]);
        if (self->socks)
            zsock_destroy (&self->socks [index]);
        if (self->codecs)
            curve_codec_destroy (&self->codecs [index]);
    }
    free (self->curve);
    free (self->socks);
    free (self->codecs);
    zcert_destroy (&self->cert);
    memset (self, 0, sizeof *self);
}

//  A broker in the helper process: a ROUTER front end for the clients, a
//  DEALER back end the server connects to, messages forwarded both ways.
//  It sends its two endpoints on the pipe once it is bound.
static void
s_broker (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_t *frontend = zsock_new (ZMQ_ROUTER);
    zsock_t *backend = zsock_new (ZMQ_DEALER);
    if (!frontend || !backend)
        s_die ("broker: zsock_new");
    zsock_set_linger (frontend, 0);
    zsock_set_linger (backend, 0);
    zsock_set_backlog (frontend, 1024);
    if (zsock_bind (frontend, "tcp://127.0.0.1:*") <= 0
    ||  zsock_bind (backend, "tcp://127.0.0.1:*") <= 0)
        s_die ("broker: bind tcp://127.0.0.1:*: %s", s_zmq_error ());
    char *frontend_endpoint = zsock_last_endpoint (frontend);
    char *backend_endpoint = zsock_last_endpoint (backend);
    if (!frontend_endpoint || !backend_endpoint)
        s_die ("broker: zsock_last_endpoint");
    if (zsock_signal (pipe, 0)
    ||  zstr_sendx (pipe, frontend_endpoint, backend_endpoint, NULL))
        s_die ("broker: cannot report its endpoints");
    zpoller_t *poller = zpoller_new (pipe, frontend, backend, NULL);
    if (!poller)
        s_die ("broker: zpoller_new");
    while (true) {
        zsock_t *which = (zsock_t *) zpoller_wait (poller, -1);
        if (!which)
            break;                  //  Interrupted
        zmsg_t *msg = zmsg_recv (which);
        if (!msg || which == pipe) {
            zmsg_destroy (&msg);    //  $TERM
            break;
        }
        if (zmsg_send (&msg, which == frontend? backend: frontend))
            zmsg_destroy (&msg);    //  Nowhere to go: a broker drops it
    }
    zpoller_destroy (&poller);
    zstr_free (&frontend_endpoint);
    zstr_free (&backend_endpoint);
    zsock_destroy (&frontend);
    zsock_destroy (&backend);
}

//  The client helper, one line per command and one answer each:
//      BROKER                          -> OK frontend backend
//      PREPARE kind endpoint key count -> OK milliseconds it took
//      GO                              -> OK
//      RELEASE (clients and broker)    -> OK
//      QUIT
static void
s_client_helper (FILE *in, FILE *out)
{
    //  Hundreds of actors, each with several sockets
    zsys_set_max_sockets (0);
    clients_t clients;
    memset (&clients, 0, sizeof clients);
    zactor_t *broker = NULL;
    char line [512];
    while (fgets (line, sizeof line, in)) {
        line [strcspn (line, "\n")] = 0;
        char kind [32], endpoint [256], key [64];
        size_t count = 0;
        if (streq (line, "BROKER")) {
            zactor_destroy (&broker);
            broker = zactor_new (s_broker, NULL);
            if (!broker)
                s_die ("zactor_new (broker)");
            char *frontend = NULL, *backend = NULL;
            if (zstr_recvx (broker, &frontend, &backend, NULL) != 2)
                s_die ("broker: no endpoints");
            s_line_send (out, "the parent", "OK %s %s", frontend, backend);
            zstr_free (&frontend);
            zstr_free (&backend);
            continue;
        }
        else
        if (sscanf (line, "PREPARE %31s %255s %63s %zu", kind, endpoint, key,
                    &count) == 4) {
            s_clients_release (&clients);
            int64_t start = s_now_ns ();
            s_clients_prepare (&clients, kind, endpoint, key, count);
            s_line_send (out, "the parent", "OK %.1f",
                         (double) (s_now_ns () - start) / 1e6);
            continue;
        }
        else
        if (streq (line, "GO"))
            s_clients_go (&clients);
        else
        if (streq (line, "RELEASE")) {
            s_clients_release (&clients);
            zactor_destroy (&broker);
        }
        else
        if (streq (line, "QUIT"))
            break;
        else
            s_die ("unknown command '%s'", line);
        s_line_send (out, "the parent", "OK");
    }
    s_clients_release (&clients);
    zactor_destroy (&broker);
}


//  --------------------------------------------------------------------------
//  3. Handshakes. A fourth contender: curve with its server behind a broker
//  (in the helper process), so that the server's process handles one TCP
//  connection for all clients, as when curve runs through a proxy.

#define HS_CONTENDERS   4
#define HS_BROKERED     3

static const char *s_hs_names [HS_CONTENDERS] = {
    "curve", "zmq-curve", "zmq-null", "curve/brkr"
};

typedef struct {
    double wall [ROUNDS_MAX];       //  ns from GO to the last handshake
    double cpu [ROUNDS_MAX];        //  Server process CPU per handshake, ns
    double server [ROUNDS_MAX];     //  ... of it, all but the main thread
    double main [ROUNDS_MAX];       //  ... the main thread (observer)
    double zmq [ROUNDS_MAX];        //  ... libzmq I/O threads
    double other [ROUNDS_MAX];      //  ... other threads (the curve actor)
    double prepare [ROUNDS_MAX];    //  ms the helper took to make clients
} handshakes_t;

static void
s_handshake_round (helper_t *helper, int contender, size_t count,
                   handshakes_t *result, int round)
{
    static const clients_kind_t clients_kind [HS_CONTENDERS] = {
        CLIENTS_CURVE, CLIENTS_ZMQ_CURVE, CLIENTS_ZMQ_NULL, CLIENTS_CURVE
    };
    static const kind_t server_kind [HS_CONTENDERS] = {
        KIND_CURVE, KIND_ZMQ_CURVE, KIND_ZMQ_NULL, KIND_CURVE
    };
    char line [512];
    char frontend [256] = "", backend [256] = "";
    if (contender == HS_BROKERED) {
        s_line_send (helper->to, helper->name, "BROKER");
        s_line_recv (helper->from, helper->name, line, sizeof line);
        if (sscanf (line, "OK %255s %255s", frontend, backend) != 2)
            s_die ("%s answered '%s' to BROKER", helper->name, line);
    }
    server_t *server = s_server_new (server_kind [contender], count, false,
                                     *backend? backend: NULL);
    s_line_send (helper->to, helper->name, "PREPARE %s %s %s %zu",
                 s_clients_names [clients_kind [contender]],
                 *frontend? frontend: server->endpoint,
                 zcert_public_txt (server->cert), count);
    s_line_recv (helper->from, helper->name, line, sizeof line);
    if (sscanf (line, "OK %lf", &result->prepare [round]) != 1)
        s_die ("%s answered '%s' to PREPARE", helper->name, line);

    threads_cpu_t threads_start, threads_end;
    s_threads_cpu (&threads_start);
    int64_t cpu_start = s_cpu_ns ();
    int64_t start = s_now_ns ();
    s_line_send (helper->to, helper->name, "GO");
    s_server_await (server, count, TIMEOUT_MSEC);
    int64_t end = s_now_ns ();
    int64_t cpu_end = s_cpu_ns ();
    s_threads_cpu (&threads_end);
    s_line_recv (helper->from, helper->name, line, sizeof line);
    if (strncmp (line, "OK", 2))
        s_die ("%s answered '%s' to GO", helper->name, line);
    s_helper_call (helper, "RELEASE");
    s_server_destroy (&server);

    double per = (double) count;
    double zmq = (double) (threads_end.zmq - threads_start.zmq);
    double other = (double) (threads_end.other - threads_start.other);
    result->wall [round] = (double) (end - start);
    result->cpu [round] = (double) (cpu_end - cpu_start) / per;
    result->server [round] = (zmq + other) / per;
    result->main [round] = (double) (threads_end.main - threads_start.main)
                         / per;
    result->zmq [round] = zmq / per;
    result->other [round] = other / per;
    if (s_verbose)
        printf ("   [%s round %d: %.1f ms, %.1f us server CPU per "
                "handshake]\n", s_hs_names [contender], round,
                result->wall [round] / 1e6, result->server [round] / 1e3);
}

static void
s_bench_handshakes (helper_t *helper, size_t count, int rounds)
{
    handshakes_t result [HS_CONTENDERS];
    memset (result, 0, sizeof result);
    for (int round = 0; round < rounds; round++)
        for (int turn = 0; turn < HS_CONTENDERS; turn++) {
            int contender = (round + turn) % HS_CONTENDERS;
            s_handshake_round (helper, contender, count, &result [contender],
                               round);
        }

    printf ("\n3. Handshakes: %zu clients in a helper process connect at "
            "once to a fresh server\n"
            "   in this process; wall time from GO until the server reports "
            "all %zu complete\n"
            "   (curve: CONNECTED on its monitor; libzmq: "
            "HANDSHAKE_SUCCEEDED on a socket\n"
            "   monitor). curve clients are made (curve_client_new) before "
            "the clock starts,\n"
            "   then GO = curve_client_connect for all; libzmq clients = "
            "zsock_connect for all.\n"
            "   curve/brkr = curve with its server connected to a broker in "
            "the helper process\n"
            "   (one TCP connection for all clients). CPU per handshake, "
            "microseconds, from\n"
            "   each thread's CPU clock: server = actor (curve server "
            "thread) + libzmq I/O\n"
            "   threads; main = this program's thread reading the monitor, "
            "left out of server;\n"
            "   total = getrusage, whole process. per core = 10^6 / server "
            "CPU us.\n"
            "   Medians over %d round%s, contenders taking turns.\n\n",
            count, count, rounds, rounds == 1? "": "s");
    printf ("   %-10s %8s %8s %8s %8s %8s %7s %7s %7s\n", "contender",
            "wall ms", "hs/s", "server", "per core", "actor", "zmq I/O",
            "main", "total");
    double server [HS_CONTENDERS];
    for (int contender = 0; contender < HS_CONTENDERS; contender++) {
        handshakes_t *self = &result [contender];
        double wall = s_median (self->wall, rounds);
        server [contender] = s_median (self->server, rounds);
        printf ("   %-10s %8.1f %8.0f %8.1f %8.0f %8.1f %7.1f %7.1f %7.1f\n",
                s_hs_names [contender], wall / 1e6,
                (double) count * 1e9 / wall, server [contender] / 1e3,
                1e9 / server [contender], s_median (self->other, rounds) / 1e3,
                s_median (self->zmq, rounds) / 1e3,
                s_median (self->main, rounds) / 1e3,
                s_median (self->cpu, rounds) / 1e3);
    }
    printf ("   (wall spread: ");
    for (int contender = 0; contender < HS_CONTENDERS; contender++)
        printf ("%s %.0f%%%s", s_hs_names [contender],
                s_spread (result [contender].wall, rounds) * 100,
                contender + 1 < HS_CONTENDERS? ", ": ")\n");
    printf ("   (helper: %zu x curve_client_new took %.1f ms, not timed "
            "above)\n", count, s_median (result [KIND_CURVE].prepare, rounds));

    double ratio = server [KIND_ZMQ_CURVE] / server [KIND_CURVE];
    printf ("\n   handshakes per server core, curve / zmq-curve      %6.2fx "
            "(paired %.2fx)   target >= %.1fx %s\n", ratio,
            s_paired_ratio (result [KIND_ZMQ_CURVE].server,
                            result [KIND_CURVE].server, rounds),
            TARGET_HANDSHAKE, ratio >= TARGET_HANDSHAKE? "ok": "BELOW");
    double brokered = server [KIND_ZMQ_CURVE] / server [HS_BROKERED];
    printf ("   handshakes per server core, curve/brkr / zmq-curve %6.2fx "
            "(paired %.2fx)   target >= %.1fx %s\n", brokered,
            s_paired_ratio (result [KIND_ZMQ_CURVE].server,
                            result [HS_BROKERED].server, rounds),
            TARGET_HANDSHAKE, brokered >= TARGET_HANDSHAKE? "ok": "BELOW");
    printf ("   handshakes per second (wall), curve / zmq-curve    %6.2fx\n",
            s_median (result [KIND_ZMQ_CURVE].wall, rounds)
            / s_median (result [KIND_CURVE].wall, rounds));
    printf ("   floor for curve over direct TCP: zmq-null's server CPU "
            "(a NULL connection)\n"
            "   + curve's crypto (see curve_bench_codec) = %.1f us + crypto\n",
            server [KIND_ZMQ_NULL] / 1e3);
    printf ("   reference, NOT measured here: libzmq CURVE about %.0f "
            "handshakes/s per core\n"
            "   on this machine class (zmq-curve measured here: %.0f)\n",
            REF_HANDSHAKES_CORE, 1e9 / server [KIND_ZMQ_CURVE]);
    fflush (stdout);
}


//  --------------------------------------------------------------------------
//  4. Memory per client. The server runs in its own fresh helper process:
//  SERVE kind count -> "ENDPOINT endpoint key", then once all count
//  clients are in, "RSS before after"; then QUIT.

static void
s_memory_helper (FILE *in, FILE *out)
{
    char line [512];
    char kind_name [32];
    size_t count = 0;
    if (!fgets (line, sizeof line, in) || strncmp (line, "QUIT", 4) == 0)
        return;                     //  Not needed after all
    if (sscanf (line, "SERVE %31s %zu", kind_name, &count) != 2)
        s_die ("unknown command '%s'", line);
    int kind = -1;
    for (int index = 0; index < KINDS; index++)
        if (streq (kind_name, s_kind_names [index]))
            kind = index;
    if (kind < 0)
        s_die ("unknown server kind '%s'", kind_name);
    server_t *server = s_server_new ((kind_t) kind, count, true, NULL);
    zclock_sleep (SETTLE_BEFORE_MSEC);
    long before = s_rss_kib ();
    s_line_send (out, "the parent", "ENDPOINT %s %s", server->endpoint,
                 zcert_public_txt (server->cert));
    s_server_await (server, count, TIMEOUT_MSEC * 2);
    zclock_sleep (SETTLE_AFTER_MSEC);
    long after = s_rss_kib ();
    if (server->curve && curve_server_clients (server->curve) != count)
        s_die ("curve server has %zu clients, not %zu",
               curve_server_clients (server->curve), count);
    s_line_send (out, "the parent", "RSS %ld %ld", before, after);
    if (!fgets (line, sizeof line, in) || strncmp (line, "QUIT", 4))
        s_die ("expected QUIT");
    s_server_destroy (&server);
}

static void
s_bench_memory (helper_t *clients, helper_t *servers, size_t count)
{
    static const clients_kind_t clients_kind [KINDS] = {
        CLIENTS_RAW, CLIENTS_ZMQ_CURVE, CLIENTS_ZMQ_NULL
    };
    long before [KINDS], after [KINDS];
    for (int kind = 0; kind < KINDS; kind++) {
        helper_t *server = &servers [kind];
        char line [512], endpoint [256], key [64];
        s_line_send (server->to, server->name, "SERVE %s %zu",
                     s_kind_names [kind], count);
        s_line_recv (server->from, server->name, line, sizeof line);
        if (sscanf (line, "ENDPOINT %255s %63s", endpoint, key) != 2)
            s_die ("%s answered '%s'", server->name, line);
        s_helper_call (clients, "PREPARE %s %s %s %zu",
                       s_clients_names [clients_kind [kind]], endpoint, key,
                       count);
        s_helper_call (clients, "GO");
        s_line_recv (server->from, server->name, line, sizeof line);
        if (sscanf (line, "RSS %ld %ld", &before [kind], &after [kind]) != 2)
            s_die ("%s answered '%s'", server->name, line);
        s_helper_call (clients, "RELEASE");
        s_helper_stop (server);
    }

    printf ("\n4. Server memory per established client: RSS (/proc/self/statm) "
            "of a fresh server\n"
            "   process, %d ms after binding and %d ms after %zu clients (in "
            "the helper process)\n"
            "   completed their handshakes and went idle. curve's clients "
            "are raw DEALERs driving\n"
            "   curve_codec (no heartbeats; the server's client TTL is "
            "raised). One fresh\n"
            "   process per contender. KiB.\n\n",
            SETTLE_BEFORE_MSEC, SETTLE_AFTER_MSEC, count);
    printf ("   %-10s %10s %10s %12s\n", "contender", "RSS before",
            "RSS after", "KiB/client");
    double per [KINDS];
    for (int kind = 0; kind < KINDS; kind++) {
        per [kind] = (double) (after [kind] - before [kind]) / (double) count;
        printf ("   %-10s %10ld %10ld %12.2f\n", s_kind_names [kind],
                before [kind], after [kind], per [kind]);
    }
    double own = per [KIND_CURVE] - per [KIND_ZMQ_NULL];
    printf ("\n   curve - zmq-null  %7.2f KiB/client (curve's own state: its "
            "ROUTER carries NULL\n"
            "                     connections)   target <= %.1f KiB %s\n",
            own, TARGET_MEMORY_KIB, own <= TARGET_MEMORY_KIB? "ok": "ABOVE");
    printf ("   curve - zmq-curve %7.2f KiB/client\n",
            per [KIND_CURVE] - per [KIND_ZMQ_CURVE]);
    fflush (stdout);
}


//  --------------------------------------------------------------------------

typedef enum {
    TEST_THROUGHPUT,
    TEST_LATENCY,
    TEST_HANDSHAKES,
    TEST_MEMORY,
    TESTS
} test_t;

static const char *s_test_names [TESTS] = {
    "throughput", "latency", "handshakes", "memory"
};

static void
s_usage (const char *program)
{
    printf ("usage: %s [--quick] [--verbose] [--test NAME]...\n"
            "  --quick / -q    short rounds, a few seconds in all (smoke "
            "test)\n"
            "  --verbose / -v  print every round's sample too\n"
            "  --test NAME     run only this test (repeatable): throughput, "
            "latency,\n"
            "                  handshakes, memory; default all\n"
            "  --help / -h     this text\n", program);
}

int
main (int argc, char **argv)
{
    bool quick = false;
    bool wanted [TESTS] = { false };
    bool any = false;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv [argn];
        if (!strcmp (arg, "--quick") || !strcmp (arg, "-q"))
            quick = true;
        else
        if (!strcmp (arg, "--verbose") || !strcmp (arg, "-v"))
            s_verbose = true;
        else
        if (!strcmp (arg, "--test") && argn + 1 < argc) {
            const char *name = argv [++argn];
            int test;
            for (test = 0; test < TESTS; test++)
                if (!strcmp (name, s_test_names [test]))
                    break;
            if (test == TESTS) {
                fprintf (stderr, "unknown test: %s\n", name);
                s_usage (argv [0]);
                return 1;
            }
            wanted [test] = any = true;
        }
        else
        if (!strcmp (arg, "--help") || !strcmp (arg, "-h")) {
            s_usage (argv [0]);
            return 0;
        }
        else {
            fprintf (stderr, "unknown option: %s\n", arg);
            s_usage (argv [0]);
            return 1;
        }
    }
    //  A helper that died must show as an error, not kill us silently
    if (signal (SIGPIPE, SIG_IGN) == SIG_ERR)
        s_die ("signal (SIGPIPE)");
    if (sodium_init () < 0)
        s_die ("sodium_init");
    if (!any)
        for (int test = 0; test < TESTS; test++)
            wanted [test] = true;

    //  Helpers first: no ZeroMQ state exists yet to be copied into them
    helper_t clients;
    helper_t servers [KINDS];
    s_helper_start (&clients, "client helper", s_client_helper);
    static const char *server_names [KINDS] = {
        "memory server (curve)", "memory server (zmq-curve)",
        "memory server (zmq-null)"
    };
    for (int kind = 0; kind < KINDS; kind++)
        s_helper_start (&servers [kind], server_names [kind],
                        s_memory_helper);

    int rounds = quick? ROUNDS_QUICK: ROUNDS_FULL;
    int64_t run_ns = quick? RUN_NS_QUICK: RUN_NS_FULL;
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    int cmajor, cminor, cpatch;
    zsys_version (&cmajor, &cminor, &cpatch);
    printf ("curve_bench_sockets: curve %d.%d.%d vs libzmq %d.%d.%d CURVE and "
            "NULL (czmq %d.%d.%d,\n"
            "libsodium %s), tcp://127.0.0.1, %ld CPUs online, measured in "
            "one run.\n",
            CURVE_VERSION_MAJOR, CURVE_VERSION_MINOR, CURVE_VERSION_PATCH,
            major, minor, patch, cmajor, cminor, cpatch,
            sodium_version_string (), sysconf (_SC_NPROCESSORS_ONLN));
    printf ("%s mode. Timings are not pass/fail; read the ratios, not the "
            "absolute numbers.\n", quick? "quick": "full");
#ifndef NDEBUG
    printf ("note: built without NDEBUG (not a Release build?)\n");
#endif
    int64_t start = s_now_ns ();

    //  Tests 1 and 2: the curve pair first, so that its server's look for
    //  a ZAP handler (a short bind) never meets libzmq's CURVE handshake
    if (wanted [TEST_THROUGHPUT] || wanted [TEST_LATENCY]) {
        uint8_t probe [LATENCY_SIZE];
        randombytes_buf (probe, sizeof probe);
        pair_t *pairs [KINDS];
        for (int kind = 0; kind < KINDS; kind++)
            pairs [kind] = s_pair_new ((kind_t) kind, probe);
        if (wanted [TEST_THROUGHPUT])
            s_bench_throughput (pairs, rounds, run_ns);
        if (wanted [TEST_LATENCY])
            s_bench_latency (pairs, quick? TRIPS_QUICK: TRIPS_FULL,
                             quick? TRIPS_BLOCK_QUICK: TRIPS_BLOCK_FULL);
        for (int kind = 0; kind < KINDS; kind++)
            s_pair_destroy (&pairs [kind]);
    }
    if (wanted [TEST_HANDSHAKES])
        s_bench_handshakes (&clients,
                            quick? HANDSHAKES_QUICK: HANDSHAKES_FULL,
                            quick? HS_ROUNDS_QUICK: HS_ROUNDS_FULL);
    if (wanted [TEST_MEMORY])
        s_bench_memory (&clients, servers, quick? MEMORY_QUICK: MEMORY_FULL);
    else
        for (int kind = 0; kind < KINDS; kind++)
            s_helper_stop (&servers [kind]);
    s_helper_stop (&clients);
    printf ("\ntotal %.1f s\n", (double) (s_now_ns () - start) / 1e9);
    return 0;
}
