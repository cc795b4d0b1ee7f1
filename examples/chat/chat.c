/*  =========================================================================
    chat - encrypted chat between friends through an untrusted broker

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    chat is a terminal chat client over curve_peer. Each friend is a public
    certificate (a .key file made by curve_keygen, with a "name" in its
    metadata) in a friends directory; every message travels end to end in
    a CurveZMQ session with that friend, through a broker (chat_broker)
    that forwards ciphertext and holds no keys.

    Lines typed on standard input:
        @NAME text      say text to one friend (NAME: the "name" in the
                        friend's certificate, or its Z85 key)
        text            say text to every friend in the directory, each
                        copy encrypted for that friend alone
        /friends        list the friends in the directory
        /quit           leave (as does the end of input)
    Incoming messages print as "[name] text", and what happens to the
    sessions as lines starting with "*" (connected, not answering, a
    forged message refused, messages lost...).

    With --script FILE, lines come from FILE instead, and two more lines
    make it a test that cannot hang:
        wait N          wait until N messages in all have been received
        expect TEXT     wait until a received line ("[name] text") that
                        contains TEXT has arrived (each line satisfies one
                        expect; earlier arrivals count)
    Blank lines and lines starting with "#" are skipped. Each wait has a
    time limit (--timeout, 20 s by default); when it passes, chat says what
    it was waiting for and exits 1. At the end of the script it exits 0.
@discuss
    Usage: chat --name NAME --cert SECRET_CERT --friends DIR
                --broker ENDPOINT [--script FILE] [--timeout SECONDS] [-v]

    curve_peer has no call that waits until the friends have what we sent,
    so a script that must be sure ends with wait/expect lines: when a
    friend answers, it has read what came before. Before leaving, chat
    makes a round trip to the peer's actor (a settings call), which takes
    what we queued ahead of it, so that the last lines leave before the
    peer is destroyed.
@end
*/

#include "curve.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE          2
#define LINE_MAX_CHARS      4096    //  Longest line we read
#define DEFAULT_TIMEOUT     20      //  Seconds a script may wait

static const char *s_program = "chat";

typedef struct {
    //  Options
    const char *name_option;        //  --name, if given
    const char *cert_path;          //  Our secret certificate
    const char *friends;            //  Directory of friends' .key files
    const char *broker;             //  Broker endpoint
    const char *script_path;        //  Script, or NULL for stdin
    int timeout;                    //  ms a script step may wait
    bool verbose;                   //  Trace curve_peer to stderr
    //  State
    char *name;                     //  Who we are, for the transcript
    curve_peer_t *peer;             //  Our sessions with the friends
    char key [41];                  //  Our public key, Z85
    size_t received;                //  Messages received so far
    zlist_t *arrived;               //  Script: lines no expect has used
    zlist_t *script;                //  Script: lines still to run
    int64_t deadline;               //  Script: when the current wait ends
    char input [LINE_MAX_CHARS + 1];    //  Stdin: a partial line
    size_t input_size;
    bool quit;                      //  Leave the main loop
    int status;                     //  Exit status
} chat_t;


//  --------------------------------------------------------------------------
//  Small helpers

//  A friend's name from its certificate, else its key. Caller frees.
static char *
s_display_name (chat_t *self, const char *key)
{
    char *name = curve_peer_name (self->peer, key);
    return name? name: strdup (key);
}

//  Replace control characters, so that a friend's text cannot drive our
//  terminal
static void
s_clean (char *text)
{
    for (unsigned char *scan = (unsigned char *) text; *scan; scan++)
        if (*scan < 0x20 || *scan == 0x7f)
            *scan = '?';
}

//  Our friends' keys (Z85, caller destroys the list): every public .key
//  file in the directory, our own key and repeats left out. With report,
//  say which files are not usable certificates.
static zlist_t *
s_friend_keys (chat_t *self, bool report)
{
    zlist_t *keys = zlist_new ();
    assert (keys);
    zlist_autofree (keys);
    zlist_comparefn (keys, (zlist_compare_fn *) strcmp);
    zdir_t *dir = zdir_new (self->friends, "-");
    zfile_t **files = dir? zdir_flatten (dir): NULL;
    for (size_t index = 0; files && files [index]; index++) {
        const char *path = zfile_filename (files [index], NULL);
        size_t length = strlen (path);
        size_t suffix = strlen (CURVE_CERT_SUFFIX);
        if (length <= suffix || !streq (path + length - suffix,
                                        CURVE_CERT_SUFFIX))
            continue;               //  Secret files, notes, anything else
        char error [CURVE_CERT_ERROR_MAX];
        zcert_t *cert = curve_cert_load_public (path, error, sizeof error);
        if (!cert) {
            if (report)
                printf ("* ignoring %s: %s\n", path, error);
            continue;
        }
        const char *key = zcert_public_txt (cert);
        if (!streq (key, self->key)
        &&  !zlist_exists (keys, (void *) key))
            zlist_append (keys, (void *) key);
        zcert_destroy (&cert);
    }
    if (files)
        zdir_flatten_free (&files);
    zdir_destroy (&dir);
    return keys;
}

//  "bob, carol" (caller frees)
static char *
s_friend_names (chat_t *self, zlist_t *keys)
{
    char *names = strdup ("");
    for (const char *key = (const char *) zlist_first (keys); key && names;
         key = (const char *) zlist_next (keys)) {
        char *name = s_display_name (self, key);
        char *longer = zsys_sprintf ("%s%s%s", names, *names? ", ": "", name);
        free (names);
        free (name);
        names = longer;
    }
    return names;
}


//  --------------------------------------------------------------------------
//  Sending

static void
s_say_to (chat_t *self, const char *friend, const char *text)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, text);
    if (curve_peer_send (self->peer, friend, &msg)) {
        printf ("* no friend called '%s' in %s\n", friend, self->friends);
        zmsg_destroy (&msg);
    }
}

static void
s_say_to_all (chat_t *self, const char *text)
{
    zlist_t *keys = s_friend_keys (self, false);
    if (zlist_size (keys) == 0)
        printf ("* nobody to talk to: no friend's %s file in %s\n",
                CURVE_CERT_SUFFIX, self->friends);
    for (const char *key = (const char *) zlist_first (keys); key;
         key = (const char *) zlist_next (keys))
        s_say_to (self, key, text);
    zlist_destroy (&keys);
}

//  One line from the user or the script
static void
s_command (chat_t *self, char *line)
{
    if (streq (line, "/quit"))
        self->quit = true;
    else
    if (streq (line, "/friends")) {
        zlist_t *keys = s_friend_keys (self, true);
        for (const char *key = (const char *) zlist_first (keys); key;
             key = (const char *) zlist_next (keys)) {
            char *name = s_display_name (self, key);
            printf ("* friend %s: %s\n", name, key);
            free (name);
        }
        if (zlist_size (keys) == 0)
            printf ("* no friends in %s\n", self->friends);
        zlist_destroy (&keys);
    }
    else
    if (*line == '@') {
        char *friend = line + 1;
        char *text = friend + strcspn (friend, " \t");
        if (*text)
            *text++ = 0;
        text += strspn (text, " \t");
        if (!*friend || !*text)
            printf ("* usage: @NAME text\n");
        else
            s_say_to (self, friend, text);
    }
    else
    if (*line)
        s_say_to_all (self, line);
}


//  --------------------------------------------------------------------------
//  Receiving

static void
s_on_message (chat_t *self)
{
    zmsg_t *msg = curve_peer_recv (self->peer);
    char *key = msg? zmsg_popstr (msg): NULL;
    if (!key) {
        zmsg_destroy (&msg);
        return;
    }
    //  A message is one text frame; show any others after it
    char *text = strdup ("");
    char *frame;
    while (text && (frame = zmsg_popstr (msg))) {
        char *longer = zsys_sprintf ("%s%s%s", text, *text? " ": "", frame);
        free (text);
        free (frame);
        text = longer;
    }
    char *name = s_display_name (self, key);
    char *line = text? zsys_sprintf ("[%s] %s", name, text): NULL;
    if (line) {
        s_clean (line);
        printf ("%s\n", line);
        self->received++;
        if (self->arrived)
            zlist_append (self->arrived, line);
        free (line);
    }
    free (name);
    free (text);
    free (key);
    zmsg_destroy (&msg);
}

//  Events are [name][peer key][detail]; say them in words
static void
s_on_event (chat_t *self)
{
    char *event = NULL, *key = NULL, *detail = NULL;
    if (zstr_recvx (curve_peer_monitor (self->peer), &event, &key, &detail,
                    NULL) < 1) {
        zstr_free (&event);
        return;
    }
    if (!key)
        key = strdup ("");
    if (!detail)
        detail = strdup ("");
    s_clean (detail);
    char *who = *key? s_display_name (self, key): strdup ("the broker");
    if (streq (event, "CONNECTED"))
        printf ("* %s connected\n", who);
    else
    if (streq (event, "RECONNECTED"))
        printf ("* %s is back\n", who);
    else
    if (streq (event, "DISCONNECTED"))
        printf ("* %s went quiet (%s)\n", who, detail);
    else
    if (streq (event, "HANDSHAKE-FAILED"))
        printf ("* %s is not answering (handshake failed: %s)\n", who,
                detail);
    else
    if (streq (event, "REJECTED"))
        printf ("* %s refused to talk to us (%s)\n", who, detail);
    else
    if (streq (event, "LOST")) {
        //  "N message(s) ..." when the session knows how many
        char *rest;
        unsigned long count = strtoul (detail, &rest, 10);
        if (rest != detail && strncmp (rest, " message", 8) == 0) {
            rest += 8;
            rest += *rest == 's';
            rest += strspn (rest, " :");
            printf ("* lost %lu message%s to %s (%s)\n", count,
                    count == 1? "": "s", who, rest);
        }
        else
            printf ("* lost a message to %s (%s)\n", who, detail);
    }
    else
    if (streq (event, "REFUSED"))
        printf ("* refused a forged message from %s (%s)\n", who, detail);
    else
    if (streq (event, "UNKNOWN"))
        printf ("* refused a message from a stranger, key %s (%s)\n", key,
                detail);
    else
        printf ("* %s %s %s\n", event, who, detail);
    free (who);
    zstr_free (&event);
    zstr_free (&key);
    zstr_free (&detail);
}


//  --------------------------------------------------------------------------
//  Input: a script, or standard input

static bool
s_load_script (chat_t *self)
{
    FILE *file = fopen (self->script_path, "r");
    if (!file) {
        fprintf (stderr, "%s: cannot read %s: %s\n", s_program,
                 self->script_path, strerror (errno));
        return false;
    }
    self->script = zlist_new ();
    self->arrived = zlist_new ();
    assert (self->script && self->arrived);
    zlist_autofree (self->script);
    zlist_autofree (self->arrived);
    char line [LINE_MAX_CHARS + 2];
    while (fgets (line, sizeof line, file)) {
        line [strcspn (line, "\r\n")] = 0;
        zlist_append (self->script, line);
    }
    bool good = !ferror (file);
    if (!good)
        fprintf (stderr, "%s: error reading %s\n", s_program,
                 self->script_path);
    fclose (file);
    return good;
}

//  Is the wait at the head of the script over? An expect takes the first
//  line that matches.
static bool
s_satisfied (chat_t *self, const char *step)
{
    if (strncmp (step, "wait ", 5) == 0)
        return self->received >= (size_t) atol (step + 5);
    const char *text = step + 7;        //  "expect "
    for (char *line = (char *) zlist_first (self->arrived); line;
         line = (char *) zlist_next (self->arrived))
        if (strstr (line, text)) {
            zlist_remove (self->arrived, line);     //  Frees it
            return true;
        }
    return false;
}

//  Run script lines until one has to wait, or the script ends
static void
s_run_script (chat_t *self)
{
    char *step;
    while (!self->quit && (step = (char *) zlist_first (self->script))) {
        bool waiting = strncmp (step, "wait ", 5) == 0
                    || strncmp (step, "expect ", 7) == 0;
        if (waiting) {
            if (!s_satisfied (self, step)) {
                int64_t now = zclock_mono ();
                if (self->deadline == 0)
                    self->deadline = now + self->timeout;
                else
                if (now >= self->deadline) {
                    fprintf (stderr, "%s: %s: gave up after %d s at '%s' "
                             "(%zu messages received)\n", s_program,
                             self->name, self->timeout / 1000, step,
                             self->received);
                    printf ("* gave up at '%s'\n", step);
                    self->status = 1;
                    self->quit = true;
                }
                return;
            }
            self->deadline = 0;
        }
        else
        if (*step && *step != '#') {
            printf ("> %s\n", step);
            s_command (self, step);
        }
        free (zlist_pop (self->script));
    }
    if (!self->quit) {
        self->status = 0;           //  Every line done, every wait met
        self->quit = true;
    }
}

//  Read what stdin has; run each complete line. Returns false at the end
//  of input.
static bool
s_read_stdin (chat_t *self)
{
    ssize_t size = read (STDIN_FILENO, self->input + self->input_size,
                         LINE_MAX_CHARS - self->input_size);
    if (size < 0)
        return errno == EINTR || errno == EAGAIN;
    self->input_size += (size_t) size;
    bool more = size > 0;
    while (self->input_size && !self->quit) {
        char *newline = (char *) memchr (self->input, '\n', self->input_size);
        size_t length;
        if (newline)
            length = (size_t) (newline - self->input);
        else
        if (!more || self->input_size == LINE_MAX_CHARS)
            length = self->input_size;      //  Last line, or too long
        else
            break;
        char line [LINE_MAX_CHARS + 1];
        memcpy (line, self->input, length);
        line [length] = 0;
        line [strcspn (line, "\r")] = 0;
        size_t used = newline? length + 1: length;
        memmove (self->input, self->input + used, self->input_size - used);
        self->input_size -= used;
        s_command (self, line);
    }
    return more;
}


//  --------------------------------------------------------------------------
//  The session

static int
s_usage (FILE *stream, int status)
{
    fprintf (stream,
        "usage: %s --name NAME --cert SECRET_CERT --friends DIR --broker "
        "ENDPOINT\n"
        "            [--script FILE] [--timeout SECONDS] [-v]\n"
        "\n"
        "Chat with friends, end to end encrypted, through a chat_broker.\n"
        "SECRET_CERT is your key (curve_keygen NAME --meta name=NAME makes\n"
        "NAME.key and NAME.key_secret); DIR holds your friends' public .key\n"
        "files. Type '@NAME text' to one friend, 'text' to all of them,\n"
        "'/friends' to list them, '/quit' to leave.\n"
        "\n"
        "  -n, --name NAME       your name (default: the name in your cert)\n"
        "  -c, --cert FILE       your secret certificate\n"
        "  -f, --friends DIR     your friends' public certificates\n"
        "  -b, --broker ENDPOINT where chat_broker listens\n"
        "  -s, --script FILE     read lines from FILE, with 'wait N' and\n"
        "                        'expect TEXT'; exit 1 if a wait fails\n"
        "  -t, --timeout SECONDS longest wait in a script (default %d)\n"
        "  -v, --verbose         trace the sessions on stderr\n"
        "  -h, --help            show this help\n",
        s_program, DEFAULT_TIMEOUT);
    return status;
}

//  Returns 0, or the exit status for a bad command line
static int
s_parse (chat_t *self, int argc, char **argv)
{
    self->timeout = DEFAULT_TIMEOUT * 1000;
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv [argn];
        if (streq (arg, "-h") || streq (arg, "--help"))
            exit (s_usage (stdout, 0));
        if (streq (arg, "-v") || streq (arg, "--verbose")) {
            self->verbose = true;
            continue;
        }
        if (argn + 1 == argc) {
            fprintf (stderr, "%s: %s: missing value\n", s_program, arg);
            return s_usage (stderr, EXIT_USAGE);
        }
        const char *value = argv [++argn];
        if (streq (arg, "-n") || streq (arg, "--name"))
            self->name_option = value;
        else
        if (streq (arg, "-c") || streq (arg, "--cert"))
            self->cert_path = value;
        else
        if (streq (arg, "-f") || streq (arg, "--friends"))
            self->friends = value;
        else
        if (streq (arg, "-b") || streq (arg, "--broker"))
            self->broker = value;
        else
        if (streq (arg, "-s") || streq (arg, "--script"))
            self->script_path = value;
        else
        if (streq (arg, "-t") || streq (arg, "--timeout")) {
            char *end;
            long seconds = strtol (value, &end, 10);
            if (*end || seconds < 1 || seconds > 3600) {
                fprintf (stderr, "%s: --timeout: 1 to 3600 seconds\n",
                         s_program);
                return EXIT_USAGE;
            }
            self->timeout = (int) seconds * 1000;
        }
        else {
            fprintf (stderr, "%s: unknown option '%s'\n", s_program, arg);
            return s_usage (stderr, EXIT_USAGE);
        }
    }
    if (!self->cert_path || !self->friends || !self->broker) {
        fprintf (stderr, "%s: --cert, --friends and --broker are needed\n",
                 s_program);
        return s_usage (stderr, EXIT_USAGE);
    }
    return 0;
}

//  Load our key and make the peer. Returns false with the reason said.
static bool
s_start (chat_t *self)
{
    char error [CURVE_CERT_ERROR_MAX];
    zcert_t *cert = curve_cert_load_secret (self->cert_path, error,
                                            sizeof error);
    if (!cert) {
        fprintf (stderr, "%s: cannot use your key: %s\n", s_program, error);
        return false;
    }
    const char *cert_name = zcert_meta (cert, "name");
    if (self->name_option)
        self->name = strdup (self->name_option);
    else
    if (cert_name)
        self->name = strdup (cert_name);
    if (!self->name) {
        fprintf (stderr, "%s: %s has no name in its metadata: give one "
                 "with --name\n", s_program, self->cert_path);
        curve_cert_destroy (&cert);
        return false;
    }
    if (cert_name && !streq (cert_name, self->name))
        printf ("* note: your certificate says your name is %s\n", cert_name);
    strcpy (self->key, zcert_public_txt (cert));
    self->peer = curve_peer_new (cert, self->friends);
    curve_cert_destroy (&cert);         //  The peer keeps a copy
    if (!self->peer) {
        fprintf (stderr, "%s: cannot read the friends directory %s\n",
                 s_program, self->friends);
        return false;
    }
    curve_peer_set_verbose (self->peer, self->verbose);
    if (curve_peer_connect (self->peer, self->broker)) {
        fprintf (stderr, "%s: cannot connect to %s (not a ZeroMQ "
                 "endpoint?)\n", s_program, self->broker);
        return false;
    }
    zlist_t *keys = s_friend_keys (self, true);
    char *names = s_friend_names (self, keys);
    printf ("* %s (%s) via %s; friends: %s\n", self->name, self->key,
            self->broker, names && *names? names: "none yet");
    free (names);
    zlist_destroy (&keys);
    return true;
}

static void
s_run (chat_t *self)
{
    zmq_pollitem_t items [] = {
        { zsock_resolve (curve_peer_sock (self->peer)), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (curve_peer_monitor (self->peer)), 0, ZMQ_POLLIN, 0 },
        { NULL, STDIN_FILENO, ZMQ_POLLIN, 0 }
    };
    int count = self->script? 2: 3;
    while (!self->quit && !zsys_interrupted) {
        long timeout = -1;
        if (self->script) {
            s_run_script (self);
            if (self->quit)
                break;
            timeout = (long) (self->deadline - zclock_mono ());
            if (timeout < 0)
                timeout = 0;
        }
        if (zmq_poll (items, count, timeout) < 0) {
            if (errno == EINTR)
                continue;
            fprintf (stderr, "%s: zmq_poll: %s\n", s_program,
                     zmq_strerror (errno));
            self->status = 1;
            break;
        }
        if (items [0].revents & ZMQ_POLLIN)
            s_on_message (self);
        if (items [1].revents & ZMQ_POLLIN)
            s_on_event (self);
        if (count == 3 && (items [2].revents & (ZMQ_POLLIN | ZMQ_POLLERR
                                              | ZMQ_POLLPRI))
        &&  !s_read_stdin (self))
            self->quit = true;
    }
    if (zsys_interrupted && self->script) {
        fprintf (stderr, "%s: %s: interrupted\n", s_program, self->name);
        self->status = 1;
    }
}

int
main (int argc, char **argv)
{
    chat_t chat;
    memset (&chat, 0, sizeof chat);
    int status = s_parse (&chat, argc, argv);
    if (status)
        return status;
    setvbuf (stdout, NULL, _IOLBF, 0);      //  Keep the transcript in order
    if (sodium_init () < 0) {
        fprintf (stderr, "%s: libsodium cannot start\n", s_program);
        return 1;
    }
    zsys_init ();                           //  Ctrl-C sets zsys_interrupted
    chat.status = 1;
    if ((chat.script_path == NULL || s_load_script (&chat))
    &&  s_start (&chat)) {
        if (!chat.script)
            chat.status = 0;
        s_run (&chat);
    }
    if (chat.peer) {
        //  A round trip through the peer's actor, so that it has taken
        //  (and encrypted, and sent) what we queued before leaving
        curve_peer_set_verbose (chat.peer, chat.verbose);
        curve_peer_destroy (&chat.peer);
    }
    zlist_destroy (&chat.script);
    zlist_destroy (&chat.arrived);
    free (chat.name);
    return chat.status;
}
