/*  =========================================================================
    raw_demo - raw_server and raw_client in one process

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    raw_demo runs the echo server in a thread on tcp://127.0.0.1:* and
    several clients, one after the other, in the main thread. The server
    thread reports its bound endpoint over an inproc PAIR pipe, and the
    main thread tells it to stop over the same pipe: no sleeps, no fixed
    ports. Exit status 0 when every client had every message echoed.
@discuss
    Usage: raw_demo [-v]
@end
*/

#include "raw.h"
#include "curve.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define CLIENT_COUNT        3       //  Client sessions, one after another
#define MESSAGE_COUNT       50      //  Messages per client
#define PIPE_ENDPOINT       "inproc://raw-demo-pipe"
#define WRONG_KEY_TIMEOUT_MSEC  1000

//  What the server thread needs
typedef struct {
    void *ctx;
    uint8_t public_key [CURVE_KEY_BYTES];
    uint8_t secret_key [CURVE_KEY_BYTES];
    bool verbose;
    size_t echoed;                  //  Result: messages echoed
    size_t refused;                 //  Result: handshakes refused
    int rc;                         //  Result: 0 if all went well
} server_args_t;

static void *
s_server_thread (void *arg)
{
    server_args_t *args = (server_args_t *) arg;
    args->rc = -1;
    void *pipe = zmq_socket (args->ctx, ZMQ_PAIR);
    if (!pipe || zmq_connect (pipe, PIPE_ENDPOINT)) {
        //  The main thread will time out waiting for the endpoint
        fprintf (stderr, "raw_demo: server cannot open the pipe\n");
        if (pipe)
            zmq_close (pipe);
        return NULL;
    }
    raw_server_t *server = raw_server_new (args->ctx, "tcp://127.0.0.1:*",
                                           args->public_key, args->secret_key,
                                           args->verbose);
    //  Tell the main thread where we are; an empty endpoint means failure
    const char *endpoint = server? raw_server_endpoint (server): "";
    zmq_send (pipe, endpoint, strlen (endpoint), 0);
    if (server) {
        args->rc = raw_server_run (server, pipe);
        args->echoed = raw_server_echoed (server);
        args->refused = raw_server_refused (server);
        raw_server_destroy (&server);
    }
    zmq_close (pipe);
    return NULL;
}

int
main (int argc, char **argv)
{
    bool verbose = argc > 1 && strcmp (argv [1], "-v") == 0;
    if (sodium_init () < 0) {
        fprintf (stderr, "raw_demo: libsodium cannot start\n");
        return 1;
    }
    server_args_t args;
    memset (&args, 0, sizeof args);
    crypto_box_keypair (args.public_key, args.secret_key);
    args.verbose = verbose;
    char hex [CURVE_KEY_BYTES * 2 + 1];
    sodium_bin2hex (hex, sizeof hex, args.public_key, CURVE_KEY_BYTES);

    int failures = 0;
    args.ctx = zmq_ctx_new ();
    void *pipe = zmq_socket (args.ctx, ZMQ_PAIR);
    int linger = 0;
    if (!pipe
    ||  zmq_setsockopt (pipe, ZMQ_LINGER, &linger, sizeof linger)
    ||  zmq_bind (pipe, PIPE_ENDPOINT)) {
        fprintf (stderr, "raw_demo: cannot bind the pipe: %s\n",
                 zmq_strerror (zmq_errno ()));
        return 1;
    }
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_server_thread, &args)) {
        fprintf (stderr, "raw_demo: cannot start the server thread\n");
        return 1;
    }

    //  The server's endpoint, with the port the kernel chose
    char endpoint [256] = "";
    zmq_pollitem_t items [] = { { pipe, 0, ZMQ_POLLIN, 0 } };
    int size = -1;
    if (zmq_poll (items, 1, RAW_TIMEOUT_MSEC) == 1)
        size = zmq_recv (pipe, endpoint, sizeof endpoint - 1, 0);
    if (size <= 0 || (size_t) size >= sizeof endpoint) {
        fprintf (stderr, "raw_demo: the server did not start\n");
        failures++;
    }
    else {
        endpoint [size] = 0;
        printf ("raw_demo: server on %s, public key %s\n", endpoint, hex);
        fflush (stdout);
        for (int client = 0; client < CLIENT_COUNT; client++) {
            if (raw_client_run (args.ctx, endpoint, args.public_key,
                                MESSAGE_COUNT, RAW_TIMEOUT_MSEC,
                                verbose) == 0)
                printf ("raw_demo: client %d: %d messages echoed OK\n",
                        client + 1, MESSAGE_COUNT);
            else {
                printf ("raw_demo: client %d: FAILED\n", client + 1);
                failures++;
            }
            fflush (stdout);
        }
        //  A client that has the wrong server key must fail, not hang. The
        //  server cannot open its HELLO and drops it without a word (RFC 26
        //  has the server disconnect such a client; a ROUTER cannot, so it
        //  ignores it), and the client gives up after its timeout; a short
        //  one keeps the demo quick.
        uint8_t wrong_public [CURVE_KEY_BYTES];
        uint8_t wrong_secret [CURVE_KEY_BYTES];
        crypto_box_keypair (wrong_public, wrong_secret);
        sodium_memzero (wrong_secret, sizeof wrong_secret);
        printf ("raw_demo: a client with the wrong server key (must fail):\n");
        fflush (stdout);
        if (raw_client_run (args.ctx, endpoint, wrong_public, 1,
                            WRONG_KEY_TIMEOUT_MSEC, verbose) == 0) {
            printf ("raw_demo: wrong-key client SUCCEEDED: FAILED\n");
            failures++;
        }
        else
            printf ("raw_demo: wrong-key client refused: OK\n");
    }
    //  Stop the server and collect its results
    zmq_send (pipe, "STOP", 4, 0);
    pthread_join (thread, NULL);
    zmq_close (pipe);
    zmq_ctx_term (args.ctx);
    sodium_memzero (args.secret_key, sizeof args.secret_key);

    size_t expected = (size_t) CLIENT_COUNT * MESSAGE_COUNT;
    if (args.rc != 0 || args.echoed != expected) {
        printf ("raw_demo: server echoed %zu of %zu messages: FAILED\n",
                args.echoed, expected);
        failures++;
    }
    if (args.refused != 1) {
        printf ("raw_demo: server refused %zu handshakes, not 1: FAILED\n",
                args.refused);
        failures++;
    }
    printf ("raw_demo: %s\n", failures? "FAILED": "all OK");
    return failures? 1: 0;
}
