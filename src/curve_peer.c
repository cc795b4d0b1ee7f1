/*  =========================================================================
    curve_peer - end-to-end sessions between peers through a broker

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    A czmq actor with one DEALER to the broker and one curve_session per
    remote peer. See include/curve_peer.h and RFC/framing.md.
@discuss
    A remote peer is trusted only for what its session proves: a blob the
    broker says is from X goes to X's session, where a forgery or a blob
    from somebody else does not decrypt; a handshake that claims to come
    from X must show X's permanent key in its INITIATE, or it is refused.

    A HELLO from a peer we already have a session with starts a candidate
    session beside it; the old one stays until the candidate has proved
    itself (INITIATE verified, key matches). So a broker that replays an
    old HELLO costs a WELCOME, not a session.
@end
*/

#include "curve_classes.h"

//  Shared by application and actor
typedef struct {
    uint8_t public_key [CURVE_KEY_BYTES];
    uint8_t secret_key [CURVE_KEY_BYTES];
    char public_txt [CURVE_Z85_KEY_BYTES + 1];
    curve_pipes_t pipes;
    char directory [1024];
} shared_t;

struct _curve_peer_t {
    zactor_t *actor;                //  The actor
    zsock_t *data;                  //  Messages
    zsock_t *monitor;               //  Events
    shared_t *shared;               //  Keys and directory
    zcertstore_t *store;            //  Application side lookups
    zhashx_t *names;                //  Certificate name -> Z85 key
};

typedef struct _actor_t actor_t;

//  One remote peer
typedef struct {
    actor_t *actor;                 //  Owner
    char key [CURVE_Z85_KEY_BYTES + 1];     //  Its key, Z85
    uint8_t binary [CURVE_KEY_BYTES];       //  Its key
    curve_session_t *session;       //  Current session
    curve_session_t *candidate;     //  A new session proving itself
    bool dirty;                     //  Has queued messages to flush
} remote_t;

struct _actor_t {
    zsock_t *pipe;                  //  Commands
    zsock_t *data;                  //  Messages to and from the app
    zsock_t *monitor;               //  Events
    zloop_t *loop;                  //  Reactor
    zsock_t *dealer;                //  To the broker
    shared_t *shared;               //  Keys
    zcertstore_t *store;            //  Who we accept
    zhashx_t *remotes;              //  key -> remote_t
    curve_inbox_t inbox;            //  Messages the app has not taken
    curve_session_config_t config;  //  Session settings
    bool net_reading;               //  Reading the DEALER
    bool verbose;                   //  Trace
};


//  --------------------------------------------------------------------------
//  Events

static void
s_event (actor_t *self, const char *event, const char *key,
         const char *format, ...)
{
    char detail [512];
    va_list args;
    va_start (args, format);
    vsnprintf (detail, sizeof detail, format, args);
    va_end (args);
    if (self->verbose)
        zsys_debug ("curve_peer: %s %s %s", event, key, detail);
    if (zstr_sendm (self->monitor, event) == 0) {
        zstr_sendm (self->monitor, key);
        zstr_send (self->monitor, detail);
    }
}


//  --------------------------------------------------------------------------
//  Session callbacks; arg is the remote

static void
s_io_send (void *arg, zframe_t **frame_p)
{
    remote_t *remote = (remote_t *) arg;
    actor_t *self = remote->actor;
    //  [to][blob]; dropped if the DEALER cannot take it now
    if (zstr_sendm (self->dealer, remote->key)
    ||  zframe_send (frame_p, self->dealer, ZFRAME_DONTWAIT))
        zframe_destroy (frame_p);
}

static void
s_io_deliver (void *arg, zmsg_t **msg_p)
{
    remote_t *remote = (remote_t *) arg;
    actor_t *self = remote->actor;
    zmsg_pushstr (*msg_p, remote->key);
    curve_inbox_send (&self->inbox, msg_p);
}

static void
s_io_event (void *arg, const char *event, const char *detail)
{
    remote_t *remote = (remote_t *) arg;
    if (streq (event, "CONNECTED") || streq (event, "RECONNECTED")) {
        //  The detail is the peer's key; say its name instead
        zcert_t *cert = zcertstore_lookup (remote->actor->store, remote->key);
        const char *name = cert? zcert_meta (cert, "name"): NULL;
        s_event (remote->actor, event, remote->key, "%s", name? name: "");
    }
    else
        s_event (remote->actor, event, remote->key, "%s", detail);
}


//  --------------------------------------------------------------------------
//  Remotes

static void
s_remote_destroy (remote_t **self_p)
{
    remote_t *self = *self_p;
    if (self) {
        curve_session_destroy (&self->session);
        curve_session_destroy (&self->candidate);
        free (self);
        *self_p = NULL;
    }
}

static void
s_remote_free (void **item)
{
    remote_t *remote = (remote_t *) *item;
    s_remote_destroy (&remote);
    *item = NULL;
}

static remote_t *
s_remote_new (actor_t *self, const char *key)
{
    remote_t *remote = (remote_t *) zmalloc (sizeof *remote);
    assert (remote);
    remote->actor = self;
    strncpy (remote->key, key, CURVE_Z85_KEY_BYTES);
    zmq_z85_decode (remote->binary, remote->key);
    zhashx_insert (self->remotes, remote->key, remote);
    return remote;
}

static curve_session_t *
s_new_server_session (actor_t *self, remote_t *remote, int64_t now)
{
    curve_session_io_t io = { s_io_send, s_io_deliver, s_io_event, NULL };
    return curve_session_new_server (self->shared->public_key,
                                     self->shared->secret_key, NULL,
                                     &self->config, &io, remote, now);
}

static curve_session_t *
s_new_client_session (actor_t *self, remote_t *remote, int64_t now)
{
    curve_session_io_t io = { s_io_send, s_io_deliver, s_io_event, NULL };
    return curve_session_new_client (self->shared->public_key,
                                     self->shared->secret_key,
                                     remote->binary, NULL, &self->config,
                                     &io, remote, now);
}

//  Move waiting messages from one session to another
static void
s_hand_over (curve_session_t *from, curve_session_t *to, int64_t now)
{
    zlist_t *pending = curve_session_take_pending (from);
    zmsg_t *msg;
    while ((msg = (zmsg_t *) zlist_pop (pending)))
        if (curve_session_send (to, &msg, now))
            zmsg_destroy (&msg);
    zlist_destroy (&pending);
    curve_session_flush (to, now);
}

//  A server-role session reached AUTH: the key it proved must be the key
//  the broker named as sender (and in the directory, which it is, since
//  we looked the sender up before). Returns true if allowed.
static bool
s_authorise (actor_t *self, remote_t *remote, curve_session_t *session,
             int64_t now)
{
    const uint8_t *proved = curve_session_peer_key (session);
    if (!proved || memcmp (proved, remote->binary, CURVE_KEY_BYTES)) {
        char key [CURVE_Z85_KEY_BYTES + 1] = "";
        if (proved)
            zmq_z85_encode (key, (uint8_t *) proved, CURVE_KEY_BYTES);
        s_event (self, "REFUSED", remote->key, "handshake proves key %s, "
                 "not the sender's", key);
        return false;
    }
    return curve_session_allow (session, now) == 0;
}

//  Feed a frame to a session; settle what follows from its new phase
static void
s_input (actor_t *self, remote_t *remote, zframe_t *frame, int64_t now)
{
    bool is_hello = zframe_size (frame) == CURVE_HELLO_BYTES
                 && memcmp (zframe_data (frame), "\x05HELLO", 6) == 0;
    bool is_initiate = zframe_size (frame) >= CURVE_INITIATE_MIN_BYTES
                    && memcmp (zframe_data (frame), "\x08INITIATE", 9) == 0;
    curve_session_t *session = remote->session;

    //  A command sent twice is answered again by the session that took it
    if (remote->candidate && curve_session_is_repeat (remote->candidate, frame)) {
        curve_session_input (remote->candidate, frame, now);
        return;
    }
    if (is_hello && session && curve_session_is_repeat (session, frame)) {
        curve_session_input (session, frame, now);
        return;
    }
    if (is_hello) {
        bool handshaking = session
            && curve_session_phase (session) == CURVE_SESSION_HANDSHAKE
            && !curve_codec_is_server (curve_session_codec (session));
        if (handshaking
        &&  memcmp (self->shared->public_key, remote->binary,
                    CURVE_KEY_BYTES) < 0)
            return;                 //  Both opened; the lower key asks
        //  A new session from the other side: it proves itself beside the
        //  current one (if any) before it replaces it
        curve_session_destroy (&remote->candidate);
        remote->candidate = s_new_server_session (self, remote, now);
        if (remote->candidate)
            curve_session_input (remote->candidate, frame, now);
        return;
    }
    if (is_initiate && remote->candidate) {
        curve_session_t *candidate = remote->candidate;
        curve_session_input (candidate, frame, now);
        if (curve_session_phase (candidate) == CURVE_SESSION_AUTH
        &&  s_authorise (self, remote, candidate, now)) {
            //  Proven: it replaces the old session, taking what waits
            if (remote->session) {
                s_hand_over (remote->session, candidate, now);
                curve_session_destroy (&remote->session);
            }
            remote->session = candidate;
            remote->candidate = NULL;
        }
        else
        if (curve_session_phase (candidate) != CURVE_SESSION_HANDSHAKE)
            curve_session_destroy (&remote->candidate);
        return;
    }
    if (session) {
        curve_session_input (session, frame, now);
        if (curve_session_phase (session) == CURVE_SESSION_FAILED) {
            //  Rejected, or its handshake failed: messages still waiting
            //  are reported when the session goes
            curve_session_destroy (&remote->session);
        }
        return;
    }
    //  No session at all: a MESSAGE means the sender lost us (or the
    //  broker is lying about who sent it)
    zframe_t *reset = curve_session_reset_for (frame);
    if (reset) {
        s_event (self, "REFUSED", remote->key, "message for no session; "
                 "answered RESET");
        zstr_sendm (self->dealer, remote->key);
        if (zframe_send (&reset, self->dealer, ZFRAME_DONTWAIT))
            zframe_destroy (&reset);
    }
}

static int
s_net_handler (zloop_t *loop, zsock_t *reader, void *arg)
{
    actor_t *self = (actor_t *) arg;
    int64_t now = zclock_mono ();
    while (curve_inbox_empty (&self->inbox)) {
        zmsg_t *msg = zmsg_recv (self->dealer);
        if (!msg)
            break;
        char *from = zmsg_popstr (msg);
        zframe_t *blob = zmsg_pop (msg);
        uint8_t binary [CURVE_KEY_BYTES];
        if (!from || !blob || zmsg_size (msg) != 0
        ||  strlen (from) != CURVE_Z85_KEY_BYTES
        ||  !zmq_z85_decode (binary, from))
            s_event (self, "REFUSED", "", "blob not in [from][blob] form");
        else {
            remote_t *remote = (remote_t *) zhashx_lookup (self->remotes, from);
            if (!remote && !zcertstore_lookup (self->store, from))
                s_event (self, "UNKNOWN", from, "sender not in %s",
                         self->shared->directory);
            else {
                if (!remote)
                    remote = s_remote_new (self, from);
                s_input (self, remote, blob, now);
            }
        }
        zstr_free (&from);
        zframe_destroy (&blob);
        zmsg_destroy (&msg);
    }
    if (!curve_inbox_empty (&self->inbox) && self->net_reading) {
        zloop_reader_end (self->loop, self->dealer);
        self->net_reading = false;
    }
    return 0;
}

//  From the application: [key][frames...]
static int
s_data_handler (zloop_t *loop, zsock_t *reader, void *arg)
{
    actor_t *self = (actor_t *) arg;
    int64_t now = zclock_mono ();
    zlist_t *dirty = zlist_new ();
    zmsg_t *msg;
    size_t count = 0;
    while (count++ < 10000 && (msg = zmsg_recv (self->data))) {
        char *key = zmsg_popstr (msg);
        remote_t *remote = key?
            (remote_t *) zhashx_lookup (self->remotes, key): NULL;
        if (!remote && key && zcertstore_lookup (self->store, key))
            remote = s_remote_new (self, key);
        if (!remote || zmsg_size (msg) == 0)
            s_event (self, "LOST", key? key: "", "no such peer");
        else {
            //  Whoever speaks first asks
            if (!remote->session)
                remote->session = s_new_client_session (self, remote, now);
            if (!remote->session
            ||  curve_session_send (remote->session, &msg, now))
                s_event (self, "LOST", key, "could not queue the message");
            else
            if (!remote->dirty) {
                remote->dirty = true;
                zlist_append (dirty, remote);
            }
        }
        zstr_free (&key);
        zmsg_destroy (&msg);
    }
    //  Each peer's messages go out together
    for (remote_t *remote = (remote_t *) zlist_first (dirty); remote;
         remote = (remote_t *) zlist_next (dirty)) {
        remote->dirty = false;
        if (remote->session)
            curve_session_flush (remote->session, now);
    }
    zlist_destroy (&dirty);
    return 0;
}

static int
s_tick_handler (zloop_t *loop, int timer_id, void *arg)
{
    actor_t *self = (actor_t *) arg;
    int64_t now = zclock_mono ();
    zlist_t *dead = zlist_new ();
    for (remote_t *remote = (remote_t *) zhashx_first (self->remotes);
         remote; remote = (remote_t *) zhashx_next (self->remotes)) {
        if (remote->session) {
            curve_session_tick (remote->session, now);
            if (curve_session_phase (remote->session) == CURVE_SESSION_FAILED)
                curve_session_destroy (&remote->session);
        }
        //  A candidate that does not prove itself in time goes
        if (remote->candidate
        &&  now >= curve_session_deadline (remote->candidate))
            curve_session_destroy (&remote->candidate);
        if (!remote->session && !remote->candidate)
            zlist_append (dead, remote->key);
    }
    for (char *key = (char *) zlist_first (dead); key;
         key = (char *) zlist_next (dead))
        zhashx_delete (self->remotes, key);
    zlist_destroy (&dead);
    return 0;
}

//  The application took everything: read the network again
static void
s_inbox_drained (void *arg)
{
    actor_t *self = (actor_t *) arg;
    if (!self->net_reading && self->dealer) {
        zloop_reader (self->loop, self->dealer, s_net_handler, self);
        self->net_reading = true;
    }
}

static int
s_pipe_handler (zloop_t *loop, zsock_t *reader, void *arg)
{
    actor_t *self = (actor_t *) arg;
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg)
        return -1;
    char *command = zmsg_popstr (msg);
    char *first = zmsg_popstr (msg);
    char *second = zmsg_popstr (msg);
    int rc = 0;
    if (!command || streq (command, "$TERM")) {
        //  What the application sent before destroying us still goes out
        if (self->dealer)
            s_data_handler (loop, self->data, self);
        rc = -2;
    }
    else
    if (streq (command, "CONNECT")) {
        if (self->dealer)
            rc = -1;
        else {
            self->dealer = zsock_new (ZMQ_DEALER);
            assert (self->dealer);
            zsock_set_identity (self->dealer, self->shared->public_txt);
            zsock_set_sndtimeo (self->dealer, 0);
            zsock_set_rcvtimeo (self->dealer, 0);
            zsock_set_linger (self->dealer, 100);
            zsock_set_sndhwm (self->dealer, 100000);
            zsock_set_rcvhwm (self->dealer, 100000);
            rc = zsock_connect (self->dealer, "%s", first);
            if (rc == 0) {
                zloop_reader (self->loop, self->dealer, s_net_handler, self);
                zloop_reader (self->loop, self->data, s_data_handler, self);
                self->net_reading = true;
            }
            else
                zsock_destroy (&self->dealer);
        }
    }
    else
    if (streq (command, "CONFIG")) {
        long number = atol (second);
        if (streq (first, "handshake-timeout"))
            self->config.handshake_timeout = (int) number;
        else
        if (streq (first, "heartbeat-interval"))
            self->config.heartbeat_interval = (int) number;
        else
        if (streq (first, "heartbeat-timeout"))
            self->config.heartbeat_timeout = (int) number;
        else
        if (streq (first, "verbose"))
            self->verbose = number != 0;
    }
    zstr_free (&command);
    zstr_free (&first);
    zstr_free (&second);
    zmsg_destroy (&msg);
    if (rc == -2)
        return -1;
    zsock_signal (self->pipe, rc == 0? 0: 1);
    return 0;
}

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
    self->store = zcertstore_new (self->shared->directory);
    self->remotes = zhashx_new ();
    assert (self->loop && self->store);
    zhashx_set_destructor (self->remotes, s_remote_free);
    curve_session_config_default (&self->config);
    self->config.peer_mode = true;
    zloop_reader (self->loop, pipe, s_pipe_handler, self);
    zloop_timer (self->loop, 100, 0, s_tick_handler, self);
    zloop_set_nonstop (self->loop, true);
    zsock_signal (pipe, 0);

    zloop_start (self->loop);

    zhashx_destroy (&self->remotes);
    curve_inbox_destroy (&self->inbox);
    zloop_destroy (&self->loop);
    zcertstore_destroy (&self->store);
    zsock_destroy (&self->dealer);
    zsock_destroy (&self->data);
    zsock_destroy (&self->monitor);
    free (self);
}


//  --------------------------------------------------------------------------
//  Application side

curve_peer_t *
curve_peer_new (zcert_t *cert, const char *directory)
{
    if (!cert || !directory
    ||  sodium_is_zero (zcert_secret_key (cert), CURVE_KEY_BYTES)
    ||  strlen (directory) >= sizeof (((shared_t *) 0)->directory)
    ||  !zsys_file_exists (directory))
        return NULL;
    curve_peer_t *self = (curve_peer_t *) zmalloc (sizeof *self);
    self->shared = (shared_t *) sodium_malloc (sizeof (shared_t));
    if (!self->shared) {
        free (self);
        return NULL;
    }
    memset (self->shared, 0, sizeof (shared_t));
    memcpy (self->shared->public_key, zcert_public_key (cert), CURVE_KEY_BYTES);
    memcpy (self->shared->secret_key, zcert_secret_key (cert), CURVE_KEY_BYTES);
    strcpy (self->shared->public_txt, zcert_public_txt (cert));
    strcpy (self->shared->directory, directory);
    self->store = zcertstore_new (directory);
    self->names = zhashx_new ();
    zhashx_set_destructor (self->names, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->names, (zhashx_duplicator_fn *) strdup);
    if (self->store
    &&  curve_pipes_bind (&self->shared->pipes, "peer", &self->data,
                          &self->monitor) == 0)
        self->actor = zactor_new (s_actor, self->shared);
    if (!self->actor)
        curve_peer_destroy (&self);
    return self;
}

void
curve_peer_destroy (curve_peer_t **self_p)
{
    assert (self_p);
    curve_peer_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor);
    zsock_destroy (&self->data);
    zsock_destroy (&self->monitor);
    zcertstore_destroy (&self->store);
    zhashx_destroy (&self->names);
    sodium_free (self->shared);
    free (self);
    *self_p = NULL;
}

int
curve_peer_connect (curve_peer_t *self, const char *endpoint)
{
    assert (self && endpoint);
    zstr_sendx (self->actor, "CONNECT", endpoint, NULL);
    return zsock_wait (self->actor) == 0? 0: -1;
}

//  A peer's key from its Z85 key or its certificate's "name"; NULL if it
//  is not in the directory. Caller frees.
static char *
s_resolve (curve_peer_t *self, const char *peer)
{
    if (zcertstore_lookup (self->store, peer))
        return strdup (peer);
    //  Names are not indexed by czmq: names seen in the certificates are
    //  kept, and the directory is read again only for a name not known
    //  (a key still has to be in the store, so a removed cert stops it)
    const char *key = (const char *) zhashx_lookup (self->names, peer);
    if (!key || !zcertstore_lookup (self->store, key)) {
        zhashx_purge (self->names);
        zdir_t *dir = zdir_new (self->shared->directory, "-");
        zfile_t **files = dir? zdir_flatten (dir): NULL;
        for (size_t index = 0; files && files [index]; index++) {
            const char *path = zfile_filename (files [index], NULL);
            size_t length = strlen (path);
            if (length > 7 && streq (path + length - 7, "_secret"))
                continue;
            zcert_t *cert = curve_cert_load_public (path, NULL, 0);
            const char *name = cert? zcert_meta (cert, "name"): NULL;
            if (name)
                zhashx_update (self->names, name,
                               (void *) zcert_public_txt (cert));
            zcert_destroy (&cert);
        }
        if (files)
            zdir_flatten_free (&files);
        zdir_destroy (&dir);
        key = (const char *) zhashx_lookup (self->names, peer);
    }
    return key && zcertstore_lookup (self->store, key)? strdup (key): NULL;
}

int
curve_peer_send (curve_peer_t *self, const char *peer, zmsg_t **msg_p)
{
    assert (self && peer && msg_p);
    if (!*msg_p || zmsg_size (*msg_p) == 0)
        return -1;
    char *key = s_resolve (self, peer);
    if (!key)
        return -1;
    zmsg_pushstr (*msg_p, key);
    zstr_free (&key);
    return zmsg_send (msg_p, self->data);
}

zmsg_t *
curve_peer_recv (curve_peer_t *self)
{
    assert (self);
    return zmsg_recv (self->data);
}

char *
curve_peer_name (curve_peer_t *self, const char *key)
{
    assert (self && key);
    zcert_t *cert = zcertstore_lookup (self->store, key);
    const char *name = cert? zcert_meta (cert, "name"): NULL;
    return name? strdup (name): NULL;
}

const char *
curve_peer_key (curve_peer_t *self)
{
    assert (self);
    return self->shared->public_txt;
}

static void
s_config (curve_peer_t *self, const char *name, long value)
{
    curve_actor_config (self->actor, name, value);
}

void
curve_peer_set_heartbeat (curve_peer_t *self, int interval, int timeout)
{
    assert (self);
    s_config (self, "heartbeat-interval", interval > 0? interval: 1);
    s_config (self, "heartbeat-timeout", timeout > interval? timeout:
                                                             interval + 1);
}

void
curve_peer_set_handshake_timeout (curve_peer_t *self, int timeout)
{
    assert (self);
    s_config (self, "handshake-timeout", timeout > 0? timeout: 1);
}

void
curve_peer_set_verbose (curve_peer_t *self, bool verbose)
{
    assert (self);
    s_config (self, "verbose", verbose);
}

zsock_t *
curve_peer_sock (curve_peer_t *self)
{
    assert (self);
    return self->data;
}

zsock_t *
curve_peer_monitor (curve_peer_t *self)
{
    assert (self);
    return self->monitor;
}

char *
curve_peer_wait (curve_peer_t *self, const char *names, int timeout,
                 char **key_p, char **detail_p)
{
    assert (self && names);
    return curve_monitor_wait (self->monitor, names, timeout, true, key_p,
                               detail_p);
}


//  --------------------------------------------------------------------------
//  The broker: forwards by routing id, sees only opaque blobs

typedef struct {
    zsock_t *pipe;                  //  Commands
    zsock_t *router;                //  Peers
    FILE *log;                      //  Everything forwarded, if asked
} broker_t;

static int
s_broker_pipe (zloop_t *loop, zsock_t *reader, void *arg)
{
    broker_t *self = (broker_t *) arg;
    char *command = NULL, *argument = NULL;
    if (zstr_recvx (self->pipe, &command, &argument, NULL) < 1
    ||  streq (command, "$TERM")) {
        zstr_free (&command);
        zstr_free (&argument);
        return -1;
    }
    if (streq (command, "BIND")) {
        char *endpoint = NULL;
        if (argument && zsock_bind (self->router, "%s", argument) >= 0)
            endpoint = zsock_last_endpoint (self->router);
        zstr_send (self->pipe, endpoint? endpoint: "");
        zstr_free (&endpoint);
    }
    else
    if (streq (command, "LOG")) {
        if (self->log)
            fclose (self->log);
        self->log = argument? fopen (argument, "ab"): NULL;
        zsock_signal (self->pipe, self->log? 0: 1);
    }
    zstr_free (&command);
    zstr_free (&argument);
    return 0;
}

static int
s_broker_router (zloop_t *loop, zsock_t *reader, void *arg)
{
    broker_t *self = (broker_t *) arg;
    zmsg_t *msg;
    while ((msg = zmsg_recv (self->router))) {
        //  [from][to][blob] -> [to][from][blob]
        if (zmsg_size (msg) == 3) {
            zframe_t *from = zmsg_pop (msg);
            zframe_t *to = zmsg_pop (msg);
            if (self->log) {
                zframe_t *blob = zmsg_first (msg);
                fwrite (zframe_data (blob), 1, zframe_size (blob), self->log);
                fflush (self->log);
            }
            zmsg_prepend (msg, &from);
            zmsg_prepend (msg, &to);
            if (curve_send_dontwait (&msg, self->router))
                zmsg_destroy (&msg);    //  Unknown peer: dropped
        }
        zmsg_destroy (&msg);
    }
    return 0;
}

void
curve_peer_broker (zsock_t *pipe, void *args)
{
    broker_t self = { pipe, zsock_new (ZMQ_ROUTER), NULL };
    assert (self.router);
    zsock_set_router_mandatory (self.router, 1);
    //  A peer that reconnects (same key, same routing id) takes over its
    //  old connection instead of being refused while that one lingers
    zsock_set_router_handover (self.router, 1);
    zsock_set_sndtimeo (self.router, 0);
    zsock_set_rcvtimeo (self.router, 0);
    zsock_set_linger (self.router, 0);
    zloop_t *loop = zloop_new ();
    zloop_reader (loop, pipe, s_broker_pipe, &self);
    zloop_reader (loop, self.router, s_broker_router, &self);
    zloop_set_nonstop (loop, true);
    zsock_signal (pipe, 0);
    zloop_start (loop);
    zloop_destroy (&loop);
    if (self.log)
        fclose (self.log);
    zsock_destroy (&self.router);
}

//  --------------------------------------------------------------------------
//  Self test of this class: real brokers over tcp and ipc, and a hostile
//  broker driven by the test itself.

//  @selftest
#undef NDEBUG
#include <assert.h>

//  Receive one message within a time limit
static zmsg_t *
s_peer_recv_within (curve_peer_t *peer, int timeout)
{
    zpoller_t *poller = zpoller_new (curve_peer_sock (peer), NULL);
    zmsg_t *msg = zpoller_wait (poller, timeout)? curve_peer_recv (peer): NULL;
    zpoller_destroy (&poller);
    return msg;
}

//  Expect a message from a given key with given text
static void
s_peer_expect (curve_peer_t *peer, const char *from, const char *text)
{
    zmsg_t *msg = s_peer_recv_within (peer, 20000);
    if (!msg)
        fprintf (stderr, "no message '%s'\n", text);
    assert (msg);
    char *sender = zmsg_popstr (msg);
    char *body = zmsg_popstr (msg);
    if (!streq (body, text))
        fprintf (stderr, "got '%s', wanted '%s'\n", body, text);
    assert (streq (sender, from));
    assert (streq (body, text));
    zstr_free (&sender);
    zstr_free (&body);
    zmsg_destroy (&msg);
}

static void
s_peer_say (curve_peer_t *peer, const char *to, const char *text)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, text);
    assert (curve_peer_send (peer, to, &msg) == 0);
}

static curve_peer_t *
s_peer_for (zcert_t *cert, const char *dir, const char *broker, bool verbose)
{
    curve_peer_t *peer = curve_peer_new (cert, dir);
    assert (peer);
    curve_peer_set_verbose (peer, verbose);
    //  Generous deadlines: a slow machine (valgrind) must not fail a test
    curve_peer_set_handshake_timeout (peer, 60000);
    curve_peer_set_heartbeat (peer, 1000, 60000);
    assert (curve_peer_connect (peer, broker) == 0);
    return peer;
}

static char *
s_broker_bind (zactor_t *broker, const char *endpoint)
{
    zstr_sendx (broker, "BIND", endpoint, NULL);
    char *bound = zstr_recv (broker);
    assert (bound && *bound);
    return bound;
}

//  The hostile broker: the test forwards by hand. Returns the next blob
//  as [from][to][blob], or NULL if none came in time.
static zmsg_t *
s_hostile_next (zsock_t *router, int timeout)
{
    zpoller_t *poller = zpoller_new (router, NULL);
    zmsg_t *msg = zpoller_wait (poller, timeout)? zmsg_recv (router): NULL;
    zpoller_destroy (&poller);
    return msg;
}

//  Forward [from][to][blob] honestly as [to][from][blob]
static void
s_hostile_forward (zsock_t *router, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    zframe_t *from = zmsg_pop (msg);
    zframe_t *to = zmsg_pop (msg);
    zmsg_prepend (msg, &from);
    zmsg_prepend (msg, &to);
    zmsg_send (msg_p, router);
}

static bool
s_is_data (zmsg_t *msg, const char *from_key)
{
    zframe_t *from = zmsg_first (msg);
    zmsg_next (msg);
    zframe_t *blob = zmsg_next (msg);
    return zframe_streq (from, from_key)
        && zframe_size (blob) > 44      //  Data: ACK is 43, PING 34
        && memcmp (zframe_data (blob), "\x07MESSAGE", 8) == 0;
}

//  Relay honestly until the receiver has the message, everything in
//  between going both ways
static void
s_hostile_relay_until (zsock_t *router, curve_peer_t *receiver,
                       const char *from, const char *text)
{
    int64_t deadline = zclock_mono () + 20000;
    zpoller_t *poller = zpoller_new (router, curve_peer_sock (receiver), NULL);
    while (zclock_mono () < deadline) {
        void *which = zpoller_wait (poller, 1000);
        if (which == router) {
            zmsg_t *msg = zmsg_recv (router);
            s_hostile_forward (router, &msg);
        }
        else
        if (which) {
            zmsg_t *msg = curve_peer_recv (receiver);
            char *sender = zmsg_popstr (msg);
            char *body = zmsg_popstr (msg);
            bool done = streq (sender, from) && streq (body, text);
            if (!done)
                fprintf (stderr, "unexpected '%s'\n", body);
            assert (done);
            zstr_free (&sender);
            zstr_free (&body);
            zmsg_destroy (&msg);
            zpoller_destroy (&poller);
            return;
        }
    }
    fprintf (stderr, "'%s' never arrived\n", text);
    assert (false);
}

//  One attack on the next data blob from sender to receiver; the attacked
//  blob must be refused (an event says so) and the honest traffic must
//  still arrive, once and in order
static void
s_attack (zsock_t *router, curve_peer_t *sender, curve_peer_t *receiver,
          curve_peer_t *third, const char *attack)
{
    const char *from = curve_peer_key (sender);
    char first [64], second [64];
    snprintf (first, sizeof first, "%s: first", attack);
    snprintf (second, sizeof second, "%s: second", attack);
    //  Catch both data blobs, passing everything else. The second is sent
    //  once the first is caught, so that each travels in its own MESSAGE
    //  (messages queued together would share one)
    zmsg_t *caught [2] = { NULL, NULL };
    for (int count = 0; count < 2; count++) {
        s_peer_say (sender, curve_peer_key (receiver), count? second: first);
        while (!caught [count]) {
            zmsg_t *msg = s_hostile_next (router, 20000);
            assert (msg);
            if (s_is_data (msg, from))
                caught [count] = msg;
            else
                s_hostile_forward (router, &msg);
        }
    }
    if (streq (attack, "replay")) {
        zmsg_t *copy = zmsg_dup (caught [0]);
        s_hostile_forward (router, &caught [0]);
        s_hostile_forward (router, &copy);
        s_hostile_forward (router, &caught [1]);
    }
    else
    if (streq (attack, "reorder")) {
        s_hostile_forward (router, &caught [1]);
        s_hostile_forward (router, &caught [0]);
    }
    else
    if (streq (attack, "drop")) {
        zmsg_destroy (&caught [0]);
        s_hostile_forward (router, &caught [1]);
    }
    else
    if (streq (attack, "truncate") || streq (attack, "flip")
    ||  streq (attack, "inject")) {
        zmsg_t *bad = zmsg_dup (caught [0]);
        zframe_t *blob = zmsg_last (bad);
        if (streq (attack, "truncate")) {
            //  (zframe_reset frees the old data: copy it out first)
            size_t size = zframe_size (blob) - 5;
            uint8_t *cut = (uint8_t *) malloc (size);
            assert (cut);
            memcpy (cut, zframe_data (blob), size);
            zframe_reset (blob, cut, size);
            free (cut);
        }
        else
        if (streq (attack, "flip"))
            zframe_data (blob) [zframe_size (blob) / 2] ^= 0x20;
        else
            randombytes_buf (zframe_data (blob) + 8, zframe_size (blob) - 8);
        s_hostile_forward (router, &bad);
        s_hostile_forward (router, &caught [0]);
        s_hostile_forward (router, &caught [1]);
    }
    else
    if (streq (attack, "swap")) {
        //  The blob goes to the receiver as if the third peer sent it
        zmsg_t *lie = zmsg_dup (caught [0]);
        zframe_t *claimed = zmsg_first (lie);
        zframe_reset (claimed, curve_peer_key (third), 40);
        s_hostile_forward (router, &lie);
        s_hostile_forward (router, &caught [0]);
        s_hostile_forward (router, &caught [1]);
    }
    //  Every attack but a plain drop is refused with an event (a dropped
    //  message is no forgery: it is sent again)
    if (!streq (attack, "drop")) {
        char *detail = NULL;
        char *name = curve_peer_wait (receiver, "REFUSED", 20000, NULL,
                                      &detail);
        if (!name)
            fprintf (stderr, "attack %s not reported\n", attack);
        assert (name);
        zstr_free (&name);
        zstr_free (&detail);
    }
    //  Honest traffic: both arrive, in order, once (a dropped or reordered
    //  one is sent again by its sender)
    s_hostile_relay_until (router, receiver, from, first);
    s_hostile_relay_until (router, receiver, from, second);
}

void
curve_peer_test (bool verbose)
{
    printf (" * curve_peer: ");
    if (verbose)
        printf ("\n");
    char *dir = zsys_sprintf ("/tmp/curve-peer-test-%d", getpid ());
    zsys_dir_create (dir);
    const char *names [] = { "alice", "bob", "carol" };
    zcert_t *certs [3];
    for (int index = 0; index < 3; index++) {
        certs [index] = zcert_new ();
        zcert_set_meta (certs [index], "name", "%s", names [index]);
        char *path = zsys_sprintf ("%s/%s.key", dir, names [index]);
        assert (zcert_save_public (certs [index], path) == 0);
        zstr_free (&path);
    }
    assert (curve_peer_new (certs [0], "/nonexistent/dir") == NULL);

    //  Three peers through a broker over tcp; every pair opens both ways
    //  at the same moment; all six messages arrive
    zactor_t *broker = zactor_new (curve_peer_broker, NULL);
    char *endpoint = s_broker_bind (broker, "tcp://127.0.0.1:*");
    curve_peer_t *peers [3];
    for (int index = 0; index < 3; index++)
        peers [index] = s_peer_for (certs [index], dir, endpoint, verbose);
    for (int from = 0; from < 3; from++)
        for (int to = 0; to < 3; to++)
            if (from != to) {
                char text [64];
                snprintf (text, sizeof text, "%s to %s", names [from],
                          names [to]);
                s_peer_say (peers [from], names [to], text);
            }
    for (int to = 0; to < 3; to++)
        for (int from = 0; from < 3; from++)
            if (from != to) {
                //  Messages from different senders may interleave: take
                //  both, then check
                (void) from;
            }
    for (int to = 0; to < 3; to++) {
        int seen = 0;
        for (int count = 0; count < 2; count++) {
            zmsg_t *msg = s_peer_recv_within (peers [to], 20000);
            assert (msg);
            char *sender = zmsg_popstr (msg);
            char *body = zmsg_popstr (msg);
            int from = 0;
            while (from < 3 && !streq (sender, zcert_public_txt (certs [from])))
                from++;
            assert (from < 3 && from != to);
            char text [64];
            snprintf (text, sizeof text, "%s to %s", names [from], names [to]);
            assert (streq (body, text));
            seen |= 1 << from;
            char *name = curve_peer_name (peers [to], sender);
            assert (name && streq (name, names [from]));
            zstr_free (&name);
            zstr_free (&sender);
            zstr_free (&body);
            zmsg_destroy (&msg);
        }
        assert (seen == (7 & ~(1 << to)));
        //  Exactly one session with each other peer, nothing lost
        for (int count = 0; count < 2; count++) {
            char *event = curve_peer_wait (peers [to], "CONNECTED|LOST",
                                           10000, NULL, NULL);
            assert (event && streq (event, "CONNECTED"));
            zstr_free (&event);
        }
    }
    //  Unknown name, unknown key
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "hi");
    assert (curve_peer_send (peers [0], "mallory", &msg) == -1);
    zmsg_destroy (&msg);

    //  A sender not in the directory is refused and reported
    char *other_dir = zsys_sprintf ("%s-other", dir);
    zsys_dir_create (other_dir);
    char *path = zsys_sprintf ("%s/alice.key", other_dir);
    assert (zcert_save_public (certs [0], path) == 0);
    zcert_t *stranger_cert = zcert_new ();
    curve_peer_t *stranger = s_peer_for (stranger_cert, other_dir, endpoint,
                                         verbose);
    s_peer_say (stranger, "alice", "let me in");
    char *key = NULL;
    char *event = curve_peer_wait (peers [0], "UNKNOWN", 20000, &key, NULL);
    assert (event && streq (key, zcert_public_txt (stranger_cert)));
    zstr_free (&event);
    zstr_free (&key);
    curve_peer_destroy (&stranger);
    zcert_destroy (&stranger_cert);
    zsys_file_delete (path);
    zsys_dir_delete (other_dir);
    zstr_free (&path);
    zstr_free (&other_dir);
    for (int index = 0; index < 3; index++)
        curve_peer_destroy (&peers [index]);
    zactor_destroy (&broker);
    zstr_free (&endpoint);

    //  The broker restarts: messages sent meanwhile arrive, once each
    //  (on ipc: a tcp port is freed some time after its socket closes)
    char *ipc = zsys_sprintf ("ipc:///tmp/curve-peer-test-%d-broker", getpid ());
    broker = zactor_new (curve_peer_broker, NULL);
    endpoint = s_broker_bind (broker, ipc);
    peers [0] = s_peer_for (certs [0], dir, endpoint, verbose);
    peers [1] = s_peer_for (certs [1], dir, endpoint, verbose);
    s_peer_say (peers [0], "bob", "before");
    s_peer_expect (peers [1], zcert_public_txt (certs [0]), "before");
    zactor_destroy (&broker);
    for (int count = 0; count < 5; count++) {
        char text [32];
        snprintf (text, sizeof text, "during %d", count);
        s_peer_say (peers [0], "bob", text);
    }
    broker = zactor_new (curve_peer_broker, NULL);
    zstr_free (&endpoint);
    endpoint = s_broker_bind (broker, ipc);
    for (int count = 0; count < 5; count++) {
        char text [32];
        snprintf (text, sizeof text, "during %d", count);
        s_peer_expect (peers [1], zcert_public_txt (certs [0]), text);
    }
    s_peer_say (peers [1], "alice", "after");
    s_peer_expect (peers [0], zcert_public_txt (certs [1]), "after");
    assert (s_peer_recv_within (peers [1], 500) == NULL);   //  No duplicates
    curve_peer_destroy (&peers [0]);
    curve_peer_destroy (&peers [1]);
    zactor_destroy (&broker);
    zstr_free (&endpoint);
    zstr_free (&ipc);

    //  A hostile broker: replay, reorder, drop, truncation, bit flips,
    //  injected garbage, a swapped sender. Each is refused and reported;
    //  the honest messages still arrive in order, once.
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (zsock_bind (router, "tcp://127.0.0.1:*") > 0);
    endpoint = zsock_last_endpoint (router);
    for (int index = 0; index < 3; index++)
        peers [index] = s_peer_for (certs [index], dir, endpoint, verbose);
    //  Sessions first: alice-bob and carol-bob
    s_peer_say (peers [0], "bob", "hello");
    s_hostile_relay_until (router, peers [1], zcert_public_txt (certs [0]),
                           "hello");
    s_peer_say (peers [2], "bob", "hello");
    s_hostile_relay_until (router, peers [1], zcert_public_txt (certs [2]),
                           "hello");
    const char *attacks [] = { "replay", "reorder", "drop", "truncate",
                               "flip", "inject", "swap" };
    for (size_t index = 0; index < sizeof attacks / sizeof attacks [0];
         index++) {
        s_attack (router, peers [0], peers [1], peers [2], attacks [index]);
        if (verbose)
            printf ("   %s: detected, honest traffic delivered once, "
                    "in order\n",
                    attacks [index]);
    }
    for (int index = 0; index < 3; index++)
        curve_peer_destroy (&peers [index]);
    zsock_destroy (&router);
    zstr_free (&endpoint);

    for (int index = 0; index < 3; index++) {
        char *file = zsys_sprintf ("%s/%s.key", dir, names [index]);
        zsys_file_delete (file);
        zstr_free (&file);
        zcert_destroy (&certs [index]);
    }
    zsys_dir_delete (dir);
    zstr_free (&dir);
    printf ("OK\n");
}
//  @end
