/*  =========================================================================
    curve_client - a secure client socket: CurveZMQ inside the payloads

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    A thin shell around curve_session: a czmq actor that owns a DEALER to
    the server, a data pipe to the application and a monitor pipe for
    events. See include/curve_client.h.
@discuss
    Three sockets face the application: the actor's command pipe
    (synchronous settings), a PAIR for messages, a PAIR for events. Sends
    and receives never wait for the actor: they are plain PAIR messages.

    The actor never blocks: every socket it writes to has a zero send
    time-out. A frame the DEALER cannot take now is dropped (the session
    sends again whatever is not acknowledged); a message the application
    has not taken waits in 'inbox', and while it is non-empty the actor
    stops reading the network, so pressure travels back to the sender
    instead of memory growing; the inbox polls for room and resumes
    reading as soon as the application catches up.

    Each handshake attempt uses a fresh DEALER, so that nothing queued for
    an earlier attempt (a stale HELLO, MESSAGEs for a dead session) reaches
    the server after it.
@end
*/

#include "curve_classes.h"

//  State shared by the application thread and the actor
typedef struct {
    uint8_t public_key [CURVE_KEY_BYTES];   //  Client permanent keys
    uint8_t secret_key [CURVE_KEY_BYTES];
    curve_pipes_t pipes;            //  Where the pipes are bound
    int rejected;                   //  Set (atomically) once rejected
} shared_t;

//  Structure of our class (application side)

struct _curve_client_t {
    zactor_t *actor;                //  The actor doing the work
    zsock_t *data;                  //  Messages to and from the actor
    zsock_t *monitor;               //  Events from the actor
    shared_t *shared;               //  State shared with the actor
};

//  The actor's state

typedef struct {
    zsock_t *pipe;                  //  Commands from the application
    zsock_t *data;                  //  Messages to and from the app
    zsock_t *monitor;               //  Events to the application
    zloop_t *loop;                  //  Reactor
    zsock_t *dealer;                //  Current socket to the server
    zlist_t *graveyard;             //  Earlier DEALERs, to destroy
    shared_t *shared;               //  Keys and flags
    char *endpoint;                 //  Server endpoint
    uint8_t server_key [CURVE_KEY_BYTES];   //  Server permanent key
    zhashx_t *metadata;             //  Our metadata for INITIATE
    curve_session_config_t config;  //  Session settings
    curve_session_t *session;       //  The session, once connected
    curve_inbox_t inbox;            //  Messages the app has not taken
    bool data_reading;              //  Reading the data pipe
    bool net_reading;               //  Reading the DEALER
    bool verbose;                   //  Trace
    int tick;                       //  Timer interval, ms
} actor_t;


//  --------------------------------------------------------------------------
//  Session callbacks

//  Send or drop: a frame the DEALER cannot take now (high-water mark) is
//  dropped, and the session sends it again later if it matters
static void
s_io_send (void *arg, zframe_t **frame_p)
{
    actor_t *self = (actor_t *) arg;
    if (zframe_send (frame_p, self->dealer, ZFRAME_DONTWAIT))
        zframe_destroy (frame_p);
}

static void
s_io_deliver (void *arg, zmsg_t **msg_p)
{
    actor_t *self = (actor_t *) arg;
    curve_inbox_send (&self->inbox, msg_p);
}

static void
s_io_event (void *arg, const char *event, const char *detail)
{
    actor_t *self = (actor_t *) arg;
    if (self->verbose)
        zsys_debug ("curve_client: %s %s", event, detail);
    if (streq (event, "REJECTED"))
        __atomic_store_n (&self->shared->rejected, 1, __ATOMIC_RELEASE);
    //  Events never block the client: dropped if nobody reads them
    if (zstr_sendm (self->monitor, event) == 0)
        zstr_send (self->monitor, detail);
}

static int s_net_handler (zloop_t *loop, zsock_t *reader, void *arg);

//  A new handshake: a new DEALER, so nothing stale goes out
static void
s_io_restart (void *arg)
{
    actor_t *self = (actor_t *) arg;
    if (self->dealer) {
        zloop_reader_end (self->loop, self->dealer);
        zlist_append (self->graveyard, self->dealer);
    }
    self->dealer = zsock_new (ZMQ_DEALER);
    assert (self->dealer);
    zsock_set_sndtimeo (self->dealer, 0);
    zsock_set_rcvtimeo (self->dealer, 0);
    zsock_set_linger (self->dealer, 0);
    zsock_set_sndhwm (self->dealer, (int) self->config.window * 2 + 1000);
    zsock_set_rcvhwm (self->dealer, (int) self->config.window * 2 + 1000);
    //  The endpoint was checked when CONNECT was accepted
    int rc = zsock_connect (self->dealer, "%s", self->endpoint);
    assert (rc == 0);
    (void) rc;
    zloop_reader (self->loop, self->dealer, s_net_handler, self);
    self->net_reading = true;
}


//  --------------------------------------------------------------------------
//  Flow control: read a side only while the other can take more

static int s_data_handler (zloop_t *loop, zsock_t *reader, void *arg);

static void
s_update_readers (actor_t *self)
{
    bool want_data = self->session
                  && curve_session_writable (self->session);
    if (want_data && !self->data_reading)
        zloop_reader (self->loop, self->data, s_data_handler, self);
    else
    if (!want_data && self->data_reading)
        zloop_reader_end (self->loop, self->data);
    self->data_reading = want_data;

    bool want_net = self->dealer && curve_inbox_empty (&self->inbox);
    if (want_net && !self->net_reading)
        zloop_reader (self->loop, self->dealer, s_net_handler, self);
    else
    if (!want_net && self->net_reading)
        zloop_reader_end (self->loop, self->dealer);
    self->net_reading = want_net;
}

//  The application took everything: read the network again
static void
s_inbox_drained (void *arg)
{
    s_update_readers ((actor_t *) arg);
}


//  --------------------------------------------------------------------------
//  Handlers

static int
s_data_handler (zloop_t *loop, zsock_t *reader, void *arg)
{
    actor_t *self = (actor_t *) arg;
    int64_t now = zclock_mono ();
    //  Drain what the application sent, as far as the session takes it,
    //  and send it in batches: small messages travel together
    size_t count = 0;
    while (curve_session_writable (self->session)) {
        zmsg_t *msg = zmsg_recv (self->data);
        if (!msg)
            break;
        if (curve_session_send (self->session, &msg, now)) {
            s_io_event (self, "LOST", "a message could not be queued");
            zmsg_destroy (&msg);
        }
        if (++count % 256 == 0)
            curve_session_flush (self->session, now);
    }
    curve_session_flush (self->session, now);
    s_update_readers (self);
    return 0;
}

static int
s_net_handler (zloop_t *loop, zsock_t *reader, void *arg)
{
    actor_t *self = (actor_t *) arg;
    int64_t now = zclock_mono ();
    zsock_t *dealer = self->dealer;
    while (self->dealer == dealer && curve_inbox_empty (&self->inbox)) {
        zmsg_t *msg = zmsg_recv (dealer);
        if (!msg)
            break;
        //  One command per message; anything else is not from a server
        if (zmsg_size (msg) == 1 && self->session)
            curve_session_input (self->session, zmsg_first (msg), now);
        zmsg_destroy (&msg);
    }
    s_update_readers (self);
    return 0;
}

static int
s_tick_handler (zloop_t *loop, int timer_id, void *arg)
{
    actor_t *self = (actor_t *) arg;
    if (self->session)
        curve_session_tick (self->session, zclock_mono ());
    zsock_t *old;
    while ((old = (zsock_t *) zlist_pop (self->graveyard)))
        zsock_destroy (&old);
    s_update_readers (self);
    return 0;
}

static int
s_connect (actor_t *self, const char *endpoint, zframe_t *key)
{
    if (self->session || zframe_size (key) != CURVE_KEY_BYTES)
        return -1;
    //  Check the endpoint once, on a scratch socket
    zsock_t *probe = zsock_new (ZMQ_DEALER);
    int rc = probe? zsock_connect (probe, "%s", endpoint): -1;
    zsock_destroy (&probe);
    if (rc)
        return -1;
    zstr_free (&self->endpoint);
    self->endpoint = strdup (endpoint);
    memcpy (self->server_key, zframe_data (key), CURVE_KEY_BYTES);
    curve_session_io_t io = { s_io_send, s_io_deliver, s_io_event,
                              s_io_restart };
    self->session = curve_session_new_client (
        self->shared->public_key, self->shared->secret_key, self->server_key,
        self->metadata, &self->config, &io, self, zclock_mono ());
    if (!self->session)
        return -1;
    //  Timers run often enough for the shortest deadline
    int shortest = self->config.heartbeat_interval;
    if (self->config.handshake_timeout < shortest)
        shortest = self->config.handshake_timeout;
    self->tick = shortest / 4 < 100? (shortest / 4 > 5? shortest / 4: 5): 100;
    zloop_timer (self->loop, (size_t) self->tick, 0, s_tick_handler, self);
    s_update_readers (self);
    return 0;
}

static int
s_pipe_handler (zloop_t *loop, zsock_t *reader, void *arg)
{
    actor_t *self = (actor_t *) arg;
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg)
        return -1;                  //  Interrupted
    char *command = zmsg_popstr (msg);
    int rc = 0;
    if (!command || streq (command, "$TERM")) {
        //  What the application sent before destroying us still goes out
        if (self->session)
            s_data_handler (loop, self->data, self);
        zstr_free (&command);
        zmsg_destroy (&msg);
        return -1;
    }
    if (streq (command, "METADATA")) {
        char *name = zmsg_popstr (msg);
        char *value = zmsg_popstr (msg);
        zhashx_update (self->metadata, name, value);
        zstr_free (&name);
        zstr_free (&value);
    }
    else
    if (streq (command, "CONFIG")) {
        char *name = zmsg_popstr (msg);
        char *value = zmsg_popstr (msg);
        long number = atol (value);
        if (streq (name, "handshake-timeout"))
            self->config.handshake_timeout = (int) number;
        else
        if (streq (name, "heartbeat-interval"))
            self->config.heartbeat_interval = (int) number;
        else
        if (streq (name, "heartbeat-timeout"))
            self->config.heartbeat_timeout = (int) number;
        else
        if (streq (name, "queue-limit"))
            self->config.queue_limit = (size_t) number;
        else
        if (streq (name, "verbose"))
            self->verbose = number != 0;
        zstr_free (&name);
        zstr_free (&value);
    }
    else
    if (streq (command, "CONNECT")) {
        char *endpoint = zmsg_popstr (msg);
        zframe_t *key = zmsg_pop (msg);
        rc = (endpoint && key)? s_connect (self, endpoint, key): -1;
        zstr_free (&endpoint);
        zframe_destroy (&key);
    }
    zstr_free (&command);
    zmsg_destroy (&msg);
    zsock_signal (self->pipe, rc == 0? 0: 1);
    return 0;
}


//  --------------------------------------------------------------------------
//  The actor

static void
s_actor (zsock_t *pipe, void *args)
{
    actor_t *self = (actor_t *) zmalloc (sizeof *self);
    assert (self);
    self->pipe = pipe;
    self->shared = (shared_t *) args;
    curve_pipes_connect (&self->shared->pipes, &self->data, &self->monitor);
    self->loop = zloop_new ();
    curve_inbox_init (&self->inbox, self->loop, self->data, s_inbox_drained,
                      self);
    self->graveyard = zlist_new ();
    self->metadata = zhashx_new ();
    assert (self->data && self->monitor && self->loop);
    zhashx_set_destructor (self->metadata, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->metadata, (zhashx_duplicator_fn *) strdup);
    curve_session_config_default (&self->config);
    zloop_reader (self->loop, pipe, s_pipe_handler, self);
    zloop_set_nonstop (self->loop, true);
    zsock_signal (pipe, 0);

    zloop_start (self->loop);

    //  Reports what is still queued (LOST) before going, and sends a last
    //  ACK, which the DEALER gets a moment to deliver
    curve_session_destroy (&self->session);
    if (self->dealer)
        zsock_set_linger (self->dealer, 100);
    zloop_destroy (&self->loop);
    zsock_t *old;
    while ((old = (zsock_t *) zlist_pop (self->graveyard)))
        zsock_destroy (&old);
    zlist_destroy (&self->graveyard);
    curve_inbox_destroy (&self->inbox);
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->data);
    zsock_destroy (&self->monitor);
    zhashx_destroy (&self->metadata);
    zstr_free (&self->endpoint);
    free (self);
}


//  --------------------------------------------------------------------------
//  Application side

curve_client_t *
curve_client_new (zcert_t *cert)
{
    if (!cert)
        return NULL;
    const uint8_t *secret = zcert_secret_key (cert);
    if (sodium_is_zero (secret, CURVE_KEY_BYTES))
        return NULL;
    curve_client_t *self = (curve_client_t *) zmalloc (sizeof *self);
    self->shared = (shared_t *) sodium_malloc (sizeof (shared_t));
    if (!self->shared) {
        free (self);
        return NULL;
    }
    memset (self->shared, 0, sizeof (shared_t));
    memcpy (self->shared->public_key, zcert_public_key (cert), CURVE_KEY_BYTES);
    memcpy (self->shared->secret_key, secret, CURVE_KEY_BYTES);
    if (curve_pipes_bind (&self->shared->pipes, "client", &self->data,
                          &self->monitor) == 0)
        self->actor = zactor_new (s_actor, self->shared);
    if (!self->actor)
        curve_client_destroy (&self);
    return self;
}

void
curve_client_destroy (curve_client_t **self_p)
{
    assert (self_p);
    curve_client_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor);
    zsock_destroy (&self->data);
    zsock_destroy (&self->monitor);
    sodium_free (self->shared);
    free (self);
    *self_p = NULL;
}

int
curve_client_set_metadata (curve_client_t *self, const char *name,
                           const char *value)
{
    assert (self && name && value);
    if (!curve_codec_name_valid (name))
        return -1;
    zstr_sendx (self->actor, "METADATA", name, value, NULL);
    return zsock_wait (self->actor) == 0? 0: -1;
}

static void
s_config (curve_client_t *self, const char *name, long value)
{
    curve_actor_config (self->actor, name, value);
}

void
curve_client_set_handshake_timeout (curve_client_t *self, int timeout)
{
    assert (self);
    s_config (self, "handshake-timeout", timeout > 0? timeout: 1);
}

void
curve_client_set_heartbeat (curve_client_t *self, int interval, int timeout)
{
    assert (self);
    s_config (self, "heartbeat-interval", interval > 0? interval: 1);
    s_config (self, "heartbeat-timeout", timeout > interval? timeout:
                                                             interval + 1);
}

void
curve_client_set_queue_limit (curve_client_t *self, size_t limit)
{
    assert (self);
    s_config (self, "queue-limit", (long) (limit > 0? limit: 1));
}

void
curve_client_set_verbose (curve_client_t *self, bool verbose)
{
    assert (self);
    s_config (self, "verbose", verbose);
}

int
curve_client_connect_key (curve_client_t *self, const char *endpoint,
                          const uint8_t *server_key)
{
    assert (self && endpoint && server_key);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "CONNECT");
    zmsg_addstr (msg, endpoint);
    zmsg_addmem (msg, server_key, CURVE_KEY_BYTES);
    zmsg_send (&msg, self->actor);
    return zsock_wait (self->actor) == 0? 0: -1;
}

int
curve_client_connect (curve_client_t *self, const char *endpoint,
                      const char *server_key_z85)
{
    assert (self && endpoint && server_key_z85);
    uint8_t key [CURVE_KEY_BYTES];
    if (strlen (server_key_z85) != CURVE_Z85_KEY_BYTES
    ||  !zmq_z85_decode (key, server_key_z85))
        return -1;
    return curve_client_connect_key (self, endpoint, key);
}

int
curve_client_send (curve_client_t *self, zmsg_t **msg_p)
{
    assert (self && msg_p);
    if (!*msg_p)
        return -1;
    if (__atomic_load_n (&self->shared->rejected, __ATOMIC_ACQUIRE))
        return -1;
    return zmsg_send (msg_p, self->data);
}

zmsg_t *
curve_client_recv (curve_client_t *self)
{
    assert (self);
    return zmsg_recv (self->data);
}

zsock_t *
curve_client_sock (curve_client_t *self)
{
    assert (self);
    return self->data;
}

zsock_t *
curve_client_monitor (curve_client_t *self)
{
    assert (self);
    return self->monitor;
}

char *
curve_client_wait (curve_client_t *self, const char *names, int timeout,
                   char **detail_p)
{
    assert (self && names);
    return curve_monitor_wait (self->monitor, names, timeout, false, NULL,
                               detail_p);
}

//  --------------------------------------------------------------------------
//  Self test of this class

//  @selftest
#undef NDEBUG
#include <assert.h>

void
curve_client_test (bool verbose)
{
    printf (" * curve_client: ");
    if (verbose)
        printf ("\n");
    zcert_t *cert = zcert_new ();
    zcert_t *server_cert = zcert_new ();
    assert (curve_client_new (NULL) == NULL);

    //  A server that never answers: the handshake times out, is reported,
    //  is tried again; destroy returns promptly in the middle of it
    zsock_t *silent = zsock_new (ZMQ_ROUTER);
    assert (zsock_bind (silent, "tcp://127.0.0.1:*") > 0);
    char *endpoint = zsock_last_endpoint (silent);
    curve_client_t *client = curve_client_new (cert);
    assert (client);
    curve_client_set_handshake_timeout (client, 200);
    curve_client_set_verbose (client, verbose);
    assert (curve_client_connect (client, endpoint,
                                  zcert_public_txt (server_cert)) == 0);
    assert (curve_client_connect (client, endpoint,
                                  zcert_public_txt (server_cert)) == -1);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "queued");
    assert (curve_client_send (client, &msg) == 0);
    char *detail = NULL;
    char *name = curve_client_wait (client, "HANDSHAKE-FAILED", 10000,
                                    &detail);
    assert (name);
    assert (strstr (detail, "no answer"));
    zstr_free (&name);
    zstr_free (&detail);
    //  The silent server got a HELLO on each attempt, from a new socket
    zmsg_t *hello = zmsg_recv (silent);
    assert (hello && zmsg_size (hello) == 2);
    assert (zframe_size (zmsg_last (hello)) == CURVE_HELLO_BYTES);
    zmsg_destroy (&hello);
    curve_client_destroy (&client);
    assert (client == NULL);
    curve_client_destroy (&client);

    //  Destroyed before connecting: nothing to wait for
    client = curve_client_new (cert);
    curve_client_destroy (&client);

    //  Not waiting forever for an event that does not come
    client = curve_client_new (cert);
    assert (curve_client_wait (client, "CONNECTED", 50, NULL) == NULL);
    curve_client_destroy (&client);

    zsock_destroy (&silent);
    zstr_free (&endpoint);
    zcert_destroy (&cert);
    zcert_destroy (&server_cert);
    printf ("OK\n");
}
//  @end
