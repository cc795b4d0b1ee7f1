/*  =========================================================================
    chat_broker - the untrusted broker of the encrypted chat

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    chat_broker runs curve_peer_broker: a ROUTER that forwards each blob
    from one chat client to another by the key the sender names, and
    nothing more. It holds no keys and does no cryptography; everything it
    forwards is CurveZMQ ciphertext made and checked by the clients, end to
    end. With --log it appends every blob it forwards to a file, to show
    exactly what a broker (or whoever runs it) gets to see.

    The first line on standard output is the endpoint actually bound, so
    that "tcp://127.0.0.1:*" can be used and the port read back by a
    script. It runs until SIGINT or SIGTERM, or, with --stdin, until its
    standard input closes (so that a script stops it by closing a pipe).
@discuss
    Usage: chat_broker ENDPOINT [--log FILE] [--stdin] [-v]
    Exit status: 0 after a clean stop, 1 on failure, 2 on a usage error.
@end
*/

#include "curve.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE  2

static const char *s_program = "chat_broker";

static int
s_usage (FILE *stream, int status)
{
    fprintf (stream,
        "usage: %s ENDPOINT [--log FILE] [--stdin] [-v]\n"
        "\n"
        "Forward encrypted chat traffic between curve_peer clients. The\n"
        "broker knows no keys: it sees who talks to whom, never what is\n"
        "said. Prints the bound endpoint on its first line of output\n"
        "(ENDPOINT may be tcp://127.0.0.1:* for any free port).\n"
        "\n"
        "  -l, --log FILE   append every blob forwarded to FILE\n"
        "  -s, --stdin      also stop when standard input closes\n"
        "  -v, --verbose    say on stderr when it starts and stops\n"
        "  -h, --help       show this help\n",
        s_program);
    return status;
}

//  Wait for SIGINT/SIGTERM, or for the end of standard input if asked.
//  The poll wakes up every second so that a signal arriving between the
//  check and the poll is not missed for long.
static void
s_run_until_stopped (bool watch_stdin)
{
    zmq_pollitem_t items [] = { { NULL, STDIN_FILENO, ZMQ_POLLIN, 0 } };
    while (!zsys_interrupted) {
        int rc = zmq_poll (items, watch_stdin? 1: 0, 1000);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            fprintf (stderr, "%s: zmq_poll: %s\n", s_program,
                     zmq_strerror (errno));
            break;
        }
        if (rc > 0 && (items [0].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            //  Discard what comes; stop at end of input
            char buffer [512];
            ssize_t size = read (STDIN_FILENO, buffer, sizeof buffer);
            if (size == 0 || (size < 0 && errno != EINTR && errno != EAGAIN))
                break;
        }
    }
}

int
main (int argc, char **argv)
{
    const char *endpoint = NULL;
    const char *log_path = NULL;
    bool watch_stdin = false;
    bool verbose = false;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv [argn];
        if (streq (arg, "-h") || streq (arg, "--help"))
            return s_usage (stdout, 0);
        else
        if (streq (arg, "-l") || streq (arg, "--log")) {
            if (++argn == argc) {
                fprintf (stderr, "%s: %s needs a file name\n", s_program, arg);
                return s_usage (stderr, EXIT_USAGE);
            }
            log_path = argv [argn];
        }
        else
        if (streq (arg, "-s") || streq (arg, "--stdin"))
            watch_stdin = true;
        else
        if (streq (arg, "-v") || streq (arg, "--verbose"))
            verbose = true;
        else
        if (*arg == '-' || endpoint) {
            fprintf (stderr, "%s: unexpected argument '%s'\n", s_program, arg);
            return s_usage (stderr, EXIT_USAGE);
        }
        else
            endpoint = arg;
    }
    if (!endpoint) {
        fprintf (stderr, "%s: which endpoint? (e.g. tcp://127.0.0.1:*)\n",
                 s_program);
        return s_usage (stderr, EXIT_USAGE);
    }
    //  czmq catches SIGINT and SIGTERM from here on, and sets
    //  zsys_interrupted
    zsys_init ();

    zactor_t *broker = zactor_new (curve_peer_broker, NULL);
    if (!broker) {
        fprintf (stderr, "%s: the broker did not start\n", s_program);
        return 1;
    }
    int status = 0;
    //  The log first, so that it holds everything from the first blob
    if (log_path) {
        zstr_sendx (broker, "LOG", log_path, NULL);
        if (zsock_wait (broker) != 0) {
            fprintf (stderr, "%s: cannot append to %s\n", s_program, log_path);
            status = 1;
        }
    }
    char *bound = NULL;
    if (status == 0) {
        zstr_sendx (broker, "BIND", endpoint, NULL);
        bound = zstr_recv (broker);
        if (!bound || !*bound) {
            fprintf (stderr, "%s: cannot bind to %s\n", s_program, endpoint);
            status = 1;
        }
    }
    if (status == 0) {
        printf ("%s\n", bound);
        if (fflush (stdout) != 0)
            status = 1;
    }
    if (status == 0) {
        if (verbose)
            fprintf (stderr, "%s: forwarding on %s%s%s\n", s_program, bound,
                     log_path? ", logging to ": "", log_path? log_path: "");
        s_run_until_stopped (watch_stdin);
        if (verbose)
            fprintf (stderr, "%s: stopped\n", s_program);
    }
    zstr_free (&bound);
    zactor_destroy (&broker);           //  Closes the log
    return status;
}
