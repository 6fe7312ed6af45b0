#!/usr/bin/python3
"""What `meson install` gives, checked from a --destdir tree.

usage: check_install.py CHECK BUILD_DIR SOURCE_DIR

CHECK is one of:
  library  liballot, its headers and allot.pc are installed; examples/reserve.c
           builds against them with pkg-config (shared, and static) and,
           run against the installed allotd holding stock of tee-m, makes
           the hold
  config   the installed allotd.conf lists every flag of engine/main.c's
           table with the default --help prints, --check-config accepts
           it, and the configuration file's rules hold (line numbers,
           flags overriding the file)
  service  allotd.service has the hardening asked of it and passes
           `systemd-analyze verify` (skipped, exit 77, only where there is
           no systemd-analyze); allotd tells sd_notify it is ready
  man      the installed man pages render with `man -l` and
           `groff -ww -z -man` without a single warning

Each check installs the build into a fresh temporary directory with
`meson install --destdir`, so it tests what a package would hold.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, **kw)


class Installed:
    """The build installed under a temporary DESTDIR."""

    def __init__(self, build_dir):
        self.tmp = tempfile.mkdtemp(prefix="allot-install-")
        self.destdir = os.path.join(self.tmp, "root")
        r = run(["meson", "install", "-C", build_dir, "--destdir", self.destdir,
                 "--no-rebuild", "--quiet"], timeout=300)
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            raise SystemExit("meson install failed")
        intro = run(["meson", "introspect", "--buildoptions", build_dir])
        import json
        opts = {o["name"]: o["value"] for o in json.loads(intro.stdout)}
        self.prefix = opts["prefix"]
        self.libdir = self.path(opts["libdir"])
        self.bindir = self.path(opts["bindir"])
        self.includedir = self.path(opts["includedir"])
        self.mandir = self.path(opts["mandir"])
        self.sysconfdir = self.path(opts["sysconfdir"])
        unitdir = opts.get("systemdunitdir") or os.path.join("lib", "systemd", "system")
        self.unitdir = self.path(unitdir)

    def path(self, p):
        """A configured directory (absolute, or relative to the prefix) in DESTDIR."""
        full = p if os.path.isabs(p) else os.path.join(self.prefix, p)
        return os.path.join(self.destdir, full.lstrip("/"))

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_allotd(allotd, extra=(), env=None):
    """allotd on a free loopback port, answering; (process, port)."""
    port = free_port()
    p = subprocess.Popen([allotd, "--bind", "127.0.0.1", "--port", str(port),
                          "--log-level", "warn", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, env=env)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port
        except OSError:
            if p.poll() is not None:
                raise SystemExit("allotd exited: " + p.stderr.read())
            time.sleep(0.05)
    p.kill()
    raise SystemExit("allotd did not listen in time")


def stop(p):
    p.terminate()
    try:
        return p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


# ---- library ----

def check_library(inst, src):
    for h in ("allot.h", "protocol.h"):
        path = os.path.join(inst.includedir, "allot", h)
        if not check(os.path.isfile(path), f"include/allot/{h} installed"):
            continue
        # No third-party types: a public header includes only the C
        # library's headers and allot's own.
        for inc in re.findall(r'^\s*#\s*include\s*([<"][^>"]+[>"])', open(path).read(), re.M):
            name = inc[1:-1]
            check(name.startswith("allot/") or re.fullmatch(r"std\w+\.h", name),
                  f"{h} includes only libc and allot headers (found {inc})")
    so = os.path.join(inst.libdir, "liballot.so")
    check(os.path.isfile(os.path.join(inst.libdir, "liballot.a")), "liballot.a installed")
    check(os.path.islink(so), "liballot.so installed (a link)")
    soname = run(["readelf", "-d", so]).stdout
    check(re.search(r"SONAME.*\[liballot\.so\.1\]", soname) is not None,
          "liballot.so's soname is versioned (liballot.so.1)")
    exported = run(["nm", "-D", "--defined-only", so]).stdout.split("\n")
    names = [l.split()[-1] for l in exported if l.strip()]
    check(names and all(n.startswith("allot_") for n in names),
          "liballot.so exports only allot_* symbols: " +
          " ".join(n for n in names if not n.startswith("allot_"))[:200])

    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = os.path.join(inst.libdir, "pkgconfig")
    # allot.pc names the paths of the real prefix; the sysroot puts them
    # under DESTDIR, where this tree is.
    env["PKG_CONFIG_SYSROOT_DIR"] = inst.destdir
    pc = run(["pkg-config", "--cflags", "--libs", "allot"], env=env)
    if not check(pc.returncode == 0, "pkg-config finds allot: " + pc.stderr):
        return
    flags = pc.stdout.split()
    check(any(f.startswith("-I" + inst.destdir) for f in flags), "pkg-config --cflags points into DESTDIR")
    example = os.path.join(src, "examples", "reserve.c")
    # In a sanitized tree (tools/test's build-asan) liballot was built with
    # the sanitizers, and what links it needs their runtime.
    sanitize = os.environ.get("ALLOT_B_SANITIZE", "none")
    if sanitize not in ("", "none"):
        flags = ["-fsanitize=" + sanitize] + flags
    exe = os.path.join(inst.tmp, "reserve")
    cc = run(["cc", "-Wall", "-Wextra", "-Werror", example, *flags, "-o", exe])
    if not check(cc.returncode == 0, "examples/reserve.c builds with pkg-config's flags:\n" + cc.stderr):
        return
    check("liballot.so.1" in run(["readelf", "-d", exe]).stdout, "the example links liballot.so.1")
    # The static library too, with nothing else on the command line.
    exe_static = exe + "-static"
    cflags = run(["pkg-config", "--cflags", "allot"], env=env).stdout.split()
    if sanitize not in ("", "none"):
        cflags = ["-fsanitize=" + sanitize] + cflags
    cc = run(["cc", example, *cflags, os.path.join(inst.libdir, "liballot.a"), "-o", exe_static])
    check(cc.returncode == 0, "examples/reserve.c builds with liballot.a alone:\n" + cc.stderr)

    allotd = os.path.join(inst.bindir, "allotd")
    cli = os.path.join(inst.bindir, "allot")
    p, port = start_allotd(allotd)
    try:
        run_env = dict(os.environ, ALLOT_HOST="127.0.0.1", ALLOT_PORT=str(port),
                       LD_LIBRARY_PATH=inst.libdir)
        run_env.pop("ALLOT_TOKEN", None)
        # Nothing in stock: allotd refuses, and the example says so.
        r = run([exe], env=run_env)
        check(r.returncode == 1 and "OUT_OF_STOCK" in r.stderr,
              f"with no stock the example exits 1 with OUT_OF_STOCK (got {r.returncode}: {r.stderr})")
        r = run([cli, "stock.set", '{"sku": "tee-m", "location": "berlin", "on_hand": 3}'], env=run_env)
        check(r.returncode == 0, "the installed allot sets stock: " + r.stderr)
        r = run([exe], env=run_env)
        check(r.returncode == 0 and re.match(r"held r-\S+", r.stdout) is not None,
              f"the example makes the hold and exits 0 (got {r.returncode}: {r.stdout} {r.stderr})")
        if r.returncode == 0:
            rid = r.stdout.split()[1]
            got = run([cli, "reservation.get", '{"reservation_id": "%s"}' % rid], env=run_env)
            check(got.returncode == 0 and '"held"' in got.stdout and '"tee-m"' in got.stdout,
                  "allotd holds the example's reservation: " + got.stdout + got.stderr)
        if os.path.exists(exe_static):
            static_env = dict(run_env)
            static_env.pop("LD_LIBRARY_PATH")
            r = run([exe_static], env=static_env)
            check(r.returncode == 0, f"the statically linked example makes a hold ({r.stderr})")
        rec = run([cli, "stock.get", '{"sku": "tee-m", "location": "berlin"}'], env=run_env)
        check('"reserved": 2' in rec.stdout, "both holds count in reserved: " + rec.stdout)
    finally:
        check(stop(p) == 0, "allotd stops cleanly")


# ---- config ----

def flags_of_main(src):
    """The long options of engine/main.c's getopt table."""
    text = open(os.path.join(src, "engine", "main.c")).read()
    table = re.search(r"static const struct option options\[\] = \{(.*?)\n\};", text, re.S)
    return re.findall(r'\{\s*"([a-z0-9-]+)"\s*,', table.group(1))


def defaults_of_help(allotd):
    """{flag: default} for the flags whose --help line gives one."""
    text = run([allotd, "--help"]).stdout
    out = {}
    # A flag's text runs until the next flag; its default is in "(default X)".
    for m in re.finditer(r"^\s+--([a-z0-9-]+)(.*?)(?=^\s+--|\Z)", text, re.S | re.M):
        d = re.search(r"\(default\s+([^)\s]+)", m.group(2).replace("\n", " "))
        if d:
            out[m.group(1)] = d.group(1).strip('"')
    return out


def check_config(inst, src):
    conf = os.path.join(inst.sysconfdir, "allot", "allotd.conf")
    if not check(os.path.isfile(conf), "allotd.conf installed under etc/allot"):
        return
    allotd = os.path.join(inst.bindir, "allotd")
    lines = open(conf).read().split("\n")
    set_keys, listed = {}, set()
    for i, line in enumerate(lines):
        m = re.match(r"^(#\s*)?([a-z0-9-]+)\s*=\s*(.*)$", line)
        if not m:
            continue
        key = m.group(2)
        listed.add(key)
        if m.group(1) is None:
            set_keys[key] = m.group(3)
        explained = i > 0 and lines[i - 1].startswith("#") and not re.match(r"^#\s*[a-z0-9-]+\s*=", lines[i - 1])
        check(explained, f"allotd.conf explains '{key}' on the line before it")
    flags = [f for f in flags_of_main(src) if f not in ("help", "version")]
    check(len(flags) > 10, "engine/main.c's option table was read")
    for f in flags:
        check(f in listed, f"allotd.conf lists the flag --{f}")
    for k in listed:
        check(k in flags, f"allotd.conf's key '{k}' is a flag of allotd")
    for flag, default in defaults_of_help(allotd).items():
        if flag in set_keys:
            check(set_keys[flag] == default,
                  f"allotd.conf's {flag} = {set_keys[flag]} is the default --help gives ({default})")
    r = run([allotd, "--config", conf, "--check-config"])
    check(r.returncode == 0, f"--check-config accepts the installed allotd.conf: {r.stdout}{r.stderr}")

    tmp = inst.tmp
    def conf_file(name, text):
        path = os.path.join(tmp, name)
        open(path, "w").write(text)
        return path

    bad_key = conf_file("bad-key.conf", "# a comment\nport = 7411\nno-such-flag = 1\n")
    r = run([allotd, "--config", bad_key, "--check-config"])
    check(r.returncode == 2 and f"{bad_key}:3:" in r.stderr and "no-such-flag" in r.stderr,
          f"an unknown key stops with exit 2 and its line: {r.returncode} {r.stderr}")
    bad_value = conf_file("bad-value.conf", "\n\nlog-level = debug\nmax-connections = lots\n")
    r = run([allotd, "--config", bad_value, "--check-config"])
    check(r.returncode == 2 and f"{bad_value}:4:" in r.stderr and "max-connections" in r.stderr,
          f"a bad value stops with exit 2 and its line: {r.returncode} {r.stderr}")
    bad_url = conf_file("bad-url.conf", "redis = http://nowhere\n")
    r = run([allotd, "--config", bad_url, "--check-config"])
    check(r.returncode == 2 and f"{bad_url}:1:" in r.stderr,
          f"a bad redis URL names its line: {r.returncode} {r.stderr}")
    not_kv = conf_file("not-kv.conf", "port = 7411\njust words\n")
    r = run([allotd, "--config", not_kv, "--check-config"])
    check(r.returncode == 2 and f"{not_kv}:2:" in r.stderr, f"a line without '=' names its line: {r.stderr}")
    twice = conf_file("twice.conf", "port = 1\nport = 2\n")
    r = run([allotd, "--config", twice, "--check-config"])
    check(r.returncode == 2 and f"{twice}:2:" in r.stderr, f"a key given twice names its line: {r.stderr}")
    r = run([allotd, "--config", os.path.join(tmp, "missing.conf"), "--check-config"])
    check(r.returncode == 2, "a missing file stops with exit 2")
    # A flag given on the command line overrides the file: the file's
    # port is taken, the command line's is served.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    ports = conf_file("port.conf", f"port = {taken}\nlog-level = warn\n")
    try:
        p, port = start_allotd(allotd, ["--config", ports])
        # start_allotd gave --port before --config; the file comes first
        # whatever the order, so the command line's port is the one served.
        # It could not have bound the file's port, which is taken: it
        # answers on the command line's.
        check(port != taken, "the command line's port was used")
        check(stop(p) == 0, "allotd with a config file stops cleanly")
    finally:
        blocker.close()
    # A switch: no-auth = yes lets a non-loopback bind start checking.
    sw = conf_file("switch.conf", "bind = 0.0.0.0\nno-auth = yes\n")
    r = run([allotd, "--config", sw, "--check-config"])
    check(r.returncode == 0, f"no-auth = yes is the --no-auth switch: {r.stderr}")
    sw_off = conf_file("switch-off.conf", "bind = 0.0.0.0\nno-auth = no\n")
    r = run([allotd, "--config", sw_off, "--check-config"])
    check(r.returncode == 2 and "without tokens" in r.stderr,
          f"no-auth = no leaves the switch off: {r.returncode} {r.stderr}")


# ---- service ----

def check_service(inst, src):
    unit = os.path.join(inst.unitdir, "allotd.service")
    if not check(os.path.isfile(unit), "allotd.service installed"):
        return
    text = open(unit).read()
    settings = {}
    for line in text.split("\n"):
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            settings.setdefault(m.group(1), m.group(2))
    check(settings.get("DynamicUser") == "yes" or settings.get("User") not in (None, "root"),
          "the service runs as its own user")
    for key, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                      ("PrivateTmp", "yes"), ("Type", "notify")):
        check(settings.get(key) == want, f"{key}={want}")
    check(re.search(r"/allotd --config \S+/allot/allotd\.conf$", settings.get("ExecStart", "")) is not None,
          "ExecStart runs allotd --config .../allot/allotd.conf: " + settings.get("ExecStart", ""))
    allotd = os.path.join(inst.bindir, "allotd")
    default_max = int(defaults_of_help(allotd).get("max-connections", "0"))
    nofile = int(settings.get("LimitNOFILE", "0"))
    check(nofile >= default_max + 64,
          f"LimitNOFILE ({nofile}) fits the default connection limit ({default_max}) plus allotd's reserve")

    # sd_notify: READY=1 once allotd serves.
    sock_path = os.path.join(inst.tmp, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(10)
    try:
        p, _ = start_allotd(allotd, env=dict(os.environ, NOTIFY_SOCKET=sock_path))
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            msg = ""
        check("READY=1" in msg, f"allotd notifies READY=1 (got {msg!r})")
        check(stop(p) == 0, "allotd stops cleanly")
        s.settimeout(2)
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            msg = ""
        check("STOPPING=1" in msg, f"allotd notifies STOPPING=1 on SIGTERM (got {msg!r})")
    finally:
        s.close()

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("no systemd-analyze on this machine: the unit's verification is skipped")
        return SKIP
    # Verify the unit as installed, but run from DESTDIR: its ExecStart
    # must name an executable that exists, and its man page must be found.
    local = os.path.join(inst.tmp, "allotd.service")
    open(local, "w").write(re.sub(r"^ExecStart=\S+", "ExecStart=" + allotd, text, flags=re.M))
    env = dict(os.environ, MANPATH=inst.mandir + ":")
    r = run([analyze, "verify", local], env=env)
    out = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and out == "", f"systemd-analyze verify passes with nothing to say: {r.returncode} {out}")
    # And it does look: a unit with a mistake fails.
    broken = os.path.join(inst.tmp, "broken.service")
    open(broken, "w").write(text.replace("ExecStart=", "ExecStart=/nonexistent/allotd", 1)
                            .replace("[Service]", "[Service]\nProtectSystm=strict"))
    r = run([analyze, "verify", broken], env=env)
    check(r.returncode != 0 or (r.stdout + r.stderr).strip() != "",
          "systemd-analyze verify complains about a broken unit")


# ---- man ----

def check_man(inst, src):
    pages = [os.path.join(inst.mandir, "man8", "allotd.8"), os.path.join(inst.mandir, "man1", "allot.1")]
    for page in pages:
        if not check(os.path.isfile(page), f"{os.path.basename(page)} installed"):
            continue
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        env.pop("MAN_KEEP_FORMATTING", None)
        r = run(["man", "-l", page], env=env)
        check(r.returncode == 0 and r.stderr.strip() == "",
              f"man -l {os.path.basename(page)} renders without a warning: {r.stderr}")
        check("NAME" in r.stdout and "SYNOPSIS" in r.stdout and len(r.stdout) > 500,
              f"{os.path.basename(page)} renders its sections")
        g = run(["groff", "-ww", "-z", "-man", page], env=env)
        check(g.returncode == 0 and g.stderr.strip() == "",
              f"groff -ww finds nothing to warn about in {os.path.basename(page)}: {g.stderr}")
    allotd_page = run(["man", "-l", pages[0]], env=dict(os.environ, MANWIDTH="80")).stdout
    for flag in flags_of_main(src):
        check("--" + flag in allotd_page.replace("\u2010", "-"), f"allotd(8) documents --{flag}")


CHECKS = {"library": check_library, "config": check_config, "service": check_service, "man": check_man}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in CHECKS:
        print(__doc__)
        return 2
    inst = Installed(sys.argv[2])
    try:
        rc = CHECKS[sys.argv[1]](inst, sys.argv[3])
    finally:
        inst.cleanup()
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    if rc == SKIP and not failures:
        return SKIP
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
