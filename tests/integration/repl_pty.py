#!/usr/bin/python3
"""The allot shell under a pseudo-terminal, against a real allotd.

usage: repl_pty.py ALLOT_CLI ALLOTD

Starts allotd on a free loopback port, runs `allot` with no arguments on a
pty (so stdin is a terminal and it opens its shell), and checks: a call and
its reply; Tab completing a method name and a parameter key; help inside
the shell; that the shell reconnects after allotd restarts; that `quit`
ends it with status 0; that ~/.allot_history (HOME is a fresh
directory) holds the lines typed; and that `allot import` on a terminal
draws its progress bar (rows/s, ETA) and ends with its summary. Every wait is bounded; prints "ok" and
exits 0 when everything holds, else says what failed and exits 1.
"""
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

WAIT_S = 10
# Terminal control sequences (libedit moves the cursor when it redraws a
# completed word): removed before matching, so the text reads as typed.
# A carriage return alone (back to the line's start before a redraw) goes
# too: what follows it continues the line as the user sees it.
CONTROL = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\x07|\r(?!\n)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_allotd(allotd, port):
    proc = subprocess.Popen([allotd, "--bind", "127.0.0.1", "--port", str(port),
                             "--log-level", "warn"], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("allotd did not start on port %d" % port)


def stop_allotd(proc):
    proc.terminate()
    try:
        proc.wait(WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Shell:
    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(argv[0], argv, env)
        self.seen = b""

    def send(self, text):
        os.write(self.fd, text.encode())

    def expect(self, what):
        """Read until `what` appears after what was matched before."""
        want = what.encode()
        deadline = time.monotonic() + WAIT_S
        while want not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r within %d s; the terminal shows:\n%r"
                                     % (what, WAIT_S, self.seen))
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError("the shell ended before %r:\n%s"
                                         % (what, self.seen.decode(errors="replace")))
                self.seen = CONTROL.sub(b"", self.seen + chunk)
        self.seen = self.seen[self.seen.index(want) + len(want):]

    def wait_exit(self):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:  # keep the pty drained
                if select.select([self.fd], [], [], 0.05)[0]:
                    os.read(self.fd, 65536)
            except OSError:
                time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the shell did not exit after quit")


def check_import_progress(cli, env, home):
    """allot import under a pty: the bar, then the summary."""
    path = os.path.join(home, "stock.csv")
    with open(path, "w") as f:
        f.write("sku,location,on_hand,safety\n")
        for i in range(20000):
            f.write("p-%d,W%d,%d,0\n" % (i, i % 3, i))
    shell = Shell([cli, "import", path], env)
    shell.expect("rows/s")
    shell.expect("ETA")
    shell.expect("20000 rows: 20000 loaded, 0 bad")
    status = shell.wait_exit()
    assert status == 0, "allot import exited %d" % status


def main():
    cli, allotd = sys.argv[1], sys.argv[2]
    port = free_port()
    home = tempfile.mkdtemp(prefix="allot-repl-")
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TERM": "xterm",
           "ALLOT_HOST": "127.0.0.1", "ALLOT_PORT": str(port)}
    server = start_allotd(allotd, port)
    shell = None
    try:
        shell = Shell([cli], env)
        shell.expect("allot> ")
        shell.send("ping\r")
        shell.expect('"pong"')
        shell.expect("allot> ")
        shell.send('stock.set {"sku": "repl-1", "location": "W1", "on_hand": 4}\r')
        shell.expect('"on_hand": 4')
        shell.expect("allot> ")
        # Tab completes the method, then a parameter key.
        shell.send("stock.sc\t")
        shell.expect("stock.scan ")
        shell.send('{"sku_p\t')
        shell.expect('"sku_prefix":')
        shell.send(' "repl-"}\r')
        shell.expect('"sku": "repl-1"')
        shell.expect("allot> ")
        shell.send("help stock.get\r")
        shell.expect("params: {sku, location?}")
        shell.expect("allot> ")
        # allotd restarts: the next line reconnects and is answered.
        stop_allotd(server)
        server = start_allotd(allotd, port)
        shell.send("ping\r")
        shell.expect("reconnected")
        shell.expect('"pong"')
        shell.expect("allot> ")
        shell.send("quit\r")
        status = shell.wait_exit()
        shell = None
        assert status == 0, "quit exited %d" % status
        with open(os.path.join(home, ".allot_history"), errors="replace") as f:
            history = f.read().replace("\\040", " ")  # libedit's file escapes blanks
        for line in ("ping", "stock.set", "help stock.get"):
            assert line in history, "%r not in the history:\n%s" % (line, history)
        mode = os.stat(os.path.join(home, ".allot_history")).st_mode & 0o777
        assert mode & 0o077 == 0, "the history is readable by others (%o)" % mode
        check_import_progress(cli, env, home)
    except AssertionError as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        if shell is not None:
            os.kill(shell.pid, signal.SIGKILL)
        stop_allotd(server)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
