/*  =========================================================================
    secure_actor - an ordinary czmq actor behind a curve_server

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    A key-value store written as a plain czmq actor, with no idea of
    encryption, is put behind a curve_server with one call
    (curve_server_attach). Remote curve_clients then talk to it end to end
    encrypted, and the actor sees each client's identity (its public key)
    in the first frame of every request, so it can keep each client's data
    apart.
@end
*/

#include <curve.h>

//  The unmodified actor: requests are [client][command][key][value?];
//  it keeps one table per client and answers [client][reply]
static void
s_kvstore (zsock_t *pipe, void *args)
{
    zhash_t *store = zhash_new ();
    zhash_autofree (store);
    zsock_signal (pipe, 0);
    while (true) {
        zmsg_t *request = zmsg_recv (pipe);
        if (!request)
            break;
        char *client = zmsg_popstr (request);
        if (!client || streq (client, "$TERM")) {
            zstr_free (&client);
            zmsg_destroy (&request);
            break;
        }
        char *command = zmsg_popstr (request);
        char *key = zmsg_popstr (request);
        char *value = zmsg_popstr (request);
        //  The client's key is part of every name: clients cannot see each
        //  other's data
        char *name = zsys_sprintf ("%.40s/%s", client, key? key: "");
        zmsg_t *reply = zmsg_new ();
        zmsg_addstr (reply, client);
        if (command && streq (command, "SET") && value) {
            zhash_update (store, name, value);
            zmsg_addstr (reply, "OK");
        }
        else
        if (command && streq (command, "GET")) {
            const char *found = (const char *) zhash_lookup (store, name);
            zmsg_addstr (reply, found? found: "(none)");
        }
        else
            zmsg_addstr (reply, "ERROR bad request");
        zmsg_send (&reply, pipe);
        zstr_free (&client);
        zstr_free (&command);
        zstr_free (&key);
        zstr_free (&value);
        zstr_free (&name);
        zmsg_destroy (&request);
    }
    zhash_destroy (&store);
}

//  Send one request and wait (bounded) for its reply
static char *
s_ask (curve_client_t *client, const char *command, const char *key,
       const char *value)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, command);
    zmsg_addstr (msg, key);
    if (value)
        zmsg_addstr (msg, value);
    curve_client_send (client, &msg);
    zpoller_t *poller = zpoller_new (curve_client_sock (client), NULL);
    char *reply = zpoller_wait (poller, 10000)?
                  zstr_recv (curve_client_sock (client)): NULL;
    zpoller_destroy (&poller);
    return reply;
}

int
main (int argc, char *argv [])
{
    printf ("secure_actor: a plain czmq key-value actor behind a curve_server\n");
    zcert_t *server_cert = zcert_new ();
    zactor_t *kvstore = zactor_new (s_kvstore, NULL);
    curve_server_t *server = curve_server_new (server_cert);
    //  The one call: the actor now serves encrypted clients
    if (!server || curve_server_attach (server, kvstore)
    ||  curve_server_bind (server, "tcp://127.0.0.1:*") <= 0) {
        fprintf (stderr, "secure_actor: cannot start the server\n");
        return 1;
    }
    char *endpoint = curve_server_endpoint (server);
    printf ("server listening on %s\n", endpoint);

    zcert_t *alice_cert = zcert_new ();
    zcert_t *bob_cert = zcert_new ();
    curve_client_t *alice = curve_client_new (alice_cert);
    curve_client_t *bob = curve_client_new (bob_cert);
    curve_client_connect (alice, endpoint, zcert_public_txt (server_cert));
    curve_client_connect (bob, endpoint, zcert_public_txt (server_cert));

    int failures = 0;
    struct {
        curve_client_t *client;
        const char *who, *command, *key, *value, *expect;
    } steps [] = {
        { alice, "alice", "SET", "color", "blue", "OK" },
        { bob, "bob", "SET", "color", "red", "OK" },
        { alice, "alice", "GET", "color", NULL, "blue" },
        { bob, "bob", "GET", "color", NULL, "red" },
        { bob, "bob", "GET", "size", NULL, "(none)" },
    };
    for (size_t index = 0; index < sizeof steps / sizeof steps [0]; index++) {
        char *reply = s_ask (steps [index].client, steps [index].command,
                             steps [index].key, steps [index].value);
        bool good = reply && streq (reply, steps [index].expect);
        printf ("  %-5s %s %s%s%s -> %s%s\n", steps [index].who,
                steps [index].command, steps [index].key,
                steps [index].value? " ": "",
                steps [index].value? steps [index].value: "",
                reply? reply: "(no reply)", good? "": "   WRONG");
        if (!good)
            failures++;
        zstr_free (&reply);
    }
    printf (failures? "secure_actor: FAILED\n":
                      "secure_actor: each client saw only its own data\n");
    curve_client_destroy (&alice);
    curve_client_destroy (&bob);
    curve_server_destroy (&server);     //  Before the actor it serves
    zactor_destroy (&kvstore);
    zcert_destroy (&alice_cert);
    zcert_destroy (&bob_cert);
    zcert_destroy (&server_cert);
    zstr_free (&endpoint);
    return failures? 1: 0;
}
