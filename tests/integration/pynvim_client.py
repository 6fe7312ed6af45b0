#!/usr/bin/python3
"""Drive allotd with pynvim's msgpack-rpc client, a real third-party one.

usage: pynvim_client.py HOST PORT [TOKEN]

Exits 0 only if every check holds; otherwise prints each failed check and
exits 1. pynvim sends requests as [0, id, method, [args...]], so
session.request("reserve", {...}) sends params [{...}], which is the allot
contract. On connect it also sends the notification nvim_set_client_info,
which the server must ignore.

With TOKEN (an allotd started with --auth-file), it first checks that a
method is refused UNAUTHORIZED, then calls auth {token}, as any
msgpack-rpc client would, and goes on.
"""
import signal
import sys

from pynvim import msgpack_rpc


class RpcError(Exception):
    """An error response; args[0] is the decoded error map."""


def text(value):
    """pynvim may hand back str or bytes depending on its unpacker."""
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return value


def decode(value):
    """Decode every bytes key and value in a reply, recursively."""
    if isinstance(value, dict):
        return {text(k): decode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [decode(v) for v in value]
    return text(value)


class Checker:
    def __init__(self, session):
        self.session = session
        self.failures = []

    def call(self, method, *args):
        """Call method; return its decoded result, or None after a failure."""
        try:
            return decode(self.session.request(method, *args))
        except RpcError as e:
            self.fail("%s raised an error reply: %r" % (method, e.args[0]))
        except Exception as e:  # noqa: BLE001 - report whatever broke
            self.fail("%s failed: %s: %s" % (method, type(e).__name__, e))
        return None

    def check(self, what, ok):
        if not ok:
            self.fail(what)
        return ok

    def fail(self, what):
        self.failures.append(what)
        print("FAIL: " + what, flush=True)


def authenticate(c, token):
    """Before auth a method is UNAUTHORIZED; auth {token} opens the rest."""
    try:
        c.session.request("stats")
        c.fail("stats answered before auth")
    except RpcError as e:
        c.check("stats before auth: %r, expected UNAUTHORIZED" % (e.args[0],),
                e.args[0].get("code") == "UNAUTHORIZED")
    who = c.call("auth", {"token": token})
    if c.check("auth answered %r, expected {role, name}" % (who,),
               isinstance(who, dict) and "role" in who):
        print("authenticated as %s (role %s)" % (who.get("name"), who.get("role")),
              flush=True)


def run(c):
    pong = c.call("ping")
    c.check("ping answered %r, not 'pong'" % (pong,), pong == "pong")

    rec = c.call("stock.set", {"sku": "py-sku", "location": "W1", "on_hand": 5})
    c.check("stock.set answered %r, expected a record with on_hand 5" % (rec,),
            isinstance(rec, dict) and rec.get("on_hand") == 5)

    res = c.call("reserve", {"order_id": "py-1",
                             "lines": [{"sku": "py-sku", "qty": 2}]})
    if not c.check("reserve answered %r, expected a map" % (res,),
                   isinstance(res, dict)):
        return
    rid = res.get("reservation_id")
    c.check("reserve: no reservation_id in %r" % (res,),
            isinstance(rid, str) and rid != "")
    c.check("reserve: status %r, not 'held'" % (res.get("status"),),
            res.get("status") == "held")

    done = c.call("commit", {"reservation_id": rid})
    c.check("commit answered %r, expected status 'committed'" % (done,),
            isinstance(done, dict) and done.get("status") == "committed")

    recs = c.call("stock.get", {"sku": "py-sku", "location": "W1"})
    if not c.check("stock.get answered %r, expected a list of one record"
                   % (recs,), isinstance(recs, list) and len(recs) == 1
                   and isinstance(recs[0], dict)):
        return
    rec = recs[0]
    for field, want in (("sku", "py-sku"), ("location", "W1"), ("on_hand", 5),
                        ("reserved", 0), ("committed", 2)):
        c.check("stock.get: %s is %r, expected %r" % (field, rec.get(field),
                                                     want),
                rec.get(field) == want)


def main(argv):
    if len(argv) not in (3, 4):
        print("usage: pynvim_client.py HOST PORT [TOKEN]", file=sys.stderr)
        return 2
    # pynvim's blocking requests have no timeout of their own; a hung
    # server must fail the test rather than stall it.
    signal.alarm(60)
    try:
        session = msgpack_rpc.tcp_session(argv[1], int(argv[2]))
    except Exception as e:  # noqa: BLE001
        print("FAIL: cannot connect: %s: %s" % (type(e).__name__, e))
        return 1
    # Session.request raises self.error_wrapper(err) on an error reply;
    # pynvim's Nvim class sets it, a bare session needs one.
    session.error_wrapper = lambda err: RpcError(decode(err))
    c = Checker(session)
    try:
        if len(argv) == 4:
            authenticate(c, argv[3])
        run(c)
    finally:
        session.close()
    if c.failures:
        print("%d check(s) failed" % len(c.failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
