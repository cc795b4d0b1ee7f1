/*  =========================================================================
    curve_selftest - run the self tests of every class

    Copyright (c) the curve contributors.
    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
    =========================================================================
*/

#include "../src/curve_classes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    const char *name;               //  Class name
    void (*test) (bool verbose);    //  Its self test
} test_item_t;

static test_item_t
all_tests [] = {
    { "curve_codec", curve_codec_test },
#if !defined (CURVE_CODEC_ONLY)
    { "curve_cert", curve_cert_test },
    { "curve_session", curve_session_test },
    { "curve_client", curve_client_test },
    { "curve_server", curve_server_test },
    { "curve_peer", curve_peer_test },
#endif
    { NULL, NULL }                  //  Sentinel
};

static test_item_t *
s_find (const char *name)
{
    for (test_item_t *item = all_tests; item->name; item++)
        if (strcmp (item->name, name) == 0)
            return item;
    return NULL;
}

//  Stop czmq's background threads, so leak checkers see a clean exit
static void
s_shutdown (void)
{
#if !defined (CURVE_CODEC_ONLY)
    zsys_shutdown ();
#endif
}

//  Run one test in a child process so that a failed assertion is counted
//  and the other tests still run. Returns true if it passed.
static bool
s_run_isolated (test_item_t *item, bool verbose)
{
    fflush (stdout);
    pid_t pid = fork ();
    if (pid < 0) {
        perror ("fork");
        return false;
    }
    if (pid == 0) {
        item->test (verbose);
        s_shutdown ();
        fflush (stdout);
        _exit (0);
    }
    int status = 0;
    if (waitpid (pid, &status, 0) < 0) {
        perror ("waitpid");
        return false;
    }
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
        return true;
    if (WIFSIGNALED (status))
        printf (" * %s: FAILED (signal %d)\n", item->name, WTERMSIG (status));
    else
        printf (" * %s: FAILED (exit %d)\n", item->name, WEXITSTATUS (status));
    return false;
}

static void
s_usage (const char *program)
{
    printf ("usage: %s [options]\n"
            "  --verbose / -v         verbose test output\n"
            "  --number / -n          print the number of tests and exit\n"
            "  --list / -l            list the tests and exit\n"
            "  --test / -t NAME       run only test NAME\n"
            "  --continue / -c        run each test in its own process and go\n"
            "                         on after a failure; print a tally\n",
            program);
}

int
main (int argc, char **argv)
{
    bool verbose = false;
    bool keep_going = false;
    test_item_t *only = NULL;
    //  Each class's self test undefines NDEBUG for its own asserts, so the
    //  tests hold in release builds too
    for (int argn = 1; argn < argc; argn++) {
        const char *arg = argv [argn];
        if (!strcmp (arg, "--verbose") || !strcmp (arg, "-v"))
            verbose = true;
        else
        if (!strcmp (arg, "--number") || !strcmp (arg, "-n")) {
            size_t count = 0;
            for (test_item_t *item = all_tests; item->name; item++)
                count++;
            printf ("%zu\n", count);
            return 0;
        }
        else
        if (!strcmp (arg, "--list") || !strcmp (arg, "-l")) {
            for (test_item_t *item = all_tests; item->name; item++)
                printf ("%s\n", item->name);
            return 0;
        }
        else
        if (!strcmp (arg, "--test") || !strcmp (arg, "-t")) {
            if (++argn >= argc) {
                fprintf (stderr, "--test needs a test name\n");
                return 1;
            }
            only = s_find (argv [argn]);
            if (!only) {
                fprintf (stderr, "unknown test: %s\n", argv [argn]);
                return 1;
            }
        }
        else
        if (!strcmp (arg, "--continue") || !strcmp (arg, "-c"))
            keep_going = true;
        else
        if (!strcmp (arg, "--help") || !strcmp (arg, "-h")) {
            s_usage (argv [0]);
            return 0;
        }
        else {
            fprintf (stderr, "unknown option: %s\n", arg);
            s_usage (argv [0]);
            return 1;
        }
    }
    //  Tests that read files from the source tree find them through the
    //  environment; default to this build's source tree
#ifdef CURVE_SOURCE_DIR
    setenv ("CURVE_VECTORS", CURVE_SOURCE_DIR "/RFC/vectors.txt", 0);
#endif
    printf ("Running curve selftests...\n");
    if (!keep_going) {
        if (only)
            only->test (verbose);
        else
            for (test_item_t *item = all_tests; item->name; item++)
                item->test (verbose);
        s_shutdown ();
        printf ("Tests passed OK\n");
        return 0;
    }
    int passed = 0, failed = 0;
    for (test_item_t *item = all_tests; item->name; item++)
        if (!only || only == item) {
            if (s_run_isolated (item, verbose))
                passed++;
            else
                failed++;
        }
    printf ("%d passed, %d failed\n", passed, failed);
    return failed? 1: 0;
}
