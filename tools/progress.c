/*
 * progress.c - the progress bar (see progress.h).
 */
#include "progress.h"

#include <stdio.h>
#include <time.h>

#define PROGRESS_BAR_WIDTH 30

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progress_start(progress *p, uint64_t total_bytes, bool on)
{
	*p = (progress){ .on = on, .total = total_bytes, .start_ms = mono_ms() };
	p->drawn_ms = p->start_ms - PROGRESS_REDRAW_MS; /* the first update draws */
}

void progress_update(progress *p, uint64_t done_bytes, uint64_t rows)
{
	int64_t now = mono_ms();
	if (!p->on || now - p->drawn_ms < PROGRESS_REDRAW_MS)
		return;
	p->drawn_ms = now;
	double secs = (double)(now - p->start_ms) / 1000.0;
	double rate = secs > 0 ? (double)rows / secs : 0;
	char bar[PROGRESS_BAR_WIDTH + 1];
	if (p->total > 0) {
		double share = done_bytes >= p->total ? 1.0 : (double)done_bytes / (double)p->total;
		int full = (int)(share * PROGRESS_BAR_WIDTH);
		for (int i = 0; i < PROGRESS_BAR_WIDTH; i++)
			bar[i] = i < full ? '#' : '-';
		bar[PROGRESS_BAR_WIDTH] = '\0';
		double eta = share > 0 ? secs * (1 - share) / share : 0;
		fprintf(stderr, "\r[%s] %3.0f%%  %llu rows  %.0f rows/s  ETA %.0fs \033[K", bar,
		    share * 100, (unsigned long long)rows, rate, eta);
	} else {
		fprintf(stderr, "\r%llu rows  %.0f rows/s \033[K", (unsigned long long)rows, rate);
	}
	fflush(stderr);
	p->drawn = true;
}

void progress_clear(progress *p)
{
	if (!p->drawn)
		return;
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
	p->drawn = false;
}

double progress_elapsed_s(const progress *p)
{
	return (double)(mono_ms() - p->start_ms) / 1000.0;
}
