/*
 * fuzz.h - what the fuzz harnesses in tests/fuzz/ share.
 *
 * Each harness defines LLVMFuzzerTestOneInput(). Built for libFuzzer
 * (tools/fuzz: clang, -Dfuzzing=true) libFuzzer's main drives it; built
 * plainly (gcc, every tools/test run) replay.c's main() runs it once per
 * file of the corpus directories it is given, so every input a fuzzer ever
 * kept or crashed on is checked again by every build.
 *
 * A harness checks with FUZZ_CHECK, never assert(): a broken property must
 * stop the run whatever the build's NDEBUG, and say what broke.
 */
#ifndef ALLOT_TESTS_FUZZ_H
#define ALLOT_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                        \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: fuzz check failed: %s: ", __FILE__,  \
			    __LINE__, #cond);                                        \
			fprintf(stderr, __VA_ARGS__);                                \
			fputc('\n', stderr);                                         \
			abort();                                                     \
		}                                                                    \
	} while (0)

/* Out of memory in a harness is not a finding: stop loudly. */
static inline void *fuzz_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	FUZZ_CHECK(p != NULL, "out of memory (%zu bytes)", n);
	return p;
}

/* FUZZ_VERBOSE=1 in the environment: harnesses say what each input did
 * (to check that seeds reach what they are meant to); 2: each step too. */
static inline int fuzz_verbose(void)
{
	static int v = -1;
	if (v < 0) {
		const char *e = getenv("FUZZ_VERBOSE");
		v = e ? atoi(e) : 0;
	}
	return v;
}

#endif
