#!/usr/bin/python3
"""A pynvim session as an allotd subscriber: subscribe, then read events
as msgpack-rpc notifications while a second pynvim session makes changes.

usage: pynvim_events.py HOST PORT

Exits 0 only if every check holds; otherwise prints each failed check and
exits 1. pynvim hands a notification to next_message() as
("notification", name, args), args being the params array: one event map.
"""
import signal
import sys

from pynvim import msgpack_rpc


def text(value):
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return value


def decode(value):
    if isinstance(value, dict):
        return {text(k): decode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [decode(v) for v in value]
    return text(value)


failures = []


def check(what, ok):
    if not ok:
        failures.append(what)
        print("FAIL: " + what, flush=True)
    return ok


def next_event(session):
    """The next notification's event map (pynvim blocks; the alarm bounds it)."""
    msg = session.next_message()
    kind, name, args = msg[0], text(msg[1]), decode(msg[2])
    check("expected an 'event' notification, got %r" % (msg,),
          kind == "notification" and name == "event" and isinstance(args, list)
          and len(args) == 1 and isinstance(args[0], dict))
    return args[0] if args else {}


def run(sub, actor):
    got = decode(sub.request("subscribe", {"topics": ["stock", "reservation", "out_of_stock"],
                                           "skus": ["pv-sku"]}))
    check("subscribe answered %r" % (got,),
          got == {"topics": ["stock", "out_of_stock", "reservation"]})
    actor.request("stock.set", {"sku": "other", "location": "W1", "on_hand": 9})
    actor.request("stock.set", {"sku": "pv-sku", "location": "W1", "on_hand": 2})
    res = decode(actor.request("reserve", {"order_id": "pv-1",
                                           "lines": [{"sku": "pv-sku", "qty": 2}]}))
    rid = res.get("reservation_id")

    e = next_event(sub)
    check("first event %r: the stock of pv-sku (the other sku is filtered out)" % (e,),
          e.get("topic") == "stock" and e.get("sku") == "pv-sku" and e.get("available") == 2)
    seq = e.get("seq", 0)
    e = next_event(sub)
    check("second event %r: the reservation held" % (e,),
          e.get("topic") == "reservation" and e.get("reservation_id") == rid
          and e.get("order_id") == "pv-1" and e.get("status") == "held"
          and e.get("seq", 0) > seq)
    e = next_event(sub)
    check("third event %r: stock at 0 available" % (e,),
          e.get("topic") == "stock" and e.get("available") == 0 and e.get("reserved") == 2)
    e = next_event(sub)
    check("fourth event %r: out_of_stock" % (e,),
          e.get("topic") == "out_of_stock" and e.get("sku") == "pv-sku")

    off = decode(sub.request("unsubscribe", {}))
    check("unsubscribe answered %r" % (off,), off == {"topics": []})
    # Nothing comes while unsubscribed: after subscribing again the first
    # event is of the next change, not of the release made in between.
    actor.request("release", {"reservation_id": rid})
    sub.request("subscribe", {"topics": ["reservation"]})
    res = decode(actor.request("reserve", {"order_id": "pv-2",
                                           "lines": [{"sku": "pv-sku", "qty": 1}]}))
    e = next_event(sub)
    check("after subscribing again %r: pv-2 held, not pv-1's release" % (e,),
          e.get("topic") == "reservation" and e.get("order_id") == "pv-2"
          and e.get("status") == "held")


def main(argv):
    if len(argv) != 3:
        print("usage: pynvim_events.py HOST PORT", file=sys.stderr)
        return 2
    signal.alarm(60)
    sub = msgpack_rpc.tcp_session(argv[1], int(argv[2]))
    actor = msgpack_rpc.tcp_session(argv[1], int(argv[2]))
    try:
        run(sub, actor)
    finally:
        sub.close()
        actor.close()
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
