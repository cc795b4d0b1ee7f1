/*  =========================================================================
    curve_server - a secure server socket: CurveZMQ inside the payloads

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef CURVE_SERVER_H_INCLUDED
#define CURVE_SERVER_H_INCLUDED

#include <czmq.h>
#include "curve.h"

#ifdef __cplusplus
extern "C" {
#endif

//  @header
//  curve_server serves many curve_clients through one ROUTER socket, which
//  can bind, or connect to a broker's back end. Every message is encrypted
//  and authenticated end to end (CurveZMQ inside the payloads). Clients
//  are authorised through ZAP (RFC 27) at inproc://zeromq.zap.01, so
//  czmq's zauth configures it exactly as it configures libzmq's own CURVE
//  sockets: "CURVE" + CURVE_ALLOW_ANY, or "CURVE" + a directory of client
//  certificates. With no ZAP handler present, every client that knows the
//  server key is accepted, as libzmq does.
//
//  Each message the application receives starts with a routing frame that
//  names the client: "<client public key in Z85>/<session number>". Send a
//  reply to that client by putting the same frame first. The first 40
//  characters are the client's permanent public key.
//  @discuss
//  Events on the monitor socket are frames [name][routing][detail]:
//      CONNECTED <routing> <client key>   a client completed the handshake
//      DENIED <client key> <reason>       refused (the client got ERROR)
//      DISCONNECTED <routing> <reason>    idle too long, or gone
//      LOST <routing> <detail>            messages whose delivery is unknown
//      REFUSED <routing> <reason>         a forged or replayed message
//      ZAP <routing> <detail>             a bad or missing ZAP reply
//      DROPPED "" <detail>                HELLOs over the pending limit
//      EXPIRED "" <detail>                handshakes past the pending TTL
//  Start zauth before the server's first handshake: the server checks for
//  a ZAP handler by trying to bind its endpoint (libzmq does it from the
//  inside), and zauth aborts if it finds the endpoint taken.
//  @end

typedef struct _curve_server_t curve_server_t;

//  @interface
//  Create a server with its certificate (keys copied; the cert stays the
//  caller's). Returns NULL if the cert has no secret key.
CURVE_EXPORT curve_server_t *
    curve_server_new (zcert_t *cert);

//  Destroy the server; returns promptly. Nulls *self_p.
CURVE_EXPORT void
    curve_server_destroy (curve_server_t **self_p);

//  Bind to an endpoint; "tcp://127.0.0.1:*" picks a free port. Returns the
//  port for tcp (as zsock_bind does), 0 otherwise, or -1.
CURVE_EXPORT int
    curve_server_bind (curve_server_t *self, const char *endpoint);

//  The last endpoint bound, resolved (e.g. "tcp://127.0.0.1:41234").
//  Caller frees.
CURVE_EXPORT char *
    curve_server_endpoint (curve_server_t *self);

//  Connect to an endpoint (a broker's back end). Returns 0 or -1.
CURVE_EXPORT int
    curve_server_connect (curve_server_t *self, const char *endpoint);

//  Add a metadata property sent to each client in READY.
CURVE_EXPORT int
    curve_server_set_metadata (curve_server_t *self, const char *name,
                               const char *value);

//  ZAP domain sent in requests (default "").
CURVE_EXPORT void
    curve_server_set_zap_domain (curve_server_t *self, const char *domain);

//  Time allowed for a ZAP reply, in ms (default 5000); no reply = denied.
CURVE_EXPORT void
    curve_server_set_zap_timeout (curve_server_t *self, int timeout);

//  Most handshakes in progress (default 1000); HELLOs beyond it are
//  dropped without allocating anything.
CURVE_EXPORT void
    curve_server_set_max_pending (curve_server_t *self, size_t max);

//  Most authenticated clients (default 100000); more are refused.
CURVE_EXPORT void
    curve_server_set_max_clients (curve_server_t *self, size_t max);

//  Time allowed to complete a handshake, in ms (default 10000, at most
//  60000: this is also the cookie key's lifetime). A flood of abandoned
//  handshakes holds max_pending places for this long.
CURVE_EXPORT void
    curve_server_set_pending_ttl (curve_server_t *self, int ttl);

//  A client silent for this long, in ms, is dropped (default 10000;
//  clients send heartbeats every second by default).
CURVE_EXPORT void
    curve_server_set_client_ttl (curve_server_t *self, int ttl);

//  Trace to stderr with zsys_debug (never keys or message content).
CURVE_EXPORT void
    curve_server_set_verbose (curve_server_t *self, bool verbose);

//  Send a message to a client: the first frame is its routing frame.
//  Takes ownership and nulls *msg_p. Returns -1 if the message has no
//  routing frame. A message for a client that is gone is reported LOST.
CURVE_EXPORT int
    curve_server_send (curve_server_t *self, zmsg_t **msg_p);

//  Receive the next message from any client: [routing][frames...].
//  Waits for it. Returns NULL if interrupted. Caller owns the result.
CURVE_EXPORT zmsg_t *
    curve_server_recv (curve_server_t *self);

//  A property of a connected client: its metadata (names ignore case), or
//  "User-Id" from ZAP, or "Public-Key" (Z85). NULL if there is no such
//  client or property. Caller frees.
CURVE_EXPORT char *
    curve_server_property (curve_server_t *self, const char *routing,
                           const char *name);

//  Number of clients with a completed handshake
CURVE_EXPORT size_t
    curve_server_clients (curve_server_t *self);

//  Put an ordinary czmq actor behind this server: every client message
//  goes to the actor's pipe as [routing][frames...], and whatever the
//  actor sends back as [routing][frames...] goes to that client,
//  encrypted. The actor needs no change: it sees plain zmsg, with the
//  client's identity (key) in the routing frame. From this call on the
//  actor's pipe belongs to the server: do not send to it or read from it,
//  and destroy the server before the actor. Returns -1 if an actor is
//  already attached.
CURVE_EXPORT int
    curve_server_attach (curve_server_t *self, zactor_t *actor);

//  The socket messages arrive on, for zpoller or zloop. Borrowed.
CURVE_EXPORT zsock_t *
    curve_server_sock (curve_server_t *self);

//  The monitor socket ([name][routing][detail]). Borrowed.
CURVE_EXPORT zsock_t *
    curve_server_monitor (curve_server_t *self);

//  Self test of this class
CURVE_EXPORT void
    curve_server_test (bool verbose);
//  @end

#ifdef __cplusplus
}
#endif

#endif
