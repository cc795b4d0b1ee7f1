/*  =========================================================================
    curve_client - a secure client socket: CurveZMQ inside the payloads

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef CURVE_CLIENT_H_INCLUDED
#define CURVE_CLIENT_H_INCLUDED

#include <czmq.h>
#include "curve.h"

#ifdef __cplusplus
extern "C" {
#endif

//  @header
//  curve_client talks to one curve_server through a DEALER socket, with
//  every message encrypted and authenticated end to end (CurveZMQ, RFC 26,
//  inside the payloads), so brokers and proxies on the way see nothing.
//  The work runs in a czmq actor thread: sending queues the message and
//  returns; encryption happens off the application thread.
//
//  What it does for you: the handshake; queueing what you send until the
//  session is ready; heartbeats; noticing a dead server and handshaking
//  again when it (or a broker on the way) comes back, sending again what
//  the server never received; and telling you about all of it through the
//  monitor socket instead of hanging or dropping things silently.
//  @discuss
//  Events on the monitor socket are two frames, [name][detail]:
//      CONNECTED <server key>        the first handshake completed
//      RECONNECTED <server key>      a later handshake completed
//      HANDSHAKE-FAILED <reason>     an attempt failed; another follows
//      REJECTED <reason>             the server sent ERROR: the client
//                                    gives up (RFC 26: do not retry)
//      DISCONNECTED <reason>         the server is silent (the session is
//                                    kept and retried), or lost the
//                                    session (a new handshake follows)
//      RECONNECTED <detail>          the server answers again
//      LOST <detail>                 messages whose delivery is unknown
//      REFUSED <reason>              a forged or replayed message dropped
//  The monitor never blocks the client: if nobody reads it, events beyond
//  its high-water mark are dropped.
//  @end

typedef struct _curve_client_t curve_client_t;

//  @interface
//  Create a client with its own certificate (public and secret key; the
//  keys are copied, the cert stays the caller's). Returns NULL if the cert
//  has no secret key or the actor cannot start.
CURVE_EXPORT curve_client_t *
    curve_client_new (zcert_t *cert);

//  Destroy the client. Returns promptly whatever state it is in; messages
//  still queued are reported LOST on the monitor first. Nulls *self_p.
CURVE_EXPORT void
    curve_client_destroy (curve_client_t **self_p);

//  Add a metadata property sent to the server in INITIATE. Before connect.
//  Returns -1 for an invalid name (RFC 26: 1-255 of A-Z a-z 0-9 - _ . +).
CURVE_EXPORT int
    curve_client_set_metadata (curve_client_t *self, const char *name,
                               const char *value);

//  Time allowed for one handshake attempt, in ms (default 5000).
CURVE_EXPORT void
    curve_client_set_handshake_timeout (curve_client_t *self, int timeout);

//  Heartbeat: after interval ms without sending, ping; after timeout ms
//  without hearing from the server, call it dead (defaults 1000, 3000).
CURVE_EXPORT void
    curve_client_set_heartbeat (curve_client_t *self, int interval,
                                int timeout);

//  Most messages queued while not connected (default 10000). When full,
//  curve_client_send waits (like a ZeroMQ high-water mark).
CURVE_EXPORT void
    curve_client_set_queue_limit (curve_client_t *self, size_t limit);

//  Trace to stderr with zsys_debug (never keys or message content).
CURVE_EXPORT void
    curve_client_set_verbose (curve_client_t *self, bool verbose);

//  Connect to a curve_server at endpoint, whose public key is given in
//  Z85 (40 characters) or binary (CURVE_KEY_BYTES). Starts the handshake
//  and returns at once. Returns -1 if the endpoint is invalid, the key is
//  malformed or unusable, or the client is already connected.
CURVE_EXPORT int
    curve_client_connect (curve_client_t *self, const char *endpoint,
                          const char *server_key_z85);
CURVE_EXPORT int
    curve_client_connect_key (curve_client_t *self, const char *endpoint,
                              const uint8_t *server_key);

//  Send a message (one or more frames). Takes ownership and nulls *msg_p.
//  Returns -1 if the client has been rejected by the server or destroyed.
//  The message goes out once the session is ready; if delivery cannot be
//  confirmed it is reported LOST on the monitor.
CURVE_EXPORT int
    curve_client_send (curve_client_t *self, zmsg_t **msg_p);

//  Receive the next message from the server, waiting for it. Returns NULL
//  if interrupted. Caller owns the result.
CURVE_EXPORT zmsg_t *
    curve_client_recv (curve_client_t *self);

//  The socket messages arrive on, for zpoller or zloop. Borrowed.
CURVE_EXPORT zsock_t *
    curve_client_sock (curve_client_t *self);

//  The monitor socket events arrive on ([name][detail]). Borrowed.
CURVE_EXPORT zsock_t *
    curve_client_monitor (curve_client_t *self);

//  Wait up to timeout ms (-1: forever) for an event whose name is one of
//  the '|'-separated names (e.g. "CONNECTED|REJECTED"), discarding other
//  events. Returns the event name found (a fresh string, and the detail in
//  *detail_p if not NULL; caller frees both), or NULL on timeout.
CURVE_EXPORT char *
    curve_client_wait (curve_client_t *self, const char *names,
                       int timeout, char **detail_p);

//  Self test of this class
CURVE_EXPORT void
    curve_client_test (bool verbose);
//  @end

#ifdef __cplusplus
}
#endif

#endif
