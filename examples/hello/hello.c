/*  =========================================================================
    hello - the Ironhouse pattern at the message layer

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    hello walks through Ironhouse (a server that talks only to clients it
    knows, both ends authenticated and encrypted) with curve_server,
    curve_client and czmq's zauth, all in one process and all in a scratch
    directory under /tmp that it removes at the end (it never reads or
    writes ~/.curve):

        keys      a server key pair and a client key pair, written with
                  curve_cert_save, as curve_keygen writes them
        trust     the client's public .key file, and nothing else, copied
                  into the server's authorized_clients directory
        serve     zauth with "CURVE" + that directory, started before the
                  server; the server bound to tcp://127.0.0.1:*
        talk      the client (secret key loaded with curve_cert_load_secret,
                  the server's public key with curve_cert_load_public)
                  connects and exchanges encrypted messages
        revoke    the client's .key removed: the same client, connecting
                  again, is rejected with the server's reason

    Every wait has a time limit; there are no sleeps and no fixed ports.
    Exit status 0 when every step did what it should, 1 otherwise.
@discuss
    Usage: hello [-v]      (-v traces the client, the server and zauth)
@end
*/

#include "curve.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MSEC           10000   //  Longest wait for anything
#define MESSAGE_COUNT       3       //  Greetings each way
#define SCRATCH_TEMPLATE    "/tmp/curve-hello-XXXXXX"

//  Everything the demo creates, so that cleanup can undo any part of it
typedef struct {
    bool verbose;
    int step;                       //  Current step number
    char scratch [sizeof SCRATCH_TEMPLATE];
    char *server_dir;               //  scratch/server
    char *client_dir;               //  scratch/client
    char *clients_dir;              //  scratch/server/authorized_clients
    char *server_public_path;       //  scratch/server/server.key
    char *server_secret_path;       //  scratch/server/server.key_secret
    char *client_public_path;       //  scratch/client/client.key
    char *client_secret_path;       //  scratch/client/client.key_secret
    char *authorized_path;          //  clients_dir/client.key
    char server_public_txt [41];    //  Z85 public keys, as generated
    char client_public_txt [41];
    zactor_t *auth;
    curve_server_t *server;
    curve_client_t *client;
    char *endpoint;                 //  Where the server listens
} demo_t;


//  --------------------------------------------------------------------------
//  Transcript

static void
s_step (demo_t *self, const char *title)
{
    printf ("\n[%d] %s\n", ++self->step, title);
}

static void
s_fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    printf ("    FAILED: ");
    vprintf (format, args);
    printf ("\n");
    va_end (args);
}

static int
s_mode (const char *path)
{
    struct stat info;
    return stat (path, &info) == 0? (int) (info.st_mode & 07777): -1;
}


//  --------------------------------------------------------------------------
//  Keys: make a key pair and save it as curve_keygen does (NAME.key public,
//  NAME.key_secret with mode 0600, the directory created with mode 0700)

static bool
s_make_key (const char *dir, const char *name, char *public_txt)
{
    uint8_t public_key [CURVE_KEY_BYTES];
    uint8_t secret_key [CURVE_KEY_BYTES];
    crypto_box_keypair (public_key, secret_key);
    zcert_t *cert = zcert_new_from (public_key, secret_key);
    sodium_memzero (secret_key, sizeof secret_key);
    if (!cert) {
        s_fail ("out of memory");
        return false;
    }
    zcert_set_meta (cert, "name", "%s", name);
    char error [CURVE_CERT_ERROR_MAX];
    int rc = curve_cert_save (cert, dir, name, false, error, sizeof error);
    if (rc == 0)
        strcpy (public_txt, zcert_public_txt (cert));
    else
        s_fail ("curve_cert_save: %s", error);
    curve_cert_destroy (&cert);
    return rc == 0;
}

//  Copy a (small) file; the copy gets mode 0644, like a public key file
static bool
s_copy_file (const char *source, const char *target)
{
    char buffer [CURVE_CERT_FILE_MAX];
    size_t size = 0;
    FILE *input = fopen (source, "rb");
    if (input) {
        size = fread (buffer, 1, sizeof buffer, input);
        fclose (input);
    }
    if (size == 0 || size == sizeof buffer) {
        s_fail ("cannot read %s", source);
        return false;
    }
    int handle = open (target, O_WRONLY | O_CREAT | O_EXCL, 0644);
    bool written = handle >= 0
                && write (handle, buffer, size) == (ssize_t) size;
    if (handle >= 0 && close (handle))
        written = false;
    if (!written)
        s_fail ("cannot write %s: %s", target, strerror (errno));
    return written;
}


//  --------------------------------------------------------------------------
//  Waiting, always with a time limit

//  Wait for a server event named name ([name][routing or key][detail]),
//  discarding others. Returns true and the two argument frames (caller
//  frees) if it came in time.
static bool
s_server_event (demo_t *self, const char *name, char **first_p,
                char **second_p)
{
    zsock_t *monitor = curve_server_monitor (self->server);
    zpoller_t *poller = zpoller_new (monitor, NULL);
    int64_t deadline = zclock_mono () + WAIT_MSEC;
    bool found = false;
    while (!found && poller) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || !zpoller_wait (poller, (int) left))
            break;
        zmsg_t *event = zmsg_recv (monitor);
        if (!event)
            break;
        char *event_name = zmsg_popstr (event);
        char *first = zmsg_popstr (event);
        char *second = zmsg_popstr (event);
        if (event_name && streq (event_name, name)) {
            found = true;
            *first_p = first;
            *second_p = second;
        }
        else {
            if (self->verbose)
                printf ("    (server event %s %s %s)\n",
                        event_name? event_name: "?", first? first: "",
                        second? second: "");
            zstr_free (&first);
            zstr_free (&second);
        }
        zstr_free (&event_name);
        zmsg_destroy (&event);
    }
    zpoller_destroy (&poller);
    if (!found)
        s_fail ("no %s event from the server within %d ms", name, WAIT_MSEC);
    return found;
}

//  Receive one message from a socket within the time limit, or NULL
static zmsg_t *
s_recv_within (zsock_t *sock)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    zmsg_t *msg = poller && zpoller_wait (poller, WAIT_MSEC)
                ? zmsg_recv (sock): NULL;
    zpoller_destroy (&poller);
    return msg;
}

//  Start a client with the secret certificate and connect it to the server
//  with the public key read back from the server's .key file. Returns the
//  event that followed: "CONNECTED" or "REJECTED" (caller frees, detail
//  too), or NULL.
static char *
s_client_start (demo_t *self, zcert_t *client_cert, char **detail_p)
{
    char error [CURVE_CERT_ERROR_MAX];
    zcert_t *server_public = curve_cert_load_public (self->server_public_path,
                                                     error, sizeof error);
    if (!server_public) {
        s_fail ("curve_cert_load_public: %s", error);
        return NULL;
    }
    printf ("    server key read back from %s: %s\n",
            self->server_public_path, zcert_public_txt (server_public));
    if (!streq (zcert_public_txt (server_public), self->server_public_txt)) {
        s_fail ("that is not the key that was saved");
        zcert_destroy (&server_public);
        return NULL;
    }
    self->client = curve_client_new (client_cert);
    if (!self->client) {
        s_fail ("curve_client_new");
        zcert_destroy (&server_public);
        return NULL;
    }
    curve_client_set_verbose (self->client, self->verbose);
    int rc = curve_client_connect (self->client, self->endpoint,
                                   zcert_public_txt (server_public));
    zcert_destroy (&server_public);
    if (rc) {
        s_fail ("curve_client_connect");
        return NULL;
    }
    char *event = curve_client_wait (self->client, "CONNECTED|REJECTED",
                                     WAIT_MSEC, detail_p);
    if (!event)
        s_fail ("neither CONNECTED nor REJECTED within %d ms", WAIT_MSEC);
    return event;
}


//  --------------------------------------------------------------------------
//  The steps; each prints what it does and returns false if anything was
//  not as expected

static bool
s_make_scratch (demo_t *self)
{
    s_step (self, "Scratch directory (nothing under ~/.curve is touched)");
    strcpy (self->scratch, SCRATCH_TEMPLATE);
    if (!mkdtemp (self->scratch)) {
        s_fail ("mkdtemp: %s", strerror (errno));
        return false;
    }
    self->server_dir = zsys_sprintf ("%s/server", self->scratch);
    self->client_dir = zsys_sprintf ("%s/client", self->scratch);
    self->clients_dir = zsys_sprintf ("%s/%s", self->server_dir,
                                      CURVE_CERT_CLIENTS_DIR);
    self->server_public_path = zsys_sprintf ("%s/server%s", self->server_dir,
                                             CURVE_CERT_SUFFIX);
    self->server_secret_path = zsys_sprintf ("%s%s", self->server_public_path,
                                             CURVE_CERT_SECRET_SUFFIX);
    self->client_public_path = zsys_sprintf ("%s/client%s", self->client_dir,
                                             CURVE_CERT_SUFFIX);
    self->client_secret_path = zsys_sprintf ("%s%s", self->client_public_path,
                                             CURVE_CERT_SECRET_SUFFIX);
    self->authorized_path = zsys_sprintf ("%s/client%s", self->clients_dir,
                                          CURVE_CERT_SUFFIX);
    printf ("    %s\n", self->scratch);
    return true;
}

static bool
s_make_keys (demo_t *self)
{
    s_step (self, "Key pairs, saved with curve_cert_save (as curve_keygen "
                  "does)");
    if (!s_make_key (self->server_dir, "server", self->server_public_txt)
    ||  !s_make_key (self->client_dir, "client", self->client_public_txt))
        return false;
    const char *paths [] = {
        self->server_public_path, self->server_secret_path,
        self->client_public_path, self->client_secret_path
    };
    for (size_t index = 0; index < 4; index++) {
        int mode = s_mode (paths [index]);
        bool secret = index % 2 == 1;
        printf ("    %04o %s\n", mode, paths [index]);
        if (secret && mode != 0600) {
            s_fail ("a secret file should have mode 0600");
            return false;
        }
    }
    printf ("    server public key: %s\n", self->server_public_txt);
    printf ("    client public key: %s\n", self->client_public_txt);
    return true;
}

static bool
s_authorize_client (demo_t *self)
{
    s_step (self, "Authorise the client: copy its public .key (only) into "
                  "authorized_clients");
    if (mkdir (self->clients_dir, 0700)) {
        s_fail ("mkdir %s: %s", self->clients_dir, strerror (errno));
        return false;
    }
    if (!s_copy_file (self->client_public_path, self->authorized_path))
        return false;
    printf ("    %s -> %s\n", self->client_public_path, self->authorized_path);
    //  The checks zauth's certificate store does not do for itself
    char error [CURVE_CERT_ERROR_MAX];
    int count = curve_cert_store_check (self->clients_dir, error,
                                        sizeof error);
    if (count != 1) {
        s_fail ("curve_cert_store_check: %s", count < 0? error:
                "expected exactly one client certificate");
        return false;
    }
    printf ("    curve_cert_store_check: %d client certificate, directory "
            "safe for zauth\n", count);
    return true;
}

static bool
s_start_server (demo_t *self)
{
    s_step (self, "zauth with CURVE + authorized_clients, then the server");
    //  zauth first: the server looks for a ZAP handler at its first
    //  handshake, and zauth aborts if it finds its endpoint taken
    self->auth = zactor_new (zauth, NULL);
    if (!self->auth) {
        s_fail ("zauth did not start");
        return false;
    }
    if (self->verbose) {
        zstr_send (self->auth, "VERBOSE");
        zsock_wait (self->auth);
    }
    zstr_sendx (self->auth, "CURVE", self->clients_dir, NULL);
    zsock_wait (self->auth);
    printf ("    zauth: CURVE %s\n", self->clients_dir);

    char error [CURVE_CERT_ERROR_MAX];
    zcert_t *server_cert = curve_cert_load_secret (self->server_secret_path,
                                                   error, sizeof error);
    if (!server_cert) {
        s_fail ("curve_cert_load_secret: %s", error);
        return false;
    }
    self->server = curve_server_new (server_cert);
    curve_cert_destroy (&server_cert);     //  The server keeps a copy
    if (!self->server) {
        s_fail ("curve_server_new");
        return false;
    }
    curve_server_set_verbose (self->server, self->verbose);
    if (curve_server_bind (self->server, "tcp://127.0.0.1:*") <= 0) {
        s_fail ("curve_server_bind tcp://127.0.0.1:*");
        return false;
    }
    self->endpoint = curve_server_endpoint (self->server);
    printf ("    server (key %s) listening on %s\n",
            self->server_public_txt, self->endpoint);
    return self->endpoint != NULL;
}

//  Load the client's secret certificate: refused while others can read
//  the file, accepted at 0600. Returns the certificate or NULL.
static zcert_t *
s_load_client_cert (demo_t *self)
{
    s_step (self, "Client secret key, loaded with curve_cert_load_secret");
    char error [CURVE_CERT_ERROR_MAX];
    if (chmod (self->client_secret_path, 0644)) {
        s_fail ("chmod: %s", strerror (errno));
        return NULL;
    }
    zcert_t *cert = curve_cert_load_secret (self->client_secret_path,
                                            error, sizeof error);
    if (chmod (self->client_secret_path, 0600)) {
        s_fail ("chmod: %s", strerror (errno));
        curve_cert_destroy (&cert);
        return NULL;
    }
    if (cert) {
        s_fail ("a secret file with mode 0644 was accepted");
        curve_cert_destroy (&cert);
        return NULL;
    }
    printf ("    at mode 0644, refused: %s\n", error);
    cert = curve_cert_load_secret (self->client_secret_path,
                                   error, sizeof error);
    if (!cert) {
        s_fail ("at mode 0600: %s", error);
        return NULL;
    }
    if (!streq (zcert_public_txt (cert), self->client_public_txt)) {
        s_fail ("the loaded public key is not the client's");
        curve_cert_destroy (&cert);
        return NULL;
    }
    printf ("    at mode 0600, loaded: public key %s\n",
            zcert_public_txt (cert));
    return cert;
}

static bool
s_connect (demo_t *self, zcert_t *client_cert)
{
    s_step (self, "Client connects with the server's public key");
    char *detail = NULL;
    char *event = s_client_start (self, client_cert, &detail);
    bool connected = event && streq (event, "CONNECTED");
    if (event)
        printf ("    client: %s %s\n", event, detail? detail: "");
    if (event && !connected)
        s_fail ("expected CONNECTED");
    zstr_free (&event);
    zstr_free (&detail);
    if (!connected)
        return false;

    char *routing = NULL;
    char *client_key = NULL;
    if (!s_server_event (self, "CONNECTED", &routing, &client_key))
        return false;
    printf ("    server: CONNECTED %s, client key %s\n", routing,
            client_key? client_key: "?");
    bool same = client_key && streq (client_key, self->client_public_txt);
    if (!same)
        s_fail ("the server saw another client key");
    zstr_free (&routing);
    zstr_free (&client_key);
    return same;
}

static bool
s_exchange (demo_t *self)
{
    s_step (self, "Encrypted messages, both ways");
    for (int count = 1; count <= MESSAGE_COUNT; count++) {
        //  Client to server
        zmsg_t *msg = zmsg_new ();
        zmsg_addstrf (msg, "Hello %d from the client", count);
        if (curve_client_send (self->client, &msg)) {
            zmsg_destroy (&msg);
            s_fail ("curve_client_send");
            return false;
        }
        msg = s_recv_within (curve_server_sock (self->server));
        char *routing = msg? zmsg_popstr (msg): NULL;
        char *text = msg? zmsg_popstr (msg): NULL;
        zmsg_destroy (&msg);
        bool good = routing && text;
        if (good) {
            printf ("    server got \"%s\" from %s\n", text, routing);
            //  The routing frame starts with the client's permanent key
            good = strncmp (routing, self->client_public_txt, 40) == 0;
            if (!good)
                s_fail ("that is not the authorised client's key");
            if (good && count == 1) {
                char *key = curve_server_property (self->server, routing,
                                                   "Public-Key");
                char *name = curve_server_property (self->server, routing,
                                                    "User-Id");
                printf ("    server: client Public-Key %s, User-Id \"%s\"\n",
                        key? key: "?", name? name: "");
                good = key && streq (key, self->client_public_txt);
                if (!good)
                    s_fail ("Public-Key property is not the client's key");
                zstr_free (&key);
                zstr_free (&name);
            }
        }
        else
            s_fail ("the server received nothing within %d ms", WAIT_MSEC);
        //  Server to client: the routing frame first
        if (good) {
            msg = zmsg_new ();
            zmsg_addstr (msg, routing);
            zmsg_addstrf (msg, "World %d from the server", count);
            good = curve_server_send (self->server, &msg) == 0;
            zmsg_destroy (&msg);
            if (!good)
                s_fail ("curve_server_send");
        }
        zstr_free (&routing);
        zstr_free (&text);
        if (!good)
            return false;
        msg = s_recv_within (curve_client_sock (self->client));
        text = msg? zmsg_popstr (msg): NULL;
        zmsg_destroy (&msg);
        if (!text) {
            s_fail ("the client received nothing within %d ms", WAIT_MSEC);
            return false;
        }
        printf ("    client got \"%s\"\n", text);
        char expect [64];
        snprintf (expect, sizeof expect, "World %d from the server", count);
        good = streq (text, expect);
        zstr_free (&text);
        if (!good) {
            s_fail ("expected \"%s\"", expect);
            return false;
        }
    }
    curve_client_destroy (&self->client);
    printf ("    client closed\n");
    return true;
}

static bool
s_revoke (demo_t *self, zcert_t *client_cert)
{
    s_step (self, "Revoke: remove the client's .key from authorized_clients");
    if (unlink (self->authorized_path)) {
        s_fail ("unlink %s: %s", self->authorized_path, strerror (errno));
        return false;
    }
    printf ("    removed %s\n", self->authorized_path);
    char error [CURVE_CERT_ERROR_MAX];
    int count = curve_cert_store_check (self->clients_dir, error,
                                        sizeof error);
    printf ("    curve_cert_store_check: %d client certificates\n", count);
    if (count != 0) {
        s_fail ("expected none");
        return false;
    }

    s_step (self, "The same client connects again, and is denied");
    char *detail = NULL;
    char *event = s_client_start (self, client_cert, &detail);
    bool rejected = event && streq (event, "REJECTED");
    if (event)
        printf ("    client: %s \"%s\"\n", event, detail? detail: "");
    if (event && !rejected)
        s_fail ("expected REJECTED");
    zstr_free (&event);
    zstr_free (&detail);
    if (!rejected)
        return false;

    char *client_key = NULL;
    char *reason = NULL;
    if (!s_server_event (self, "DENIED", &client_key, &reason))
        return false;
    printf ("    server: DENIED %s \"%s\"\n", client_key? client_key: "?",
            reason? reason: "");
    bool same = client_key && streq (client_key, self->client_public_txt);
    if (!same)
        s_fail ("the server denied another key");
    zstr_free (&client_key);
    zstr_free (&reason);
    if (!same)
        return false;

    //  RFC 26: a rejected client does not try again, and refuses to send
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "Hello again?");
    int rc = curve_client_send (self->client, &msg);
    zmsg_destroy (&msg);
    printf ("    curve_client_send after REJECTED returns %d\n", rc);
    if (rc != -1) {
        s_fail ("expected -1");
        return false;
    }
    return true;
}

//  Destroy everything and remove exactly the files and directories the
//  demo created. Returns false if the scratch directory could not go.
static bool
s_cleanup (demo_t *self)
{
    curve_client_destroy (&self->client);
    curve_server_destroy (&self->server);
    zactor_destroy (&self->auth);
    bool removed = true;
    if (*self->scratch) {
        char *files [] = {
            self->authorized_path,
            self->server_public_path, self->server_secret_path,
            self->client_public_path, self->client_secret_path
        };
        for (size_t index = 0; index < 5; index++)
            if (files [index] && unlink (files [index]) && errno != ENOENT)
                removed = false;
        char *dirs [] = {
            self->clients_dir, self->server_dir, self->client_dir,
            self->scratch
        };
        for (size_t index = 0; index < 4; index++)
            if (dirs [index] && rmdir (dirs [index]) && errno != ENOENT)
                removed = false;
        printf ("\n[%d] Scratch directory %s %s\n", ++self->step,
                self->scratch, removed? "removed": "NOT removed");
    }
    zstr_free (&self->server_dir);
    zstr_free (&self->client_dir);
    zstr_free (&self->clients_dir);
    zstr_free (&self->server_public_path);
    zstr_free (&self->server_secret_path);
    zstr_free (&self->client_public_path);
    zstr_free (&self->client_secret_path);
    zstr_free (&self->authorized_path);
    zstr_free (&self->endpoint);
    return removed;
}


int
main (int argc, char **argv)
{
    demo_t demo;
    memset (&demo, 0, sizeof demo);
    for (int argn = 1; argn < argc; argn++) {
        if (streq (argv [argn], "-v"))
            demo.verbose = true;
        else {
            fprintf (stderr, "usage: %s [-v]\n", argv [0]);
            return 2;
        }
    }
    setvbuf (stdout, NULL, _IOLBF, 0);  //  Keep the transcript in order
    if (sodium_init () < 0) {
        fprintf (stderr, "hello: libsodium cannot start\n");
        return 1;
    }
    printf ("hello: Ironhouse with curve_server, curve_client and zauth\n");

    zcert_t *client_cert = NULL;
    bool passed = s_make_scratch (&demo)
               && s_make_keys (&demo)
               && s_authorize_client (&demo)
               && s_start_server (&demo)
               && (client_cert = s_load_client_cert (&demo)) != NULL
               && s_connect (&demo, client_cert)
               && s_exchange (&demo)
               && s_revoke (&demo, client_cert);
    curve_cert_destroy (&client_cert);
    int last_step = demo.step;
    if (!s_cleanup (&demo)) {
        passed = false;
        last_step = demo.step;
    }
    if (passed)
        printf ("\nhello: every step passed\n");
    else
        printf ("\nhello: FAILED at step %d\n", last_step);
    return passed? 0: 1;
}
