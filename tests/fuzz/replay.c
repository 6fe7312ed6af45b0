/*
 * replay.c - a harness as a plain program: run LLVMFuzzerTestOneInput()
 * once on every file named, or in a directory named, on the command line.
 *
 *   fuzz_NAME PATH...
 *
 * Directories are read one level deep, files in name order, skipping names
 * that start with a dot. Each input is given in a buffer of exactly its
 * size, as libFuzzer gives it, so the sanitizers see a read past its end.
 * A check that fails aborts with its message. An input that takes longer
 * than REPLAY_INPUT_SECONDS_MAX fails the replay, as libFuzzer's -timeout
 * fails a run: a slow input is a finding too. The exit status is 0 only
 * when at least one input ran, so an empty or missing corpus fails.
 * libFuzzer brings its own main(): this file is not in the fuzzing build.
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Inputs larger than this are not corpus files. */
#define REPLAY_INPUT_MAX ((size_t)16 << 20)
/* The longest one input may take, sanitizers and a busy machine included
 * (the corpora's inputs take milliseconds). */
#define REPLAY_INPUT_SECONDS_MAX 10.0

typedef struct replay_count {
	unsigned long inputs;
	unsigned long long bytes;
} replay_count;

static int replay_file(const char *path, replay_count *n)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (size_t)st.st_size > REPLAY_INPUT_MAX) {
		fprintf(stderr, "replay: %s: not a corpus file (over %zu bytes?)\n", path,
		    REPLAY_INPUT_MAX);
		fclose(f);
		return -1;
	}
	size_t len = (size_t)st.st_size;
	uint8_t *buf = fuzz_xmalloc(len);
	size_t got = fread(buf, 1, len, f);
	fclose(f);
	if (got != len) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return -1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	LLVMFuzzerTestOneInput(buf, len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(buf);
	n->inputs++;
	n->bytes += len;
	double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (took > REPLAY_INPUT_SECONDS_MAX) {
		fprintf(stderr, "replay: %s took %.1f s, over %.0f s\n", path, took,
		    REPLAY_INPUT_SECONDS_MAX);
		return -1;
	}
	return 0;
}

static int skip_dot(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

static int replay_dir(const char *dir, replay_count *n)
{
	struct dirent **names;
	int count = scandir(dir, &names, skip_dot, alphasort);
	if (count < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < count; i++) {
		char path[4096];
		int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		struct stat st;
		if (len < 0 || (size_t)len >= sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: path too long\n", dir, names[i]->d_name);
			rc = -1;
		} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && replay_file(path, n) != 0) {
			rc = -1;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	replay_count n = { 0, 0 };
	int rc = 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode) ? replay_dir(argv[i], &n) != 0 : replay_file(argv[i], &n) != 0) {
			rc = -1;
		}
	}
	printf("%s: replayed %lu inputs, %llu bytes\n", argv[0], n.inputs, n.bytes);
	if (n.inputs == 0)
		fprintf(stderr, "replay: no inputs: the corpus is missing or empty\n");
	return rc == 0 && n.inputs > 0 ? 0 : 1;
}
