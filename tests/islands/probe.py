"""The attacker: one Python program run *inside* an island (``python3 -c PROBE NAME ARGS``)
that makes one escape attempt and prints what it got as one JSON object on stdout.

The test never trusts the probe's own verdict: it looks for evidence on the host (a
secret's random marker in the output, a file appearing on the host, a connection arriving
at a host listener, bytes injected into a terminal, a uid 0 printed by a setuid program).
"""

from __future__ import annotations

PROBE = r'''
import json, os, socket, subprocess, sys, time

name, args = sys.argv[1], json.loads(sys.argv[2])
out = {"attempt": name}

def read(path):
    try:
        with open(path, "rb") as fh:
            return fh.read(4096).decode("utf-8", "replace")
    except OSError as exc:
        return "ERR " + exc.strerror

if name == "read":
    out["results"] = {p: read(p) for p in args["paths"]}
elif name == "write":
    res = {}
    for p in args["paths"]:
        try:
            with open(p, "w") as fh:
                fh.write(args["marker"])
            res[p] = "written"
        except OSError as exc:
            res[p] = "ERR " + exc.strerror
    out["results"] = res
elif name == "connect":
    res = {}
    for host, port in args["targets"]:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((host, port))
            s.sendall(args["token"].encode())
            res[f"{host}:{port}"] = "connected"
        except OSError as exc:
            res[f"{host}:{port}"] = "ERR " + str(exc)
        finally:
            s.close()
    out["results"] = res
elif name == "unix":
    res = {}
    for path in args["paths"]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect(path)
            s.sendall(b"GET /version HTTP/1.0\r\nHost: x\r\n\r\n")
            res[path] = s.recv(200).decode("utf-8", "replace")
        except OSError as exc:
            res[path] = "ERR " + str(exc)
        finally:
            s.close()
    out["results"] = res
elif name == "tiocsti":
    import fcntl, termios
    res = {}
    for label, opener in (("fd0", lambda: 0), ("/dev/tty", lambda: os.open("/dev/tty", os.O_RDWR))):
        try:
            fd = opener()
            for ch in args["text"]:
                fcntl.ioctl(fd, termios.TIOCSTI, ch.encode())
            res[label] = "injected"
        except OSError as exc:
            res[label] = "ERR " + str(exc)
    out["results"] = res
elif name == "setuid":
    res = {}
    for label, argv in args["commands"].items():
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            text = (p.stdout.strip() or p.stderr.strip()).splitlines()
            res[label] = (text[-1] if text else f"exit {p.returncode}")[-200:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            res[label] = "ERR " + str(exc)
    out["results"] = res
elif name == "forkbomb":
    cap, n, err, pids = args["cap"], 0, "", []
    try:
        for _ in range(cap):
            pid = os.fork()
            if pid == 0:
                time.sleep(2)
                os._exit(0)
            pids.append(pid)
            n += 1
    except OSError as exc:
        err = str(exc)
    out["forked"], out["error"] = n, err
    print(json.dumps(out), flush=True)
    for pid in pids:
        os.waitpid(pid, 0)
    sys.exit(0)
elif name == "memhog":
    chunk, cap, blocks, err = 16 << 20, args["cap"], [], ""
    try:
        while len(blocks) * chunk < cap:
            blocks.append(b"\x01" * chunk)
            print("MB", len(blocks) * 16, flush=True)
    except MemoryError:
        err = "MemoryError"
    out["allocated_mb"], out["error"] = len(blocks) * 16, err
print(json.dumps(out), flush=True)
'''
