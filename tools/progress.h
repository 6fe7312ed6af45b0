/*
 * progress.h - a one-line progress bar on stderr for long CLI commands:
 * a bar, the share done, rows, rows per second and the time left, redrawn
 * at most every PROGRESS_REDRAW_MS. Off (silent) unless stderr is a
 * terminal.
 */
#ifndef ALLOT_TOOLS_PROGRESS_H
#define ALLOT_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define PROGRESS_REDRAW_MS 100

typedef struct progress {
	bool on;
	bool drawn;          /* a line is on the screen */
	uint64_t total;      /* bytes in all; 0: unknown (no bar, no ETA) */
	int64_t start_ms, drawn_ms;
} progress;

void progress_start(progress *p, uint64_t total_bytes, bool on);
/* done bytes of total, rows so far. */
void progress_update(progress *p, uint64_t done_bytes, uint64_t rows);
/* Erase the line (before other output, and at the end). */
void progress_clear(progress *p);
double progress_elapsed_s(const progress *p);

#endif
