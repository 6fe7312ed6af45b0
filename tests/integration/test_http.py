#!/usr/bin/python3
"""allotd's HTTP port (--metrics): /metrics, /healthz, the operations page,
limits and bad input, and access with tokens.

Each check starts a real allotd (and where needed a real redis-server) on
free loopback ports, drives it with the allot CLI and allot-bench, and
talks HTTP to it with plain sockets and http.client. The exposition is
checked by Prometheus's own promtool on a live scrape; the page is loaded
in headless Chromium. Exits 0 only if every check holds; prints each
failure. Paths come from the environment (tests/integration/meson.build):
ALLOTD, ALLOT_CLI, ALLOT_BENCH, PROMTOOL, CHROMIUM, REDIS_SERVER.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import base64
import random
import traceback

ALLOTD = os.environ["ALLOTD"]
CLI = os.environ["ALLOT_CLI"]
BENCH = os.environ.get("ALLOT_BENCH")
PROMTOOL = os.environ.get("PROMTOOL") or shutil.which("promtool")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium")
REDIS = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")

failures = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """An allotd with --metrics on free ports; stopped by stop()."""

    def __init__(self, *extra, token=None):
        self.port, self.http = free_port(), free_port()
        self.token = token
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [ALLOTD, "--port", str(self.port), "--metrics", "127.0.0.1:%d" % self.http,
             "--log-level", "info", *extra], stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.call("ping", check_rc=False)[0] == 0:
                return
            time.sleep(0.05)
        raise AssertionError("allotd did not answer ping")

    def call(self, method, params=None, check_rc=True):
        env = dict(os.environ)
        if self.token:
            env["ALLOT_TOKEN"] = self.token
        argv = [CLI, "--port", str(self.port), method] + ([json.dumps(params)] if params else [])
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)
        if check_rc and p.returncode != 0:
            raise AssertionError("allot %s: %s %s" % (method, p.stdout, p.stderr))
        return p.returncode, (json.loads(p.stdout) if p.stdout.strip().startswith(("{", "[", '"'))
                              else p.stdout)

    def get(self, path, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.http, timeout=10)
        h = dict(headers or {})
        if self.token and "Authorization" not in h:
            h["Authorization"] = "Bearer " + self.token
        c.request("GET", path, headers=h)
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, r.headers, body

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


def raw(port, data, wait=2.0):
    """Send bytes on a fresh connection; what comes back until it closes
    (or wait seconds pass), and whether it closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    s.sendall(data)
    out, closed = b"", False
    try:
        while True:
            b = s.recv(65536)
            if not b:
                closed = True
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out.decode(errors="replace"), closed


def traffic(srv):
    """Stock, holds in every state, an error, and a short allot-bench run."""
    srv.call("stock.set", {"sku": "hot-1", "location": "w1", "on_hand": 100})
    srv.call("stock.set", {"sku": "low-1", "location": "w1", "on_hand": 3})
    srv.call("sku.put", {"sku": "low-1", "low_stock": 5})
    srv.call("stock.set", {"sku": "gone-1", "location": "w1", "on_hand": 1})
    ids = []
    for i in range(6):
        _, r = srv.call("reserve", {"order_id": "o-%d" % i, "lines": [{"sku": "hot-1", "qty": 2}]})
        ids.append(r["reservation_id"])
    srv.call("reserve", {"order_id": "g", "lines": [{"sku": "gone-1", "qty": 1}]})
    srv.call("commit", {"reservation_id": ids[0]})
    srv.call("commit", {"reservation_id": ids[1]})
    srv.call("fulfill", {"reservation_id": ids[1]})
    srv.call("release", {"reservation_id": ids[2]})
    rc, _ = srv.call("reserve", {"order_id": "x", "lines": [{"sku": "hot-1", "qty": 1000}]},
                     check_rc=False)
    check(rc == 1, "an over-large reserve is refused")
    if BENCH:
        subprocess.run([BENCH, "--port", str(srv.port), "--workload", "checkout", "--connections", "4",
                        "--requests", "3000", "--skus", "50"], capture_output=True, timeout=120)


def series(text, name, **labels):
    """The value of one series in an exposition, or None."""
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    pat = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)$"
    for line in text.splitlines():
        m = re.match(pat, line)
        if m:
            return float(m.group(1))
    return None


def test_metrics_promtool():
    srv = Server()
    try:
        traffic(srv)
        status, headers, text = srv.get("/metrics")
        check(status == 200, "GET /metrics answers 200, not %d" % status)
        check(headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
              "the exposition's content type: %s" % headers.get("Content-Type"))
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=60)
        check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
              "promtool check metrics: rc %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
        _, stats = srv.call("stats")
        for state, n in stats["reservations"].items():
            check(series(text, "allot_reservations", state=state) == n,
                  "allot_reservations{state=%s} matches stats (%s)" % (state, n))
        check(series(text, "allot_units_reserved") == stats["units_reserved"], "units reserved")
        check(series(text, "allot_units_committed") == stats["units_committed"], "units committed")
        ok = series(text, "allot_requests_total", method="commit", code="OK")
        check(ok == stats["requests"]["commit"], "commit requests %s vs stats %s" % (
            ok, stats["requests"]["commit"]))
        check(series(text, "allot_requests_total", method="reserve", code="OUT_OF_STOCK") >= 1,
              "the refused reserve counted by its code")
        n = series(text, "allot_request_duration_seconds_count", method="reserve")
        check(n is not None and n >= 7, "reserve latencies recorded: %s" % n)
        check(series(text, "allot_loop_busy_seconds_count") > 0, "loop turns measured")
        check(series(text, "allot_memory_allocated_bytes") > 0, "jemalloc's allocated bytes")
        check(series(text, "allot_subscribers") == 0, "subscribers gauge present")
        check(series(text, "allot_connections") is not None, "connections gauge present")
        check(series(text, "allot_expired_total") is not None, "expiries present")
        # The background walk sees the sold-out sku within a second or two.
        time.sleep(1.5)
        _, _, body = srv.get("/api/summary")
        s = json.loads(body)
        check(s["reservations"] == stats["reservations"], "summary's reservations match stats")
        check(any(k["sku"] == "gone-1" for k in s["out"]), "gone-1 listed out of stock: %s" % s["out"])
        check(any(k["sku"] == "low-1" for k in s["low"]), "low-1 listed low: %s" % s["low"])
        check(s["hottest"] and s["hottest"][0]["sku"] in ("hot-1",) or BENCH,
              "the hottest sku first: %s" % s["hottest"][:2])
        check(s["history"], "the summary carries samples")
    finally:
        srv.stop()


def test_bad_requests_and_limits():
    srv = Server()
    try:
        out, closed = raw(srv.http, b"NOT HTTP AT ALL\r\n\r\n")
        check(out.startswith("HTTP/1.1 400 ") and closed, "garbage gets 400 and a close: %r" % out[:80])
        out, closed = raw(srv.http, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        check(out.startswith("HTTP/1.1 431 ") and closed, "oversized headers get 431: %r" % out[:80])
        out, closed = raw(srv.http, b"GET /" + b"a" * 600 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        check(out.startswith("HTTP/1.1 414 ") and closed, "an overlong URL gets 414: %r" % out[:80])
        out, closed = raw(srv.http, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        check(out.startswith("HTTP/1.1 413 ") and closed, "a large body gets 413: %r" % out[:80])
        out, closed = raw(srv.http, b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", wait=1)
        check(out.startswith("HTTP/1.1 405 "), "DELETE gets 405: %r" % out[:80])
        status, _, _ = srv.get("/nope")
        check(status == 404, "an unknown path gets 404")
        # Keep-alive and pipelining: two requests, two answers, in order.
        out, closed = raw(srv.http, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        heads = re.findall(r"HTTP/1\.1 (\d+)", out)
        check(heads == ["200", "404"] and closed, "pipelined answers in order: %s" % heads)
        # A request that never finishes arriving is answered 408 and closed.
        s = socket.create_connection(("127.0.0.1", srv.http), timeout=20)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        t0 = time.time()
        got = s.recv(4096).decode(errors="replace")
        check(got.startswith("HTTP/1.1 408 ") and time.time() - t0 < 15,
              "a slow request gets 408 in time: %r" % got[:60])
        s.close()
        # Connections beyond the pool's 64 are answered 503.
        held = [socket.create_connection(("127.0.0.1", srv.http)) for _ in range(64)]
        time.sleep(0.3)
        out, closed = raw(srv.http, b"", wait=3)
        check(out.startswith("HTTP/1.1 503 ") and closed, "the 65th connection gets 503: %r" % out[:60])
        for h in held:
            h.close()
        time.sleep(0.3)
        status, _, _ = srv.get("/healthz")
        check(status == 200, "served again once connections close")
        # Seeded random bytes and mangled requests: answered or closed,
        # never a crash.
        rng = random.Random(11)
        good = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dTp0\r\n\r\n"
        for i in range(150):
            if i % 2:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            else:
                b = bytearray(good)
                for _ in range(rng.randrange(1, 6)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                data = bytes(b)
            out, _ = raw(srv.http, data, wait=0.3)
            check(out == "" or out.startswith("HTTP/1.1 "), "an HTTP answer or none: %r" % out[:40])
        check(srv.proc.poll() is None, "allotd still runs")
        rc, _ = srv.call("ping")
        check(rc == 0, "the RPC port serves throughout")
    finally:
        log = srv.stop()
        check("stopped" in log, "allotd stopped cleanly:\n" + log[-2000:])


def auth_file(name, role):
    """A new token of role for name (allot token new), in an auth file of
    its own; returns the token and the file's path (the caller removes it)."""
    out = subprocess.run([CLI, "token", "new", name, role], capture_output=True, text=True).stdout
    token = re.search(r"token: (\S+)", out).group(1)
    line = re.search(r"line: (.+)", out).group(1)
    with tempfile.NamedTemporaryFile("w", suffix=".auth", delete=False) as f:
        f.write(line + "\n")
    return token, f.name


def test_auth():
    token, path = auth_file("ops", "read")
    srv = Server("--auth-file", path, token=token)
    try:
        for p in ("/metrics", "/healthz", "/", "/api/summary"):
            status, headers, _ = srv.get(p, {"Authorization": "Bearer wrong-token"})
            check(status == 401, "%s with a wrong token: %d" % (p, status))
            check(any(v.startswith("Bearer") for v in headers.get_all("WWW-Authenticate") or []),
                  "401 says how to authenticate")
            c = http.client.HTTPConnection("127.0.0.1", srv.http, timeout=10)
            c.request("GET", p)
            r = c.getresponse()
            r.read()
            check(r.status == 401, "%s without a token: %d" % (p, r.status))
            status, _, _ = srv.get(p)
            check(status == 200, "%s with a read token: %d" % (p, status))
        # An Authorization value over the limit, arriving in pieces, is
        # refused and harms nothing.
        s = socket.create_connection(("127.0.0.1", srv.http), timeout=10)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a" * 400)
        for _ in range(4):
            time.sleep(0.1)
            s.sendall(b"b" * 400)
        s.sendall(b"\r\n\r\n")
        got = s.recv(4096).decode(errors="replace")
        s.close()
        check(got.startswith("HTTP/1.1 401 "), "an overlong token in pieces gets 401: %r" % got[:60])
        basic = base64.b64encode(("anyone:" + token).encode()).decode()
        status, _, _ = srv.get("/metrics", {"Authorization": "Basic " + basic})
        check(status == 200, "Basic with the token as password (a browser): %d" % status)
        status, _, text = srv.get("/metrics")
        check(series(text, "allot_http_auth_failures_total") == 9, "HTTP auth failures counted")
    finally:
        log = srv.stop()
        os.unlink(path)
        check(token not in log, "the token never appears in the log")


def test_bench_sends_its_token():
    """allot-bench against an allotd with tokens: refused without one, served
    with --token and with ALLOT_TOKEN, each request counted as the token's."""
    check(BENCH is not None, "ALLOT_BENCH is set")
    token, path = auth_file("loadgen", "admin")
    srv = Server("--auth-file", path, token=token)
    env = {k: v for k, v in os.environ.items() if k != "ALLOT_TOKEN"}
    argv = [BENCH, "--port", str(srv.port), "--workload", "checkout", "--connections", "4",
            "--requests", "2000", "--skus", "20"]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
        check(p.returncode == 2 and "UNAUTHORIZED" in p.stderr,
              "without a token: rc %d, %s" % (p.returncode, p.stderr[-200:]))
        p = subprocess.run(argv + ["--token", "wrong"], capture_output=True, text=True, timeout=120,
                           env=env)
        check(p.returncode == 2 and "auth refused" in p.stderr,
              "a wrong token: rc %d, %s" % (p.returncode, p.stderr[-200:]))
        p = subprocess.run(argv + ["--token", token], capture_output=True, text=True, timeout=120,
                           env=env)
        check(p.returncode == 0 and "errors        none" in p.stdout,
              "with --token: rc %d, %s %s" % (p.returncode, p.stdout[-300:], p.stderr[-200:]))
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                           env=dict(env, ALLOT_TOKEN=token))
        check(p.returncode == 0, "with ALLOT_TOKEN: rc %d, %s" % (p.returncode, p.stderr[-200:]))
        _, stats = srv.call("stats")
        mine = stats["access"]["by_name"].get("loadgen", {})
        check(mine.get("requests", 0) >= 4000, "the runs' requests are the token's: %r" % mine)
    finally:
        log = srv.stop()
        os.unlink(path)
        check(token not in log, "the token never appears in the log")


def test_healthz_follows_redis():
    if not REDIS:
        raise AssertionError("no redis-server (REDIS_SERVER)")
    rport = free_port()
    rdir = tempfile.mkdtemp()
    redis = subprocess.Popen([REDIS, "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", rdir], stdout=subprocess.DEVNULL)
    srv = None
    try:
        time.sleep(0.3)
        srv = Server("--redis", "redis://127.0.0.1:%d" % rport, "--durability", "sync")
        srv.call("stock.set", {"sku": "a", "location": "w1", "on_hand": 5})
        srv.call("reserve", {"order_id": "o", "lines": [{"sku": "a", "qty": 1}]})
        status, _, body = srv.get("/healthz")
        check(status == 200 and body.startswith("ok:"), "healthy with Redis: %d %r" % (status, body))
        status, _, text = srv.get("/metrics")
        check(series(text, "allot_durability_wait_seconds_count") >= 2,
              "sync replies' durability wait recorded")
        check(series(text, "allot_journal_batch_records_count") >= 2, "journal batches recorded")
        check(series(text, "allot_journal_lag_records") == 0, "no lag once acknowledged")
        redis.send_signal(signal.SIGKILL)
        redis.wait()
        deadline, status, body = time.time() + 20, 0, ""
        while time.time() < deadline:
            # A change finds the link gone, if nothing else has.
            srv.call("stock.set", {"sku": "a", "location": "w1", "on_hand": 6}, check_rc=False)
            status, _, body = srv.get("/healthz")
            if status == 503:
                break
            time.sleep(0.2)
        check(status == 503 and body.startswith("unavailable:") and body.count("\n") == 1,
              "503 with one line while Redis is gone: %d %r" % (status, body))
        _, _, summary = srv.get("/api/summary")
        check(json.loads(summary)["durability"]["available"] is False, "the page's figures say so")
    finally:
        if srv:
            srv.stop()
        if redis.poll() is None:
            redis.kill()
            redis.wait()
        shutil.rmtree(rdir, ignore_errors=True)


def test_page_in_chromium():
    if not CHROMIUM:
        raise AssertionError("no chromium (CHROMIUM)")
    srv = Server()
    try:
        traffic(srv)
        time.sleep(1.2)
        _, stats = srv.call("stats")
        prof = tempfile.mkdtemp()
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--user-data-dir=" + prof, "--enable-logging=stderr", "--v=0",
                            "--virtual-time-budget=4000", "--dump-dom",
                            "http://127.0.0.1:%d/" % srv.http],
                           capture_output=True, text=True, timeout=120)
        shutil.rmtree(prof, ignore_errors=True)
        dom = p.stdout
        console = [l for l in p.stderr.splitlines() if ":CONSOLE" in l]
        check(not console, "no console messages from the page: %s" % console)
        check('data-state="live"' in dom, "the page went live: %s" % dom[:300])
        m = re.search(r'data-updates="(\d+)"', dom)
        check(m and int(m.group(1)) >= 2, "the page updated itself without reloading")

        def shown(eid):
            m = re.search(r'id="%s"[^>]*>([^<]*)<' % eid, dom)
            return m.group(1).replace(",", "") if m else None
        for state, n in stats["reservations"].items():
            check(shown("resv-" + state) == str(n), "page resv-%s %s vs stats %s" % (
                state, shown("resv-" + state), n))
        check(shown("units-reserved") == str(stats["units_reserved"]), "page units reserved")
        check(shown("units-committed") == str(stats["units_committed"]), "page units committed")
        check(shown("skus") == str(stats["skus"]), "page skus")
        check(shown("dur-mode") == "none", "page durability mode")
        check("gone-1" in dom and "low-1" in dom, "the out and low lists are shown")
        check(not re.search(r'(src|href)="(https?:)?//', dom), "no external assets")
    finally:
        srv.stop()


TESTS = [test_metrics_promtool, test_bad_requests_and_limits, test_auth, test_bench_sends_its_token,
         test_healthz_follows_redis, test_page_in_chromium]

if __name__ == "__main__":
    only = sys.argv[1:]
    for t in TESTS:
        if only and t.__name__ not in only:
            continue
        t0 = time.time()
        try:
            t()
            print("ok   %s (%.1f s)" % (t.__name__, time.time() - t0))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failures.append(t.__name__)
            print("FAIL %s: %s" % (t.__name__, e))
            traceback.print_exc()
    print("%d passed, %d failed" % (len([t for t in TESTS if not only or t.__name__ in only]) - len(failures),
                                     len(failures)))
    sys.exit(1 if failures else 0)
