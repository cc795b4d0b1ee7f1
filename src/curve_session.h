/*  =========================================================================
    curve_session - one end-to-end session: codec, queues, timers (internal)

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#ifndef CURVE_SESSION_H_INCLUDED
#define CURVE_SESSION_H_INCLUDED

//  @interface
//  The session engine under every virtual socket (see RFC/framing.md). It
//  owns a codec, the queue of application messages waiting for the
//  handshake or for the send window, the messages sent but not yet
//  acknowledged, and the handshake, heartbeat and liveness deadlines. It
//  never touches a socket or a clock: the owner passes frames in, gets
//  frames out through callbacks, and passes the time (in ms) to every call.

typedef struct _curve_session_t curve_session_t;

//  What a session tells its owner
typedef struct {
    //  Send one frame (a CurveZMQ command) to the peer, or drop it if the
    //  transport cannot take it now (never queue: the session sends again
    //  what matters). Takes ownership.
    void (*send) (void *arg, zframe_t **frame_p);
    //  Deliver one decrypted application message. Takes ownership.
    void (*deliver) (void *arg, zmsg_t **msg_p);
    //  Report an event: one of the CURVE_EVENT_* names, and a detail text
    void (*event) (void *arg, const char *event, const char *detail);
    //  Client: a new handshake starts; drop stale transport state (the
    //  client recreates its socket here). May be NULL.
    void (*restart) (void *arg);
} curve_session_io_t;

//  Settings, with defaults from curve_session_config_default
typedef struct {
    int handshake_timeout;          //  ms to complete a handshake
    int heartbeat_interval;         //  Client: ms of quiet before a PING
    int heartbeat_timeout;          //  Client: ms of silence = peer dead
    size_t queue_limit;             //  Messages waiting to be sent
    size_t window;                  //  Messages sent and not acknowledged
    size_t window_bytes;            //  Their octets, at most (one message
                                    //  may exceed it on its own)
    size_t ack_every;               //  Acknowledge after this many
    int retransmit;                 //  ms before unacknowledged go again
    bool peer_mode;                 //  Peers: a RESET may turn a server
                                    //  session into a client one
    size_t metadata_max;            //  Largest peer metadata accepted
} curve_session_config_t;

void
    curve_session_config_default (curve_session_config_t *config);

//  Session phases
typedef enum {
    CURVE_SESSION_HANDSHAKE,        //  Handshake in progress
    CURVE_SESSION_AUTH,             //  Server: waiting for allow/deny
    CURVE_SESSION_READY,            //  Messages flow
    CURVE_SESSION_RETRY,            //  Client: waiting to retry handshake
    CURVE_SESSION_FAILED            //  Over for good (rejected, denied...)
} curve_session_phase_t;

//  Create a client session; it sends HELLO at once. Returns NULL if the
//  server key is unusable or memory runs out. metadata (name -> string
//  value, may be NULL) is sent in every INITIATE; it is borrowed and must
//  outlive the session.
curve_session_t *
    curve_session_new_client (const uint8_t *public_key,
                              const uint8_t *secret_key,
                              const uint8_t *server_key,
                              zhashx_t *metadata,
                              const curve_session_config_t *config,
                              const curve_session_io_t *io, void *arg,
                              int64_t now);

//  Create a server session for a HELLO that arrived. Returns NULL on
//  failure. metadata (name -> string value) is sent in READY; like the
//  client's, it is borrowed and must outlive the session.
curve_session_t *
    curve_session_new_server (const uint8_t *public_key,
                              const uint8_t *secret_key,
                              zhashx_t *metadata,
                              const curve_session_config_t *config,
                              const curve_session_io_t *io, void *arg,
                              int64_t now);

//  Destroy a session. Messages it still holds (waiting or unacknowledged)
//  are reported with a LOST event first, unless the session is READY and
//  has none.
void
    curve_session_destroy (curve_session_t **self_p);

//  Process one frame from the peer (modified in place). Returns 0, or -1
//  if the frame was refused (reported with an event where useful).
int
    curve_session_input (curve_session_t *self, zframe_t *frame,
                         int64_t now);

//  Queue an application message. Takes ownership. Returns -1 (and leaves
//  *msg_p) if the queue is full or the session has failed. Nothing goes
//  out until curve_session_flush (or a tick, or an ACK): queue what there
//  is, then flush, and small messages travel together.
int
    curve_session_send (curve_session_t *self, zmsg_t **msg_p, int64_t now);

//  Encrypt and send what is queued, as far as the window allows.
void
    curve_session_flush (curve_session_t *self, int64_t now);

//  Take the messages still waiting to be sent (not those sent and
//  unacknowledged), to hand them to another session. Caller owns the
//  list (of zmsg_t) and must destroy it.
zlist_t *
    curve_session_take_pending (curve_session_t *self);

//  True if curve_session_send would accept a message now
bool
    curve_session_writable (curve_session_t *self);

//  Run timers: handshake deadline, heartbeat, liveness, acknowledgements.
void
    curve_session_tick (curve_session_t *self, int64_t now);

//  Server, in phase AUTH: accept (READY goes to the client); or deny with
//  a reason (ERROR goes to the client).
int
    curve_session_allow (curve_session_t *self, int64_t now);
int
    curve_session_deny (curve_session_t *self, const char *reason);

//  Server: set a property (e.g. User-Id from ZAP) shown with the client's
//  metadata; names are matched without case.
void
    curve_session_set_property (curve_session_t *self, const char *name,
                                const char *value);

//  Look up a peer property: first those set locally, then the metadata
//  the peer sent. Returns a fresh string (binary values are cut at the
//  first NUL), or NULL. Caller frees.
char *
    curve_session_property (curve_session_t *self, const char *name);

curve_session_phase_t
    curve_session_phase (curve_session_t *self);

//  The codec (for peer key and metadata). Borrowed.
curve_codec_t *
    curve_session_codec (curve_session_t *self);

//  The peer's permanent key (32 octets) once known, else NULL. Borrowed.
const uint8_t *
    curve_session_peer_key (curve_session_t *self);

//  Time of the last frame accepted from the peer
int64_t
    curve_session_last_input (curve_session_t *self);

//  Deadline by which the handshake must complete
int64_t
    curve_session_deadline (curve_session_t *self);

//  Number of messages waiting to be sent and sent but unacknowledged
size_t
    curve_session_backlog (curve_session_t *self);

//  True if the frame is the handshake command this session processed
//  last (a repeat, to be answered again rather than taken as new).
bool
    curve_session_is_repeat (curve_session_t *self, zframe_t *frame);

//  Build a RESET command for a MESSAGE that arrived for no session.
//  Returns NULL if the frame is not a MESSAGE. Caller owns the result.
zframe_t *
    curve_session_reset_for (zframe_t *frame);

//  Build an ERROR command with a reason (0-255 printable characters).
zframe_t *
    curve_session_error_command (const char *reason);

//  Helpers the virtual sockets share

//  The two PAIR pipes between an application thread and its actor, on
//  inproc endpoints unique to the process
typedef struct {
    char data [64];                 //  Messages, both ways
    char monitor [64];              //  Events, actor to application
} curve_pipes_t;

//  Application side: name the endpoints after kind and bind both. Returns
//  0, or -1 (sockets left for the caller to destroy).
int
    curve_pipes_bind (curve_pipes_t *pipes, const char *kind,
                      zsock_t **data_p, zsock_t **monitor_p);

//  Actor side: connect to both, never blocking on either (zero time-outs,
//  no linger)
void
    curve_pipes_connect (curve_pipes_t *pipes, zsock_t **data_p,
                         zsock_t **monitor_p);

//  Messages from an actor to its application that never block the actor:
//  sent at once when the pipe takes them, else queued in order; while any
//  are queued the inbox polls the pipe for room and flushes as soon as
//  there is, then calls drained (the actor resumes reading the network).
typedef struct {
    zloop_t *loop;                  //  The actor's reactor
    zsock_t *sock;                  //  The pipe to the application
    zlist_t *queue;                 //  Messages waiting for room
    zmq_pollitem_t item;            //  POLLOUT on sock while waiting
    void (*drained) (void *arg);    //  Called when the queue empties
    void *arg;                      //  Its argument
} curve_inbox_t;

void
    curve_inbox_init (curve_inbox_t *self, zloop_t *loop, zsock_t *sock,
                      void (*drained) (void *arg), void *arg);
void
    curve_inbox_send (curve_inbox_t *self, zmsg_t **msg_p);
bool
    curve_inbox_empty (curve_inbox_t *self);
void
    curve_inbox_set_sock (curve_inbox_t *self, zsock_t *sock);
void
    curve_inbox_destroy (curve_inbox_t *self);

//  Send an actor "CONFIG" name value, and wait for its signal
void
    curve_actor_config (zactor_t *actor, const char *name, long value);

//  Send a whole message without waiting, or nothing: returns 0 and
//  destroys it, or -1 and leaves it to the caller.
int
    curve_send_dontwait (zmsg_t **msg_p, zsock_t *sock);

//  Wait up to timeout ms (-1 forever) on a monitor socket for an event
//  named in the '|'-separated list. Returns the name (caller frees), and
//  the routing frame (server monitors: routed) and detail if asked; NULL
//  on timeout.
char *
    curve_monitor_wait (zsock_t *monitor, const char *names, int timeout,
                        bool routed, char **routing_p, char **detail_p);

//  Self test of this class
void
    curve_session_test (bool verbose);
//  @end

#endif
