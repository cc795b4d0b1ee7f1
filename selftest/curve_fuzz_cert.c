/*  =========================================================================
    curve_fuzz_cert - libFuzzer harness for certificate files (curve_cert)

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_fuzz_cert gives fuzz input to curve_cert as the content of a
    certificate file: curve_cert_load_secret, curve_cert_load_public and
    curve_cert_store_check read it, and a certificate that loads is saved
    and loaded again. It is built with -fsanitize=fuzzer when CURVE_FUZZ is
    on (and CURVE_CODEC_ONLY is off); selftest/fuzz.sh runs it on the seed
    corpus in selftest/corpus/cert, files as curve_keygen, czmq and pyzmq
    write them and broken variants.
@discuss
    The input is the whole file: no octet of it steers the harness, so
    that any certificate file is a seed as it is. It is written, mode
    0600, to a directory made once per process under $TMPDIR (else
    /dev/shm, else /tmp) and removed at exit.

    Invariants (CHECK aborts, even under NDEBUG):
      - a load returns NULL with a non-empty error message, or a
        certificate whose public key is not all zeros, whose Z85 texts
        encode its keys and appear in the file as they are, and, for a
        secret load, whose public key is crypto_scalarmult_base of its
        secret key; a public load holds an all-zero secret key;
      - what loads as a secret certificate loads as a public one, with
        the same key and metadata, and its metadata names and values come
        from the file;
      - no error message holds a secret key (40 octets of a value of
        secret-key in the file, or the key being saved);
      - the store check counts the file (as its only client) only if it
        loads as a public certificate, and fails only if it does not
        (files czmq's zconfig cannot parse are left out: czmq 4.2 leaks
        on them, see below);
      - a certificate saved (when curve_cert_save accepts it) loads back
        with the same keys and metadata;
      - nothing crashes or leaks.
    zconfig (czmq) prints parse errors on stdout: run with
    -close_fd_mask=1 to keep them out of the log. czmq 4.2's zconfig_load
    leaks a zfile_t (about 150 octets) for every file it cannot parse;
    curve_cert_store_check reaches it through zcert_load for each such
    file in the directory, so the harness gives the store check only
    files zconfig can parse.
@end
*/

#include "../src/curve_classes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

//  libFuzzer entry points
int
    LLVMFuzzerInitialize (int *argc, char ***argv);
int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define CURVE_FUZZ_NAME "curve_fuzz_cert"
#include "curve_fuzz_forge.h"     //  CHECK

#define PATH_BUFFER     512

//  The per-process directory and the files in it
static char s_dir [PATH_BUFFER];
static char s_secret_file [PATH_BUFFER];    //  DIR/cert.key_secret
static char s_public_name [PATH_BUFFER];    //  DIR/cert.key (not a file)
static char s_store_dir [PATH_BUFFER];      //  DIR/store
static char s_store_file [PATH_BUFFER];     //  DIR/store/client.key
static char s_saved_dir [PATH_BUFFER];      //  DIR/saved
static char s_saved_name [PATH_BUFFER];     //  DIR/saved/again.key

//  Trace every call (set CURVE_FUZZ_TRACE in the environment)
static bool s_trace = false;


//  --------------------------------------------------------------------------
//  Files

static void
s_write (const char *path, const uint8_t *data, size_t size)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK (fd != -1);
    CHECK (fchmod (fd, 0600) == 0);
    while (size) {
        ssize_t bytes = write (fd, data, size);
        if (bytes == -1 && errno == EINTR)
            continue;
        CHECK (bytes > 0);
        data += bytes;
        size -= (size_t) bytes;
    }
    CHECK (close (fd) == 0);
}

static void
s_path (char *dest, const char *dir, const char *name)
{
    int length = snprintf (dest, PATH_BUFFER, "%s/%s", dir, name);
    CHECK (length > 0 && length < PATH_BUFFER);
}

static void
s_remove_all (void)
{
    static const char *files [] = {
        "cert.key_secret", "store/client.key", "saved/again.key",
        "saved/again.key_secret"
    };
    for (size_t index = 0; index < sizeof files / sizeof files [0]; index++) {
        char path [PATH_BUFFER];
        s_path (path, s_dir, files [index]);
        unlink (path);
    }
    rmdir (s_store_dir);
    rmdir (s_saved_dir);
    rmdir (s_dir);
}


//  --------------------------------------------------------------------------
//  Checks

//  An error message: there, terminated, and holding no secret key: no
//  40 octets of what follows "secret-key =" on any line of the file, nor
//  the secret key text given (if any)
static void
s_check_error (const char *error, const uint8_t *data, size_t size,
               const char *secret_txt)
{
    size_t length = strnlen (error, CURVE_CERT_ERROR_MAX);
    CHECK (length > 0 && length < CURVE_CERT_ERROR_MAX);
    if (secret_txt)
        CHECK (!strstr (error, secret_txt));
    static const char name [] = "secret-key";
    size_t name_size = sizeof name - 1;
    for (size_t pos = 0; pos + name_size <= size; pos++) {
        if (memcmp (data + pos, name, name_size))
            continue;
        size_t at = pos + name_size;
        while (at < size && (data [at] == ' ' || data [at] == '\t'))
            at++;
        if (at == size || data [at] != '=')
            continue;
        size_t end = at;
        while (end < size && data [end] != '\n')
            end++;
        for (size_t start = at + 1; start + CURVE_Z85_KEY_BYTES <= end;
             start++) {
            char window [CURVE_Z85_KEY_BYTES + 1];
            memcpy (window, data + start, CURVE_Z85_KEY_BYTES);
            window [CURVE_Z85_KEY_BYTES] = 0;
            if (strlen (window) == CURVE_Z85_KEY_BYTES)
                CHECK (!strstr (error, window));
        }
    }
}

static bool
s_in_input (const uint8_t *data, size_t size, const char *text)
{
    size_t length = strlen (text);
    if (length == 0)
        return true;
    if (length > size)
        return false;
    for (size_t pos = 0; pos + length <= size; pos++)
        if (memcmp (data + pos, text, length) == 0)
            return true;
    return false;
}

//  A Z85 text that encodes exactly this key
static void
s_check_z85 (const char *text, const uint8_t *key)
{
    CHECK (text && strlen (text) == CURVE_Z85_KEY_BYTES);
    char encoded [CURVE_Z85_KEY_BYTES + 1];
    CHECK (zmq_z85_encode (encoded, key, CURVE_KEY_BYTES));
    CHECK (streq (encoded, text));
    uint8_t decoded [CURVE_KEY_BYTES];
    CHECK (zmq_z85_decode (decoded, text));
    CHECK (memcmp (decoded, key, CURVE_KEY_BYTES) == 0);
}

//  A certificate that loaded from data
static void
s_check_cert (zcert_t *cert, bool secret, const uint8_t *data, size_t size)
{
    const uint8_t *public_key = zcert_public_key (cert);
    const uint8_t *secret_key = zcert_secret_key (cert);
    CHECK (public_key && secret_key);
    CHECK (!sodium_is_zero (public_key, CURVE_KEY_BYTES));
    s_check_z85 (zcert_public_txt (cert), public_key);
    s_check_z85 (zcert_secret_txt (cert), secret_key);
    //  The key came from the file, as it is written there
    CHECK (s_in_input (data, size, zcert_public_txt (cert)));
    if (secret) {
        uint8_t derived [CURVE_KEY_BYTES];
        CHECK (crypto_scalarmult_base (derived, secret_key) == 0);
        CHECK (memcmp (derived, public_key, CURVE_KEY_BYTES) == 0);
        CHECK (s_in_input (data, size, zcert_secret_txt (cert)));
    }
    else
        CHECK (sodium_is_zero (secret_key, CURVE_KEY_BYTES));
    //  Metadata, name by name, from the file
    zlist_t *names = zcert_meta_keys (cert);
    CHECK (names);
    for (const char *name = (const char *) zlist_first (names); name;
         name = (const char *) zlist_next (names)) {
        const char *value = zcert_meta (cert, name);
        CHECK (value);
        CHECK (s_in_input (data, size, name));
        CHECK (s_in_input (data, size, value));
    }
    zlist_destroy (&names);
}

//  Same public key and metadata
static void
s_check_same (zcert_t *one, zcert_t *two)
{
    CHECK (memcmp (zcert_public_key (one), zcert_public_key (two),
                   CURVE_KEY_BYTES) == 0);
    zlist_t *names = zcert_meta_keys (one);
    zlist_t *others = zcert_meta_keys (two);
    CHECK (names && others);
    CHECK (zlist_size (names) == zlist_size (others));
    for (const char *name = (const char *) zlist_first (names); name;
         name = (const char *) zlist_next (names)) {
        const char *value = zcert_meta (two, name);
        CHECK (value && streq (value, zcert_meta (one, name)));
    }
    zlist_destroy (&names);
    zlist_destroy (&others);
}

//  A secret certificate saved (if curve_cert_save takes it) loads back
static void
s_check_save (zcert_t *cert)
{
    char error [CURVE_CERT_ERROR_MAX] = "";
    int rc = curve_cert_save (cert, s_saved_dir, "again", true,
                              error, sizeof error);
    if (s_trace)
        fprintf (stderr, "trace: save: %d %s\n", rc, rc? error: "");
    CHECK (rc == 0 || rc == -1);
    if (rc == -1) {
        s_check_error (error, NULL, 0, zcert_secret_txt (cert));
        return;
    }
    zcert_t *again = curve_cert_load_secret (s_saved_name, error,
                                             sizeof error);
    CHECK (again);
    s_check_same (cert, again);
    CHECK (memcmp (zcert_secret_key (cert), zcert_secret_key (again),
                   CURVE_KEY_BYTES) == 0);
    curve_cert_destroy (&again);
    again = curve_cert_load_public (s_saved_name, error, sizeof error);
    CHECK (again);
    s_check_same (cert, again);
    curve_cert_destroy (&again);
}


//  --------------------------------------------------------------------------
//  libFuzzer entry points

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    CHECK (sodium_init () >= 0);
    s_trace = getenv ("CURVE_FUZZ_TRACE") != NULL;
    const char *base = getenv ("TMPDIR");
    struct stat status;
    if (!base || !*base) {
        base = "/dev/shm";
        if (stat (base, &status) || !S_ISDIR (status.st_mode)
        ||  access (base, W_OK | X_OK))
            base = "/tmp";
    }
    int length = snprintf (s_dir, sizeof s_dir, "%s/curve_fuzz_cert.XXXXXX",
                           base);
    CHECK (length > 0 && (size_t) length < sizeof s_dir - 64);
    CHECK (mkdtemp (s_dir));
    s_path (s_secret_file, s_dir, "cert.key_secret");
    s_path (s_public_name, s_dir, "cert.key");
    s_path (s_store_dir, s_dir, "store");
    s_path (s_store_file, s_store_dir, "client.key");
    s_path (s_saved_dir, s_dir, "saved");
    s_path (s_saved_name, s_saved_dir, "again.key");
    CHECK (mkdir (s_store_dir, 0700) == 0);
    CHECK (mkdir (s_saved_dir, 0700) == 0);
    atexit (s_remove_all);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_write (s_secret_file, data, size);
    char error [CURVE_CERT_ERROR_MAX];

    //  Secret load, named either way (the secret file is read)
    memset (error, 0x55, sizeof error);
    error [sizeof error - 1] = 0;
    zcert_t *secret = curve_cert_load_secret (
        size & 1? s_public_name: s_secret_file, error, sizeof error);
    if (s_trace)
        fprintf (stderr, "trace: load_secret: %s\n", secret? "loaded": error);
    if (secret)
        s_check_cert (secret, true, data, size);
    else
        s_check_error (error, data, size, NULL);

    //  Public load of the same file
    memset (error, 0x55, sizeof error);
    error [sizeof error - 1] = 0;
    zcert_t *public = curve_cert_load_public (s_secret_file, error,
                                              sizeof error);
    if (s_trace)
        fprintf (stderr, "trace: load_public: %s\n", public? "loaded": error);
    if (public)
        s_check_cert (public, false, data, size);
    else
        s_check_error (error, data, size, NULL);
    if (secret) {
        CHECK (public);
        s_check_same (secret, public);
    }

    //  The file as an authorised client: counted iff it loads, refused
    //  iff czmq would load what we refuse. czmq 4.2's zconfig_load (under
    //  zcert_load, which the check calls as zcertstore would) leaks its
    //  zfile_t when the file is not ZPL, so such files are left out here.
    zchunk_t *chunk = zchunk_new (data, size);
    CHECK (chunk);
    zconfig_t *root = zconfig_chunk_load (chunk);
    zchunk_destroy (&chunk);
    if (root) {
        zconfig_destroy (&root);
        s_write (s_store_file, data, size);
        memset (error, 0x55, sizeof error);
        error [sizeof error - 1] = 0;
        int count = curve_cert_store_check (s_store_dir, error,
                                            sizeof error);
        if (s_trace)
            fprintf (stderr, "trace: store_check: %d %s\n", count,
                     count == -1? error: "");
        CHECK (count >= -1 && count <= 1);
        if (count == -1) {
            s_check_error (error, data, size, NULL);
            CHECK (!public);
        }
        if (count == 1)
            CHECK (public);
    }

    if (secret)
        s_check_save (secret);
    curve_cert_destroy (&secret);
    curve_cert_destroy (&public);
    CHECK (secret == NULL && public == NULL);
    return 0;
}
