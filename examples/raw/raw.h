/*  =========================================================================
    raw - curve_codec over the plain libzmq C API (3.x calls only)

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef RAW_H_INCLUDED
#define RAW_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  @header
//  The raw example carries CurveZMQ inside ordinary ZeroMQ messages: each
//  message from a client is one frame holding one CurveZMQ command (HELLO,
//  INITIATE or MESSAGE) and each reply is one frame holding one command
//  (WELCOME, READY, ERROR or MESSAGE). The server's ROUTER socket adds the
//  client's routing id in front, so the server keeps one curve_codec per
//  routing id. Only calls that libzmq 3.x had are used: zmq_ctx_new,
//  zmq_socket, zmq_bind, zmq_connect, zmq_setsockopt, zmq_getsockopt,
//  zmq_send, zmq_recv, zmq_poll, zmq_close and zmq_ctx_term. The security
//  lives in the payload, so it works the same over any libzmq version and
//  any transport.
//  @end

//  Longest ZeroMQ frame the examples accept
#define RAW_FRAME_MAX       65536

//  Longest wait for the other side, in milliseconds
#define RAW_TIMEOUT_MSEC    5000

//  Opaque server class
typedef struct _raw_server_t raw_server_t;

//  Create an echo server: a ROUTER bound to endpoint (e.g.
//  "tcp://127.0.0.1:*") with the given permanent key pair. Returns NULL,
//  after printing why, if the socket cannot be made or bound.
raw_server_t *
    raw_server_new (void *ctx, const char *endpoint,
                    const uint8_t *public_key, const uint8_t *secret_key,
                    bool verbose);

//  Return the endpoint the server is bound to, with the real port
const char *
    raw_server_endpoint (raw_server_t *self);

//  Serve clients: handshake each one, print its permanent key, and echo
//  every message back in upper case. Returns when a message arrives on
//  pipe (a libzmq socket; NULL for none) or when interrupted by a signal.
//  Returns 0, or -1 if polling failed.
int
    raw_server_run (raw_server_t *self, void *pipe);

//  Return how many messages the server echoed
size_t
    raw_server_echoed (raw_server_t *self);

//  Return how many client handshakes the server refused
size_t
    raw_server_refused (raw_server_t *self);

//  Destroy the server, its codecs and its socket
void
    raw_server_destroy (raw_server_t **self_p);

//  Run one client: a DEALER connected to endpoint, a fresh client key
//  pair, the handshake, then count messages each checked against its
//  echo. Never waits more than timeout_msec (e.g. RAW_TIMEOUT_MSEC) for an
//  answer. Returns 0 on success, or -1 after printing the reason (the
//  codec's, when it has one).
int
    raw_client_run (void *ctx, const char *endpoint,
                    const uint8_t *server_key, int count, int timeout_msec,
                    bool verbose);

#endif
