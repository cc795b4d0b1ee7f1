/*  =========================================================================
    curve_stress - load and fault tests of curve's virtual sockets

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_stress puts curve_client, curve_server and curve_peer under load
    and under faults, with real processes, and checks what RFC/framing.md
    promises: within a session every message arrives exactly once and in
    order; across a lost session every message is delivered once or
    reported LOST; a HELLO flood costs bounded memory.

        curve_stress flood      a HELLO flood beside 50 honest clients,
                                once with the default pending TTL (10 s),
                                once with 2 s
        curve_stress many       1,000 concurrent clients on one server
        curve_stress faults [server|broker|handshake]
                                a server, a broker and half-made clients
                                killed with SIGKILL
        curve_stress all        all three (the default), each in a process
                                of its own

    Each part prints its figures, a "FAIL: ..." line for every check that
    failed, and ends with a line "<part>: PASS" or "<part>: FAIL"; the exit
    status is 0 only if every check passed.
@discuss
    Processes. Every part runs in a fresh process, and every helper is this
    same program started again (fork, then exec at once: the parent has
    czmq and libzmq threads, so the child touches nothing before exec) with
    a hidden subcommand: "clients" (honest echo clients), "hellogen" (the
    flood generator), "serve" (a server that records what it receives),
    "broker" (curve_peer_broker), "handshaker" (clients to be killed
    mid-handshake). A helper talks to its parent over a PAIR socket on an
    ipc endpoint in the parent's scratch directory, /tmp/curve-stress-<pid>,
    and gets SIGTERM when its parent dies, however it dies
    (PR_SET_PDEATHSIG). A process removes its scratch directory at exit,
    on failure and on SIGINT/SIGTERM/SIGHUP/SIGABRT, after sending its
    helpers still running SIGTERM (so that a part process cleans up its
    own) and, 3 s later, SIGKILL.

    Waiting. Every wait is bounded and waits for a condition (a message, an
    event, a count), running the poll loop meanwhile, so that honest
    traffic flows and monitor events are counted all the time (a monitor
    nobody reads drops events). No sleep is used to synchronise. The
    random delays before a SIGKILL are the faults themselves, and run the
    loop too. The few loops that pause (a helper retrying a bind, the
    generator's pacing, polling a part process for its exit) say why where
    they do it.

    Figures. RSS is read from /proc/self/statm of the process that holds
    the server (in "flood", the part's own process: the honest clients and
    the generator run in helper processes). Rates are wall-clock rates on a
    shared 2-core machine: they are figures, never checks.

    Environment: CURVE_STRESS_SCALE (default 1; 0.2 under AddressSanitizer)
    scales the number of HELLOs in the flood and of clients in "many";
    CURVE_STRESS_VERBOSE=1 traces events and helper lines. To study the
    flood's memory: CURVE_STRESS_DEALERS (default 300) connections,
    CURVE_STRESS_BURST (default 5: the first 1/5 of the frames at once; 0:
    none), CURVE_STRESS_ZERO_COPY=0|1 (libzmq's zero-copy receive in the
    server's process; default: libzmq's, on).
@end
*/

#include "curve.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined (__GLIBC__)
#   include <malloc.h>
#endif

#if defined (__SANITIZE_ADDRESS__)
#   define STRESS_SANITIZED 1
#elif defined (__has_feature)
#   if __has_feature (address_sanitizer)
#       define STRESS_SANITIZED 1
#   endif
#endif

//  The flood
#define FLOOD_HELLOS     100000     //  HELLO commands per pass (scaled)
#define FLOOD_DEALERS    300        //  DEALER sockets of the generator
#define FLOOD_RATE       5000       //  Frames/s after the first burst
#define FLOOD_BURST_PART 5          //  1/5 of the frames go first, at once
#define FLOOD_CLIENTS    50         //  Honest clients beside it
#define FLOOD_INTERVAL   20         //  ms between an honest client's sends
#define FLOOD_RSS_MARGIN (64 * 1024)    //  KiB the server may grow by
#define FLOOD_HEAP_LEFT  (16 * 1024)    //  KiB it may keep once it is over
//  Many clients
#define MANY_CLIENTS     1000       //  (scaled)
#define MANY_MESSAGES    20         //  Echoed per client
//  Echo messages: magic, client index, sequence number (big-endian)
#define ECHO_MAGIC       0x45434831u
#define ECHO_BYTES       16
//  Flood envelope ids at or above this mark the generator's last frames
#define SENTINEL_BASE    (UINT64_C (1) << 62)

static double s_scale = 1.0;        //  CURVE_STRESS_SCALE
static bool s_verbose = false;      //  CURVE_STRESS_VERBOSE
static char s_exe [PATH_MAX];       //  This program, for helpers
static int s_failures = 0;          //  Checks failed in this process
static pid_t s_owner = 0;           //  The process that owns the statics


//  --------------------------------------------------------------------------
//  Checks: reported and counted, never stopping the part, so that every
//  figure is printed; a part passes if none failed.

static bool
s_check (bool ok, const char *format, ...)
{
    if (!ok) {
        char text [1024];
        va_list args;
        va_start (args, format);
        vsnprintf (text, sizeof text, format, args);
        va_end (args);
        printf ("    FAIL: %s\n", text);
        s_failures++;
    }
    return ok;
}

static void s_cleanup_now (void);

//  Setup that cannot go on: say why, clean up, go
static void
s_die (const char *format, ...)
{
    char text [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    printf ("curve_stress (%d): fatal: %s\n", (int) getpid (), text);
    fflush (stdout);
    s_cleanup_now ();
    _exit (2);
}

//  A tuning knob from the environment, or its default
static long
s_env_long (const char *name, long fallback)
{
    const char *value = getenv (name);
    return value && *value? atol (value): fallback;
}

static uint64_t
s_scaled (uint64_t count, uint64_t minimum)
{
    uint64_t scaled = (uint64_t) ((double) count * s_scale + 0.5);
    return scaled < minimum? minimum: scaled;
}

static void
s_put_uint64 (uint8_t *buffer, uint64_t value)
{
    for (int index = 7; index >= 0; index--) {
        buffer [index] = (uint8_t) value;
        value >>= 8;
    }
}

static uint64_t
s_get_uint64 (const uint8_t *buffer)
{
    uint64_t value = 0;
    for (int index = 0; index < 8; index++)
        value = (value << 8) | buffer [index];
    return value;
}

static void
s_put_uint32 (uint8_t *buffer, uint32_t value)
{
    buffer [0] = (uint8_t) (value >> 24);
    buffer [1] = (uint8_t) (value >> 16);
    buffer [2] = (uint8_t) (value >> 8);
    buffer [3] = (uint8_t) value;
}

static uint32_t
s_get_uint32 (const uint8_t *buffer)
{
    return ((uint32_t) buffer [0] << 24) | ((uint32_t) buffer [1] << 16)
         | ((uint32_t) buffer [2] << 8) | buffer [3];
}

//  "name=value" in a line of "name=value" words; 0 if absent
static uint64_t
s_field (const char *line, const char *name)
{
    size_t length = strlen (name);
    for (const char *at = line; (at = strstr (at, name)); at += length)
        if ((at == line || at [-1] == ' ') && at [length] == '=')
            return strtoull (at + length + 1, NULL, 10);
    return 0;
}

//  Messages counted in a LOST event's detail ("3 messages sent before...",
//  "a message could not be ...")
static uint64_t
s_lost_count (const char *detail)
{
    if (detail && *detail >= '0' && *detail <= '9')
        return strtoull (detail, NULL, 10);
    return 1;
}


//  --------------------------------------------------------------------------
//  Scratch files and helper processes, cleaned up on every way out. The
//  cleanup runs from signal handlers too, so it uses only async-signal-safe
//  calls (kill, waitpid, unlink, rmdir) on what was registered before.

#define TMP_PATHS_MAX   256
#define CHILDREN_MAX    64

static char s_tmp_root [128];                   //  "" until first used
static char *s_tmp_paths [TMP_PATHS_MAX];       //  Removed in reverse
static volatile int s_tmp_count = 0;
static volatile pid_t s_children [CHILDREN_MAX];

static void
s_children_add (pid_t pid)
{
    for (int index = 0; index < CHILDREN_MAX; index++)
        if (s_children [index] == 0) {
            s_children [index] = pid;
            return;
        }
    kill (pid, SIGKILL);
    s_die ("more than %d helper processes", CHILDREN_MAX);
}

static void
s_children_remove (pid_t pid)
{
    for (int index = 0; index < CHILDREN_MAX; index++)
        if (s_children [index] == pid)
            s_children [index] = 0;
}

static void
s_tmp_register (const char *path)
{
    if (s_tmp_count == TMP_PATHS_MAX)
        s_die ("too many scratch files");
    s_tmp_paths [s_tmp_count] = strdup (path);
    if (!s_tmp_paths [s_tmp_count])
        s_die ("out of memory");
    s_tmp_count = s_tmp_count + 1;
}

//  A path in this process's scratch directory (made on first use), to be
//  removed at exit. Returns a string the registry owns.
static const char *
s_tmp_path (const char *format, ...)
{
    if (!*s_tmp_root) {
        snprintf (s_tmp_root, sizeof s_tmp_root, "/tmp/curve-stress-%d",
                  (int) getpid ());
        if (mkdir (s_tmp_root, 0700) && errno != EEXIST)
            s_die ("mkdir %s: %s", s_tmp_root, strerror (errno));
        s_tmp_register (s_tmp_root);
    }
    char name [128];
    va_list args;
    va_start (args, format);
    vsnprintf (name, sizeof name, format, args);
    va_end (args);
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", s_tmp_root, name);
    s_tmp_register (path);
    return s_tmp_paths [s_tmp_count - 1];
}

//  Helpers still running are asked to go (SIGTERM: a part process then
//  cleans up after itself and its own helpers), given up to 3 s, then
//  killed
static void
s_stop_children (void)
{
    bool any = false;
    for (int index = 0; index < CHILDREN_MAX; index++)
        if (s_children [index] > 0) {
            kill (s_children [index], SIGTERM);
            any = true;
        }
    struct timespec pause = { 0, 20 * 1000 * 1000 };
    for (int round = 0; any && round < 150; round++) {
        any = false;
        for (int index = 0; index < CHILDREN_MAX; index++) {
            pid_t pid = s_children [index];
            if (pid > 0) {
                pid_t rc = waitpid (pid, NULL, WNOHANG);
                if (rc == pid || rc < 0)
                    s_children [index] = 0;
                else
                    any = true;
            }
        }
        if (any)
            nanosleep (&pause, NULL);   //  Polling for exits, bounded
    }
    for (int index = 0; index < CHILDREN_MAX; index++) {
        pid_t pid = s_children [index];
        if (pid > 0) {
            kill (pid, SIGKILL);
            waitpid (pid, NULL, 0);
            s_children [index] = 0;
        }
    }
}

static void
s_cleanup_now (void)
{
    if (getpid () != s_owner)
        return;                     //  A child between fork and exec
    s_stop_children ();
    for (int index = s_tmp_count - 1; index >= 0; index--)
        if (unlink (s_tmp_paths [index]) && errno == EISDIR)
            rmdir (s_tmp_paths [index]);
    s_tmp_count = 0;
}

//  Remove a scratch directory and what is in it, one level down
static void
s_remove_tree (const char *root)
{
    DIR *dir = opendir (root);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir (dir))) {
            if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
                continue;
            char path [PATH_MAX];
            snprintf (path, sizeof path, "%s/%s", root, entry->d_name);
            if (unlink (path) && errno == EISDIR) {
                DIR *inner = opendir (path);
                struct dirent *item;
                while (inner && (item = readdir (inner))) {
                    char file [PATH_MAX + 256];
                    snprintf (file, sizeof file, "%s/%s", path, item->d_name);
                    unlink (file);
                }
                if (inner)
                    closedir (inner);
                rmdir (path);
            }
        }
        closedir (dir);
    }
    rmdir (root);
}

//  At exit (not from a signal): also whatever else landed in the scratch
//  directory
static void
s_cleanup_at_exit (void)
{
    s_cleanup_now ();
    if (getpid () != s_owner || !*s_tmp_root)
        return;
    s_remove_tree (s_tmp_root);
    for (int index = 0; index < TMP_PATHS_MAX; index++)
        free (s_tmp_paths [index]);
}

static void
s_on_signal (int signal_number)
{
    s_cleanup_now ();
    signal (signal_number, SIG_DFL);
    raise (signal_number);
}


//  --------------------------------------------------------------------------
//  Processes

static size_t
s_rss_kib (void)
{
    FILE *file = fopen ("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!file || fscanf (file, "%lu %lu", &size, &resident) != 2)
        s_die ("cannot read /proc/self/statm");
    fclose (file);
    return (size_t) resident * (size_t) (sysconf (_SC_PAGESIZE) / 1024);
}

//  Peak RSS of this process so far (VmHWM), in KiB
static size_t
s_hwm_kib (void)
{
    FILE *file = fopen ("/proc/self/status", "r");
    char line [256];
    size_t value = 0;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmHWM:", 6) == 0)
            value = strtoul (line + 6, NULL, 10);
    if (file)
        fclose (file);
    return value;
}

//  Heap in use (malloc'd and not freed, all arenas), in KiB; 0 where
//  glibc cannot say (other C libraries, sanitizers' own allocators)
static size_t
s_heap_kib (void)
{
#if defined (__GLIBC__) && !defined (STRESS_SANITIZED) \
    && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2 ();
    return (info.uordblks + info.hblkhd) / 1024;
#else
    return 0;
#endif
}

//  RSS once malloc has given back to the system what it can
static size_t
s_rss_trimmed_kib (void)
{
#if defined (__GLIBC__) && !defined (STRESS_SANITIZED)
    malloc_trim (0);
#endif
    return s_rss_kib ();
}

//  Raise the soft limit on open files to the hard limit
static rlim_t
s_raise_nofile (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit))
        return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        rlim_t soft = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max == RLIM_INFINITY? 1048576:
                                                            limit.rlim_max;
        if (setrlimit (RLIMIT_NOFILE, &limit))
            limit.rlim_cur = soft;
    }
    return limit.rlim_cur;
}

//  Start this program again with the given arguments (argv [0] is set
//  here; NULL-terminated). It gets SIGTERM when we die, even by SIGKILL,
//  and then cleans up and goes.
static pid_t
s_spawn (char **argv)
{
    argv [0] = s_exe;
    pid_t parent = getpid ();
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    if (pid < 0)
        s_die ("fork: %s", strerror (errno));
    if (pid == 0) {
        //  Only async-signal-safe calls between fork and exec: other
        //  threads of the parent may hold locks we would wait on forever
        if (prctl (PR_SET_PDEATHSIG, SIGTERM) || getppid () != parent)
            _exit (127);
        execv (s_exe, argv);
        _exit (127);
    }
    s_children_add (pid);
    return pid;
}

//  Wait up to timeout ms for a process to end; returns its status, or -1
//  (and kills it) if it did not end in time. Used for part processes,
//  which report through their output.
static int
s_reap_within (pid_t pid, int timeout)
{
    //  A pidfd becomes readable when the process ends: wait on that event
    int fd = pidfd_open (pid, 0);
    if (fd < 0)
        s_die ("pidfd_open: %s", strerror (errno));
    struct pollfd item = { fd, POLLIN, 0 };
    int rc;
    do
        rc = poll (&item, 1, timeout);
    while (rc < 0 && errno == EINTR);
    close (fd);
    int status = 0;
    if (rc == 0) {
        kill (pid, SIGKILL);
        waitpid (pid, &status, 0);
        s_children_remove (pid);
        return -1;
    }
    waitpid (pid, &status, 0);
    s_children_remove (pid);
    return status;
}


//  --------------------------------------------------------------------------
//  The poll loop: sockets, each with what to do when it has input, and
//  ticks (pacing, samples) run between polls

typedef void (reader_fn) (zsock_t *sock, void *arg);
typedef void (tick_fn) (void *arg, int64_t now);

#define TICKS_MAX   8

typedef struct {
    zmq_pollitem_t *items;
    zsock_t **socks;
    reader_fn **fns;
    void **args;
    size_t count;
    size_t alloc;
    tick_fn *ticks [TICKS_MAX];
    void *tick_args [TICKS_MAX];
    size_t tick_count;
    int granularity;                //  Longest poll between ticks, ms
} loop_t;

static void
s_loop_init (loop_t *self, int granularity)
{
    memset (self, 0, sizeof *self);
    self->granularity = granularity;
}

static void
s_loop_add (loop_t *self, zsock_t *sock, reader_fn *fn, void *arg)
{
    if (self->count == self->alloc) {
        self->alloc = self->alloc? self->alloc * 2: 16;
        self->items = (zmq_pollitem_t *) realloc (self->items,
            self->alloc * sizeof (zmq_pollitem_t));
        self->socks = (zsock_t **) realloc (self->socks,
            self->alloc * sizeof (zsock_t *));
        self->fns = (reader_fn **) realloc (self->fns,
            self->alloc * sizeof (reader_fn *));
        self->args = (void **) realloc (self->args,
            self->alloc * sizeof (void *));
        if (!self->items || !self->socks || !self->fns || !self->args)
            s_die ("out of memory");
    }
    zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
    self->items [self->count] = item;
    self->socks [self->count] = sock;
    self->fns [self->count] = fn;
    self->args [self->count] = arg;
    self->count++;
}

static void
s_loop_remove (loop_t *self, zsock_t *sock)
{
    for (size_t index = 0; index < self->count; index++)
        if (self->socks [index] == sock) {
            size_t rest = self->count - index - 1;
            memmove (self->items + index, self->items + index + 1,
                     rest * sizeof (zmq_pollitem_t));
            memmove (self->socks + index, self->socks + index + 1,
                     rest * sizeof (zsock_t *));
            memmove (self->fns + index, self->fns + index + 1,
                     rest * sizeof (reader_fn *));
            memmove (self->args + index, self->args + index + 1,
                     rest * sizeof (void *));
            self->count--;
            return;
        }
}

static void
s_loop_tick_add (loop_t *self, tick_fn *fn, void *arg)
{
    if (self->tick_count == TICKS_MAX)
        s_die ("too many ticks");
    self->ticks [self->tick_count] = fn;
    self->tick_args [self->tick_count++] = arg;
}

static void
s_loop_tick_remove (loop_t *self, void *arg)
{
    for (size_t index = 0; index < self->tick_count; index++)
        if (self->tick_args [index] == arg) {
            for (size_t next = index + 1; next < self->tick_count; next++) {
                self->ticks [next - 1] = self->ticks [next];
                self->tick_args [next - 1] = self->tick_args [next];
            }
            self->tick_count--;
            return;
        }
}

static void
s_loop_destroy (loop_t *self)
{
    free (self->items);
    free (self->socks);
    free (self->fns);
    free (self->args);
    memset (self, 0, sizeof *self);
}

//  Run the loop for ms milliseconds (0: one pass without waiting)
static void
s_pump (loop_t *self, int ms)
{
    int64_t deadline = zclock_mono () + (ms > 0? ms: 0);
    while (true) {
        int64_t now = zclock_mono ();
        for (size_t index = 0; index < self->tick_count; index++)
            self->ticks [index] (self->tick_args [index], now);
        int64_t left = deadline - now;
        int wait = left <= 0? 0: left < self->granularity? (int) left:
                                                            self->granularity;
        int rc = zmq_poll (self->items, (int) self->count, wait);
        if (rc > 0) {
            //  Handlers must not change the set while we walk it
            size_t count = self->count;
            for (size_t index = 0; index < count; index++)
                if (self->items [index].revents & ZMQ_POLLIN)
                    self->fns [index] (self->socks [index],
                                       self->args [index]);
        }
        if (left <= 0)
            break;
    }
}

//  A message if one is waiting, else NULL (never waits)
static zmsg_t *
s_recv_ready (zsock_t *sock)
{
    return (zsock_events (sock) & ZMQ_POLLIN)? zmsg_recv (sock): NULL;
}

//  Wait up to timeout ms until a socket can take a message
static bool
s_writable (zsock_t *sock, int timeout)
{
    zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLOUT, 0 };
    return zmq_poll (&item, 1, timeout) > 0;
}


//  --------------------------------------------------------------------------
//  Helper processes, parent side: each has a PAIR on an ipc endpoint of
//  ours; it says lines ("READY", "RESULT name=value ...", "FAILED why"),
//  we say commands ("GO", "STOP", "EXIT").

typedef struct {
    char name [64];
    pid_t pid;
    loop_t *loop;
    zsock_t *ctl;                   //  PAIR, bound here
    zlist_t *said;                  //  Lines not yet taken
    bool exited;
    int status;
} child_t;

static void
s_child_on_ctl (zsock_t *sock, void *arg)
{
    child_t *self = (child_t *) arg;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        char *line = zmsg_popstr (msg);
        if (line) {
            if (s_verbose)
                printf ("      (%s: %s)\n", self->name, line);
            zlist_append (self->said, line);
        }
        zmsg_destroy (&msg);
    }
}

static child_t *
s_child_start (loop_t *loop, const char *name, const char *command, ...)
{
    static int counter = 0;
    child_t *self = (child_t *) zmalloc (sizeof *self);
    snprintf (self->name, sizeof self->name, "%s", name);
    self->loop = loop;
    char endpoint [PATH_MAX];
    snprintf (endpoint, sizeof endpoint, "ipc://%s",
              s_tmp_path ("ctl-%d", ++counter));
    self->ctl = zsock_new (ZMQ_PAIR);
    if (!self->ctl || zsock_bind (self->ctl, "%s", endpoint))
        s_die ("cannot bind %s", endpoint);
    zsock_set_sndtimeo (self->ctl, 2000);
    self->said = zlist_new ();
    s_loop_add (loop, self->ctl, s_child_on_ctl, self);
    char *argv [32];
    int argc = 1;
    argv [argc++] = (char *) command;
    argv [argc++] = endpoint;
    va_list args;
    va_start (args, command);
    const char *arg;
    while ((arg = va_arg (args, const char *)) && argc < 31)
        argv [argc++] = (char *) arg;
    va_end (args);
    argv [argc] = NULL;
    self->pid = s_spawn (argv);
    return self;
}

static bool
s_child_running (child_t *self)
{
    if (!self->exited) {
        int status = 0;
        if (waitpid (self->pid, &status, WNOHANG) == self->pid) {
            self->exited = true;
            self->status = status;
            s_children_remove (self->pid);
        }
    }
    return !self->exited;
}

//  Wait up to timeout ms for a line that starts with prefix, running the
//  loop meanwhile. Returns it (caller frees), or NULL if the helper failed,
//  died or was silent (said so).
static char *
s_child_expect (child_t *self, const char *prefix, int timeout)
{
    int64_t deadline = zclock_mono () + timeout;
    while (true) {
        char *line;
        while ((line = (char *) zlist_pop (self->said))) {
            if (strncmp (line, prefix, strlen (prefix)) == 0)
                return line;
            if (strncmp (line, "FAILED", 6) == 0) {
                printf ("    %s: %s\n", self->name, line);
                free (line);
                return NULL;
            }
            free (line);
        }
        if (!s_child_running (self)) {
            printf ("    %s (pid %d) ended (status 0x%x) before '%s'\n",
                    self->name, (int) self->pid, self->status, prefix);
            return NULL;
        }
        if (zclock_mono () >= deadline) {
            printf ("    %s: no '%s' within %d ms\n", self->name, prefix,
                    timeout);
            return NULL;
        }
        s_pump (self->loop, 10);
    }
}

static void
s_child_say (child_t *self, const char *command)
{
    if (s_child_running (self) && zstr_send (self->ctl, command))
        printf ("    %s: cannot send %s\n", self->name, command);
}

static void
s_child_kill (child_t *self)
{
    if (s_child_running (self)) {
        kill (self->pid, SIGKILL);
        waitpid (self->pid, &self->status, 0);
        self->exited = true;
        s_children_remove (self->pid);
    }
}

//  Tell a helper to exit and wait up to timeout ms for it; true if it
//  exited by itself with status 0
static bool
s_child_finish (child_t *self, int timeout)
{
    s_child_say (self, "EXIT");
    int64_t deadline = zclock_mono () + timeout;
    while (s_child_running (self) && zclock_mono () < deadline)
        s_pump (self->loop, 10);
    if (s_child_running (self)) {
        printf ("    %s did not exit within %d ms: killed\n", self->name,
                timeout);
        s_child_kill (self);
        return false;
    }
    return WIFEXITED (self->status) && WEXITSTATUS (self->status) == 0;
}

static void
s_child_destroy (child_t **self_p)
{
    child_t *self = *self_p;
    if (!self)
        return;
    s_child_kill (self);
    s_loop_remove (self->loop, self->ctl);
    zsock_destroy (&self->ctl);
    char *line;
    while ((line = (char *) zlist_pop (self->said)))
        free (line);
    zlist_destroy (&self->said);
    free (self);
    *self_p = NULL;
}


//  --------------------------------------------------------------------------
//  Helper processes, child side

typedef struct {
    zsock_t *sock;
    zlist_t *commands;              //  Not yet taken
} ctl_t;

static void
s_ctl_on_input (zsock_t *sock, void *arg)
{
    ctl_t *self = (ctl_t *) arg;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        char *command = zmsg_popstr (msg);
        if (command)
            zlist_append (self->commands, command);
        zmsg_destroy (&msg);
    }
}

static void
s_ctl_open (ctl_t *self, loop_t *loop, const char *endpoint)
{
    self->sock = zsock_new (ZMQ_PAIR);
    if (!self->sock || zsock_connect (self->sock, "%s", endpoint))
        s_die ("cannot connect to %s", endpoint);
    //  What we say last (RESULT) must get out before we exit
    zsock_set_linger (self->sock, 2000);
    zsock_set_sndtimeo (self->sock, 5000);
    self->commands = zlist_new ();
    s_loop_add (loop, self->sock, s_ctl_on_input, self);
}

static void
s_ctl_close (ctl_t *self, loop_t *loop)
{
    s_loop_remove (loop, self->sock);
    zsock_destroy (&self->sock);
    char *command;
    while ((command = (char *) zlist_pop (self->commands)))
        free (command);
    zlist_destroy (&self->commands);
}

//  True (and forgotten) if the parent said this
static bool
s_ctl_take (ctl_t *self, const char *command)
{
    for (char *item = (char *) zlist_first (self->commands); item;
         item = (char *) zlist_next (self->commands))
        if (streq (item, command)) {
            zlist_remove (self->commands, item);
            free (item);
            return true;
        }
    return false;
}

static void
s_ctl_say (ctl_t *self, const char *format, ...)
{
    char text [2048];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    zstr_send (self->sock, text);
}

//  Run the loop until the parent says command, up to timeout ms; false if
//  it does not, or says EXIT instead (which is then kept for later)
static bool
s_ctl_wait (ctl_t *self, loop_t *loop, const char *command, int timeout)
{
    int64_t deadline = zclock_mono () + timeout;
    while (!s_ctl_take (self, command)) {
        if (zclock_mono () >= deadline)
            return false;
        if (s_ctl_take (self, "EXIT")) {
            zlist_append (self->commands, strdup ("EXIT"));
            return false;
        }
        s_pump (loop, 20);
    }
    return true;
}


//  --------------------------------------------------------------------------
//  A server's monitor, counted; and samples of its process's RSS and of
//  curve_server_clients, taken between polls

typedef struct {
    curve_server_t *server;
    uint64_t connected, disconnected, lost, refused, denied, zap, other;
    uint64_t dropped, expired;      //  Sums of the counts in these events
    size_t dropped_events, expired_events;
    int64_t first_connected, last_connected;
    int rss_every;                  //  ms between RSS samples, 0: none
    int64_t rss_next;
    size_t rss_peak;                //  KiB
    size_t heap_peak;               //  KiB in use, per mallinfo2
    int clients_every;              //  ms between client counts, 0: none
    int64_t clients_next;
    size_t clients_expect;          //  What curve_server_clients must say
    size_t clients_samples, clients_wrong, clients_seen;
} watch_t;

static void
s_watch_on_event (zsock_t *sock, void *arg)
{
    watch_t *self = (watch_t *) arg;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        char *name = zmsg_popstr (msg);
        char *routing = zmsg_popstr (msg);
        char *detail = zmsg_popstr (msg);
        if (name && detail) {
            int64_t now = zclock_mono ();
            if (streq (name, "CONNECTED")) {
                if (!self->connected)
                    self->first_connected = now;
                self->last_connected = now;
                self->connected++;
            }
            else
            if (streq (name, "DISCONNECTED"))
                self->disconnected++;
            else
            if (streq (name, "LOST"))
                self->lost++;
            else
            if (streq (name, "REFUSED"))
                self->refused++;
            else
            if (streq (name, "DENIED"))
                self->denied++;
            else
            if (streq (name, "ZAP"))
                self->zap++;
            else
            if (streq (name, "DROPPED")) {
                self->dropped += strtoull (detail, NULL, 10);
                self->dropped_events++;
            }
            else
            if (streq (name, "EXPIRED")) {
                self->expired += strtoull (detail, NULL, 10);
                self->expired_events++;
            }
            else
                self->other++;
            if (s_verbose && !streq (name, "CONNECTED"))
                printf ("      (server: %s %s %s)\n", name,
                        routing? routing: "", detail);
        }
        zstr_free (&name);
        zstr_free (&routing);
        zstr_free (&detail);
        zmsg_destroy (&msg);
    }
}

static void
s_watch_tick (void *arg, int64_t now)
{
    watch_t *self = (watch_t *) arg;
    if (self->rss_every && now >= self->rss_next) {
        size_t rss = s_rss_kib ();
        if (rss > self->rss_peak)
            self->rss_peak = rss;
        size_t heap = s_heap_kib ();
        if (heap > self->heap_peak)
            self->heap_peak = heap;
        self->rss_next = now + self->rss_every;
    }
    if (self->clients_every && now >= self->clients_next) {
        size_t clients = curve_server_clients (self->server);
        self->clients_samples++;
        if (clients != self->clients_expect) {
            if (!self->clients_wrong)
                self->clients_seen = clients;
            self->clients_wrong++;
        }
        self->clients_next = now + self->clients_every;
    }
}

static void
s_watch_start (watch_t *self, loop_t *loop, curve_server_t *server)
{
    memset (self, 0, sizeof *self);
    self->server = server;
    s_loop_add (loop, curve_server_monitor (server), s_watch_on_event, self);
    s_loop_tick_add (loop, s_watch_tick, self);
}

static void
s_watch_stop (watch_t *self, loop_t *loop)
{
    s_loop_remove (loop, curve_server_monitor (self->server));
    s_loop_tick_remove (loop, self);
}

//  An ordinary czmq actor behind a curve_server: every message goes back
//  to the client it came from, as it is ([routing][frames...])
static void
s_echo_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    while (true) {
        zmsg_t *msg = zmsg_recv (pipe);
        if (!msg)
            break;
        if (zmsg_size (msg) == 1 && zframe_streq (zmsg_first (msg), "$TERM")) {
            zmsg_destroy (&msg);
            break;
        }
        zmsg_send (&msg, pipe);
    }
}

//  A server with the echo actor behind it, bound to endpoint
typedef struct {
    curve_server_t *server;
    zactor_t *echo;
    char *endpoint;                 //  Resolved
} echo_server_t;

static void
s_echo_server_start (echo_server_t *self, zcert_t *cert, const char *endpoint)
{
    self->server = curve_server_new (cert);
    self->echo = zactor_new (s_echo_actor, NULL);
    if (!self->server || !self->echo
    ||  curve_server_attach (self->server, self->echo)
    ||  curve_server_bind (self->server, endpoint) < 0)
        s_die ("cannot start a server on %s", endpoint);
    self->endpoint = curve_server_endpoint (self->server);
}

static void
s_echo_server_stop (echo_server_t *self)
{
    //  The server first: the actor's pipe is the server's until then
    curve_server_destroy (&self->server);
    zactor_destroy (&self->echo);
    zstr_free (&self->endpoint);
}


//  --------------------------------------------------------------------------
//  Honest echo clients: each sends numbered messages, the server echoes
//  them, and each checks it gets back exactly its own, in order

typedef struct _echoset_t echoset_t;

typedef struct {
    echoset_t *set;
    curve_client_t *client;
    uint32_t index;                 //  In every message it sends
    uint64_t sent;
    uint64_t received;              //  Highest in-order sequence back
    int64_t next_send;
    bool connected;
} echo_client_t;

struct _echoset_t {
    loop_t *loop;
    echo_client_t *clients;
    size_t count;
    uint64_t limit;                 //  Messages per client, 0: no limit
    uint64_t window;                //  Unanswered per client, at most
    int interval;                   //  ms between a client's sends, 0: no pause
    bool sending;
    size_t connected;
    uint64_t sent, received;
    uint64_t misrouted, duplicates, gaps, malformed;
    uint64_t lost, lost_events;     //  Messages reported LOST, and events
    uint64_t disconnected, reconnected, handshake_failed, rejected, refused;
    uint64_t send_failed;
};

static void
s_echo_on_data (zsock_t *sock, void *arg)
{
    echo_client_t *self = (echo_client_t *) arg;
    echoset_t *set = self->set;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        zframe_t *frame = zmsg_first (msg);
        if (zmsg_size (msg) != 1 || zframe_size (frame) != ECHO_BYTES
        ||  s_get_uint32 (zframe_data (frame)) != ECHO_MAGIC)
            set->malformed++;
        else
        if (s_get_uint32 (zframe_data (frame) + 4) != self->index)
            set->misrouted++;
        else {
            uint64_t sequence = s_get_uint64 (zframe_data (frame) + 8);
            if (sequence == self->received + 1) {
                self->received++;
                set->received++;
            }
            else
            if (sequence <= self->received)
                set->duplicates++;
            else {
                set->gaps++;
                set->received += sequence - self->received;
                self->received = sequence;
            }
        }
        zmsg_destroy (&msg);
    }
}

static void
s_echo_on_event (zsock_t *sock, void *arg)
{
    echo_client_t *self = (echo_client_t *) arg;
    echoset_t *set = self->set;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        char *name = zmsg_popstr (msg);
        char *detail = zmsg_popstr (msg);
        if (name) {
            if (streq (name, "CONNECTED")) {
                if (!self->connected)
                    set->connected++;
                self->connected = true;
            }
            else
            if (streq (name, "LOST")) {
                set->lost += s_lost_count (detail);
                set->lost_events++;
            }
            else
            if (streq (name, "DISCONNECTED"))
                set->disconnected++;
            else
            if (streq (name, "RECONNECTED"))
                set->reconnected++;
            else
            if (streq (name, "HANDSHAKE-FAILED"))
                set->handshake_failed++;
            else
            if (streq (name, "REJECTED"))
                set->rejected++;
            else
            if (streq (name, "REFUSED"))
                set->refused++;
            if (s_verbose && !streq (name, "CONNECTED"))
                printf ("      (client %u: %s %s)\n", self->index, name,
                        detail? detail: "");
        }
        zstr_free (&name);
        zstr_free (&detail);
        zmsg_destroy (&msg);
    }
}

static void
s_echo_tick (void *arg, int64_t now)
{
    echoset_t *set = (echoset_t *) arg;
    if (!set->sending)
        return;
    for (size_t index = 0; index < set->count; index++) {
        echo_client_t *self = &set->clients [index];
        while (self->sent - self->received < set->window
           &&  (set->limit == 0 || self->sent < set->limit)
           &&  now >= self->next_send) {
            uint8_t body [ECHO_BYTES];
            s_put_uint32 (body, ECHO_MAGIC);
            s_put_uint32 (body + 4, self->index);
            s_put_uint64 (body + 8, self->sent + 1);
            zmsg_t *msg = zmsg_new ();
            zmsg_addmem (msg, body, sizeof body);
            //  The window keeps the data pipe far below its high-water
            //  mark, so this never waits
            if (curve_client_send (self->client, &msg)) {
                zmsg_destroy (&msg);
                set->send_failed++;
                break;
            }
            self->sent++;
            set->sent++;
            if (set->interval)
                self->next_send = now + set->interval;
        }
    }
}

static echoset_t *
s_echoset_new (loop_t *loop, uint32_t first, size_t count,
               const char *endpoint, const char *server_key, uint64_t limit,
               uint64_t window, int interval, int handshake_timeout)
{
    echoset_t *set = (echoset_t *) zmalloc (sizeof *set);
    set->loop = loop;
    set->clients = (echo_client_t *) zmalloc (count * sizeof (echo_client_t));
    set->count = count;
    set->limit = limit;
    set->window = window;
    set->interval = interval;
    int64_t now = zclock_mono ();
    for (size_t index = 0; index < count; index++) {
        echo_client_t *self = &set->clients [index];
        self->set = set;
        self->index = first + (uint32_t) index;
        zcert_t *cert = zcert_new ();
        self->client = curve_client_new (cert);
        zcert_destroy (&cert);
        if (!self->client)
            s_die ("cannot create client %zu", index);
        curve_client_set_handshake_timeout (self->client, handshake_timeout);
        if (curve_client_connect (self->client, endpoint, server_key))
            s_die ("cannot connect client %zu to %s", index, endpoint);
        //  Spread the clients' sends over the interval
        self->next_send = now + (interval? randombytes_uniform (interval): 0);
        s_loop_add (loop, curve_client_sock (self->client), s_echo_on_data,
                    self);
        s_loop_add (loop, curve_client_monitor (self->client),
                    s_echo_on_event, self);
    }
    s_loop_tick_add (loop, s_echo_tick, set);
    return set;
}

//  Every client got back all it sent (and, with a limit, sent it all)
static bool
s_echoset_done (echoset_t *set)
{
    for (size_t index = 0; index < set->count; index++) {
        echo_client_t *self = &set->clients [index];
        if (self->received < self->sent
        ||  (set->limit && self->sent < set->limit))
            return false;
    }
    return true;
}

//  Stop sending, and wait up to timeout ms for the echoes still due
static bool
s_echoset_drain (echoset_t *set, int timeout)
{
    set->sending = false;
    int64_t deadline = zclock_mono () + timeout;
    while (set->received < set->sent && zclock_mono () < deadline)
        s_pump (set->loop, 10);
    return set->received >= set->sent;
}

static void
s_echoset_destroy (echoset_t **set_p)
{
    echoset_t *set = *set_p;
    if (!set)
        return;
    s_loop_tick_remove (set->loop, set);
    for (size_t index = 0; index < set->count; index++) {
        echo_client_t *self = &set->clients [index];
        s_loop_remove (set->loop, curve_client_sock (self->client));
        s_loop_remove (set->loop, curve_client_monitor (self->client));
        curve_client_destroy (&self->client);
    }
    free (set->clients);
    free (set);
    *set_p = NULL;
}

//  The echo set's figures, as name=value words
static void
s_echoset_result (echoset_t *set, char *buffer, size_t size)
{
    snprintf (buffer, size, "clients=%zu connected=%zu sent=%" PRIu64
              " received=%" PRIu64 " misrouted=%" PRIu64 " duplicates=%"
              PRIu64 " gaps=%" PRIu64 " malformed=%" PRIu64 " lost=%" PRIu64
              " lost_events=%" PRIu64 " disconnected=%" PRIu64
              " reconnected=%" PRIu64 " handshake_failed=%" PRIu64
              " rejected=%" PRIu64 " refused=%" PRIu64 " send_failed=%"
              PRIu64, set->count, set->connected, set->sent, set->received,
              set->misrouted, set->duplicates, set->gaps, set->malformed,
              set->lost, set->lost_events, set->disconnected,
              set->reconnected, set->handshake_failed, set->rejected,
              set->refused, set->send_failed);
}

//  Check an echo result (ours or a helper's): every message back, once,
//  in order, to its sender; nothing lost, nobody rejected
static void
s_check_echo (const char *who, const char *line)
{
    uint64_t sent = s_field (line, "sent");
    uint64_t received = s_field (line, "received");
    s_check (received == sent, "%s: %" PRIu64 " messages sent, %" PRIu64
             " echoed back", who, sent, received);
    s_check (s_field (line, "misrouted") == 0, "%s: %" PRIu64
             " echoes reached the wrong client", who,
             s_field (line, "misrouted"));
    s_check (s_field (line, "duplicates") == 0 && s_field (line, "gaps") == 0,
             "%s: %" PRIu64 " duplicates and %" PRIu64 " gaps in the echoes",
             who, s_field (line, "duplicates"), s_field (line, "gaps"));
    s_check (s_field (line, "malformed") == 0, "%s: %" PRIu64
             " malformed echoes", who, s_field (line, "malformed"));
    s_check (s_field (line, "lost") == 0, "%s: %" PRIu64
             " messages reported LOST", who, s_field (line, "lost"));
    s_check (s_field (line, "rejected") == 0 && s_field (line, "send_failed")
             == 0, "%s: %" PRIu64 " clients rejected, %" PRIu64
             " sends refused", who, s_field (line, "rejected"),
             s_field (line, "send_failed"));
}


//  --------------------------------------------------------------------------
//  Helper "clients": honest echo clients in a process of their own.
//  clients CTL ENDPOINT SERVERKEY FIRST COUNT LIMIT WINDOW INTERVAL HSTIMEOUT
//  Says "CONNECTED clients=N ms=T" once all are connected, starts sending
//  on "GO", and says "RESULT ..." when each has sent and got back LIMIT
//  messages or, with no limit, on "STOP" once the echoes due are back.

static int
s_helper_clients (int argc, char **argv)
{
    if (argc < 11)
        s_die ("clients: missing arguments");
    loop_t loop;
    s_loop_init (&loop, 5);
    ctl_t ctl;
    s_ctl_open (&ctl, &loop, argv [2]);
    size_t count = (size_t) atol (argv [6]);
    int64_t start = zclock_mono ();
    echoset_t *set = s_echoset_new (&loop, (uint32_t) atol (argv [5]), count,
                                    argv [3], argv [4], atol (argv [7]),
                                    atol (argv [8]), atoi (argv [9]),
                                    atoi (argv [10]));
    int64_t deadline = zclock_mono () + 240000;
    bool exit_now = false;
    while (set->connected < count && zclock_mono () < deadline && !exit_now) {
        exit_now = s_ctl_take (&ctl, "EXIT");
        s_pump (&loop, 10);
    }
    int rc = 1;
    char result [1024];
    if (exit_now)
        ;                           //  The parent gave up on us
    else
    if (set->connected < count) {
        s_echoset_result (set, result, sizeof result);
        s_ctl_say (&ctl, "FAILED only %zu of %zu clients connected: %s",
                   set->connected, count, result);
    }
    else {
        s_ctl_say (&ctl, "CONNECTED clients=%zu ms=%" PRId64, count,
                   zclock_mono () - start);
        if (s_ctl_wait (&ctl, &loop, "GO", 600000)) {
            set->sending = true;
            int64_t sending = zclock_mono ();
            deadline = sending + 600000;
            while (!(set->limit && s_echoset_done (set))
               &&  !s_ctl_take (&ctl, "STOP") && zclock_mono () < deadline)
                s_pump (&loop, 20);
            s_echoset_drain (set, 60000);
            s_echoset_result (set, result, sizeof result);
            s_ctl_say (&ctl, "RESULT %s ms=%" PRId64, result,
                       zclock_mono () - sending);
            rc = 0;
        }
    }
    if (!exit_now)
        s_ctl_wait (&ctl, &loop, "EXIT", 600000);
    s_echoset_destroy (&set);
    s_ctl_close (&ctl, &loop);
    s_loop_destroy (&loop);
    return rc;
}


//  --------------------------------------------------------------------------
//  Helper "hellogen": the flood.
//  hellogen CTL ENDPOINT SERVERKEY HELLOS DEALERS RATE
//
//  First, on each DEALER's own envelope: a genuine HELLO A (WELCOME), A
//  again (a repeat: the same WELCOME again, no new session), then a new
//  HELLO B (it replaces A's pending session). Says "READY ...".
//  On "GO", the flood: HELLOS HELLO commands, each on an envelope of its
//  own (an 8-octet frame before the command, as a broker would add: one
//  DEALER speaks for many envelopes), of these kinds:
//      genuine     made by curve_codec_new_client, then abandoned
//      twice       the same genuine HELLO twice (a repeat)
//      bogus       200 octets that start "\x05HELLO", random after
//  and beside them, not HELLOs:
//      garbage     random octets (the server must ignore them)
//      fakemsg     "\x07MESSAGE" and random octets (the server answers
//                  RESET, which costs it no state)
//  The first 1/FLOOD_BURST_PART of the frames go at once, the rest at RATE
//  frames/s. Last, one fake MESSAGE per DEALER: its RESET means that every
//  frame that DEALER sent before has been processed and answered. Then it
//  says "RESULT ..." with what it sent and what came back.

enum { OP_GENUINE, OP_TWICE, OP_BOGUS, OP_GARBAGE, OP_FAKEMSG };

typedef struct {
    uint8_t kind;
    uint32_t hello;                 //  Genuine HELLO number, if any
} op_t;

typedef struct {
    size_t count;                   //  DEALERs
    zsock_t **socks;
    zmq_pollitem_t *items;
    uint8_t *session;               //  Per op: a WELCOME came back
    size_t ops;
    uint64_t welcomes, errors, resets, other, sessions;
    uint8_t *sentinel;              //  Per DEALER: its last RESET came
    uint64_t sentinels;
    uint64_t send_errors;
} gen_t;

static int
s_command_kind (const uint8_t *data, size_t size)
{
    if (size == CURVE_WELCOME_BYTES && memcmp (data, "\x07WELCOME", 8) == 0)
        return 'W';
    if (size >= CURVE_ERROR_MIN_BYTES && memcmp (data, "\x05" "ERROR", 6) == 0)
        return 'E';
    if (size == 30 && memcmp (data, "\x05RESET", 6) == 0)
        return 'R';
    return '?';
}

//  Take every reply waiting, up to timeout ms for the first
static void
s_gen_drain (gen_t *self, int timeout)
{
    if (zmq_poll (self->items, (int) self->count, timeout) <= 0)
        return;
    for (size_t index = 0; index < self->count; index++) {
        if (!(self->items [index].revents & ZMQ_POLLIN))
            continue;
        void *handle = zsock_resolve (self->socks [index]);
        while (true) {
            //  [envelope id][command]
            zmq_msg_t part [2];
            int parts = 0;
            bool more = true;
            while (more) {
                zmq_msg_t frame;
                zmq_msg_init (&frame);
                if (zmq_msg_recv (&frame, handle, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close (&frame);
                    break;
                }
                more = zmq_msg_more (&frame);
                if (parts < 2) {
                    zmq_msg_init (&part [parts]);
                    zmq_msg_move (&part [parts++], &frame);
                }
                zmq_msg_close (&frame);
            }
            if (parts == 0)
                break;
            if (parts == 2 && zmq_msg_size (&part [0]) == 8) {
                uint64_t id = s_get_uint64 ((uint8_t *) zmq_msg_data (&part [0]));
                int kind = s_command_kind ((uint8_t *) zmq_msg_data (&part [1]),
                                           zmq_msg_size (&part [1]));
                if (kind == 'W') {
                    self->welcomes++;
                    if (id < self->ops && !self->session [id]) {
                        self->session [id] = 1;
                        self->sessions++;
                    }
                }
                else
                if (kind == 'E')
                    self->errors++;
                else
                if (kind == 'R') {
                    self->resets++;
                    if (id >= SENTINEL_BASE && id - SENTINEL_BASE < self->count
                    &&  !self->sentinel [id - SENTINEL_BASE]) {
                        self->sentinel [id - SENTINEL_BASE] = 1;
                        self->sentinels++;
                    }
                }
                else
                    self->other++;
            }
            else
                self->other++;
            for (int at = 0; at < parts; at++)
                zmq_msg_close (&part [at]);
        }
    }
}

static void
s_gen_send (gen_t *self, size_t dealer, uint64_t id, const uint8_t *data,
            size_t size)
{
    void *handle = zsock_resolve (self->socks [dealer]);
    uint8_t envelope [8];
    s_put_uint64 (envelope, id);
    //  No high-water mark on our side: these never wait
    if (zmq_send (handle, envelope, 8, ZMQ_SNDMORE) != 8
    ||  zmq_send (handle, data, size, 0) != (int) size)
        self->send_errors++;
}

//  One round of the plain-envelope phase: hellos [d] on DEALER d, and the
//  one-frame reply of each, within timeout ms (NULL where none came)
static void
s_gen_round (gen_t *self, uint8_t **hellos, zframe_t **replies, int timeout)
{
    for (size_t index = 0; index < self->count; index++) {
        replies [index] = NULL;
        zframe_t *frame = zframe_new (hellos [index], CURVE_HELLO_BYTES);
        if (zframe_send (&frame, self->socks [index], 0))
            zframe_destroy (&frame);
    }
    size_t missing = self->count;
    int64_t deadline = zclock_mono () + timeout;
    while (missing && zclock_mono () < deadline) {
        if (zmq_poll (self->items, (int) self->count, 100) <= 0)
            continue;
        for (size_t index = 0; index < self->count; index++) {
            zmsg_t *msg;
            while ((msg = s_recv_ready (self->socks [index]))) {
                if (!replies [index] && zmsg_size (msg) == 1) {
                    replies [index] = zmsg_pop (msg);
                    missing--;
                }
                zmsg_destroy (&msg);
            }
        }
    }
}

static int
s_helper_hellogen (int argc, char **argv)
{
    if (argc < 8)
        s_die ("hellogen: missing arguments");
    loop_t loop;
    s_loop_init (&loop, 10);
    ctl_t ctl;
    s_ctl_open (&ctl, &loop, argv [2]);
    const char *endpoint = argv [3];
    uint8_t server_key [CURVE_KEY_BYTES];
    if (strlen (argv [4]) != CURVE_Z85_KEY_BYTES
    ||  !zmq_z85_decode (server_key, argv [4]))
        s_die ("hellogen: bad server key");
    size_t hellos = (size_t) atol (argv [5]);
    size_t dealers = (size_t) atol (argv [6]);
    long rate = atol (argv [7]);
    zcert_t *cert = zcert_new ();

    gen_t gen;
    memset (&gen, 0, sizeof gen);
    gen.count = dealers;
    gen.socks = (zsock_t **) zmalloc (dealers * sizeof (zsock_t *));
    gen.items = (zmq_pollitem_t *) zmalloc (dealers * sizeof (zmq_pollitem_t));
    gen.sentinel = (uint8_t *) zmalloc (dealers);
    for (size_t index = 0; index < dealers; index++) {
        zsock_t *dealer = zsock_new (ZMQ_DEALER);
        if (!dealer)
            s_die ("hellogen: cannot create DEALER %zu", index);
        zsock_set_sndhwm (dealer, 0);
        zsock_set_rcvhwm (dealer, 0);
        if (zsock_connect (dealer, "%s", endpoint))
            s_die ("hellogen: cannot connect to %s", endpoint);
        gen.socks [index] = dealer;
        zmq_pollitem_t item = { zsock_resolve (dealer), 0, ZMQ_POLLIN, 0 };
        gen.items [index] = item;
    }

    //  The plan, and every genuine HELLO made before the flood starts, so
    //  that the flood runs at the rate asked for
    size_t op_alloc = hellos + hellos / 4 + 16;
    op_t *ops = (op_t *) zmalloc (op_alloc * sizeof (op_t));
    size_t op_count = 0, hello_frames = 0, genuine = 0;
    uint64_t kinds [5] = { 0, 0, 0, 0, 0 };
    while (hello_frames < hellos) {
        if (op_count == op_alloc) {
            op_alloc *= 2;
            ops = (op_t *) realloc (ops, op_alloc * sizeof (op_t));
            if (!ops)
                s_die ("out of memory");
        }
        uint32_t pick = randombytes_uniform (100);
        uint8_t kind = pick < 55? OP_GENUINE: pick < 65? OP_TWICE:
                       pick < 90? OP_BOGUS: pick < 97? OP_GARBAGE: OP_FAKEMSG;
        if (kind == OP_TWICE && hello_frames + 2 > hellos)
            kind = OP_GENUINE;
        ops [op_count].kind = kind;
        if (kind == OP_GENUINE || kind == OP_TWICE)
            ops [op_count].hello = (uint32_t) genuine++;
        hello_frames += kind == OP_TWICE? 2: kind <= OP_BOGUS? 1: 0;
        kinds [kind]++;
        op_count++;
    }
    gen.ops = op_count;
    gen.session = (uint8_t *) zmalloc (op_count);
    //  Two more per DEALER for the plain-envelope phase
    size_t made = genuine + 2 * dealers;
    int64_t start = zclock_mono ();
    uint8_t *genuine_hellos = (uint8_t *) malloc (made * CURVE_HELLO_BYTES);
    if (!genuine_hellos)
        s_die ("out of memory");
    for (size_t index = 0; index < made; index++) {
        curve_codec_t *codec = curve_codec_new_client (
            zcert_public_key (cert), zcert_secret_key (cert), server_key);
        size_t size = 0;
        const uint8_t *hello = codec? curve_codec_send_buf (codec, &size): NULL;
        if (!hello || size != CURVE_HELLO_BYTES)
            s_die ("hellogen: cannot make a HELLO");
        memcpy (genuine_hellos + index * CURVE_HELLO_BYTES, hello, size);
        curve_codec_destroy (&codec);
        if (index % 1024 == 0 && s_ctl_take (&ctl, "EXIT"))
            s_die ("hellogen: told to exit");
    }
    int64_t precompute_ms = zclock_mono () - start;

    //  The plain envelopes: HELLO A, A again, then B
    uint8_t **round = (uint8_t **) zmalloc (dealers * sizeof (uint8_t *));
    zframe_t **first = (zframe_t **) zmalloc (dealers * sizeof (zframe_t *));
    zframe_t **replies = (zframe_t **) zmalloc (dealers * sizeof (zframe_t *));
    uint8_t *plain_a = genuine_hellos + genuine * CURVE_HELLO_BYTES;
    uint8_t *plain_b = plain_a + dealers * CURVE_HELLO_BYTES;
    uint64_t plain_replies = 0, plain_welcomes = 0, plain_repeat_equal = 0;
    uint64_t plain_sessions = 0;
    for (size_t index = 0; index < dealers; index++)
        round [index] = plain_a + index * CURVE_HELLO_BYTES;
    s_gen_round (&gen, round, first, 30000);
    s_gen_round (&gen, round, replies, 30000);
    for (size_t index = 0; index < dealers; index++) {
        if (replies [index] && first [index]
        &&  zframe_eq (replies [index], first [index]))
            plain_repeat_equal++;
        plain_replies += (first [index] != NULL) + (replies [index] != NULL);
        plain_welcomes += (first [index] && s_command_kind (
                zframe_data (first [index]), zframe_size (first [index])) == 'W')
            + (replies [index] && s_command_kind (
                zframe_data (replies [index]), zframe_size (replies [index])) == 'W');
        zframe_destroy (&replies [index]);
        round [index] = plain_b + index * CURVE_HELLO_BYTES;
    }
    s_gen_round (&gen, round, replies, 30000);
    for (size_t index = 0; index < dealers; index++) {
        bool welcomed_b = replies [index] && s_command_kind (
            zframe_data (replies [index]), zframe_size (replies [index])) == 'W';
        bool welcomed_a = first [index] && s_command_kind (
            zframe_data (first [index]), zframe_size (first [index])) == 'W';
        plain_replies += replies [index] != NULL;
        plain_welcomes += welcomed_b;
        //  B replaced A's session; if B was not taken, A's is still there
        plain_sessions += welcomed_b || welcomed_a;
        zframe_destroy (&first [index]);
        zframe_destroy (&replies [index]);
    }
    free (round);
    free (first);
    free (replies);
    s_ctl_say (&ctl, "READY made=%zu precompute_ms=%" PRId64 " plain_hellos=%zu "
               "plain_replies=%" PRIu64 " plain_welcomes=%" PRIu64
               " plain_repeat_equal=%" PRIu64 " plain_sessions=%" PRIu64,
               made, precompute_ms, 3 * dealers, plain_replies, plain_welcomes,
               plain_repeat_equal, plain_sessions);
    if (!s_ctl_wait (&ctl, &loop, "GO", 600000)) {
        printf ("hellogen: no GO\n");
        _exit (1);
    }

    //  The flood
    long burst_part = s_env_long ("CURVE_STRESS_BURST", FLOOD_BURST_PART);
    size_t burst = burst_part > 0? op_count / (size_t) burst_part: 0;
    start = zclock_mono ();
    int64_t burst_ms = 0, paced_start = 0;
    uint8_t buffer [512];
    size_t next = 0;
    bool paced = false;
    while (next < op_count) {
        if (next == burst && !paced) {
            paced = true;
            paced_start = zclock_mono ();
            burst_ms = paced_start - start;
        }
        if (next >= burst) {
            //  Pacing: as many frames as are due by now, then up to 1 ms
            //  for replies (a rate limit, not a synchronisation)
            size_t due = burst + (size_t) ((zclock_mono () - paced_start)
                                           * rate / 1000);
            if (due > op_count)
                due = op_count;
            if (next >= due) {
                s_gen_drain (&gen, 1);
                continue;
            }
        }
        else
        if (next % 256 == 0)
            s_gen_drain (&gen, 0);
        op_t *op = &ops [next];
        size_t dealer = next % dealers;
        const uint8_t *data = buffer;
        size_t size = 0;
        switch (op->kind) {
            case OP_GENUINE:
            case OP_TWICE:
                data = genuine_hellos + (size_t) op->hello * CURVE_HELLO_BYTES;
                size = CURVE_HELLO_BYTES;
                break;
            case OP_BOGUS:
                size = CURVE_HELLO_BYTES;
                randombytes_buf (buffer, size);
                memcpy (buffer, "\x05HELLO", 6);
                break;
            case OP_GARBAGE:
                size = 1 + randombytes_uniform (300);
                randombytes_buf (buffer, size);
                buffer [0] = 0xFF;      //  Never a command name's length
                break;
            default:
                size = CURVE_MESSAGE_MIN_BYTES + randombytes_uniform (64);
                randombytes_buf (buffer, size);
                memcpy (buffer, "\x07MESSAGE", 8);
                break;
        }
        s_gen_send (&gen, dealer, next, data, size);
        if (op->kind == OP_TWICE)
            s_gen_send (&gen, dealer, next, data, size);
        next++;
        if (next % 1024 == 0 && s_ctl_take (&ctl, "EXIT"))
            s_die ("hellogen: told to exit");
    }
    int64_t sent_ms = zclock_mono () - start;
    for (size_t index = 0; index < dealers; index++) {
        uint8_t fake [CURVE_MESSAGE_MIN_BYTES + 8];
        randombytes_buf (fake, sizeof fake);
        memcpy (fake, "\x07MESSAGE", 8);
        s_gen_send (&gen, index, SENTINEL_BASE + index, fake, sizeof fake);
    }
    int64_t deadline = zclock_mono () + 120000;
    while (gen.sentinels < dealers && zclock_mono () < deadline)
        s_gen_drain (&gen, 100);
    s_gen_drain (&gen, 0);
    int64_t flood_ms = zclock_mono () - start;
    s_ctl_say (&ctl, "RESULT hellos=%zu genuine=%" PRIu64 " twice=%" PRIu64
               " bogus=%" PRIu64 " garbage=%" PRIu64 " fakemsg=%" PRIu64
               " welcomes=%" PRIu64 " errors=%" PRIu64 " resets=%" PRIu64
               " other=%" PRIu64 " sessions=%" PRIu64 " burst=%zu burst_ms=%"
               PRId64 " sent_ms=%" PRId64 " flood_ms=%" PRId64
               " sentinels_missing=%" PRIu64 " send_errors=%" PRIu64,
               hello_frames, kinds [OP_GENUINE], kinds [OP_TWICE],
               kinds [OP_BOGUS], kinds [OP_GARBAGE], kinds [OP_FAKEMSG] + dealers,
               gen.welcomes, gen.errors, gen.resets, gen.other, gen.sessions,
               burst, burst_ms, sent_ms, flood_ms,
               (uint64_t) (dealers - gen.sentinels), gen.send_errors);
    s_ctl_wait (&ctl, &loop, "EXIT", 600000);
    for (size_t index = 0; index < dealers; index++)
        zsock_destroy (&gen.socks [index]);
    free (gen.socks);
    free (gen.items);
    free (gen.session);
    free (gen.sentinel);
    free (ops);
    free (genuine_hellos);
    zcert_destroy (&cert);
    s_ctl_close (&ctl, &loop);
    s_loop_destroy (&loop);
    return 0;
}


//  --------------------------------------------------------------------------
//  Part "flood", one pass (a process of its own): our server, with its
//  default limits except the pending TTL; 50 honest clients echoing in a
//  helper process; the generator in another.
//
//  Checks, all exact where the protocol makes them exact:
//  -   every honest message comes back, once, in order, to its sender;
//  -   RSS of this process (the server's) stays under baseline + 64 MiB.
//      The baseline is taken just before the first flood frame, with the
//      50 clients echoing and the generator's 300 connections open (each
//      costs libzmq some 40 KiB of RSS, 75 KiB of heap: shown apart; curve
//      bounds handshakes, not connections). Why 64 MiB: what the flood may
//      legitimately add is 1000 pending handshakes (session, codec,
//      envelope key: about 3 KiB each, 3 MiB in all) and what libzmq holds
//      while the server catches up with the burst (20,000 frames in about
//      0.2 s). That second part dominates: with zero-copy receive (libzmq's
//      default) a queued frame keeps alive the whole receive buffer it was
//      read into (8 KiB of data in an allocation of about 18 KiB, often
//      shared by only a few frames of a burst), so a frame waiting in the
//      ROUTER's queue costs up to kilobytes, not its 200 octets. Measured
//      here: +32 to +49 MiB of RSS and +45 to +61 MiB of heap in use at the
//      peak of the burst; with zero-copy receive off (run with
//      CURVE_STRESS_ZERO_COPY=0) +13 MiB and +7 MiB. All of it is given
//      back to malloc once the queue drains. 64 MiB covers the measured
//      peak with room; a server that kept state per HELLO (100,000 x even
//      1 KiB) or queued without bound goes over it;
//  -   and once every flood handshake has expired, the heap in use
//      (mallinfo2, glibc) is back within 16 MiB of the baseline: a leak of
//      170 octets per HELLO would show;
//  -   HELLOs beyond 1000 in progress are dropped, and the sum of the
//      server's DROPPED events is exactly the HELLOs that got no answer
//      (every HELLO taken is answered: WELCOME, the same WELCOME again for
//      a repeat, or ERROR for a bogus one);
//  -   every fake MESSAGE got its RESET;
//  -   the sum of EXPIRED events is exactly the handshakes left pending:
//      one per envelope that got a WELCOME (a repeat adds none; a new
//      HELLO on the same envelope replaces the pending one);
//  -   curve_server_clients says 50 whenever it is sampled;
//  -   after the flood a new client connects (with a 10 s TTL, not before
//      the flood's pending handshakes expire: the time it waits is shown).

static void
s_client_watch_on_event (zsock_t *sock, void *arg)
{
    //  A lone client's events: [0] CONNECTED, [1] HANDSHAKE-FAILED, [2]
    //  LOST messages, [3] DISCONNECTED, [4] RECONNECTED, [5] REJECTED
    uint64_t *counts = (uint64_t *) arg;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        char *name = zmsg_popstr (msg);
        char *detail = zmsg_popstr (msg);
        if (name) {
            if (streq (name, "CONNECTED"))
                counts [0]++;
            else
            if (streq (name, "HANDSHAKE-FAILED"))
                counts [1]++;
            else
            if (streq (name, "LOST"))
                counts [2] += s_lost_count (detail);
            else
            if (streq (name, "DISCONNECTED"))
                counts [3]++;
            else
            if (streq (name, "RECONNECTED"))
                counts [4]++;
            else
            if (streq (name, "REJECTED"))
                counts [5]++;
            if (s_verbose)
                printf ("      (new client: %s %s)\n", name,
                        detail? detail: "");
        }
        zstr_free (&name);
        zstr_free (&detail);
        zmsg_destroy (&msg);
    }
}

static int
s_part_floodpass (int ttl)
{
    int failures = s_failures;
    size_t hellos = (size_t) s_scaled (FLOOD_HELLOS, 1000);
    int dealers = (int) s_env_long ("CURVE_STRESS_DEALERS", FLOOD_DEALERS);
    printf ("\nflood pass, pending TTL %d ms (max_pending 1000, the default)"
            ": %zu HELLOs from %d DEALERs beside %d honest clients\n",
            ttl, hellos, dealers, FLOOD_CLIENTS);
    //  Diagnostic: libzmq's zero-copy receive (a draft context option, 10,
    //  on by default) keeps a whole receive buffer alive for as long as any
    //  message read into it is queued
    if (getenv ("CURVE_STRESS_ZERO_COPY")) {
        int rc = zmq_ctx_set (zsys_init (), 10,
                              (int) s_env_long ("CURVE_STRESS_ZERO_COPY", 1));
        printf ("  libzmq zero-copy receive set to %ld: %s\n",
                s_env_long ("CURVE_STRESS_ZERO_COPY", 1),
                rc == 0? "ok": zmq_strerror (zmq_errno ()));
    }
    loop_t loop;
    s_loop_init (&loop, 5);
    zcert_t *server_cert = zcert_new ();
    echo_server_t server;
    s_echo_server_start (&server, server_cert, "tcp://127.0.0.1:*");
    curve_server_set_pending_ttl (server.server, ttl);
    watch_t watch;
    s_watch_start (&watch, &loop, server.server);
    const char *key = zcert_public_txt (server_cert);
    char text [64], count_text [32], interval_text [32];
    snprintf (count_text, sizeof count_text, "%d", FLOOD_CLIENTS);
    snprintf (interval_text, sizeof interval_text, "%d", FLOOD_INTERVAL);
    child_t *clients = s_child_start (&loop, "honest clients", "clients",
        server.endpoint, key, "0", count_text, "0", "8", interval_text,
        "30000", NULL);
    child_t *generator = NULL;
    curve_client_t *newcomer = NULL;
    uint64_t newcomer_events [6] = { 0, 0, 0, 0, 0, 0 };
    char *line = s_child_expect (clients, "CONNECTED", 120000);
    if (!s_check (line != NULL, "the honest clients did not connect"))
        goto done;
    printf ("  %d honest clients connected in %" PRIu64 " ms\n",
            FLOOD_CLIENTS, s_field (line, "ms"));
    zstr_free (&line);
    s_child_say (clients, "GO");
    //  Warm up: the honest traffic flowing
    s_pump (&loop, 1500);
    size_t idle_rss = s_rss_kib ();
    uint64_t connected_before = watch.connected;

    snprintf (text, sizeof text, "%zu", hellos);
    char dealers_text [32], rate_text [32];
    snprintf (dealers_text, sizeof dealers_text, "%d", dealers);
    snprintf (rate_text, sizeof rate_text, "%d", FLOOD_RATE);
    generator = s_child_start (&loop, "generator", "hellogen",
        server.endpoint, key, text, dealers_text, rate_text, NULL);
    char *ready = s_child_expect (generator, "READY", 300000);
    if (!s_check (ready != NULL, "the generator did not get ready"))
        goto done;
    printf ("  generator: %" PRIu64 " genuine HELLOs made in %" PRIu64 " ms; plain "
            "envelopes: %" PRIu64 " HELLOs, %" PRIu64 " answered, %" PRIu64
            " repeats answered with the same WELCOME, %" PRIu64
            " left pending\n", s_field (ready, "made"),
            s_field (ready, "precompute_ms"),
            s_field (ready, "plain_hellos"), s_field (ready, "plain_replies"),
            s_field (ready, "plain_repeat_equal"),
            s_field (ready, "plain_sessions"));
    s_check (s_field (ready, "plain_repeat_equal") == (uint64_t) dealers,
             "a repeated HELLO was answered with the same WELCOME on %"
             PRIu64 " of %d envelopes", s_field (ready, "plain_repeat_equal"),
             dealers);
    //  The baseline: 50 clients echoing, the generator's connections open
    //  and its plain-envelope handshakes pending. What the flood adds is
    //  measured from here; what the connections cost is shown apart
    size_t baseline = s_rss_kib ();
    size_t heap_baseline = s_heap_kib ();
    size_t ceiling = baseline + FLOOD_RSS_MARGIN;
    printf ("  server RSS %.1f MiB with the honest clients; %.1f MiB with the "
            "generator's %d connections open too (%.0f KiB per connection)"
            "\n", idle_rss / 1024.0, baseline / 1024.0, dealers,
            ((double) baseline - (double) idle_rss) / dealers);
    watch.rss_every = 20;
    watch.rss_peak = baseline;
    watch.heap_peak = heap_baseline;
    watch.clients_every = 250;
    watch.clients_expect = FLOOD_CLIENTS;
    s_child_say (generator, "GO");
    int64_t flood_start = zclock_mono ();
    char *result = s_child_expect (generator, "RESULT", 600000);
    int64_t flood_end = zclock_mono ();
    if (!s_check (result != NULL, "the generator did not finish")) {
        zstr_free (&ready);
        goto done;
    }
    size_t flood_peak = watch.rss_peak;
    size_t flood_heap_peak = watch.heap_peak;
    uint64_t hello_frames = s_field (result, "hellos");
    uint64_t welcomes = s_field (result, "welcomes");
    uint64_t errors = s_field (result, "errors");
    uint64_t all_hellos = hello_frames + s_field (ready, "plain_hellos");
    uint64_t answered = welcomes + errors + s_field (ready, "plain_replies");
    uint64_t expect_dropped = all_hellos - answered;
    uint64_t expect_expired = s_field (result, "sessions")
                            + s_field (ready, "plain_sessions");
    printf ("  flood: %" PRIu64 " HELLOs (%" PRIu64 " genuine, %" PRIu64
            " genuine sent twice, %" PRIu64 " bogus) + %" PRIu64
            " garbage frames + %" PRIu64 " fake MESSAGEs in %.1f s (%.0f "
            "frames/s; the first %" PRIu64 " in %" PRIu64 " ms)\n",
            hello_frames, s_field (result, "genuine"), s_field (result, "twice"),
            s_field (result, "bogus"), s_field (result, "garbage"),
            s_field (result, "fakemsg"), s_field (result, "flood_ms") / 1000.0,
            (hello_frames + s_field (result, "garbage")
                + s_field (result, "fakemsg"))
                * 1000.0 / (double) (s_field (result, "sent_ms") + 1),
            s_field (result, "burst"), s_field (result, "burst_ms"));
    printf ("  answers: %" PRIu64 " WELCOME (%" PRIu64 " handshakes left "
            "pending), %" PRIu64 " ERROR, %" PRIu64 " RESET, %" PRIu64
            " other\n", welcomes, s_field (result, "sessions"), errors,
            s_field (result, "resets"), s_field (result, "other"));
    s_check (s_field (result, "sentinels_missing") == 0
          && s_field (result, "send_errors") == 0,
             "generator: %" PRIu64 " DEALERs never saw their last answer, %"
             PRIu64 " sends failed", s_field (result, "sentinels_missing"),
             s_field (result, "send_errors"));
    s_check (s_field (result, "resets") == s_field (result, "fakemsg"),
             "%" PRIu64 " fake MESSAGEs but %" PRIu64 " RESETs",
             s_field (result, "fakemsg"), s_field (result, "resets"));
    s_check (s_field (result, "other") == 0, "%" PRIu64 " unexpected answers",
             s_field (result, "other"));
    s_check (errors <= s_field (result, "bogus")
          && welcomes <= s_field (result, "genuine")
                       + 2 * s_field (result, "twice"),
             "%" PRIu64 " ERRORs for %" PRIu64 " bogus HELLOs, %" PRIu64
             " WELCOMEs for %" PRIu64 " genuine HELLO frames", errors,
             s_field (result, "bogus"), welcomes,
             s_field (result, "genuine") + 2 * s_field (result, "twice"));

    //  DROPPED is reported on the server's next tick (100 ms)
    int64_t deadline = zclock_mono () + 5000;
    while (watch.dropped < expect_dropped && zclock_mono () < deadline)
        s_pump (&loop, 20);
    s_pump (&loop, 300);
    printf ("  DROPPED: %" PRIu64 " HELLOs in %zu events (expected %" PRIu64
            ": HELLOs sent - HELLOs answered)\n", watch.dropped,
            watch.dropped_events, expect_dropped);
    s_check (watch.dropped > 0, "no HELLO was dropped");
    s_check (watch.dropped == expect_dropped, "DROPPED says %" PRIu64
             " HELLOs, but %" PRIu64 " got no answer", watch.dropped,
             expect_dropped);

    //  A newcomer, while the abandoned handshakes expire
    watch.clients_every = 0;
    zcert_t *newcomer_cert = zcert_new ();
    newcomer = curve_client_new (newcomer_cert);
    zcert_destroy (&newcomer_cert);
    if (!newcomer || curve_client_connect (newcomer, server.endpoint, key))
        s_die ("cannot start a client");
    s_loop_add (&loop, curve_client_monitor (newcomer),
                s_client_watch_on_event, newcomer_events);
    int64_t newcomer_start = zclock_mono (), newcomer_ms = -1;
    deadline = flood_end + ttl + 15000;
    while ((newcomer_ms < 0 || watch.expired < expect_expired)
       &&  zclock_mono () < deadline) {
        s_pump (&loop, 20);
        if (newcomer_ms < 0 && newcomer_events [0])
            newcomer_ms = zclock_mono () - newcomer_start;
    }
    //  Anything more would show within a few ticks
    s_pump (&loop, 500);
    printf ("  EXPIRED: %" PRIu64 " handshakes in %zu events (expected %"
            PRIu64 ": envelopes answered with WELCOME and never continued)"
            "\n", watch.expired, watch.expired_events, expect_expired);
    //  A newcomer's attempt that timed out after its HELLO was taken would
    //  leave one more pending handshake of its own
    s_check (watch.expired >= expect_expired
          && watch.expired <= expect_expired + newcomer_events [1],
             "EXPIRED says %" PRIu64 " handshakes, expected %" PRIu64,
             watch.expired, expect_expired);
    printf ("  a new client connected %.1f s after the flood ended (%" PRIu64
            " handshake attempts timed out before)\n",
            newcomer_ms < 0? -1.0:
                (double) (newcomer_start + newcomer_ms - flood_end) / 1000.0,
            newcomer_events [1]);
    s_check (newcomer_ms >= 0, "a new client could not connect after the "
             "flood");
    s_check (watch.connected == connected_before + (newcomer_ms >= 0),
             "%" PRIu64 " CONNECTED events during the flood, expected %d",
             watch.connected - connected_before, newcomer_ms >= 0);
    size_t clients_now = curve_server_clients (server.server);
    printf ("  curve_server_clients: %zu samples during the flood, %zu not "
            "%d; %zu now (with the new client)\n", watch.clients_samples,
            watch.clients_wrong, FLOOD_CLIENTS, clients_now);
    s_check (watch.clients_wrong == 0, "curve_server_clients said %zu during "
             "the flood, not %d", watch.clients_seen, FLOOD_CLIENTS);
    s_check (clients_now == FLOOD_CLIENTS + (newcomer_ms >= 0),
             "curve_server_clients says %zu after the flood", clients_now);
    printf ("  server RSS: baseline %.1f MiB, peak %.1f MiB during the flood"
            " (+%.1f MiB), %.1f MiB after; ceiling %.1f MiB (baseline + 64 "
            "MiB); VmHWM %.1f MiB\n", baseline / 1024.0, flood_peak / 1024.0,
            ((double) flood_peak - (double) baseline) / 1024.0,
            s_rss_kib () / 1024.0, ceiling / 1024.0, s_hwm_kib () / 1024.0);
#if defined (STRESS_SANITIZED)
    //  AddressSanitizer keeps freed memory in quarantine (256 MiB) and
    //  shadows all of it: RSS says more about ASan than about the server
    printf ("  (AddressSanitizer build: RSS not checked)\n");
#else
    s_check (watch.rss_peak <= ceiling, "server RSS peaked at %zu KiB, over "
             "the ceiling of %zu KiB", watch.rss_peak, ceiling);
#endif
    if (heap_baseline) {
        //  Every handshake of the flood has expired by now: what the heap
        //  holds beyond the baseline is what the flood left behind
        size_t heap_now = s_heap_kib ();
        printf ("  server heap in use (mallinfo2): baseline %.1f MiB, peak "
                "%.1f MiB during the flood, %.1f MiB after it (+%.1f MiB); "
                "RSS after malloc_trim %.1f MiB\n", heap_baseline / 1024.0,
                flood_heap_peak / 1024.0, heap_now / 1024.0,
                ((double) heap_now - (double) heap_baseline) / 1024.0,
                s_rss_trimmed_kib () / 1024.0);
        s_check (heap_now <= heap_baseline + FLOOD_HEAP_LEFT, "the flood "
                 "left %zu KiB more in use on the server's heap (a leak per "
                 "HELLO?)", heap_now - heap_baseline);
    }
    s_check (watch.lost == 0 && watch.refused == 0, "server: %" PRIu64
             " LOST and %" PRIu64 " REFUSED events", watch.lost,
             watch.refused);
    zstr_free (&ready);
    zstr_free (&result);

    //  The honest clients: everything back, in order
    s_child_say (clients, "STOP");
    line = s_child_expect (clients, "RESULT", 120000);
    if (s_check (line != NULL, "no result from the honest clients")) {
        printf ("  honest clients: %" PRIu64 " messages echoed in %.1f s "
                "(%.0f/s), %" PRIu64 " lost, %" PRIu64 " duplicated, %" PRIu64
                " out of order, %" PRIu64 " misrouted; %" PRIu64
                " heartbeat DISCONNECTED events\n", s_field (line, "received"),
                s_field (line, "ms") / 1000.0,
                s_field (line, "received") * 1000.0
                    / (double) (s_field (line, "ms") + 1),
                s_field (line, "sent") - s_field (line, "received"),
                s_field (line, "duplicates"), s_field (line, "gaps"),
                s_field (line, "misrouted"), s_field (line, "disconnected"));
        s_check_echo ("honest clients", line);
        zstr_free (&line);
    }
    printf ("  flood to last answer: %.1f s\n",
            (double) (flood_end - flood_start) / 1000.0);
done:
    if (newcomer) {
        s_loop_remove (&loop, curve_client_monitor (newcomer));
        curve_client_destroy (&newcomer);
    }
    if (generator) {
        s_check (s_child_finish (generator, 20000), "the generator did "
                 "not exit cleanly (status 0x%x)", generator->status);
        s_child_destroy (&generator);
    }
    s_check (s_child_finish (clients, 60000), "the honest clients did not "
             "exit cleanly (status 0x%x)", clients->status);
    s_child_destroy (&clients);
    s_watch_stop (&watch, &loop);
    s_echo_server_stop (&server);
    zcert_destroy (&server_cert);
    s_loop_destroy (&loop);
    bool passed = s_failures == failures;
    printf ("flood pass (pending TTL %d ms): %s\n", ttl, passed? "PASS": "FAIL");
    return passed? 0: 1;
}

static int s_run_part (const char *name, int timeout, ...);

static int
s_part_flood (void)
{
    int64_t start = zclock_mono ();
    int failed = 0;
    failed += s_run_part ("flood pass 1", 400000, "floodpass", "10000",
                          NULL) != 0;
    failed += s_run_part ("flood pass 2", 400000, "floodpass", "2000",
                          NULL) != 0;
    printf ("\nflood: %s (%.0f s)\n", failed? "FAIL": "PASS",
            (zclock_mono () - start) / 1000.0);
    return failed? 1: 0;
}


//  --------------------------------------------------------------------------
//  Part "many": 1,000 clients at once on one server (defaults), in four
//  helper processes of 250 (a curve_client is an actor thread with seven
//  sockets). All must connect; then each sends 20 numbered messages, the
//  server echoes, and each must get exactly its own back, in order.

static int
s_part_many (void)
{
    int failures = s_failures;
    size_t total = (size_t) s_scaled (MANY_CLIENTS, 20);
    size_t processes = total >= 400? 4: 2;
    printf ("\nmany: %zu concurrent clients in %zu processes, %d messages "
            "each, echoed (open files: %lu)\n", total, processes,
            MANY_MESSAGES, (unsigned long) s_raise_nofile ());
    loop_t loop;
    s_loop_init (&loop, 5);
    zcert_t *server_cert = zcert_new ();
    echo_server_t server;
    s_echo_server_start (&server, server_cert, "tcp://127.0.0.1:*");
    watch_t watch;
    s_watch_start (&watch, &loop, server.server);
    const char *key = zcert_public_txt (server_cert);
    child_t *children [8];
    int64_t start = zclock_mono ();
    size_t first = 0;
    for (size_t index = 0; index < processes; index++) {
        size_t count = total / processes
                     + (index < total % processes? 1: 0);
        char first_text [32], count_text [32], limit_text [32], name [32];
        snprintf (first_text, sizeof first_text, "%zu", first);
        snprintf (count_text, sizeof count_text, "%zu", count);
        snprintf (limit_text, sizeof limit_text, "%d", MANY_MESSAGES);
        snprintf (name, sizeof name, "clients %zu", index + 1);
        children [index] = s_child_start (&loop, name, "clients",
            server.endpoint, key, first_text, count_text, limit_text,
            limit_text, "0", "60000", NULL);
        first += count;
    }
    //  Every handshake, as the server sees them
    int64_t deadline = zclock_mono () + 240000;
    while (watch.connected < total && zclock_mono () < deadline)
        s_pump (&loop, 10);
    int64_t connected = zclock_mono ();
    bool ready = true;
    uint64_t child_ms = 0;
    for (size_t index = 0; index < processes; index++) {
        char *line = s_child_expect (children [index], "CONNECTED", 60000);
        ready = ready && line;
        if (line && s_field (line, "ms") > child_ms)
            child_ms = s_field (line, "ms");
        zstr_free (&line);
    }
    size_t clients_now = curve_server_clients (server.server);
    double seconds = (double) (connected - start) / 1000.0;
    double server_seconds = (double) (watch.last_connected
                                      - watch.first_connected) / 1000.0;
    printf ("  %" PRIu64 " handshakes in %.2f s from the start of the "
            "helpers: %.0f handshakes/s (%.0f/s from the server's first to "
            "its last CONNECTED; slowest helper had all its clients after "
            "%.2f s)\n", watch.connected, seconds,
            (double) watch.connected / (seconds > 0? seconds: 1),
            (double) watch.connected / (server_seconds > 0? server_seconds: 1),
            child_ms / 1000.0);
    printf ("  curve_server_clients: %zu; DROPPED: %" PRIu64 " HELLOs\n",
            clients_now, watch.dropped);
    s_check (ready && watch.connected == total, "%" PRIu64 " of %zu clients "
             "connected", watch.connected, total);
    s_check (clients_now == total, "curve_server_clients says %zu, not %zu",
             clients_now, total);
    if (ready) {
        int64_t go = zclock_mono ();
        for (size_t index = 0; index < processes; index++)
            s_child_say (children [index], "GO");
        uint64_t sent = 0, received = 0, bad = 0, lost = 0;
        for (size_t index = 0; index < processes; index++) {
            char *line = s_child_expect (children [index], "RESULT", 180000);
            if (!s_check (line != NULL, "no result from %s",
                          children [index]->name))
                continue;
            s_check_echo (children [index]->name, line);
            sent += s_field (line, "sent");
            received += s_field (line, "received");
            bad += s_field (line, "misrouted") + s_field (line, "duplicates")
                 + s_field (line, "gaps") + s_field (line, "malformed");
            lost += s_field (line, "lost");
            zstr_free (&line);
        }
        double exchange = (double) (zclock_mono () - go) / 1000.0;
        printf ("  %" PRIu64 " messages sent, %" PRIu64 " echoed back in "
                "%.2f s (%.0f round trips/s); misrouted, duplicated or out "
                "of order: %" PRIu64 "; LOST: %" PRIu64 "\n", sent, received,
                exchange, (double) received / (exchange > 0? exchange: 1),
                bad, lost);
        s_check (sent == (uint64_t) total * MANY_MESSAGES,
                 "%" PRIu64 " messages sent, expected %zu", sent,
                 total * MANY_MESSAGES);
    }
    for (size_t index = 0; index < processes; index++) {
        s_check (s_child_finish (children [index], 60000), "%s did not exit "
                 "cleanly", children [index]->name);
        s_child_destroy (&children [index]);
    }
    printf ("  server: %" PRIu64 " LOST, %" PRIu64 " REFUSED, %" PRIu64
            " DISCONNECTED events; RSS %.1f MiB; total %.1f s\n", watch.lost,
            watch.refused, watch.disconnected, s_rss_kib () / 1024.0,
            (zclock_mono () - start) / 1000.0);
    s_check (watch.lost == 0 && watch.refused == 0, "server: %" PRIu64
             " LOST and %" PRIu64 " REFUSED events", watch.lost, watch.refused);
    s_watch_stop (&watch, &loop);
    s_echo_server_stop (&server);
    zcert_destroy (&server_cert);
    s_loop_destroy (&loop);
    bool passed = s_failures == failures;
    printf ("many: %s\n", passed? "PASS": "FAIL");
    return passed? 0: 1;
}


//  --------------------------------------------------------------------------
//  Helper "serve": a server that records every message it receives.
//  serve CTL ENDPOINT KEYFILE RECORDFILE
//  Each message is one 8-octet number; it is appended to RECORDFILE with
//  one write () as soon as curve_server_recv returns it, so what this
//  process received survives its SIGKILL. Says "READY" once bound.

static void
s_serve_on_event (zsock_t *sock, void *arg)
{
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        if (s_verbose) {
            char *name = zmsg_popstr (msg);
            char *routing = zmsg_popstr (msg);
            char *detail = zmsg_popstr (msg);
            printf ("      (serve %d: %s %s)\n", (int) getpid (),
                    name? name: "", detail? detail: "");
            zstr_free (&name);
            zstr_free (&routing);
            zstr_free (&detail);
        }
        zmsg_destroy (&msg);
    }
}

typedef struct {
    curve_server_t *server;
    int fd;
    uint64_t received, malformed;
} serve_t;

static void
s_serve_on_message (zsock_t *sock, void *arg)
{
    serve_t *self = (serve_t *) arg;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        zframe_t *routing = zmsg_pop (msg);
        zframe_t *frame = zmsg_first (msg);
        if (zmsg_size (msg) == 1 && zframe_size (frame) == 8) {
            if (write (self->fd, zframe_data (frame), 8) != 8)
                s_die ("serve: cannot record: %s", strerror (errno));
            self->received++;
        }
        else
            self->malformed++;
        zframe_destroy (&routing);
        zmsg_destroy (&msg);
    }
}

static int
s_helper_serve (int argc, char **argv)
{
    if (argc < 6)
        s_die ("serve: missing arguments");
    loop_t loop;
    s_loop_init (&loop, 50);
    ctl_t ctl;
    s_ctl_open (&ctl, &loop, argv [2]);
    char error [CURVE_CERT_ERROR_MAX];
    zcert_t *cert = curve_cert_load_secret (argv [4], error, sizeof error);
    if (!cert)
        s_die ("serve: %s", error);
    serve_t serve;
    memset (&serve, 0, sizeof serve);
    serve.server = curve_server_new (cert);
    curve_cert_destroy (&cert);
    if (!serve.server)
        s_die ("serve: cannot create the server");
    //  The endpoint is ipc: free again at once after a kill (libzmq
    //  removes a stale socket file when it binds), unlike a tcp port
    if (curve_server_bind (serve.server, argv [3]) < 0)
        s_die ("serve: cannot bind %s", argv [3]);
    serve.fd = open (argv [5], O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (serve.fd < 0)
        s_die ("serve: %s: %s", argv [5], strerror (errno));
    s_loop_add (&loop, curve_server_sock (serve.server), s_serve_on_message,
                &serve);
    s_loop_add (&loop, curve_server_monitor (serve.server), s_serve_on_event,
                NULL);
    s_ctl_say (&ctl, "READY pid=%d", (int) getpid ());
    s_ctl_wait (&ctl, &loop, "EXIT", 600000);
    s_ctl_say (&ctl, "RESULT received=%" PRIu64 " malformed=%" PRIu64,
               serve.received, serve.malformed);
    s_loop_remove (&loop, curve_server_sock (serve.server));
    s_loop_remove (&loop, curve_server_monitor (serve.server));
    curve_server_destroy (&serve.server);
    close (serve.fd);
    s_ctl_close (&ctl, &loop);
    s_loop_destroy (&loop);
    return 0;
}


//  --------------------------------------------------------------------------
//  Helper "broker": curve_peer_broker, bound to an endpoint.
//  broker CTL ENDPOINT

static int
s_helper_broker (int argc, char **argv)
{
    if (argc < 4)
        s_die ("broker: missing arguments");
    loop_t loop;
    s_loop_init (&loop, 50);
    ctl_t ctl;
    s_ctl_open (&ctl, &loop, argv [2]);
    zactor_t *broker = zactor_new (curve_peer_broker, NULL);
    if (!broker)
        s_die ("broker: cannot start");
    //  An ipc endpoint, as for "serve": free again at once after a kill
    zstr_sendx (broker, "BIND", argv [3], NULL);
    char *bound = zstr_recv (broker);
    if (!bound || !*bound)
        s_die ("broker: cannot bind %s", argv [3]);
    zstr_free (&bound);
    s_ctl_say (&ctl, "READY pid=%d", (int) getpid ());
    s_ctl_wait (&ctl, &loop, "EXIT", 600000);
    zactor_destroy (&broker);
    s_ctl_close (&ctl, &loop);
    s_loop_destroy (&loop);
    return 0;
}


//  --------------------------------------------------------------------------
//  Helper "handshaker": starts curve_clients one after another, without
//  pause, never reading their events, until the parent kills it.
//  handshaker CTL ENDPOINT SERVERKEY MAX

static int
s_helper_handshaker (int argc, char **argv)
{
    if (argc < 6)
        s_die ("handshaker: missing arguments");
    loop_t loop;
    s_loop_init (&loop, 50);
    ctl_t ctl;
    s_ctl_open (&ctl, &loop, argv [2]);
    size_t max = (size_t) atol (argv [5]);
    curve_client_t **clients = (curve_client_t **) zmalloc (
        max * sizeof (curve_client_t *));
    size_t count = 0;
    while (count < max) {
        zcert_t *cert = zcert_new ();
        clients [count] = curve_client_new (cert);
        zcert_destroy (&cert);
        if (!clients [count]
        ||  curve_client_connect (clients [count], argv [3], argv [4]))
            s_die ("handshaker: cannot start a client");
        if (++count == 1)
            s_ctl_say (&ctl, "READY pid=%d", (int) getpid ());
        s_pump (&loop, 0);
        if (s_ctl_take (&ctl, "EXIT"))
            break;
    }
    s_ctl_say (&ctl, "STARTED clients=%zu", count);
    s_ctl_wait (&ctl, &loop, "EXIT", 600000);
    for (size_t index = 0; index < count; index++)
        curve_client_destroy (&clients [index]);
    free (clients);
    s_ctl_close (&ctl, &loop);
    s_loop_destroy (&loop);
    return 0;
}


//  --------------------------------------------------------------------------
//  A client that sends numbered messages (8 octets, from 1) at a steady
//  pace, and counts its events, LOST messages above all

typedef struct {
    curve_client_t *client;
    bool sending;
    uint64_t sent;                  //  curve_client_send returned 0
    int64_t next;
    int interval, batch;
    uint64_t lost, lost_events, connected, reconnected, disconnected;
    uint64_t handshake_failed, rejected, refused, blocked, refused_sends;
} sender_t;

static void
s_sender_tick (void *arg, int64_t now)
{
    sender_t *self = (sender_t *) arg;
    if (!self->sending || now < self->next)
        return;
    self->next = now + self->interval;
    for (int index = 0; index < self->batch; index++) {
        //  A send that cannot go within 10 s is a hang: say so, stop
        if (!s_writable (curve_client_sock (self->client), 10000)) {
            self->blocked++;
            self->sending = false;
            return;
        }
        uint8_t body [8];
        s_put_uint64 (body, self->sent + 1);
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, body, sizeof body);
        if (curve_client_send (self->client, &msg) == 0)
            self->sent++;
        else {
            zmsg_destroy (&msg);
            self->refused_sends++;
            self->sending = false;
            return;
        }
    }
}

static void
s_sender_on_event (zsock_t *sock, void *arg)
{
    sender_t *self = (sender_t *) arg;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        char *name = zmsg_popstr (msg);
        char *detail = zmsg_popstr (msg);
        if (name) {
            if (streq (name, "LOST")) {
                self->lost += s_lost_count (detail);
                self->lost_events++;
            }
            else
            if (streq (name, "CONNECTED"))
                self->connected++;
            else
            if (streq (name, "RECONNECTED"))
                self->reconnected++;
            else
            if (streq (name, "DISCONNECTED"))
                self->disconnected++;
            else
            if (streq (name, "HANDSHAKE-FAILED"))
                self->handshake_failed++;
            else
            if (streq (name, "REJECTED"))
                self->rejected++;
            else
            if (streq (name, "REFUSED"))
                self->refused++;
            if (s_verbose)
                printf ("      (client: %s %s) at %" PRIu64 "\n", name,
                        detail? detail: "", self->sent);
        }
        zstr_free (&name);
        zstr_free (&detail);
        zmsg_destroy (&msg);
    }
}

//  Numbers recorded by "serve" processes
typedef struct {
    uint64_t *numbers;
    size_t count;
} record_t;

static record_t
s_record_read (const char *path)
{
    record_t record = { NULL, 0 };
    FILE *file = fopen (path, "rb");
    if (!file)
        return record;
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    record.count = size > 0? (size_t) size / 8: 0;
    record.numbers = (uint64_t *) zmalloc ((record.count + 1) * sizeof (uint64_t));
    uint8_t buffer [8];
    for (size_t index = 0; index < record.count; index++) {
        if (fread (buffer, 1, 8, file) != 8) {
            record.count = index;
            break;
        }
        record.numbers [index] = s_get_uint64 (buffer);
    }
    fclose (file);
    return record;
}

//  True if the file holds this number
static bool
s_record_has (const char *path, uint64_t number)
{
    record_t record = s_record_read (path);
    bool found = false;
    for (size_t index = record.count; index > 0 && !found; index--)
        found = record.numbers [index - 1] == number;
    free (record.numbers);
    return found;
}


//  --------------------------------------------------------------------------
//  Fault a: the server is killed with SIGKILL mid-stream and restarted (a
//  new process, same endpoint and keys) several times, after a random
//  time up and down for a chosen time, while the client, here, keeps
//  sending numbered messages. At the end, of the messages the client was
//  told were sent, every one must have arrived at a server exactly once or
//  be covered by a LOST report: arrived + reported LOST >= sent, and no
//  number twice. Within each server process numbers must arrive in order.

//  Downtimes, ms: some under the client's retransmit time-out (1 s), some
//  over, one over its heartbeat time-out (3 s)
static const int s_server_downtimes [] = { 0, 200, 700, 1500, 2600, 3500, 400 };
#define SERVER_CYCLES   (int) (sizeof s_server_downtimes / sizeof (int))

static int
s_fault_server (void)
{
    int failures = s_failures;
    printf ("\nfaults/server: a server killed with SIGKILL and restarted %d "
            "times while a client streams numbered messages\n",
            SERVER_CYCLES);
    loop_t loop;
    s_loop_init (&loop, 2);
    const char *keys = s_tmp_path ("server-keys");
    if (mkdir (keys, 0700))
        s_die ("mkdir %s: %s", keys, strerror (errno));
    const char *public_file = s_tmp_path ("server-keys/server.key");
    const char *secret_file = s_tmp_path ("server-keys/server.key_secret");
    (void) public_file;
    zcert_t *server_cert = zcert_new ();
    char error [CURVE_CERT_ERROR_MAX];
    if (curve_cert_save (server_cert, keys, "server", false, error,
                         sizeof error))
        s_die ("cannot save the server's keys: %s", error);
    char endpoint [PATH_MAX];
    snprintf (endpoint, sizeof endpoint, "ipc://%s",
              s_tmp_path ("server.ipc"));
    const char *records [SERVER_CYCLES + 1];
    for (int index = 0; index <= SERVER_CYCLES; index++)
        records [index] = s_tmp_path ("arrivals-%d", index);

    child_t *server = s_child_start (&loop, "server 0", "serve", endpoint,
                                     secret_file, records [0], NULL);
    char *line = s_child_expect (server, "READY", 30000);
    bool ok = s_check (line != NULL, "the first server did not start");
    zstr_free (&line);
    zcert_t *client_cert = zcert_new ();
    sender_t sender;
    memset (&sender, 0, sizeof sender);
    sender.client = curve_client_new (client_cert);
    zcert_destroy (&client_cert);
    if (!sender.client
    ||  curve_client_connect (sender.client, endpoint,
                              zcert_public_txt (server_cert)))
        s_die ("cannot start the client");
    sender.interval = 2;
    sender.batch = 4;               //  2,000 messages/s
    s_loop_add (&loop, curve_client_monitor (sender.client),
                s_sender_on_event, &sender);
    s_loop_tick_add (&loop, s_sender_tick, &sender);
    int64_t deadline = zclock_mono () + 30000;
    while (ok && !sender.connected && zclock_mono () < deadline)
        s_pump (&loop, 10);
    ok = ok && s_check (sender.connected, "the client did not connect");
    sender.sending = ok;
    uint64_t killed_at [SERVER_CYCLES], lost_at [SERVER_CYCLES];
    int cycles = 0;
    for (int cycle = 0; ok && cycle < SERVER_CYCLES; cycle++) {
        //  The fault: the server lives a random 0.4-1.2 s, then dies; the
        //  client keeps sending all the while (this runs the loop)
        s_pump (&loop, 400 + (int) randombytes_uniform (800));
        s_child_kill (server);
        s_child_destroy (&server);
        killed_at [cycle] = sender.sent;
        lost_at [cycle] = sender.lost;
        //  Down for a while: part of the fault; the client goes on
        s_pump (&loop, s_server_downtimes [cycle]);
        char name [32];
        snprintf (name, sizeof name, "server %d", cycle + 1);
        server = s_child_start (&loop, name, "serve", endpoint, secret_file,
                                records [cycle + 1], NULL);
        line = s_child_expect (server, "READY", 30000);
        ok = s_check (line != NULL, "server %d did not start", cycle + 1);
        zstr_free (&line);
        cycles++;
    }
    //  A last stretch, then every message sent must reach the last server
    //  or have been reported LOST
    s_pump (&loop, 1500);
    sender.sending = false;
    uint64_t sent = sender.sent;
    deadline = zclock_mono () + 60000;
    while (ok && sent && !s_record_has (records [cycles], sent)
       &&  zclock_mono () < deadline)
        s_pump (&loop, 50);
    //  Late duplicates and events would show within this
    s_pump (&loop, 2000);
    if (server) {
        s_check (s_child_finish (server, 20000), "the last server did not "
                 "exit cleanly (status 0x%x)", server->status);
        s_child_destroy (&server);
    }
    s_loop_tick_remove (&loop, &sender);
    s_loop_remove (&loop, curve_client_monitor (sender.client));

    //  What arrived where
    uint8_t *times = (uint8_t *) zmalloc (sent + 1);
    int *where = (int *) zmalloc ((sent + 1) * sizeof (int));
    uint64_t arrived = 0, duplicates = 0, disorder = 0, stray = 0;
    uint64_t dup_after [SERVER_CYCLES + 1];
    memset (dup_after, 0, sizeof dup_after);
    uint64_t first_dups [8];
    int first_dup_count = 0;
    for (int index = 0; index <= cycles; index++) {
        record_t record = s_record_read (records [index]);
        uint64_t previous = 0;
        for (size_t at = 0; at < record.count; at++) {
            uint64_t number = record.numbers [at];
            if (number <= previous)
                disorder++;
            previous = number;
            if (number == 0 || number > sent) {
                stray++;
                continue;
            }
            if (times [number] == 0) {
                arrived++;
                where [number] = index;
            }
            else {
                duplicates++;
                //  Sent before the kill that ended server where [number]
                dup_after [where [number]]++;
                if (first_dup_count < 8)
                    first_dups [first_dup_count++] = number;
            }
            if (times [number] < 255)
                times [number]++;
        }
        printf ("  server %d received %zu messages%s", index, record.count,
                index < cycles? "": " (the last one, not killed)");
        if (index < cycles)
            printf ("; killed after the client had sent %" PRIu64
                    ", down %d ms; the client reported %" PRIu64 " LOST "
                    "for it", killed_at [index], s_server_downtimes [index],
                    (index + 1 < cycles? lost_at [index + 1]: sender.lost)
                        - lost_at [index]);
        printf ("\n");
        free (record.numbers);
    }
    uint64_t missing = sent - arrived;
    printf ("  sent %" PRIu64 " (curve_client_send returned 0); arrived "
            "once %" PRIu64 "; arrived twice %" PRIu64 "; never arrived %"
            PRIu64 "; reported LOST %" PRIu64 " (in %" PRIu64 " events)\n",
            sent, arrived, duplicates, missing, sender.lost,
            sender.lost_events);
    printf ("  client events: CONNECTED %" PRIu64 ", DISCONNECTED %" PRIu64
            ", RECONNECTED %" PRIu64 ", HANDSHAKE-FAILED %" PRIu64
            ", REFUSED %" PRIu64 "\n", sender.connected, sender.disconnected,
            sender.reconnected, sender.handshake_failed, sender.refused);
    for (int index = 0; index < cycles; index++)
        if (dup_after [index])
            printf ("  %" PRIu64 " messages received by server %d arrived "
                    "again at a later server (it was down %d ms)\n",
                    dup_after [index], index, s_server_downtimes [index]);
    if (first_dup_count) {
        printf ("  duplicated numbers, first ones:");
        for (int index = 0; index < first_dup_count; index++)
            printf (" %" PRIu64, first_dups [index]);
        printf ("\n");
    }
    //  What the duplicates have in common, if anything
    int dup_cycles = 0, dup_long = 0, clean_long = 0;
    for (int index = 0; index < cycles; index++) {
        bool long_down = s_server_downtimes [index] >= 1000;
        dup_cycles += dup_after [index] > 0;
        dup_long += dup_after [index] > 0 && long_down;
        clean_long += dup_after [index] == 0 && long_down;
    }
    if (duplicates)
        printf ("  diagnosis: %d of the %d restarts that duplicated messages "
                "followed a downtime over the client's retransmit time-out "
                "(1 s), %d such restarts did not. When the server has been "
                "gone that long the client has sent its unacknowledged "
                "messages again; the new server's RESET then echoes one of "
                "those resends, and the client, counting as possibly "
                "delivered only the messages whose *last* sending came "
                "before the echoed one (src/curve_session.c, s_on_reset; "
                "RFC/framing.md, RESET step 1), reports none LOST and "
                "resends them all, including those the dead server had "
                "received but not yet acknowledged\n", dup_long, dup_cycles,
                clean_long);
    s_check (ok, "the fault sequence did not run to its end");
    s_check (sender.blocked == 0 && sender.refused_sends == 0,
             "curve_client_send blocked %" PRIu64 " times over 10 s, refused %"
             PRIu64, sender.blocked, sender.refused_sends);
    s_check (duplicates == 0, "LIBRARY BUG: %" PRIu64 " messages arrived at "
             "two servers (delivered twice across a restart; RFC/framing.md: "
             "delivered once or reported LOST)", duplicates);
    s_check (arrived + sender.lost >= sent, "LIBRARY BUG: %" PRIu64
             " messages never arrived but only %" PRIu64 " were reported LOST "
             "(%" PRIu64 " lost silently)", missing, sender.lost,
             missing > sender.lost? missing - sender.lost: 0);
    s_check (disorder == 0, "%" PRIu64 " numbers arrived out of order within "
             "a server", disorder);
    s_check (stray == 0, "%" PRIu64 " numbers arrived that were never sent",
             stray);
    free (times);
    free (where);
    curve_client_destroy (&sender.client);
    zcert_destroy (&server_cert);
    s_loop_destroy (&loop);
    bool passed = s_failures == failures;
    printf ("faults/server: %s\n", passed? "PASS": "FAIL");
    return passed? 0: 1;
}


//  --------------------------------------------------------------------------
//  Fault b: the broker between two curve_peers is killed with SIGKILL mid-
//  stream and restarted (a new process on the same ipc endpoint) several
//  times, while each peer streams numbered messages to the other. The
//  peers keep their sessions and send again what the broker lost: every
//  message must arrive exactly once, in order, and none be reported LOST.

typedef struct {
    curve_peer_t *peer;
    const char *to;                 //  The other peer's name
    const char *expect_from;        //  The other peer's key (Z85)
    bool sending;
    uint64_t sent, received;
    uint64_t duplicates, gaps, wrong_sender, malformed;
    int64_t next;
    uint64_t lost, lost_events, refused, connected, disconnected;
    uint64_t reconnected, handshake_failed, unknown, rejected;
    uint64_t blocked, refused_sends;
} pstream_t;

static void
s_pstream_tick (void *arg, int64_t now)
{
    pstream_t *self = (pstream_t *) arg;
    if (!self->sending || now < self->next)
        return;
    self->next = now + 2;
    for (int index = 0; index < 2; index++) {   //  1,000 messages/s
        if (!s_writable (curve_peer_sock (self->peer), 10000)) {
            self->blocked++;
            self->sending = false;
            return;
        }
        uint8_t body [8];
        s_put_uint64 (body, self->sent + 1);
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, body, sizeof body);
        if (curve_peer_send (self->peer, self->to, &msg) == 0)
            self->sent++;
        else {
            zmsg_destroy (&msg);
            self->refused_sends++;
            self->sending = false;
            return;
        }
    }
}

static void
s_pstream_on_data (zsock_t *sock, void *arg)
{
    pstream_t *self = (pstream_t *) arg;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        char *sender = zmsg_popstr (msg);
        zframe_t *frame = zmsg_first (msg);
        if (!sender || !streq (sender, self->expect_from))
            self->wrong_sender++;
        else
        if (zmsg_size (msg) != 1 || zframe_size (frame) != 8)
            self->malformed++;
        else {
            uint64_t number = s_get_uint64 (zframe_data (frame));
            if (number == self->received + 1)
                self->received++;
            else
            if (number <= self->received)
                self->duplicates++;
            else {
                self->gaps++;
                self->received = number;
            }
        }
        zstr_free (&sender);
        zmsg_destroy (&msg);
    }
}

static void
s_pstream_on_event (zsock_t *sock, void *arg)
{
    pstream_t *self = (pstream_t *) arg;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        char *name = zmsg_popstr (msg);
        char *key = zmsg_popstr (msg);
        char *detail = zmsg_popstr (msg);
        if (name) {
            if (streq (name, "LOST")) {
                self->lost += s_lost_count (detail);
                self->lost_events++;
            }
            else
            if (streq (name, "REFUSED"))
                self->refused++;
            else
            if (streq (name, "CONNECTED"))
                self->connected++;
            else
            if (streq (name, "DISCONNECTED"))
                self->disconnected++;
            else
            if (streq (name, "RECONNECTED"))
                self->reconnected++;
            else
            if (streq (name, "HANDSHAKE-FAILED"))
                self->handshake_failed++;
            else
            if (streq (name, "UNKNOWN"))
                self->unknown++;
            else
            if (streq (name, "REJECTED"))
                self->rejected++;
            if (s_verbose)
                printf ("      (peer to %s: %s %s)\n", self->to, name,
                        detail? detail: "");
        }
        zstr_free (&name);
        zstr_free (&key);
        zstr_free (&detail);
        zmsg_destroy (&msg);
    }
}

static const int s_broker_downtimes [] = { 0, 300, 1200, 2500, 3500, 600 };
#define BROKER_CYCLES   (int) (sizeof s_broker_downtimes / sizeof (int))

static int
s_fault_broker (void)
{
    int failures = s_failures;
    printf ("\nfaults/broker: the broker between two curve_peers killed with "
            "SIGKILL and restarted %d times while both stream numbered "
            "messages\n", BROKER_CYCLES);
    loop_t loop;
    s_loop_init (&loop, 2);
    const char *directory = s_tmp_path ("peers");
    if (mkdir (directory, 0700))
        s_die ("mkdir %s: %s", directory, strerror (errno));
    const char *names [2] = { "alice", "bob" };
    zcert_t *certs [2];
    for (int index = 0; index < 2; index++) {
        certs [index] = zcert_new ();
        zcert_set_meta (certs [index], "name", "%s", names [index]);
        const char *path = s_tmp_path ("peers/%s.key", names [index]);
        if (zcert_save_public (certs [index], path))
            s_die ("cannot save %s", path);
    }
    char endpoint [PATH_MAX];
    snprintf (endpoint, sizeof endpoint, "ipc://%s",
              s_tmp_path ("broker.ipc"));
    child_t *broker = s_child_start (&loop, "broker 0", "broker", endpoint,
                                     NULL);
    char *line = s_child_expect (broker, "READY", 30000);
    bool ok = s_check (line != NULL, "the broker did not start");
    zstr_free (&line);
    pstream_t streams [2];
    memset (streams, 0, sizeof streams);
    for (int index = 0; index < 2; index++) {
        pstream_t *self = &streams [index];
        self->peer = curve_peer_new (certs [index], directory);
        if (!self->peer || curve_peer_connect (self->peer, endpoint))
            s_die ("cannot start peer %s", names [index]);
        self->to = names [1 - index];
        self->expect_from = zcert_public_txt (certs [1 - index]);
        s_loop_add (&loop, curve_peer_sock (self->peer), s_pstream_on_data,
                    self);
        s_loop_add (&loop, curve_peer_monitor (self->peer),
                    s_pstream_on_event, self);
        s_loop_tick_add (&loop, s_pstream_tick, self);
        self->sending = ok;
    }
    //  Both directions flowing before the first fault
    int64_t deadline = zclock_mono () + 30000;
    while (ok && (!streams [0].received || !streams [1].received)
       &&  zclock_mono () < deadline)
        s_pump (&loop, 10);
    ok = ok && s_check (streams [0].received && streams [1].received,
                        "the peers did not get through to each other");
    int cycles = 0;
    for (int cycle = 0; ok && cycle < BROKER_CYCLES; cycle++) {
        //  The fault: the broker lives a random 0.4-1.2 s, then dies
        s_pump (&loop, 400 + (int) randombytes_uniform (800));
        s_child_kill (broker);
        s_child_destroy (&broker);
        //  Down for a while: part of the fault; the peers go on sending
        s_pump (&loop, s_broker_downtimes [cycle]);
        char name [32];
        snprintf (name, sizeof name, "broker %d", cycle + 1);
        broker = s_child_start (&loop, name, "broker", endpoint, NULL);
        line = s_child_expect (broker, "READY", 30000);
        ok = s_check (line != NULL, "broker %d did not start", cycle + 1);
        zstr_free (&line);
        cycles++;
    }
    s_pump (&loop, 1000);
    streams [0].sending = streams [1].sending = false;
    int64_t stopped = zclock_mono ();
    //  Everything must get through: peers resend what the broker lost
    deadline = zclock_mono () + 90000;
    while (ok && (streams [1].received < streams [0].sent
              ||  streams [0].received < streams [1].sent)
       &&  zclock_mono () < deadline)
        s_pump (&loop, 20);
    int64_t settled = zclock_mono ();
    //  Late duplicates would show within this
    s_pump (&loop, 2000);
    for (int index = 0; index < 2; index++) {
        pstream_t *from = &streams [index];
        pstream_t *to = &streams [1 - index];
        printf ("  %s -> %s: sent %" PRIu64 ", received %" PRIu64
                " (duplicates %" PRIu64 ", gaps %" PRIu64 ", wrong sender %"
                PRIu64 "); %s reported LOST %" PRIu64 ", REFUSED %" PRIu64
                ", DISCONNECTED %" PRIu64 ", RECONNECTED %" PRIu64
                ", HANDSHAKE-FAILED %" PRIu64 "\n", names [index],
                names [1 - index], from->sent, to->received, to->duplicates,
                to->gaps, to->wrong_sender, names [index], from->lost,
                to->refused, from->disconnected, from->reconnected,
                from->handshake_failed);
        s_check (to->received == from->sent, "%s -> %s: %" PRIu64
                 " messages sent, %" PRIu64 " arrived", names [index],
                 names [1 - index], from->sent, to->received);
        s_check (to->duplicates == 0 && to->gaps == 0 && to->malformed == 0
              && to->wrong_sender == 0, "%s -> %s: %" PRIu64 " duplicates, %"
                 PRIu64 " gaps, %" PRIu64 " malformed, %" PRIu64
                 " from the wrong sender", names [index], names [1 - index],
                 to->duplicates, to->gaps, to->malformed, to->wrong_sender);
        s_check (from->lost == 0, "%s reported %" PRIu64 " messages LOST",
                 names [index], from->lost);
        s_check (from->blocked == 0 && from->refused_sends == 0
              && from->rejected == 0 && from->unknown == 0,
                 "%s: %" PRIu64 " sends blocked, %" PRIu64 " refused, %"
                 PRIu64 " REJECTED, %" PRIu64 " UNKNOWN", names [index],
                 from->blocked, from->refused_sends, from->rejected,
                 from->unknown);
    }
    printf ("  %d broker restarts; all delivered %.1f s after the last "
            "send\n", cycles, (double) (settled - stopped) / 1000.0);
    s_check (ok, "the fault sequence did not run to its end");
    if (broker) {
        s_check (s_child_finish (broker, 20000), "the last broker did not "
                 "exit cleanly (status 0x%x)", broker->status);
        s_child_destroy (&broker);
    }
    for (int index = 0; index < 2; index++) {
        pstream_t *self = &streams [index];
        s_loop_tick_remove (&loop, self);
        s_loop_remove (&loop, curve_peer_sock (self->peer));
        s_loop_remove (&loop, curve_peer_monitor (self->peer));
        curve_peer_destroy (&self->peer);
        zcert_destroy (&certs [index]);
    }
    s_loop_destroy (&loop);
    bool passed = s_failures == failures;
    printf ("faults/broker: %s\n", passed? "PASS": "FAIL");
    return passed? 0: 1;
}


//  --------------------------------------------------------------------------
//  Fault c: a process that keeps starting curve_client handshakes is
//  killed with SIGKILL at random points, several times, beside honest
//  clients that keep echoing. The server (here; pending TTL 1 s, client
//  TTL 3 s, at most 64 handshakes in progress) must stay healthy: honest
//  traffic all gets through, curve_server_clients comes back to the honest
//  count, and the pending handshakes expire: afterwards exactly 64 new
//  HELLOs are taken (all answered) and the 65th is dropped, so none of
//  the dead process's handshakes still held a place.

typedef struct {
    zsock_t *dealer;
    uint64_t welcomes, errors, resets, other;
} probe_t;

static void
s_probe_on_reply (zsock_t *sock, void *arg)
{
    probe_t *self = (probe_t *) arg;
    zmsg_t *msg;
    while ((msg = s_recv_ready (sock))) {
        zframe_t *command = zmsg_last (msg);
        int kind = command? s_command_kind (zframe_data (command),
                                            zframe_size (command)): '?';
        if (kind == 'W')
            self->welcomes++;
        else
        if (kind == 'E')
            self->errors++;
        else
        if (kind == 'R')
            self->resets++;
        else
            self->other++;
        zmsg_destroy (&msg);
    }
}

#define HANDSHAKE_KILLS     8
#define HANDSHAKE_PENDING   64
#define HANDSHAKE_HONEST    5

static int
s_fault_handshake (void)
{
    int failures = s_failures;
    int ttl = 1000, client_ttl = 3000;
    printf ("\nfaults/handshake: a process starting handshakes killed %d "
            "times at random points beside %d honest clients (pending TTL "
            "%d ms, client TTL %d ms, max_pending %d)\n", HANDSHAKE_KILLS,
            HANDSHAKE_HONEST, ttl, client_ttl, HANDSHAKE_PENDING);
    loop_t loop;
    s_loop_init (&loop, 5);
    zcert_t *server_cert = zcert_new ();
    echo_server_t server;
    s_echo_server_start (&server, server_cert, "tcp://127.0.0.1:*");
    curve_server_set_pending_ttl (server.server, ttl);
    curve_server_set_client_ttl (server.server, client_ttl);
    curve_server_set_max_pending (server.server, HANDSHAKE_PENDING);
    watch_t watch;
    s_watch_start (&watch, &loop, server.server);
    const char *key = zcert_public_txt (server_cert);
    echoset_t *honest = s_echoset_new (&loop, 0, HANDSHAKE_HONEST,
                                       server.endpoint, key, 0, 4, 10, 30000);
    int64_t deadline = zclock_mono () + 30000;
    while (honest->connected < HANDSHAKE_HONEST && zclock_mono () < deadline)
        s_pump (&loop, 10);
    bool ok = s_check (honest->connected == HANDSHAKE_HONEST,
                       "%zu of %d honest clients connected", honest->connected,
                       HANDSHAKE_HONEST);
    honest->sending = ok;
    int64_t last_kill = zclock_mono ();
    uint64_t doomed_connected = 0;
    for (int kill_number = 0; ok && kill_number < HANDSHAKE_KILLS;
         kill_number++) {
        uint64_t connected_before = watch.connected;
        char name [32];
        snprintf (name, sizeof name, "handshaker %d", kill_number + 1);
        child_t *child = s_child_start (&loop, name, "handshaker",
                                        server.endpoint, key, "300", NULL);
        char *line = s_child_expect (child, "READY", 30000);
        ok = s_check (line != NULL, "%s did not start", name);
        zstr_free (&line);
        //  The fault: killed a random 5-400 ms into its work (this delay
        //  runs the loop: honest traffic goes on)
        s_pump (&loop, 5 + (int) randombytes_uniform (396));
        s_child_kill (child);
        s_child_destroy (&child);
        last_kill = zclock_mono ();
        doomed_connected += watch.connected - connected_before;
    }
    //  The killed clients that had connected go after client TTL
    deadline = zclock_mono () + client_ttl + 15000;
    size_t clients = 0;
    while (ok && zclock_mono () < deadline) {
        clients = curve_server_clients (server.server);
        if (clients == HANDSHAKE_HONEST)
            break;
        s_pump (&loop, 100);
    }
    int64_t back = zclock_mono () - last_kill;
    //  The pending TTL is the contract under test: wait it out (and a
    //  second more for ticks on a loaded machine), running the loop
    while (zclock_mono () < last_kill + ttl + 1000)
        s_pump (&loop, 20);
    uint64_t expired_kills = watch.expired;
    printf ("  %d kills: the dead processes' clients completed %" PRIu64
            " handshakes and left %" PRIu64 " pending (EXPIRED); %" PRIu64
            " HELLOs were over the limit (DROPPED); %" PRIu64 " dropped "
            "after client TTL (DISCONNECTED)\n", HANDSHAKE_KILLS,
            doomed_connected, expired_kills, watch.dropped,
            watch.disconnected);
    printf ("  curve_server_clients back to %zu, %.1f s after the last kill"
            "\n", clients, back / 1000.0);
    s_check (ok, "the fault sequence did not run to its end");
    s_check (clients == HANDSHAKE_HONEST, "curve_server_clients says %zu, "
             "not the %d honest clients", clients, HANDSHAKE_HONEST);
    s_check (expired_kills > 0, "no handshake of the killed processes "
             "expired (none was caught mid-handshake?)");

    //  Every place free: 64 HELLOs taken, the 65th dropped
    uint64_t dropped_before = watch.dropped;
    uint64_t expired_before = watch.expired;
    probe_t probe;
    memset (&probe, 0, sizeof probe);
    probe.dealer = zsock_new (ZMQ_DEALER);
    zsock_set_rcvhwm (probe.dealer, 0);
    zsock_set_sndhwm (probe.dealer, 0);
    if (!probe.dealer || zsock_connect (probe.dealer, "%s", server.endpoint))
        s_die ("cannot connect the probe");
    s_loop_add (&loop, probe.dealer, s_probe_on_reply, &probe);
    zcert_t *probe_cert = zcert_new ();
    for (int index = 0; index <= HANDSHAKE_PENDING; index++) {
        curve_codec_t *codec = curve_codec_new_client (
            zcert_public_key (probe_cert), zcert_secret_key (probe_cert),
            zcert_public_key (server_cert));
        size_t size = 0;
        const uint8_t *hello = curve_codec_send_buf (codec, &size);
        uint8_t envelope [8];
        s_put_uint64 (envelope, (uint64_t) index);
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, envelope, sizeof envelope);
        zmsg_addmem (msg, hello, size);
        zmsg_send (&msg, probe.dealer);
        curve_codec_destroy (&codec);
    }
    //  Its RESET says every HELLO before it was processed
    uint8_t fake [CURVE_MESSAGE_MIN_BYTES];
    randombytes_buf (fake, sizeof fake);
    memcpy (fake, "\x07MESSAGE", 8);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "sentinel");
    zmsg_addmem (msg, fake, sizeof fake);
    zmsg_send (&msg, probe.dealer);
    zcert_destroy (&probe_cert);
    deadline = zclock_mono () + 20000;
    while (!probe.resets && zclock_mono () < deadline)
        s_pump (&loop, 10);
    deadline = zclock_mono () + 5000;
    while (watch.dropped == dropped_before && zclock_mono () < deadline)
        s_pump (&loop, 10);
    s_pump (&loop, 300);
    printf ("  then %d fresh HELLOs: %" PRIu64 " answered with WELCOME, %"
            PRIu64 " dropped\n", HANDSHAKE_PENDING + 1, probe.welcomes,
            watch.dropped - dropped_before);
    s_check (probe.resets == 1 && probe.welcomes == HANDSHAKE_PENDING
          && watch.dropped - dropped_before == 1, "of %d HELLOs, %" PRIu64
             " were taken and %" PRIu64 " dropped: expected %d and 1 (places "
             "still held by the killed process's handshakes?)",
             HANDSHAKE_PENDING + 1, probe.welcomes,
             watch.dropped - dropped_before, HANDSHAKE_PENDING);
    //  And those expire too
    deadline = zclock_mono () + ttl + 5000;
    while (watch.expired < expired_before + probe.welcomes
       &&  zclock_mono () < deadline)
        s_pump (&loop, 20);
    s_pump (&loop, 300);
    printf ("  EXPIRED for them: %" PRIu64 "\n", watch.expired - expired_before);
    s_check (watch.expired - expired_before == probe.welcomes, "%" PRIu64
             " of the %" PRIu64 " new pending handshakes expired",
             watch.expired - expired_before, probe.welcomes);
    s_loop_remove (&loop, probe.dealer);
    zsock_destroy (&probe.dealer);

    //  A newcomer gets in; the honest clients lost nothing
    zcert_t *newcomer_cert = zcert_new ();
    curve_client_t *newcomer = curve_client_new (newcomer_cert);
    zcert_destroy (&newcomer_cert);
    uint64_t newcomer_events [6] = { 0, 0, 0, 0, 0, 0 };
    if (!newcomer || curve_client_connect (newcomer, server.endpoint, key))
        s_die ("cannot start a client");
    s_loop_add (&loop, curve_client_monitor (newcomer),
                s_client_watch_on_event, newcomer_events);
    deadline = zclock_mono () + 20000;
    while (!newcomer_events [0] && zclock_mono () < deadline)
        s_pump (&loop, 10);
    s_check (newcomer_events [0] == 1, "a new client did not connect");
    s_loop_remove (&loop, curve_client_monitor (newcomer));
    curve_client_destroy (&newcomer);
    s_echoset_drain (honest, 30000);
    char result [1024];
    s_echoset_result (honest, result, sizeof result);
    printf ("  honest clients: %" PRIu64 " messages echoed, %" PRIu64
            " lost, %" PRIu64 " duplicated, %" PRIu64 " out of order; %"
            PRIu64 " DISCONNECTED, %" PRIu64 " RECONNECTED events\n",
            honest->received, honest->sent - honest->received,
            honest->duplicates, honest->gaps, honest->disconnected,
            honest->reconnected);
    s_check_echo ("honest clients", result);
    s_echoset_destroy (&honest);
    s_watch_stop (&watch, &loop);
    s_echo_server_stop (&server);
    zcert_destroy (&server_cert);
    s_loop_destroy (&loop);
    bool passed = s_failures == failures;
    printf ("faults/handshake: %s\n", passed? "PASS": "FAIL");
    return passed? 0: 1;
}

static int
s_part_faults (const char *which)
{
    int64_t start = zclock_mono ();
    int failed = 0;
    bool known = false;
    if (!which || streq (which, "server")) {
        failed += s_fault_server ();
        known = true;
    }
    if (!which || streq (which, "broker")) {
        failed += s_fault_broker ();
        known = true;
    }
    if (!which || streq (which, "handshake")) {
        failed += s_fault_handshake ();
        known = true;
    }
    if (!known) {
        printf ("faults: unknown fault '%s' (server, broker, handshake)\n",
                which);
        return 2;
    }
    printf ("\nfaults%s%s: %s (%.0f s)\n", which? "/": "", which? which: "",
            failed? "FAIL": "PASS", (zclock_mono () - start) / 1000.0);
    return failed? 1: 0;
}


//  --------------------------------------------------------------------------
//  Parts in processes of their own

static int
s_run_part (const char *name, int timeout, ...)
{
    char *argv [16];
    int argc = 1;
    va_list args;
    va_start (args, timeout);
    const char *arg;
    while ((arg = va_arg (args, const char *)) && argc < 15)
        argv [argc++] = (char *) arg;
    va_end (args);
    argv [argc] = NULL;
    pid_t pid = s_spawn (argv);
    int status = s_reap_within (pid, timeout);
    //  A part killed outright could not remove its scratch directory
    char root [64];
    snprintf (root, sizeof root, "/tmp/curve-stress-%d", (int) pid);
    s_remove_tree (root);
    if (status == -1) {
        printf ("%s: did not end within %d s: killed\n", name, timeout / 1000);
        return 1;
    }
    if (WIFSIGNALED (status)) {
        printf ("%s: FAIL (killed by signal %d)\n", name, WTERMSIG (status));
        return 1;
    }
    return WEXITSTATUS (status);
}

static int
s_part_all (void)
{
    int64_t start = zclock_mono ();
    const char *parts [3] = { "flood", "many", "faults" };
    int timeouts [3] = { 480000, 300000, 300000 };
    int results [3];
    for (int index = 0; index < 3; index++)
        results [index] = s_run_part (parts [index], timeouts [index],
                                      parts [index], NULL);
    printf ("\n");
    int failed = 0;
    for (int index = 0; index < 3; index++) {
        printf ("  %-7s %s\n", parts [index], results [index]? "FAIL": "PASS");
        failed += results [index] != 0;
    }
    printf ("curve_stress all: %s (%d of 3 parts passed, %.0f s)\n",
            failed? "FAIL": "PASS", 3 - failed,
            (zclock_mono () - start) / 1000.0);
    return failed? 1: 0;
}

static void
s_usage (void)
{
    printf ("usage: curve_stress [flood|many|faults [server|broker|"
            "handshake]|all]\n"
            "  CURVE_STRESS_SCALE=x scales the flood and the client count "
            "(default %g)\n  CURVE_STRESS_VERBOSE=1 traces events\n", s_scale);
}

int
main (int argc, char *argv [])
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    s_owner = getpid ();
    //  We handle signals: cleanup, then the default action
    setenv ("ZSYS_SIGHANDLER", "false", 1);
    ssize_t length = readlink ("/proc/self/exe", s_exe, sizeof s_exe - 1);
    if (length <= 0)
        s_die ("cannot find this program (/proc/self/exe)");
    s_exe [length] = 0;
#if defined (STRESS_SANITIZED)
    s_scale = 0.2;
#endif
    const char *scale = getenv ("CURVE_STRESS_SCALE");
    if (scale && atof (scale) > 0)
        s_scale = atof (scale);
    const char *verbose = getenv ("CURVE_STRESS_VERBOSE");
    s_verbose = verbose && *verbose && !streq (verbose, "0");
    atexit (s_cleanup_at_exit);
    //  (A signal ignored when we started, as SIGINT is for a background
    //  job of a shell, stays ignored)
    int signals [] = { SIGINT, SIGTERM, SIGHUP, SIGABRT };
    for (size_t index = 0; index < sizeof signals / sizeof signals [0]; index++) {
        struct sigaction action;
        if (sigaction (signals [index], NULL, &action) == 0
        &&  action.sa_handler != SIG_IGN)
            signal (signals [index], s_on_signal);
    }
    //  A thousand clients need files and sockets: raise both limits before
    //  the first socket exists
    s_raise_nofile ();
    zsys_set_max_sockets (0);
    if (sodium_init () < 0)
        s_die ("libsodium did not initialise");

    const char *command = argc > 1? argv [1]: "all";
    int rc = 2;
    if (streq (command, "all"))
        rc = s_part_all ();
    else
    if (streq (command, "flood"))
        rc = s_part_flood ();
    else
    if (streq (command, "floodpass") && argc > 2)
        rc = s_part_floodpass (atoi (argv [2]));
    else
    if (streq (command, "many"))
        rc = s_part_many ();
    else
    if (streq (command, "faults"))
        rc = s_part_faults (argc > 2? argv [2]: NULL);
    else
    if (streq (command, "clients"))
        rc = s_helper_clients (argc, argv);
    else
    if (streq (command, "hellogen"))
        rc = s_helper_hellogen (argc, argv);
    else
    if (streq (command, "serve"))
        rc = s_helper_serve (argc, argv);
    else
    if (streq (command, "broker"))
        rc = s_helper_broker (argc, argv);
    else
    if (streq (command, "handshaker"))
        rc = s_helper_handshaker (argc, argv);
    else
        s_usage ();
    return rc;
}
