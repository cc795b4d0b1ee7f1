/*  =========================================================================
    curve_cert - key pairs on disk: safe loading, saving, client stores

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

/*
@header
    curve_cert keeps key pairs in czmq's certificate format so that czmq,
    zauth and pyzmq read what we write and we read what they write. See
    include/curve_cert.h for the contract.
@discuss
    Parsing and formatting are czmq's zconfig (ZPL, ZeroMQ RFC 4) and the
    keys go through libzmq's zmq_z85_encode/decode; this file only adds the
    checks around them. We read files ourselves (open, fstat, read) rather
    than through zconfig_load so that the permission check and the read see
    the same file, and we parse from a chunk we can wipe afterwards.

    czmq facts this class works around (czmq 4.2):
      - zcert_load ("x") reads "x_secret" first when it exists, so a public
        load through it can pull in a secret key; we load the exact file.
      - zcert_load decodes keys without checking zmq_z85_decode's result
        and takes a missing or short secret key as all zeros.
      - zcertstore's disk loader skips hidden files and files ending in
        "_secret", descends into subdirectories, and asserts (aborting the
        process) when two files hold the same public key.
      - zcert_save_secret gets mode 0600 by changing the process umask,
        which is not thread safe; we create the file with its mode instead.
@end
*/

#include "curve_classes.h"

#include <sodium.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

_Static_assert (CURVE_KEY_BYTES == crypto_scalarmult_BYTES, "key size");
_Static_assert (CURVE_KEY_BYTES == crypto_scalarmult_SCALARBYTES, "key size");

//  Longest certificate name, so that paths stay reasonable
#define NAME_MAX_CHARS          200
//  Longest metadata name (RFC 26 metadata, as the codec accepts)
#define META_NAME_MAX_CHARS     255
//  Tries to find a free temporary file name
#define TEMP_TRIES              16


//  --------------------------------------------------------------------------
//  Caller bugs abort, even under NDEBUG (house rule: misuse is not input
//  and must not pass silently).

#define CURVE_REQUIRE(cond) \
    do { if (!(cond)) s_misuse (#cond, __FILE__, __LINE__); } while (0)

static void
s_misuse (const char *what, const char *file, int line)
{
    fprintf (stderr, "curve: misuse: %s (%s:%d)\n", what, file, line);
    abort ();
}


//  --------------------------------------------------------------------------
//  Small helpers

//  Write a message into the caller's buffer, if there is one
static void
s_error (char *error, size_t error_size, const char *format, ...)
    CHECK_PRINTF (3);

static void
s_error (char *error, size_t error_size, const char *format, ...)
{
    if (!error || error_size == 0)
        return;
    va_list argptr;
    va_start (argptr, format);
    vsnprintf (error, error_size, format, argptr);
    va_end (argptr);
}

static bool
s_ends_with (const char *string, const char *suffix)
{
    size_t length = strlen (string);
    size_t suffix_length = strlen (suffix);
    return length >= suffix_length
        && strcmp (string + length - suffix_length, suffix) == 0;
}

//  Quote a path for a shell command in a message, when it needs quoting.
//  Writes into buffer and returns it.
static const char *
s_shell_word (const char *path, char *buffer, size_t size)
{
    bool plain = *path != 0;
    for (const char *scan = path; *scan; scan++)
        if (!isalnum ((unsigned char) *scan) && !strchr ("/._+-,:@%=~", *scan))
            plain = false;
    if (plain || strchr (path, '\''))
        snprintf (buffer, size, "%s", path);
    else
        snprintf (buffer, size, "'%s'", path);
    return buffer;
}

//  Count the children of a config item that have a given name
static int
s_count_children (zconfig_t *parent, const char *name)
{
    int count = 0;
    for (zconfig_t *item = zconfig_child (parent); item;
         item = zconfig_next (item))
        if (streq (zconfig_name (item), name))
            count++;
    return count;
}

//  Wipe every secret-key value in a parsed certificate, in place
static void
s_wipe_config_secrets (zconfig_t *root)
{
    for (zconfig_t *section = zconfig_child (root); section;
         section = zconfig_next (section)) {
        if (!streq (zconfig_name (section), "curve"))
            continue;
        for (zconfig_t *item = zconfig_child (section); item;
             item = zconfig_next (item)) {
            char *value = zconfig_value (item);
            if (streq (zconfig_name (item), "secret-key") && value)
                sodium_memzero (value, strlen (value));
        }
    }
}


//  --------------------------------------------------------------------------
//  Reading and checking certificate files

//  Read a whole certificate file into a new chunk. For a secret file, the
//  file must be private to its owner. Returns NULL with the reason.
static zchunk_t *
s_read_file (const char *path, bool secret, char *error, size_t error_size)
{
    //  O_NONBLOCK so that a FIFO cannot hang us before fstat says what it is
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd == -1) {
        s_error (error, error_size, "cannot open '%s': %s",
                 path, strerror (errno));
        return NULL;
    }
    struct stat status;
    if (fstat (fd, &status) == -1) {
        s_error (error, error_size, "cannot read '%s': %s",
                 path, strerror (errno));
        close (fd);
        return NULL;
    }
    if (!S_ISREG (status.st_mode)) {
        s_error (error, error_size, "'%s' is not a regular file", path);
        close (fd);
        return NULL;
    }
    if (secret && (status.st_mode & (S_IRWXG | S_IRWXO))) {
        char word [PATH_MAX + 3];
        s_error (error, error_size,
                 "Permissions %04o for '%s' are too open: a secret key "
                 "must be private to its owner; run chmod 600 %s",
                 (unsigned) (status.st_mode & 07777), path,
                 s_shell_word (path, word, sizeof word));
        close (fd);
        return NULL;
    }
    if (status.st_size > CURVE_CERT_FILE_MAX) {
        s_error (error, error_size,
                 "'%s' is too large for a certificate (%lld octets; the "
                 "limit is %d)", path, (long long) status.st_size,
                 CURVE_CERT_FILE_MAX);
        close (fd);
        return NULL;
    }
    //  Read one octet more than the limit to notice a file that grew
    size_t capacity = CURVE_CERT_FILE_MAX + 1;
    uint8_t *buffer = (uint8_t *) malloc (capacity);
    if (!buffer) {
        s_error (error, error_size, "out of memory reading '%s'", path);
        close (fd);
        return NULL;
    }
    size_t size = 0;
    int rc = 0;
    while (size < capacity) {
        ssize_t bytes = read (fd, buffer + size, capacity - size);
        if (bytes == -1 && errno == EINTR)
            continue;
        if (bytes == -1) {
            s_error (error, error_size, "cannot read '%s': %s",
                     path, strerror (errno));
            rc = -1;
            break;
        }
        if (bytes == 0)
            break;
        size += (size_t) bytes;
    }
    close (fd);
    if (rc == 0 && size > CURVE_CERT_FILE_MAX) {
        s_error (error, error_size, "'%s' is too large for a certificate "
                 "(the limit is %d octets)", path, CURVE_CERT_FILE_MAX);
        rc = -1;
    }
    zchunk_t *chunk = NULL;
    if (rc == 0) {
        chunk = zchunk_new (buffer, size);
        if (!chunk)
            s_error (error, error_size, "out of memory reading '%s'", path);
    }
    sodium_memzero (buffer, capacity);
    free (buffer);
    return chunk;
}

//  Read and parse a certificate file. Returns NULL with the reason.
static zconfig_t *
s_parse_file (const char *path, bool secret, char *error, size_t error_size)
{
    zchunk_t *chunk = s_read_file (path, secret, error, error_size);
    if (!chunk)
        return NULL;
    zconfig_t *root = zconfig_chunk_load (chunk);
    sodium_memzero (zchunk_data (chunk), zchunk_size (chunk));
    zchunk_destroy (&chunk);
    if (!root)
        s_error (error, error_size, "'%s' is not a valid ZPL file (czmq's "
                 "zconfig cannot parse it)", path);
    return root;
}

//  Decode the one key called name in the curve section. Returns 0, or -1
//  with the reason (which never includes the key's text).
static int
s_decode_key (zconfig_t *curve, const char *name, uint8_t *key,
              const char *path, char *error, size_t error_size)
{
    int count = s_count_children (curve, name);
    if (count == 0) {
        s_error (error, error_size, "'%s' has no %s in its curve section",
                 path, name);
        return -1;
    }
    if (count > 1) {
        s_error (error, error_size, "'%s' has more than one %s", path, name);
        return -1;
    }
    const char *text = zconfig_value (zconfig_locate (curve, name));
    size_t length = text? strlen (text): 0;
    if (length != CURVE_Z85_KEY_BYTES) {
        s_error (error, error_size, "'%s': %s is %zu characters long; a key "
                 "in Z85 is %d", path, name, length, CURVE_Z85_KEY_BYTES);
        return -1;
    }
    if (!zmq_z85_decode (key, text)) {
        sodium_memzero (key, CURVE_KEY_BYTES);
        s_error (error, error_size, "'%s': %s is not valid Z85", path, name);
        return -1;
    }
    return 0;
}

//  Turn a parsed certificate into a zcert, checking it. Returns NULL with
//  the reason.
static zcert_t *
s_cert_from_config (zconfig_t *root, const char *path, bool secret,
                    char *error, size_t error_size)
{
    uint8_t public_key [CURVE_KEY_BYTES];
    uint8_t secret_key [CURVE_KEY_BYTES] = { 0 };
    uint8_t derived [CURVE_KEY_BYTES] = { 0 };
    zcert_t *cert = NULL;

    int sections = s_count_children (root, "curve");
    zconfig_t *curve = zconfig_locate (root, "curve");
    if (sections == 0 || !curve)
        s_error (error, error_size, "'%s' has no curve section: it is not a "
                 "certificate", path);
    else
    if (sections > 1)
        s_error (error, error_size, "'%s' has more than one curve section",
                 path);
    else
    if (s_decode_key (curve, "public-key", public_key,
                      path, error, error_size) == 0
    && (!secret || s_decode_key (curve, "secret-key", secret_key,
                                 path, error, error_size) == 0)) {
        if (sodium_is_zero (public_key, CURVE_KEY_BYTES))
            s_error (error, error_size, "'%s': public-key is all zeros (a "
                     "placeholder, not a key)", path);
        else
        if (secret
        && (crypto_scalarmult_base (derived, secret_key) != 0
        ||  sodium_memcmp (derived, public_key, CURVE_KEY_BYTES) != 0))
            s_error (error, error_size, "'%s': secret-key does not match "
                     "public-key (the file is corrupt or was edited)", path);
        else {
            cert = zcert_new_from (public_key, secret_key);
            if (!cert)
                s_error (error, error_size, "out of memory loading '%s'",
                         path);
        }
    }
    //  Metadata: every item of the metadata section, as zcert_load does
    zconfig_t *metadata = cert? zconfig_locate (root, "metadata"): NULL;
    for (zconfig_t *item = metadata? zconfig_child (metadata): NULL; item;
         item = zconfig_next (item)) {
        const char *value = zconfig_value (item);
        zcert_set_meta (cert, zconfig_name (item), "%s", value? value: "");
    }
    sodium_memzero (secret_key, sizeof secret_key);
    sodium_memzero (derived, sizeof derived);
    return cert;
}

//  Load one certificate file, public or secret
static zcert_t *
s_load (const char *path, bool secret, char *error, size_t error_size)
{
    if (sodium_init () < 0) {
        s_error (error, error_size, "libsodium cannot start");
        return NULL;
    }
    zconfig_t *root = s_parse_file (path, secret, error, error_size);
    if (!root)
        return NULL;
    zcert_t *cert = s_cert_from_config (root, path, secret, error, error_size);
    s_wipe_config_secrets (root);
    zconfig_destroy (&root);
    return cert;
}


//  --------------------------------------------------------------------------
//  Load a secret certificate

zcert_t *
curve_cert_load_secret (const char *filename, char *error, size_t error_size)
{
    CURVE_REQUIRE (filename);
    char *path = s_ends_with (filename, CURVE_CERT_SECRET_SUFFIX)
               ? strdup (filename)
               : zsys_sprintf ("%s%s", filename, CURVE_CERT_SECRET_SUFFIX);
    if (!path) {
        s_error (error, error_size, "out of memory");
        return NULL;
    }
    zcert_t *cert = s_load (path, true, error, error_size);
    free (path);
    return cert;
}


//  --------------------------------------------------------------------------
//  Load a public certificate

zcert_t *
curve_cert_load_public (const char *filename, char *error, size_t error_size)
{
    CURVE_REQUIRE (filename);
    return s_load (filename, false, error, error_size);
}


//  --------------------------------------------------------------------------
//  Destroy a certificate, wiping its secret key first

void
curve_cert_destroy (zcert_t **cert_p)
{
    CURVE_REQUIRE (cert_p);
    if (*cert_p) {
        //  zcert hands out pointers to its own storage, which it frees
        //  without wiping; clear both forms of the secret key in place
        uint8_t *secret_key = (uint8_t *) zcert_secret_key (*cert_p);
        char *secret_txt = (char *) zcert_secret_txt (*cert_p);
        sodium_memzero (secret_key, CURVE_KEY_BYTES);
        sodium_memzero (secret_txt, strlen (secret_txt));
        zcert_destroy (cert_p);
    }
}


//  --------------------------------------------------------------------------
//  Default locations

static char *
s_home_dir (void)
{
    const char *home = getenv ("HOME");
    char *result = NULL;
    if (home && *home)
        result = strdup (home);
    else {
        struct passwd entry;
        struct passwd *found = NULL;
        char buffer [4096];
        if (getpwuid_r (geteuid (), &entry, buffer, sizeof buffer, &found) == 0
        &&  found && found->pw_dir && *found->pw_dir)
            result = strdup (found->pw_dir);
    }
    //  Drop trailing slashes, keeping "/" itself
    size_t length = result? strlen (result): 0;
    while (length > 1 && result [length - 1] == '/')
        result [--length] = 0;
    return result;
}

char *
curve_cert_default_dir (void)
{
    char *home = s_home_dir ();
    if (!home)
        return NULL;
    char *dir = zsys_sprintf ("%s/%s", streq (home, "/")? "": home,
                              CURVE_CERT_DIR);
    free (home);
    return dir;
}

char *
curve_cert_default_clients_dir (void)
{
    char *base = curve_cert_default_dir ();
    if (!base)
        return NULL;
    char *dir = zsys_sprintf ("%s/%s", base, CURVE_CERT_CLIENTS_DIR);
    free (base);
    return dir;
}


//  --------------------------------------------------------------------------
//  Saving

//  A certificate name: 1-200 of [A-Za-z0-9._+-], not hidden, not a secret
static bool
s_valid_name (const char *name)
{
    size_t length = strlen (name);
    if (length == 0 || length > NAME_MAX_CHARS || name [0] == '.'
    ||  s_ends_with (name, CURVE_CERT_SECRET_SUFFIX))
        return false;
    for (const char *scan = name; *scan; scan++)
        if (!isalnum ((unsigned char) *scan) && !strchr ("-_.+", *scan))
            return false;
    return true;
}

//  A metadata value ZPL can hold in double quotes: no '"', no controls
static bool
s_valid_meta_value (const char *value)
{
    for (const char *scan = value? value: ""; *scan; scan++)
        if ((unsigned char) *scan < 0x20 || *scan == 0x7F || *scan == '"')
            return false;
    return true;
}

//  Check that metadata will read back the same in czmq, zauth and pyzmq
static int
s_check_metadata (zcert_t *cert, char *error, size_t error_size)
{
    zlist_t *names = zcert_meta_keys (cert);
    if (!names) {
        s_error (error, error_size, "out of memory");
        return -1;
    }
    int rc = 0;
    for (const char *name = (const char *) zlist_first (names);
         name && rc == 0; name = (const char *) zlist_next (names)) {
        const char *value = zcert_meta (cert, name);
        size_t length = strlen (name);
        bool name_ok = length > 0 && length <= META_NAME_MAX_CHARS;
        for (const char *scan = name; *scan; scan++)
            if (!isalnum ((unsigned char) *scan) && !strchr ("-_.+", *scan))
                name_ok = false;
        if (!name_ok) {
            s_error (error, error_size, "metadata name '%s' is not 1-%d "
                     "letters, digits, '-', '_', '.' or '+'",
                     name, META_NAME_MAX_CHARS);
            rc = -1;
        }
        else
        if (strncmp (name, "public-key", 10) == 0
        ||  strncmp (name, "secret-key", 10) == 0) {
            s_error (error, error_size, "metadata name '%s' starts like a "
                     "key line (pyzmq would read it as the key)", name);
            rc = -1;
        }
        else
        if (value && strlen (value) > CURVE_CERT_META_VALUE_MAX) {
            s_error (error, error_size, "metadata '%s' is longer than %d "
                     "characters", name, CURVE_CERT_META_VALUE_MAX);
            rc = -1;
        }
        else
        if (!s_valid_meta_value (value)) {
            s_error (error, error_size, "metadata '%s' holds a control "
                     "character or '\"', which ZPL cannot quote", name);
            rc = -1;
        }
    }
    zlist_destroy (&names);
    return rc;
}

//  Format a certificate as ZPL, with or without its secret key. Returns a
//  chunk whose data is the text (the caller wipes it if secret), or NULL.
static zchunk_t *
s_format (zcert_t *cert, bool secret)
{
    zconfig_t *root = zconfig_new ("root", NULL);
    if (!root)
        return NULL;
    if (secret) {
        zconfig_set_comment (root, "   ZeroMQ CURVE certificate, SECRET "
                             "part (ZPL; czmq zcert format)");
        zconfig_set_comment (root, "   It holds a secret key: keep it mode "
                             "0600 and never hand it to anyone.");
    }
    else {
        zconfig_set_comment (root, "   ZeroMQ CURVE certificate, public "
                             "part (ZPL; czmq zcert format)");
        zconfig_set_comment (root, "   Give it to the peers that must know "
                             "this key: a server trusts the clients");
        zconfig_set_comment (root, "   whose .key files are in its "
                             "authorized_clients directory.");
    }
    zconfig_t *metadata = zconfig_new ("metadata", root);
    zlist_t *names = zcert_meta_keys (cert);
    for (const char *name = names? (const char *) zlist_first (names): NULL;
         name && metadata; name = (const char *) zlist_next (names)) {
        zconfig_t *item = zconfig_new (name, metadata);
        if (item)
            zconfig_set_value (item, "%s", zcert_meta (cert, name));
    }
    zlist_destroy (&names);
    zconfig_t *curve = zconfig_new ("curve", root);
    zconfig_t *item = curve? zconfig_new ("public-key", curve): NULL;
    if (item)
        zconfig_set_value (item, "%s", zcert_public_txt (cert));
    item = curve && secret? zconfig_new ("secret-key", curve): NULL;
    if (item)
        zconfig_set_value (item, "%s", zcert_secret_txt (cert));

    zchunk_t *chunk = NULL;
    if (metadata && curve && (!secret || item))
        chunk = zconfig_chunk_save (root);
    s_wipe_config_secrets (root);
    zconfig_destroy (&root);
    return chunk;
}

//  Create path (which must not exist) with exactly this mode and write the
//  data to it. On failure nothing is left behind. Returns 0 or -1; errno
//  tells why.
static int
s_write_new (const char *path, const void *data, size_t size, mode_t mode)
{
    //  O_EXCL also refuses a symbolic link planted at path
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   mode);
    if (fd == -1)
        return -1;
    //  The umask may have taken bits off; the mode is part of the contract
    int rc = fchmod (fd, mode);
    const uint8_t *next = (const uint8_t *) data;
    size_t left = size;
    while (rc == 0 && left) {
        ssize_t bytes = write (fd, next, left);
        if (bytes == -1 && errno == EINTR)
            continue;
        if (bytes <= 0) {
            rc = -1;
            break;
        }
        next += bytes;
        left -= (size_t) bytes;
    }
    if (rc == 0)
        rc = fsync (fd);
    if (close (fd) != 0 && rc == 0)
        rc = -1;
    if (rc != 0) {
        int saved = errno;
        unlink (path);
        errno = saved;
    }
    return rc;
}

//  Write data to a new hidden temporary file beside path (zcertstore skips
//  hidden files, so it never sees a half-written certificate). Returns the
//  temporary file's name, which the caller frees, or NULL (errno says why).
static char *
s_write_temp (const char *dir, const char *name, const void *data,
              size_t size, mode_t mode)
{
    for (int attempt = 0; attempt < TEMP_TRIES; attempt++) {
        char *temp = zsys_sprintf ("%s/.%s.%08x.tmp", dir, name,
                                   (unsigned) randombytes_random ());
        if (!temp) {
            errno = ENOMEM;
            return NULL;
        }
        if (s_write_new (temp, data, size, mode) == 0)
            return temp;
        int saved = errno;
        free (temp);
        errno = saved;
        if (saved != EEXIST)
            return NULL;
    }
    return NULL;
}

//  Create a directory and its missing parents, each with mode 0700
static int
s_make_dir (const char *dir, char *error, size_t error_size)
{
    char *path = strdup (dir);
    if (!path) {
        s_error (error, error_size, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *slash = path + 1; rc == 0; slash++) {
        bool last = *slash == 0;
        if (*slash == '/' || last) {
            char saved = *slash;
            *slash = 0;
            if (mkdir (path, 0700) == -1 && errno != EEXIST) {
                s_error (error, error_size, "cannot create directory '%s': "
                         "%s", path, strerror (errno));
                rc = -1;
            }
            *slash = saved;
        }
        if (last)
            break;
    }
    free (path);
    struct stat status;
    if (rc == 0 && (stat (dir, &status) == -1 || !S_ISDIR (status.st_mode))) {
        s_error (error, error_size, "'%s' is not a directory", dir);
        rc = -1;
    }
    return rc;
}

//  Write both files; the directory exists. Returns 0 or -1.
static int
s_save_files (const char *dir, const char *name, bool force,
              zchunk_t *public_text, zchunk_t *secret_text,
              char *error, size_t error_size)
{
    char *public_path = zsys_sprintf ("%s/%s%s", dir, name,
                                      CURVE_CERT_SUFFIX);
    char *secret_path = zsys_sprintf ("%s/%s%s%s", dir, name,
                                      CURVE_CERT_SUFFIX,
                                      CURVE_CERT_SECRET_SUFFIX);
    char *public_temp = NULL;
    char *secret_temp = NULL;
    int rc = 0;
    struct stat status;
    if (!public_path || !secret_path) {
        s_error (error, error_size, "out of memory");
        rc = -1;
    }
    else
    if (!force) {
        //  Refuse before writing anything; O_EXCL catches any later race
        const char *existing = lstat (secret_path, &status) == 0? secret_path
                             : lstat (public_path, &status) == 0? public_path
                             : NULL;
        if (existing) {
            s_error (error, error_size, "'%s' already exists; not "
                     "overwriting it", existing);
            rc = -1;
        }
        else
        if (s_write_new (secret_path, zchunk_data (secret_text),
                         zchunk_size (secret_text), 0600) == -1) {
            s_error (error, error_size, "cannot write '%s': %s",
                     secret_path, strerror (errno));
            rc = -1;
        }
        else
        if (s_write_new (public_path, zchunk_data (public_text),
                         zchunk_size (public_text), 0644) == -1) {
            s_error (error, error_size, "cannot write '%s': %s",
                     public_path, strerror (errno));
            unlink (secret_path);
            rc = -1;
        }
    }
    else {
        //  Replace: write both aside, then rename each over the old one,
        //  so that a reader sees an old file or a new one, never a part
        secret_temp = s_write_temp (dir, name, zchunk_data (secret_text),
                                    zchunk_size (secret_text), 0600);
        public_temp = secret_temp
                    ? s_write_temp (dir, name, zchunk_data (public_text),
                                    zchunk_size (public_text), 0644)
                    : NULL;
        if (!public_temp) {
            s_error (error, error_size, "cannot write in '%s': %s",
                     dir, strerror (errno));
            rc = -1;
        }
        else
        if (rename (secret_temp, secret_path) == -1) {
            s_error (error, error_size, "cannot replace '%s': %s",
                     secret_path, strerror (errno));
            rc = -1;
        }
        else
        if (rename (public_temp, public_path) == -1) {
            s_error (error, error_size, "cannot replace '%s': %s (its "
                     "secret file is already the new one)",
                     public_path, strerror (errno));
            rc = -1;
        }
        if (rc == -1) {
            //  Whatever was not renamed is still a temporary file
            if (secret_temp)
                unlink (secret_temp);
            if (public_temp)
                unlink (public_temp);
        }
    }
    free (public_path);
    free (secret_path);
    free (public_temp);
    free (secret_temp);
    return rc;
}


//  --------------------------------------------------------------------------
//  Save a certificate as NAME.key and NAME.key_secret

int
curve_cert_save (zcert_t *cert, const char *dir, const char *name,
                 bool force, char *error, size_t error_size)
{
    CURVE_REQUIRE (cert);
    CURVE_REQUIRE (name);
    if (sodium_init () < 0) {
        s_error (error, error_size, "libsodium cannot start");
        return -1;
    }
    if (!s_valid_name (name)) {
        s_error (error, error_size, "invalid certificate name '%s': use 1-%d "
                 "letters, digits, '-', '_', '.' or '+', not starting with "
                 "'.' nor ending in '%s'", name, NAME_MAX_CHARS,
                 CURVE_CERT_SECRET_SUFFIX);
        return -1;
    }
    //  Never write a secret file that czmq would read as a broken pair
    uint8_t derived [CURVE_KEY_BYTES];
    int rc = crypto_scalarmult_base (derived, zcert_secret_key (cert));
    if (rc != 0
    ||  sodium_memcmp (derived, zcert_public_key (cert), CURVE_KEY_BYTES) != 0
    ||  sodium_is_zero (zcert_public_key (cert), CURVE_KEY_BYTES)) {
        s_error (error, error_size, "the certificate has no secret key that "
                 "matches its public key (was it loaded from a public file?)");
        rc = -1;
    }
    sodium_memzero (derived, sizeof derived);
    if (rc == 0)
        rc = s_check_metadata (cert, error, error_size);
    if (rc != 0)
        return -1;

    char *default_dir = NULL;
    if (!dir) {
        dir = default_dir = curve_cert_default_dir ();
        if (!dir) {
            s_error (error, error_size, "there is no home directory for the "
                     "default key directory; give a directory");
            return -1;
        }
    }
    zchunk_t *public_text = NULL;
    zchunk_t *secret_text = NULL;
    rc = s_make_dir (dir, error, error_size);
    if (rc == 0) {
        public_text = s_format (cert, false);
        secret_text = s_format (cert, true);
        if (!public_text || !secret_text) {
            s_error (error, error_size, "out of memory");
            rc = -1;
        }
    }
    if (rc == 0)
        rc = s_save_files (dir, name, force, public_text, secret_text,
                           error, error_size);
    if (secret_text)
        sodium_memzero (zchunk_data (secret_text), zchunk_size (secret_text));
    zchunk_destroy (&secret_text);
    zchunk_destroy (&public_text);
    free (default_dir);
    return rc;
}


//  --------------------------------------------------------------------------
//  Authorised-clients directories

static int
s_store_check (const char *dir, char *error, size_t error_size)
{
    struct stat status;
    if (stat (dir, &status) == -1) {
        if (errno == ENOENT)
            return 0;           //  czmq accepts a directory made later
        s_error (error, error_size, "cannot read '%s': %s",
                 dir, strerror (errno));
        return -1;
    }
    if (!S_ISDIR (status.st_mode)) {
        s_error (error, error_size, "'%s' is not a directory", dir);
        return -1;
    }
    if (status.st_mode & (S_IWGRP | S_IWOTH)) {
        char word [PATH_MAX + 3];
        s_error (error, error_size, "Permissions %04o for directory '%s' let "
                 "group or others authorise keys; run chmod go-w %s",
                 (unsigned) (status.st_mode & 07777), dir,
                 s_shell_word (dir, word, sizeof word));
        return -1;
    }
    //  Walk it as zcertstore does: zdir skips hidden files and descends
    zdir_t *zdir = zdir_new (dir, NULL);
    if (!zdir) {
        s_error (error, error_size, "cannot read directory '%s'", dir);
        return -1;
    }
    zfile_t **files = zdir_flatten (zdir);
    zhash_t *seen = zhash_new ();
    int rc = files && seen? 0: -1;
    if (rc)
        s_error (error, error_size, "out of memory");
    int count = 0;
    for (size_t index = 0; rc == 0 && files [index]; index++) {
        const char *path = zfile_filename (files [index], NULL);
        if (zfile_is_regular (files [index])
        &&  s_ends_with (path, CURVE_CERT_SECRET_SUFFIX)) {
            s_error (error, error_size, "'%s' is a secret certificate: an "
                     "authorised-clients directory holds public .key files "
                     "only (czmq would load this secret key in place of "
                     "the public file); remove it", path);
            rc = -1;
        }
    }
    for (size_t index = 0; rc == 0 && files [index]; index++) {
        const char *path = zfile_filename (files [index], NULL);
        if (!zfile_is_regular (files [index]))
            continue;
        //  Exactly what czmq's loader does with the file
        zcert_t *czmq_view = zcert_load (path);
        if (!czmq_view)
            continue;           //  Not a certificate; czmq ignores it too
        curve_cert_destroy (&czmq_view);
        char reason [CURVE_CERT_ERROR_MAX];
        zcert_t *cert = curve_cert_load_public (path, reason, sizeof reason);
        if (!cert) {
            s_error (error, error_size, "%s; czmq would still load it, under "
                     "a wrong key: fix or remove it", reason);
            rc = -1;
            break;
        }
        const char *other = (const char *) zhash_lookup (seen,
                                                zcert_public_txt (cert));
        if (other) {
            s_error (error, error_size, "'%s' and '%s' hold the same public "
                     "key: czmq's zcertstore aborts the process on such a "
                     "directory; remove one", other, path);
            rc = -1;
        }
        else
        if (zhash_insert (seen, zcert_public_txt (cert), (void *) path) == 0)
            count++;
        curve_cert_destroy (&cert);
    }
    zhash_destroy (&seen);
    zdir_flatten_free (&files);
    zdir_destroy (&zdir);
    return rc == 0? count: -1;
}


//  --------------------------------------------------------------------------
//  Check an authorised-clients directory

int
curve_cert_store_check (const char *dir, char *error, size_t error_size)
{
    char *default_dir = NULL;
    if (!dir) {
        dir = default_dir = curve_cert_default_clients_dir ();
        if (!dir) {
            s_error (error, error_size, "there is no home directory for the "
                     "default clients directory; give a directory");
            return -1;
        }
    }
    int rc = s_store_check (dir, error, error_size);
    free (default_dir);
    return rc;
}


//  --------------------------------------------------------------------------
//  Create a certificate store for an authorised-clients directory

zcertstore_t *
curve_cert_store_new (const char *dir, char *error, size_t error_size)
{
    char *default_dir = NULL;
    if (!dir) {
        dir = default_dir = curve_cert_default_clients_dir ();
        if (!dir) {
            s_error (error, error_size, "there is no home directory for the "
                     "default clients directory; give a directory");
            return NULL;
        }
    }
    zcertstore_t *store = NULL;
    if (s_store_check (dir, error, error_size) >= 0) {
        store = zcertstore_new (dir);
        if (!store)
            s_error (error, error_size, "out of memory");
    }
    free (default_dir);
    return store;
}


//  --------------------------------------------------------------------------
//  Self test of this class. Everything happens in a scratch directory made
//  with mkdtemp under $TMPDIR (or /tmp) and removed at the end.

//  @selftest
//  The test asserts must hold in every build, NDEBUG or not
#undef NDEBUG
#include <assert.h>

//  A key pair and its Z85 texts, for hand-made files
typedef struct {
    uint8_t public_key [CURVE_KEY_BYTES];
    uint8_t secret_key [CURVE_KEY_BYTES];
    char public_txt [CURVE_Z85_KEY_BYTES + 1];
    char secret_txt [CURVE_Z85_KEY_BYTES + 1];
} test_pair_t;

static void
s_test_pair (test_pair_t *pair)
{
    assert (crypto_box_keypair (pair->public_key, pair->secret_key) == 0);
    assert (zmq_z85_encode (pair->public_txt, pair->public_key,
                            CURVE_KEY_BYTES));
    assert (zmq_z85_encode (pair->secret_txt, pair->secret_key,
                            CURVE_KEY_BYTES));
}

static zcert_t *
s_test_cert (const test_pair_t *pair)
{
    zcert_t *cert = zcert_new_from (pair->public_key, pair->secret_key);
    assert (cert);
    return cert;
}

//  Write a file with exactly this mode
static void
s_test_write (const char *path, const char *text, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert (fd != -1);
    assert (fchmod (fd, mode) == 0);
    size_t size = strlen (text);
    assert (write (fd, text, size) == (ssize_t) size);
    assert (close (fd) == 0);
}

static char *
s_test_read (const char *path)
{
    FILE *file = fopen (path, "rb");
    assert (file);
    char *text = (char *) calloc (1, CURVE_CERT_FILE_MAX + 1);
    assert (text);
    size_t size = fread (text, 1, CURVE_CERT_FILE_MAX, file);
    assert (size > 0);
    fclose (file);
    return text;
}

static void
s_test_copy (const char *from, const char *to)
{
    char *text = s_test_read (from);
    s_test_write (to, text, 0644);
    free (text);
}

static mode_t
s_test_mode (const char *path)
{
    struct stat status;
    assert (stat (path, &status) == 0);
    return status.st_mode & 07777;
}

static bool
s_test_exists (const char *path)
{
    struct stat status;
    return lstat (path, &status) == 0;
}

//  True if error holds every one of the NULL-terminated pieces
static bool
s_test_says (const char *error, ...)
{
    va_list argptr;
    va_start (argptr, error);
    bool found = true;
    const char *piece;
    while ((piece = va_arg (argptr, const char *)))
        if (!strstr (error, piece))
            found = false;
    va_end (argptr);
    return found;
}

//  Remove a scratch tree (hidden files too, which zdir_remove would miss)
static void
s_test_remove_tree (const char *path)
{
    struct stat status;
    assert (lstat (path, &status) == 0);
    if (S_ISDIR (status.st_mode)) {
        DIR *handle = opendir (path);
        assert (handle);
        struct dirent *entry;
        while ((entry = readdir (handle))) {
            if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
                continue;
            char *child = zsys_sprintf ("%s/%s", path, entry->d_name);
            assert (child);
            s_test_remove_tree (child);
            free (child);
        }
        closedir (handle);
        assert (rmdir (path) == 0);
    }
    else
        assert (unlink (path) == 0);
}

//  Save, load back, modes, metadata, the default directory
static void
s_test_save_load (const char *scratch, bool verbose)
{
    char error [CURVE_CERT_ERROR_MAX];
    test_pair_t pair;
    s_test_pair (&pair);
    zcert_t *cert = s_test_cert (&pair);
    zcert_set_meta (cert, "name", "Alice Liddell");
    zcert_set_meta (cert, "email", "alice@example.org");
    zcert_set_meta (cert, "note", "quotes ' and # and %%s stay as written");

    //  Missing directories are created 0700
    char *dir = zsys_sprintf ("%s/keys/deeper", scratch);
    char *parent = zsys_sprintf ("%s/keys", scratch);
    assert (curve_cert_save (cert, dir, "alice", false,
                             error, sizeof error) == 0);
    assert (s_test_mode (parent) == 0700);
    assert (s_test_mode (dir) == 0700);
    char *public_path = zsys_sprintf ("%s/alice.key", dir);
    char *secret_path = zsys_sprintf ("%s/alice.key_secret", dir);
    assert (s_test_mode (public_path) == 0644);
    assert (s_test_mode (secret_path) == 0600);

    //  The files are ZPL with the Z85 keys libzmq makes; the public file
    //  holds no secret
    char *text = s_test_read (public_path);
    char *expected = zsys_sprintf ("public-key = \"%s\"", pair.public_txt);
    assert (strstr (text, expected));
    assert (!strstr (text, pair.secret_txt));
    assert (!strstr (text, "secret-key"));
    free (text);
    text = s_test_read (secret_path);
    assert (strstr (text, expected));
    free (expected);
    expected = zsys_sprintf ("secret-key = \"%s\"", pair.secret_txt);
    assert (strstr (text, expected));
    free (expected);
    free (text);

    //  Load by either name
    zcert_t *loaded = curve_cert_load_secret (public_path, error, sizeof error);
    assert (loaded);
    assert (zcert_eq (loaded, cert));
    assert (streq (zcert_public_txt (loaded), pair.public_txt));
    assert (streq (zcert_meta (loaded, "name"), "Alice Liddell"));
    assert (streq (zcert_meta (loaded, "email"), "alice@example.org"));
    assert (streq (zcert_meta (loaded, "note"),
                   "quotes ' and # and %s stay as written"));
    curve_cert_destroy (&loaded);
    assert (loaded == NULL);
    curve_cert_destroy (&loaded);           //  Twice is harmless
    loaded = curve_cert_load_secret (secret_path, error, sizeof error);
    assert (loaded);
    assert (zcert_eq (loaded, cert));
    curve_cert_destroy (&loaded);

    //  Public load: the public key and metadata, never the secret
    loaded = curve_cert_load_public (public_path, error, sizeof error);
    assert (loaded);
    assert (streq (zcert_public_txt (loaded), pair.public_txt));
    assert (sodium_is_zero (zcert_secret_key (loaded), CURVE_KEY_BYTES));
    assert (streq (zcert_meta (loaded, "name"), "Alice Liddell"));
    curve_cert_destroy (&loaded);
    loaded = curve_cert_load_public (secret_path, error, sizeof error);
    assert (loaded);
    assert (streq (zcert_public_txt (loaded), pair.public_txt));
    assert (sodium_is_zero (zcert_secret_key (loaded), CURVE_KEY_BYTES));
    curve_cert_destroy (&loaded);

    //  A public-only certificate cannot be saved as a key pair
    loaded = curve_cert_load_public (public_path, error, sizeof error);
    assert (loaded);
    assert (curve_cert_save (loaded, dir, "public-only", false,
                             error, sizeof error) == -1);
    assert (s_test_says (error, "no secret key", NULL));
    char *nothing = zsys_sprintf ("%s/public-only.key_secret", dir);
    assert (!s_test_exists (nothing));
    free (nothing);
    curve_cert_destroy (&loaded);

    //  The default directory follows HOME
    char *saved_home = getenv ("HOME")? strdup (getenv ("HOME")): NULL;
    char *home = zsys_sprintf ("%s/home/", scratch);
    assert (mkdir (home, 0755) == 0);
    assert (setenv ("HOME", home, 1) == 0);
    char *default_dir = curve_cert_default_dir ();
    char *wanted = zsys_sprintf ("%s/home/.curve", scratch);
    assert (streq (default_dir, wanted));
    free (wanted);
    char *clients_dir = curve_cert_default_clients_dir ();
    wanted = zsys_sprintf ("%s/home/.curve/authorized_clients", scratch);
    assert (streq (clients_dir, wanted));
    free (wanted);
    assert (curve_cert_save (cert, NULL, "me", false, error, sizeof error)
            == 0);
    assert (s_test_mode (default_dir) == 0700);
    wanted = zsys_sprintf ("%s/me.key_secret", default_dir);
    assert (s_test_mode (wanted) == 0600);
    free (wanted);
    //  The default clients directory does not exist yet: empty, not wrong
    assert (curve_cert_store_check (NULL, error, sizeof error) == 0);
    if (saved_home)
        assert (setenv ("HOME", saved_home, 1) == 0);
    else
        assert (unsetenv ("HOME") == 0);
    free (saved_home);
    free (home);
    free (default_dir);
    free (clients_dir);

    //  Error buffers are optional and truncate safely
    assert (curve_cert_load_secret ("/nonexistent/x.key", NULL, 0) == NULL);
    char tiny [8];
    assert (curve_cert_load_secret ("/nonexistent/x.key",
                                    tiny, sizeof tiny) == NULL);
    assert (strlen (tiny) == sizeof tiny - 1);

    curve_cert_destroy (&cert);
    free (public_path);
    free (secret_path);
    free (dir);
    free (parent);
    if (verbose)
        printf ("   save, load, modes, metadata, default directory: OK\n");
}

//  Overwriting, names, metadata rules
static void
s_test_save_rules (const char *scratch, bool verbose)
{
    char error [CURVE_CERT_ERROR_MAX];
    char *dir = zsys_sprintf ("%s/rules", scratch);
    char *public_path = zsys_sprintf ("%s/bob.key", dir);
    char *secret_path = zsys_sprintf ("%s/bob.key_secret", dir);
    test_pair_t first, second;
    s_test_pair (&first);
    s_test_pair (&second);
    zcert_t *cert = s_test_cert (&first);
    zcert_t *other = s_test_cert (&second);

    assert (curve_cert_save (cert, dir, "bob", false, error, sizeof error)
            == 0);
    //  An existing key is not replaced unless forced
    assert (curve_cert_save (other, dir, "bob", false, error, sizeof error)
            == -1);
    assert (s_test_says (error, secret_path, "already exists", NULL));
    zcert_t *loaded = curve_cert_load_secret (public_path, error, sizeof error);
    assert (loaded && zcert_eq (loaded, cert));
    curve_cert_destroy (&loaded);
    //  Nor when only the public file is there, and then nothing is created
    char *aside = zsys_sprintf ("%s/aside", scratch);
    assert (rename (secret_path, aside) == 0);
    assert (curve_cert_save (other, dir, "bob", false, error, sizeof error)
            == -1);
    assert (s_test_says (error, public_path, "already exists", NULL));
    assert (!s_test_exists (secret_path));
    assert (rename (aside, secret_path) == 0);
    free (aside);

    //  Forced: both replaced, the secret 0600 even if the old one was not
    assert (chmod (secret_path, 0644) == 0);
    assert (curve_cert_save (other, dir, "bob", true, error, sizeof error)
            == 0);
    assert (s_test_mode (secret_path) == 0600);
    assert (s_test_mode (public_path) == 0644);
    loaded = curve_cert_load_secret (public_path, error, sizeof error);
    assert (loaded && zcert_eq (loaded, other));
    curve_cert_destroy (&loaded);
    //  ... leaving no temporary files behind
    DIR *handle = opendir (dir);
    assert (handle);
    int entries = 0;
    struct dirent *entry;
    while ((entry = readdir (handle)))
        if (entry->d_name [0] != '.')
            entries++;
        else
            assert (streq (entry->d_name, ".") || streq (entry->d_name, ".."));
    closedir (handle);
    assert (entries == 2);

    //  Names
    const char *bad_names [] = {
        "", ".hidden", "a/b", "../up", "x_secret", "x.key_secret", "a b",
        "tab\there", NULL
    };
    for (int index = 0; bad_names [index]; index++) {
        assert (curve_cert_save (cert, dir, bad_names [index], false,
                                 error, sizeof error) == -1);
        assert (s_test_says (error, "invalid certificate name", NULL));
    }
    char long_name [NAME_MAX_CHARS + 2];
    memset (long_name, 'n', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = 0;
    assert (curve_cert_save (cert, dir, long_name, false,
                             error, sizeof error) == -1);
    long_name [NAME_MAX_CHARS] = 0;
    assert (curve_cert_save (cert, dir, long_name, false,
                             error, sizeof error) == 0);
    assert (curve_cert_save (cert, dir, "Dotted.name+1_-x", false,
                             error, sizeof error) == 0);

    //  Metadata that czmq, zauth or pyzmq would not read back
    struct {
        const char *name;
        const char *value;
        const char *says;
    } bad_meta [] = {
        { "public-key-hint", "x", "pyzmq" },
        { "secret-key", "x", "pyzmq" },
        { "two words", "x", "metadata name" },
        { "slash/name", "x", "metadata name" },
        { "quote", "say \"hi\"", "control character or" },
        { "newline", "a\nb", "control character or" },
        { NULL, NULL, NULL }
    };
    for (int index = 0; bad_meta [index].name; index++) {
        zcert_t *copy = zcert_dup (cert);
        assert (copy);
        zcert_set_meta (copy, bad_meta [index].name, "%s",
                        bad_meta [index].value);
        assert (curve_cert_save (copy, dir, "meta", false,
                                 error, sizeof error) == -1);
        assert (s_test_says (error, bad_meta [index].says, NULL));
        curve_cert_destroy (&copy);
    }
    char long_value [CURVE_CERT_META_VALUE_MAX + 2];
    memset (long_value, 'v', sizeof long_value - 1);
    long_value [sizeof long_value - 1] = 0;
    zcert_t *copy = zcert_dup (cert);
    zcert_set_meta (copy, "long", "%s", long_value);
    assert (curve_cert_save (copy, dir, "meta", false, error, sizeof error)
            == -1);
    assert (s_test_says (error, "longer than", NULL));
    curve_cert_destroy (&copy);
    long_value [CURVE_CERT_META_VALUE_MAX] = 0;
    copy = zcert_dup (cert);
    zcert_set_meta (copy, "long", "%s", long_value);
    zcert_set_meta (copy, "utf-8", "%s", "Zo\xc3\xab");
    assert (curve_cert_save (copy, dir, "meta", false, error, sizeof error)
            == 0);
    curve_cert_destroy (&copy);
    char *meta_path = zsys_sprintf ("%s/meta.key", dir);
    copy = curve_cert_load_secret (meta_path, error, sizeof error);
    assert (copy);
    assert (streq (zcert_meta (copy, "long"), long_value));
    assert (streq (zcert_meta (copy, "utf-8"), "Zo\xc3\xab"));
    curve_cert_destroy (&copy);
    free (meta_path);

    //  A directory that cannot be made
    char *blocker = zsys_sprintf ("%s/file", scratch);
    s_test_write (blocker, "x", 0644);
    char *below = zsys_sprintf ("%s/file/sub", scratch);
    assert (curve_cert_save (cert, below, "x", false, error, sizeof error)
            == -1);
    assert (s_test_says (error, blocker, NULL));
    free (below);
    free (blocker);

    curve_cert_destroy (&cert);
    curve_cert_destroy (&other);
    free (public_path);
    free (secret_path);
    free (dir);
    if (verbose)
        printf ("   overwrite, names, metadata rules: OK\n");
}

//  Permissions and malformed files
static void
s_test_refusals (const char *scratch, bool verbose)
{
    char error [CURVE_CERT_ERROR_MAX];
    char *dir = zsys_sprintf ("%s/bad", scratch);
    assert (mkdir (dir, 0700) == 0);
    test_pair_t pair, stranger;
    s_test_pair (&pair);
    s_test_pair (&stranger);
    zcert_t *cert = s_test_cert (&pair);
    assert (curve_cert_save (cert, dir, "carol", false, error, sizeof error)
            == 0);
    char *public_path = zsys_sprintf ("%s/carol.key", dir);
    char *secret_path = zsys_sprintf ("%s/carol.key_secret", dir);

    //  Readable or writable by group or others: refused, saying how to fix
    mode_t open_modes [] = { 0644, 0640, 0604, 0620, 0602, 0666, 0 };
    for (int index = 0; open_modes [index]; index++) {
        assert (chmod (secret_path, open_modes [index]) == 0);
        assert (!curve_cert_load_secret (public_path, error, sizeof error));
        char *mode = zsys_sprintf ("Permissions %04o", open_modes [index]);
        char *fix = zsys_sprintf ("chmod 600 %s", secret_path);
        assert (s_test_says (error, mode, secret_path, "too open", fix,
                             NULL));
        free (mode);
        free (fix);
        if (verbose && index == 0)
            printf ("   refused: %s\n", error);
    }
    //  The public file has no such rule
    zcert_t *loaded = curve_cert_load_public (public_path, error, sizeof error);
    assert (loaded);
    curve_cert_destroy (&loaded);
    //  Owner-only modes are fine
    mode_t private_modes [] = { 0600, 0400, 0700, 0 };
    for (int index = 0; private_modes [index]; index++) {
        assert (chmod (secret_path, private_modes [index]) == 0);
        loaded = curve_cert_load_secret (secret_path, error, sizeof error);
        assert (loaded && zcert_eq (loaded, cert));
        curve_cert_destroy (&loaded);
    }
    assert (chmod (secret_path, 0600) == 0);
    //  A path that needs quoting is quoted in the fix
    char *odd_dir = zsys_sprintf ("%s/with space", dir);
    assert (curve_cert_save (cert, odd_dir, "k", false, error, sizeof error)
            == 0);
    char *odd_path = zsys_sprintf ("%s/k.key_secret", odd_dir);
    assert (chmod (odd_path, 0644) == 0);
    assert (!curve_cert_load_secret (odd_path, error, sizeof error));
    char *fix = zsys_sprintf ("chmod 600 '%s'", odd_path);
    assert (s_test_says (error, fix, NULL));
    free (fix);
    free (odd_path);
    free (odd_dir);

    //  Malformed files, each refused with its reason
    char zeros [CURVE_Z85_KEY_BYTES + 1];
    memset (zeros, '0', CURVE_Z85_KEY_BYTES);
    zeros [CURVE_Z85_KEY_BYTES] = 0;
    char short_key [CURVE_Z85_KEY_BYTES];
    memcpy (short_key, pair.public_txt, CURVE_Z85_KEY_BYTES - 1);
    short_key [CURVE_Z85_KEY_BYTES - 1] = 0;
    char not_z85 [CURVE_Z85_KEY_BYTES + 1];
    memcpy (not_z85, pair.public_txt, sizeof not_z85);
    not_z85 [7] = ',';
    struct {
        char *text;
        const char *says;
        bool public_too;            //  The public load refuses it as well
    } cases [] = {
        { zsys_sprintf ("curve\n  public-key = \"%s\"\n", pair.public_txt),
          "not a valid ZPL file", true },
        { strdup ("metadata\n    name = \"x\"\n"),
          "no curve section", true },
        { strdup (""), "no curve section", true },
        { zsys_sprintf ("curve\n    secret-key = \"%s\"\n",
                        pair.secret_txt),
          "no public-key", true },
        { zsys_sprintf ("curve\n    public-key = \"%s\"\n", pair.public_txt),
          "no secret-key", false },
        { zsys_sprintf ("curve\n    public-key = \"%s\"\n"
                        "    secret-key = \"%s\"\n", short_key,
                        pair.secret_txt),
          "public-key is 39 characters long", true },
        { zsys_sprintf ("curve\n    public-key = \"%s\"\n"
                        "    secret-key = \"%s\"\n", not_z85,
                        pair.secret_txt),
          "public-key is not valid Z85", true },
        { zsys_sprintf ("curve\n    public-key = \"%s\"\n"
                        "    secret-key = \"%sAAAAA\"\n", pair.public_txt,
                        pair.secret_txt),
          "secret-key is 45 characters long", false },
        { zsys_sprintf ("curve\n    public-key = \"%s\"\n"
                        "    secret-key = \"%s\"\n", pair.public_txt,
                        stranger.secret_txt),
          "secret-key does not match public-key", false },
        { zsys_sprintf ("curve\n    public-key = \"%s\"\n"
                        "    secret-key = \"%s\"\n", zeros, pair.secret_txt),
          "all zeros", true },
        { zsys_sprintf ("curve\n    public-key = \"%s\"\n"
                        "    public-key = \"%s\"\n", pair.public_txt,
                        stranger.public_txt),
          "more than one public-key", true },
        { zsys_sprintf ("curve\n    public-key = \"%s\"\n"
                        "curve\n    public-key = \"%s\"\n", pair.public_txt,
                        pair.public_txt),
          "more than one curve section", true },
        { NULL, NULL, false }
    };
    char *path = zsys_sprintf ("%s/malformed.key_secret", dir);
    for (int index = 0; cases [index].text; index++) {
        s_test_write (path, cases [index].text, 0600);
        assert (!curve_cert_load_secret (path, error, sizeof error));
        assert (s_test_says (error, path, cases [index].says, NULL));
        //  No secret key ever appears in a message
        assert (!strstr (error, pair.secret_txt));
        assert (!strstr (error, stranger.secret_txt));
        if (verbose)
            printf ("   refused: %s\n", error);
        loaded = curve_cert_load_public (path, error, sizeof error);
        assert ((loaded == NULL) == cases [index].public_too);
        curve_cert_destroy (&loaded);
        sodium_memzero (cases [index].text, strlen (cases [index].text));
        free (cases [index].text);
    }

    //  Too large
    char *big = (char *) malloc (CURVE_CERT_FILE_MAX + 2);
    assert (big);
    memset (big, '#', CURVE_CERT_FILE_MAX + 1);
    big [CURVE_CERT_FILE_MAX + 1] = 0;
    s_test_write (path, big, 0600);
    free (big);
    assert (!curve_cert_load_secret (path, error, sizeof error));
    assert (s_test_says (error, path, "too large", NULL));
    //  Not a regular file
    assert (unlink (path) == 0);
    assert (mkdir (path, 0700) == 0);
    assert (!curve_cert_load_secret (path, error, sizeof error));
    assert (s_test_says (error, path, "not a regular file", NULL));
    assert (rmdir (path) == 0);
    //  Missing
    assert (!curve_cert_load_secret (path, error, sizeof error));
    assert (s_test_says (error, path, "cannot open", strerror (ENOENT),
                         NULL));
    //  "x.key" given, "x.key_secret" missing: the message names the latter
    char *lonely = zsys_sprintf ("%s/lonely.key", dir);
    s_test_write (lonely, "", 0644);
    assert (!curve_cert_load_secret (lonely, error, sizeof error));
    assert (s_test_says (error, "lonely.key_secret", NULL));
    free (lonely);

    free (path);
    curve_cert_destroy (&cert);
    free (public_path);
    free (secret_path);
    free (dir);
    if (verbose)
        printf ("   permissions and malformed files refused: OK\n");
}

//  czmq and pyzmq formats, both ways
static void
s_test_interop (const char *scratch, bool verbose)
{
    char error [CURVE_CERT_ERROR_MAX];
    char *dir = zsys_sprintf ("%s/interop", scratch);
    test_pair_t pair;
    s_test_pair (&pair);
    zcert_t *cert = s_test_cert (&pair);
    zcert_set_meta (cert, "name", "Dave");
    assert (curve_cert_save (cert, dir, "dave", false, error, sizeof error)
            == 0);

    //  czmq reads our files, metadata included
    char *path = zsys_sprintf ("%s/dave.key", dir);
    zcert_t *czmq_cert = zcert_load (path);
    assert (czmq_cert);
    assert (zcert_eq (czmq_cert, cert));
    assert (streq (zcert_meta (czmq_cert, "name"), "Dave"));
    //  Our Z85 is libzmq's
    char z85 [CURVE_Z85_KEY_BYTES + 1];
    assert (zmq_z85_encode (z85, zcert_public_key (czmq_cert),
                            CURVE_KEY_BYTES));
    assert (streq (z85, zcert_public_txt (cert)));
    assert (streq (z85, pair.public_txt));
    curve_cert_destroy (&czmq_cert);
    free (path);

    //  We read czmq's (zcert_save makes the secret file 0600 itself)
    czmq_cert = zcert_new ();
    assert (czmq_cert);
    zcert_set_meta (czmq_cert, "organisation", "czmq");
    path = zsys_sprintf ("%s/czmq.key", dir);
    assert (zcert_save (czmq_cert, path) == 0);
    char *secret_path = zsys_sprintf ("%s_secret", path);
    assert (s_test_mode (secret_path) == 0600);
    zcert_t *loaded = curve_cert_load_secret (path, error, sizeof error);
    assert (loaded);
    assert (zcert_eq (loaded, czmq_cert));
    assert (streq (zcert_meta (loaded, "organisation"), "czmq"));
    curve_cert_destroy (&loaded);
    loaded = curve_cert_load_public (path, error, sizeof error);
    assert (loaded);
    assert (streq (zcert_public_txt (loaded), zcert_public_txt (czmq_cert)));
    curve_cert_destroy (&loaded);
    curve_cert_destroy (&czmq_cert);
    free (secret_path);
    free (path);

    //  The shape pyzmq's create_certificates writes: metadata unquoted,
    //  and the secret file made with the default umask (often 0644)
    path = zsys_sprintf ("%s/py.key_secret", dir);
    char *text = zsys_sprintf (
        "#   written the way pyzmq writes it\n"
        "#   second comment line\n"
        "\n"
        "metadata\n"
        "    name = Py Thon\n"
        "curve\n"
        "    public-key = \"%s\"\n"
        "    secret-key = \"%s\"\n", pair.public_txt, pair.secret_txt);
    s_test_write (path, text, 0644);
    sodium_memzero (text, strlen (text));
    free (text);
    assert (!curve_cert_load_secret (path, error, sizeof error));
    assert (s_test_says (error, "Permissions 0644", NULL));
    assert (chmod (path, 0600) == 0);
    loaded = curve_cert_load_secret (path, error, sizeof error);
    assert (loaded);
    assert (zcert_eq (loaded, cert));
    assert (streq (zcert_meta (loaded, "name"), "Py Thon"));
    curve_cert_destroy (&loaded);
    free (path);

    curve_cert_destroy (&cert);
    free (dir);
    if (verbose)
        printf ("   czmq and pyzmq formats: OK\n");
}

//  Authorised-clients directories, as czmq's zcertstore reads them
static void
s_test_store (const char *scratch, bool verbose)
{
    char error [CURVE_CERT_ERROR_MAX];
    char *keys = zsys_sprintf ("%s/store-keys", scratch);
    char *clients = zsys_sprintf ("%s/store-clients", scratch);
    test_pair_t alice, bob;
    s_test_pair (&alice);
    s_test_pair (&bob);
    zcert_t *alice_cert = s_test_cert (&alice);
    zcert_t *bob_cert = s_test_cert (&bob);
    zcert_set_meta (alice_cert, "name", "Alice");
    assert (curve_cert_save (alice_cert, keys, "alice", false,
                             error, sizeof error) == 0);
    assert (curve_cert_save (bob_cert, keys, "bob", false,
                             error, sizeof error) == 0);

    //  Not there yet: empty, as czmq sees it
    assert (curve_cert_store_check (clients, error, sizeof error) == 0);
    zcertstore_t *store = curve_cert_store_new (clients, error, sizeof error);
    assert (store);
    assert (!zcertstore_lookup (store, alice.public_txt));

    //  Copy the public files in; the store reloads by itself
    assert (mkdir (clients, 0700) == 0);
    char *from = zsys_sprintf ("%s/alice.key", keys);
    char *alice_path = zsys_sprintf ("%s/alice.key", clients);
    s_test_copy (from, alice_path);
    free (from);
    from = zsys_sprintf ("%s/bob.key", keys);
    char *sub = zsys_sprintf ("%s/team", clients);
    assert (mkdir (sub, 0700) == 0);
    char *bob_path = zsys_sprintf ("%s/team/bob.key", clients);
    s_test_copy (from, bob_path);
    free (from);
    //  Files that are not certificates are ignored, as czmq does
    char *readme = zsys_sprintf ("%s/README", clients);
    s_test_write (readme, "#   public .key files of the clients\n", 0644);
    char *hidden = zsys_sprintf ("%s/.alice.key.swp", clients);
    s_test_copy (alice_path, hidden);
    assert (curve_cert_store_check (clients, error, sizeof error) == 2);
    zcert_t *found = zcertstore_lookup (store, alice.public_txt);
    assert (found);
    assert (streq (zcert_meta (found, "name"), "Alice"));
    assert (sodium_is_zero (zcert_secret_key (found), CURVE_KEY_BYTES));
    assert (zcertstore_lookup (store, bob.public_txt));
    zcertstore_destroy (&store);

    //  A secret file in the directory: czmq does not take it as a client
    //  on its own, and does not break, but it would read it in place of
    //  alice.key; we refuse the directory
    char *alice_secret = zsys_sprintf ("%s/alice.key_secret", clients);
    from = zsys_sprintf ("%s/alice.key_secret", keys);
    s_test_copy (from, alice_secret);
    assert (chmod (alice_secret, 0600) == 0);
    free (from);
    store = zcertstore_new (clients);
    assert (store);
    found = zcertstore_lookup (store, alice.public_txt);
    assert (found);
    assert (!sodium_is_zero (zcert_secret_key (found), CURVE_KEY_BYTES));
    zcertstore_destroy (&store);
    assert (curve_cert_store_check (clients, error, sizeof error) == -1);
    assert (s_test_says (error, alice_secret, "secret", NULL));
    if (verbose)
        printf ("   refused: %s\n", error);
    assert (!curve_cert_store_new (clients, error, sizeof error));
    //  A secret file alone is not a client for czmq either
    assert (unlink (alice_path) == 0);
    store = zcertstore_new (clients);
    assert (store);
    assert (!zcertstore_lookup (store, alice.public_txt));
    assert (zcertstore_lookup (store, bob.public_txt));
    zcertstore_destroy (&store);
    assert (unlink (alice_secret) == 0);
    free (alice_secret);
    s_test_copy (hidden, alice_path);
    assert (curve_cert_store_check (clients, error, sizeof error) == 2);

    //  Two files with one key would make zcertstore abort the process
    char *twin = zsys_sprintf ("%s/alice-copy.key", clients);
    s_test_copy (alice_path, twin);
    assert (curve_cert_store_check (clients, error, sizeof error) == -1);
    assert (s_test_says (error, "same public key", twin, alice_path, NULL));
    if (verbose)
        printf ("   refused: %s\n", error);
    assert (unlink (twin) == 0);
    free (twin);

    //  A broken key czmq would load anyway
    char *broken = zsys_sprintf ("%s/broken.key", clients);
    char *text = zsys_sprintf ("curve\n    public-key = \"%040d\"\n", 0);
    s_test_write (broken, text, 0644);
    free (text);
    assert (curve_cert_store_check (clients, error, sizeof error) == -1);
    assert (s_test_says (error, broken, "all zeros", NULL));
    assert (unlink (broken) == 0);
    free (broken);

    //  A directory others can write to
    assert (chmod (clients, 0777) == 0);
    assert (curve_cert_store_check (clients, error, sizeof error) == -1);
    assert (s_test_says (error, "Permissions 0777", "chmod go-w", NULL));
    assert (chmod (clients, 0755) == 0);
    assert (curve_cert_store_check (clients, error, sizeof error) == 2);
    //  Not a directory
    assert (curve_cert_store_check (readme, error, sizeof error) == -1);
    assert (s_test_says (error, "not a directory", NULL));

    curve_cert_destroy (&alice_cert);
    curve_cert_destroy (&bob_cert);
    free (hidden);
    free (readme);
    free (sub);
    free (alice_path);
    free (bob_path);
    free (keys);
    free (clients);
    if (verbose)
        printf ("   authorised-clients directories: OK\n");
}

//  A CURVE client socket for the zauth test
static zsock_t *
s_test_client (zcert_t *cert, const char *server_key, const char *endpoint)
{
    zsock_t *push = zsock_new (ZMQ_PUSH);
    assert (push);
    zsock_set_linger (push, 0);
    zcert_apply (cert, push);
    zsock_set_curve_serverkey (push, server_key);
    assert (zsock_connect (push, "%s", endpoint) == 0);
    return push;
}

//  What we write works with zauth and libzmq's own CURVE, the way the
//  server class will use it
static void
s_test_zauth (const char *scratch, bool verbose)
{
    if (!zsys_has_curve ()) {
        if (verbose)
            printf ("   zauth: libzmq has no CURVE, skipped\n");
        return;
    }
    char error [CURVE_CERT_ERROR_MAX];
    char *keys = zsys_sprintf ("%s/zauth-keys", scratch);
    char *clients = zsys_sprintf ("%s/zauth-keys/authorized_clients",
                                  scratch);
    test_pair_t pairs [3];
    const char *names [] = { "server", "alice", "mallory" };
    for (int index = 0; index < 3; index++) {
        s_test_pair (&pairs [index]);
        zcert_t *cert = s_test_cert (&pairs [index]);
        assert (curve_cert_save (cert, keys, names [index], false,
                                 error, sizeof error) == 0);
        curve_cert_destroy (&cert);
    }
    assert (mkdir (clients, 0700) == 0);
    char *from = zsys_sprintf ("%s/alice.key", keys);
    char *to = zsys_sprintf ("%s/alice.key", clients);
    s_test_copy (from, to);
    free (from);
    free (to);
    assert (curve_cert_store_check (clients, error, sizeof error) == 1);

    zactor_t *auth = zactor_new (zauth, NULL);
    assert (auth);
    if (verbose) {
        zstr_sendx (auth, "VERBOSE", NULL);
        zsock_wait (auth);
    }
    zstr_sendx (auth, "CURVE", clients, NULL);
    zsock_wait (auth);

    char *path = zsys_sprintf ("%s/server.key", keys);
    zcert_t *server = curve_cert_load_secret (path, error, sizeof error);
    assert (server);
    free (path);
    zsock_t *pull = zsock_new (ZMQ_PULL);
    assert (pull);
    zcert_apply (server, pull);
    zsock_set_curve_server (pull, 1);
    int port = zsock_bind (pull, "tcp://127.0.0.1:*");
    assert (port > 0);
    char *endpoint = zsys_sprintf ("tcp://127.0.0.1:%d", port);

    zcert_t *certs [3];
    for (int index = 1; index < 3; index++) {
        path = zsys_sprintf ("%s/%s.key", keys, names [index]);
        certs [index] = curve_cert_load_secret (path, error, sizeof error);
        assert (certs [index]);
        free (path);
    }
    //  Alice is in the directory: her message arrives
    zsock_t *alice = s_test_client (certs [1], zcert_public_txt (server),
                                    endpoint);
    zstr_send (alice, "from alice");
    zsock_set_rcvtimeo (pull, 5000);
    char *message = zstr_recv (pull);
    assert (message && streq (message, "from alice"));
    zstr_free (&message);
    //  Mallory is not: nothing arrives
    zsock_t *mallory = s_test_client (certs [2], zcert_public_txt (server),
                                      endpoint);
    zstr_send (mallory, "from mallory");
    zsock_set_rcvtimeo (pull, 500);
    message = zstr_recv (pull);
    assert (message == NULL);
    zsock_destroy (&mallory);
    //  Her public file copied in: the store reloads and she gets in (libzmq
    //  does not retry a denied connection, so she connects again)
    from = zsys_sprintf ("%s/mallory.key", keys);
    to = zsys_sprintf ("%s/mallory.key", clients);
    s_test_copy (from, to);
    free (from);
    free (to);
    assert (curve_cert_store_check (clients, error, sizeof error) == 2);
    mallory = s_test_client (certs [2], zcert_public_txt (server), endpoint);
    zstr_send (mallory, "from mallory, again");
    zsock_set_rcvtimeo (pull, 5000);
    message = zstr_recv (pull);
    assert (message && streq (message, "from mallory, again"));
    zstr_free (&message);

    zsock_destroy (&alice);
    zsock_destroy (&mallory);
    zsock_destroy (&pull);
    zactor_destroy (&auth);
    for (int index = 1; index < 3; index++)
        curve_cert_destroy (&certs [index]);
    curve_cert_destroy (&server);
    free (endpoint);
    free (keys);
    free (clients);
    if (verbose)
        printf ("   zauth with an authorised-clients directory: OK\n");
}

void
curve_cert_test (bool verbose)
{
    printf (" * curve_cert: ");
    if (verbose)
        printf ("\n");
    assert (sodium_init () >= 0);
    const char *tmp = getenv ("TMPDIR");
    char *scratch = zsys_sprintf ("%s/curve_cert_test.XXXXXX",
                                  tmp && *tmp? tmp: "/tmp");
    assert (scratch);
    assert (mkdtemp (scratch));
    s_test_save_load (scratch, verbose);
    s_test_save_rules (scratch, verbose);
    s_test_refusals (scratch, verbose);
    s_test_interop (scratch, verbose);
    s_test_store (scratch, verbose);
    s_test_zauth (scratch, verbose);
    s_test_remove_tree (scratch);
    free (scratch);
    printf ("OK\n");
}
//  @end
