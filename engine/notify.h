/*
 * notify.h - readiness for systemd (allotd.service is Type=notify).
 */
#ifndef ALLOT_ENGINE_NOTIFY_H
#define ALLOT_ENGINE_NOTIFY_H

/*
 * Tell the service manager that allotd serves: state recovered, listening.
 * Does nothing when allotd was not started by one ($NOTIFY_SOCKET unset).
 */
void notify_ready(void);

/* Tell it that allotd is stopping (a signal asked it to). */
void notify_stopping(void);

#endif
