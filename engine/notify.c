/*
 * notify.c - sd_notify(3) readiness, so that systemd starts what depends on
 * allotd only once it answers: after recovery from Redis (which may take a
 * while) and after the listeners are bound.
 */
#include "notify.h"

#include <systemd/sd-daemon.h>

void notify_ready(void)
{
	/* A failure to tell is not a reason to stop serving: ignored. */
	(void)sd_notify(0, "READY=1\nSTATUS=serving");
}

void notify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}
