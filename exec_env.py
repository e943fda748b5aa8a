"""Sandboxed Python execution and the `exec` task (WorldModel: think -> code -> output -> answer).

The model writes `<think>...</think>`, optionally `<model>...</model>`, then `<code>...</code>`; the
runtime runs the code in a sandboxed worker PROCESS and appends `<output>...</output>`; the model
goes on (several cycles) and ends with a plain answer. Model code never runs in the caller's process.

The sandbox (`Sandbox`, `SandboxPool`, `run_batch`), as measured on this box (root, Linux 6.18):
- one worker process per episode, forked from a fork server (`python -S exec_env.py --forkserver`,
  one per caller process) so a fresh worker costs a fork, not a Python boot; its variables persist
  across the episode's code blocks; it is its own session / process group;
- a private pid namespace (the worker is pid 1 in it): when the worker dies, the kernel kills and reaps
  every process the code started, wherever it moved (setsid included); the caller is invisible to it;
- as root the worker drops to a uid of its own (one per live worker, not in /etc/passwd): it cannot
  write the caller's files, signal the caller's processes or read /proc/<pid>/environ of any of them,
  and RLIMIT_NPROC is enforced (root is exempt from it);
- no network: a private network namespace (unshare(CLONE_NEWNET) via ctypes; only a loopback that is
  down); where the kernel refuses, an audit hook that refuses to create sockets (bypassable with
  ctypes). `Sandbox.isolation` / `isolation()` say which protections are active:
  {"network": "netns" | "audit-hook", "pids": "pidns" | "none", "user": "uid N" | "caller's uid N"};
- limits: wall-clock timeout (the worker is killed and replaced: variables are lost, and the model is
  told so), RLIMIT_CPU per block, RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NPROC, no core files,
  PR_SET_NO_NEW_PRIVS (setuid binaries cannot raise privileges);
- a fresh temporary cwd (HOME and TMPDIR too) and a minimal environment (no caller variables);
- output (print, sys.stderr, and writes to fds 1/2) is captured inside the worker and capped at
  4096 characters with a truncation note; tracebacks name only `<code-N>` and `<lib>/` paths;
- `use_tool(name, **kwargs)` inside model code calls a tool registered by the caller (JSON both ways);
  an unknown name raises `ToolNotAvailableError` listing the available tools.
Not root: no uid drop (the code could signal the caller's processes and write its files), no pid
namespace, NPROC unset; unprivileged user namespaces are not tried. Known gaps: see the README.

Python's stdlib lives under /root (mode 0700) on some boxes, so an unprivileged worker could not import
anything; the worker opens each sys.path directory while still root and imports through
/proc/self/fd/N (that reaches only those directories, not the rest of /root).

Example:
    with SandboxPool(4, tools={"double": lambda x: 2 * x}) as pool:
        box = pool.acquire()
        print(box.run("a = use_tool('double', x=21)\\nprint(a)").text)   # 42
        pool.release(box)                                                # fresh worker for the next episode
"""
import atexit
import hashlib
import io
import json
import math
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

OUTPUT_LIMIT = 4096          # characters of captured output the model sees per block
ERROR_LIMIT = 2048           # characters of traceback the model sees per block
CLONE_NEWNET, CLONE_NEWPID = 0x40000000, 0x20000000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
_THIS_FILE = os.path.abspath(__file__)


class ToolNotAvailableError(Exception):
    """Model code called use_tool with a name the caller did not register."""


class SandboxError(RuntimeError):
    """The sandbox itself failed (worker did not start, broke the protocol)."""


# ---------------------------------------------------------------------------------------------
# Framing shared by both sides: 4-byte big-endian length + UTF-8 JSON.

def _send(fd, obj):
    data = json.dumps(obj).encode()
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(fd, data):]


def _recv(fd):
    def read_exact(n):
        buf = b""
        while len(buf) < n:
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    return json.loads(read_exact(int.from_bytes(read_exact(4), "big")))


# ---------------------------------------------------------------------------------------------
# Worker side: forked by the fork server (below), it talks to the caller over two pipes.

class _CappedWriter(io.TextIOBase):
    """sys.stdout/sys.stderr inside the worker: keeps the first `limit` characters, counts the rest."""

    def __init__(self, limit):
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def take(self):
        text, dropped = "".join(self.parts), self.dropped
        self.parts, self.kept, self.dropped = [], 0, 0
        return text, dropped


def _drop_worker_frames(te, path_prefixes, seen=None):
    """Remove the worker's own frames from a TracebackException chain and host paths from the rest."""
    import traceback
    seen = set() if seen is None else seen
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    frames = [f for f in te.stack if f.filename != _THIS_FILE]
    for f in frames:
        prefix = next((p for p in path_prefixes if f.filename.startswith(p)), None)
        if prefix is not None:
            f.filename = "<lib>/" + f.filename[len(prefix):].lstrip("/")
    te.stack = traceback.StackSummary.from_list(frames)
    _drop_worker_frames(te.__cause__, path_prefixes, seen)
    _drop_worker_frames(te.__context__, path_prefixes, seen)


def _worker_main(fd_in, fd_out, config):
    import ctypes
    import linecache
    import resource
    import site
    import traceback

    site.setquit()  # exit() and quit(), which `python -S` leaves out

    libc = ctypes.CDLL(None, use_errno=True)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # 1. A private network namespace (only a loopback, down) and a private pid namespace, while we
    #    still hold the privilege. In the pid namespace the worker is pid 1: when it dies, the kernel
    #    kills and reaps every process the code started, wherever it moved (setsid included).
    if libc.unshare(CLONE_NEWNET) == 0:
        network = "netns"
    else:
        def refuse_sockets(event, args):
            if event == "socket.__new__":
                raise PermissionError("network access is disabled in the sandbox")
        sys.addaudithook(refuse_sockets)
        network = "audit-hook"
    pids = "none"
    if libc.unshare(CLONE_NEWPID) == 0:
        pids = "pidns"
        child = os.fork()
        if child:  # stays outside the namespace (as root) only to tell the caller how the worker ended
            os.close(fd_in)
            status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
            _send(fd_out, {"op": "exited", "status": status})
            os._exit(0)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # 2. Resource limits (hard == soft except CPU, whose soft limit is re-armed before every block).
    mb = 1 << 20
    resource.setrlimit(resource.RLIMIT_AS, (config["memory_mb"] * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (config["file_mb"] * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (config["cpu_total"],) * 2)
    # 3. Import paths that stay readable after the privilege drop (see module docstring).
    via_fd = {}
    for p in config["sys_path"]:
        try:
            via_fd[p] = f"/proc/self/fd/{os.open(p, os.O_RDONLY | os.O_DIRECTORY)}"
        except OSError:
            continue
    sys.path[:] = list(via_fd.values())
    for module in list(sys.modules.values()):  # packages imported already (encodings) look up submodules too
        if isinstance(getattr(module, "__path__", None), list):
            module.__path__[:] = [next((fd + p[len(d):] for d, fd in via_fd.items() if p.startswith(d + "/")), p)
                                  for p in module.__path__]
    path_prefixes = sorted(list(via_fd) + list(via_fd.values()), key=len, reverse=True)
    # 4. Become the worker's own uid (root only), then no way back up.
    if os.getuid() == 0 and config["uid"] is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (config["nproc"],) * 2)
        os.setgroups([])
        os.setgid(config["uid"])
        os.setuid(config["uid"])
        user = f"uid {config['uid']}"
    else:
        user = f"caller's uid {os.getuid()}"
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)   # again: setuid cleared it
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)           # a too-big write raises OSError instead
    # 5. Output: Python-level writes go to a capped buffer; fd 1/2 (C code, child processes) to a file.
    writer = _CappedWriter(config["output_limit"])
    try:
        raw_fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError:
        raw_fd, name = tempfile.mkstemp(dir=".")
        os.unlink(name)
    os.dup2(raw_fd, 1)
    os.dup2(raw_fd, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)

    def use_tool(name, /, **kwargs):
        """Call a tool registered by the caller; arguments and result cross the boundary as JSON."""
        _send(fd_out, {"op": "tool", "name": name, "kwargs": kwargs})
        reply = _recv(fd_in)
        if "error" in reply:
            raise (ToolNotAvailableError if reply["error_type"] == "ToolNotAvailableError" else RuntimeError)(
                reply["error"])
        return reply["result"]

    def fresh_namespace():
        return {"__name__": "__main__", "__builtins__": __builtins__, "use_tool": use_tool,
                "ToolNotAvailableError": ToolNotAvailableError}

    namespace, block = fresh_namespace(), 0
    my_pid = os.getpid()
    _send(fd_out, {"op": "ready", "network": network, "pids": pids, "user": user})
    while True:
        try:
            msg = _recv(fd_in)
        except EOFError:
            os._exit(0)
        if msg["op"] == "reset":  # fresh variables and cwd, for trusted reuse (expert generation)
            namespace, block = fresh_namespace(), 0
            for entry in os.listdir("."):
                p = os.path.join(".", entry)
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
            _send(fd_out, {"op": "done"})
            continue
        block += 1
        filename = f"<code-{block}>"
        code = msg["code"]
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        resource.setrlimit(resource.RLIMIT_CPU, (min(int(used) + config["cpu_per_block"], config["cpu_total"]),
                                                 config["cpu_total"]))
        sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = writer
        error = error_type = None
        try:
            exec(compile(code, filename, "exec"), namespace)
        except BaseException as e:  # SystemExit and KeyboardInterrupt are errors of the code, too
            if os.getpid() != my_pid:
                os._exit(1)
            te = traceback.TracebackException.from_exception(e)
            _drop_worker_frames(te, path_prefixes)
            error, error_type = "".join(te.format()), type(e).__name__
        if os.getpid() != my_pid:  # a process the code forked finished the block: it must not answer
            os._exit(0)
        sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = writer  # undo monkey-patching
        try:
            sys.stdout.flush()
        except Exception:
            pass
        out, dropped = writer.take()
        size = os.lseek(raw_fd, 0, os.SEEK_END)
        if size:  # fd-level output, after the Python-level output
            out += os.pread(raw_fd, config["output_limit"], 0).decode(errors="replace")
            dropped += max(0, size - config["output_limit"])
            os.ftruncate(raw_fd, 0)
            os.lseek(raw_fd, 0, os.SEEK_SET)
        if len(out) > config["output_limit"]:
            dropped += len(out) - config["output_limit"]
            out = out[:config["output_limit"]]
        if error is not None and len(error) > ERROR_LIMIT:
            error = error[:ERROR_LIMIT // 2] + "\n...\n" + error[-ERROR_LIMIT // 2:]
        _send(fd_out, {"op": "done", "output": out, "dropped": dropped, "error": error, "error_type": error_type})


# ---------------------------------------------------------------------------------------------
# Fork server: one per caller process, started on first use. Booting Python and importing this
# module costs ~90 ms of CPU; forking a booted server costs ~2 ms, so every new worker is a fork.
# It runs as the caller's user with a minimal environment; it is a child subreaper, so it reaps
# the workers and whatever they leave behind (this machine's init may never reap orphans).

PR_SET_CHILD_SUBREAPER = 36


def _forkserver_main(sock_fd):
    import ctypes
    import socket
    import traceback

    libc = ctypes.CDLL(None, use_errno=True)
    # No PR_SET_PDEATHSIG here: it fires when the *thread* that started the server exits (a pool thread, say),
    # not the caller process. The caller's death closes the socket, and the loop below exits on that EOF.
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    sock = socket.socket(fileno=sock_fd)
    live = set()
    while True:
        ready = select.select([sock], [], [], 1.0)[0]
        while True:   # reap workers and the orphans reparented to us
            try:
                pid = os.waitpid(-1, os.WNOHANG)[0]
            except ChildProcessError:
                break
            if pid == 0:
                break
            live.discard(pid)
        if not ready:
            continue
        data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 2)
        if not data:
            os._exit(0)   # the caller closed its end
        msg = json.loads(data)
        if msg["op"] == "kill":
            if msg["pid"] in live:   # never signal a pid we already reaped (it may be reused)
                os.killpg(msg["pid"], signal.SIGKILL)
            continue
        pid = os.fork()
        if pid == 0:  # the new worker: its own session, cwd and environment
            sock.close()
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            os.setsid()
            os.chdir(msg["dir"])
            os.environ.clear()
            os.environ.update(msg["env"])
            try:
                _worker_main(fds[0], fds[1], msg["config"])
            except BaseException:
                _send(fds[1], {"op": "failed", "error": traceback.format_exc()})
            os._exit(70)
        for fd in fds:
            os.close(fd)
        live.add(pid)
        sock.send(json.dumps({"pid": pid}).encode())


class _ForkServer:
    def __init__(self):
        import socket
        import threading
        self.lock = threading.Lock()   # one request/reply at a time if sandboxes are started from threads
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock, self.log = ours, tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-s", "-B", _THIS_FILE, "--forkserver", str(theirs.fileno())],
            cwd="/", env=_worker_env("/"), stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            pass_fds=(theirs.fileno(),), start_new_session=True)
        theirs.close()

    def spawn(self, directory, fds, config):
        import socket
        msg = {"op": "spawn", "dir": directory, "env": _worker_env(directory), "config": config}
        with self.lock:
            socket.send_fds(self.sock, [json.dumps(msg).encode()], list(fds))
            reply = self.sock.recv(1 << 16)
        if not reply:
            self.log.seek(0)
            raise SandboxError("sandbox fork server died; its log:\n" + self.log.read().decode(errors="replace")[-2000:])
        return json.loads(reply)["pid"]

    def kill(self, pid):
        with self.lock:
            self.sock.send(json.dumps({"op": "kill", "pid": pid}).encode())


_server = None


def _forkserver():
    global _server
    if _server is None or _server.proc.poll() is not None:
        _server = _ForkServer()
    return _server


def _spawn(directory, fds, config):
    """Start a worker through the fork server, restarting the server once if it has died."""
    global _server
    try:
        return _forkserver().spawn(directory, fds, config)
    except (ConnectionError, SandboxError):
        _server = None
        return _forkserver().spawn(directory, fds, config)


def _worker_env(directory):
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": directory, "TMPDIR": directory, "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------------------
# Caller side.

@dataclass
class ExecResult:
    output: str                 # captured stdout/stderr (capped)
    error: str | None           # traceback, or why the worker was stopped; None when the block ran fine
    error_type: str | None      # e.g. "ZeroDivisionError", "SyntaxError", "Timeout", "WorkerDied"
    truncated: bool             # output went over the cap
    restarted: bool             # the worker was replaced: variables of earlier blocks are gone
    seconds: float

    @property
    def text(self):
        """What the model sees inside <output>: output, truncation note, then the error."""
        parts = [self.output.rstrip("\n")] if self.output.strip() else []
        if self.truncated:
            parts.append("...[output truncated]")
        if self.error:
            parts.append(self.error.rstrip("\n"))
        return "\n".join(parts)


_uid_counter = 0
_dirs_to_clean = []   # cwds of SIGKILLed workers, deleted at the next start (they are gone by then) and at exit


def _clean_dirs():
    while _dirs_to_clean:
        shutil.rmtree(_dirs_to_clean.pop(), ignore_errors=True)


atexit.register(_clean_dirs)


def _next_uid():
    """A uid per live worker: 200000 + 64 slots per caller pid (distinct callers rarely collide)."""
    global _uid_counter
    _uid_counter += 1
    return 200000 + (os.getpid() % 10000) * 64 + _uid_counter % 64


class Sandbox:
    """One sandboxed worker process; `run(code)` executes a block in its persistent namespace."""

    def __init__(self, timeout=5.0, memory_mb=1024, file_mb=16, nproc=32, cpu_per_block=None,
                 cpu_total=600, output_limit=OUTPUT_LIMIT, tools=None):
        if timeout <= 0 or memory_mb < 64:
            raise ValueError(f"timeout must be > 0 and memory_mb >= 64 (got {timeout}, {memory_mb})")
        self.timeout = timeout
        self.tools = dict(tools or {})
        self.config = {"memory_mb": memory_mb, "file_mb": file_mb, "nproc": nproc, "cpu_total": cpu_total,
                       "cpu_per_block": cpu_per_block or max(1, math.ceil(timeout)) + 1,
                       "output_limit": output_limit,
                       "sys_path": [p for p in sys.path if p and os.path.isdir(p)]}
        self.isolation = None   # {"network": ..., "pids": ..., "user": ...} once the worker is up
        self.pid = None         # the worker's session id (the fork server's child)
        self._start()

    # -- lifecycle
    def _start(self):
        _clean_dirs()
        self.uid = _next_uid() if os.getuid() == 0 else None
        self.dir = tempfile.mkdtemp(prefix="exec-sandbox-")
        if self.uid is not None:
            os.chown(self.dir, self.uid, self.uid)
        to_worker_r, self._to_worker = os.pipe()
        self._from_worker, from_worker_w = os.pipe()
        self.pid = _spawn(self.dir, (to_worker_r, from_worker_w), dict(self.config, uid=self.uid))
        os.close(to_worker_r)
        os.close(from_worker_w)
        self._buf, self._ready = b"", False

    def _wait_ready(self, startup_timeout=60.0):
        if self._ready:
            return
        msg = self._next_message(time.monotonic() + startup_timeout)
        if not isinstance(msg, dict) or msg.get("op") != "ready":
            self._kill()
            raise SandboxError(f"sandbox worker failed to start: {msg.get('error', msg) if isinstance(msg, dict) else msg}")
        self.isolation = {"network": msg["network"], "pids": msg["pids"], "user": msg["user"]}
        self._ready = True

    def _pop_message(self):
        """A complete message from the buffer, or None."""
        if len(self._buf) < 4:
            return None
        n = int.from_bytes(self._buf[:4], "big")
        if len(self._buf) < 4 + n:
            return None
        data, self._buf = self._buf[4:4 + n], self._buf[4 + n:]
        try:
            return json.loads(data)
        except ValueError:
            return "garbled"

    def _pump(self):
        """Read what the worker has written; False at EOF (the worker died)."""
        chunk = os.read(self._from_worker, 1 << 16)
        self._buf += chunk
        return bool(chunk)

    def _next_message(self, deadline):
        """Next message from the worker; "eof" if it died, "timeout" past the deadline."""
        while (msg := self._pop_message()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if select.select([self._from_worker], [], [], left)[0] and not self._pump():
                return "eof"
        return msg

    def _kill(self):
        """SIGKILL the worker's session. In its pid namespace the worker is pid 1, so the kernel then
        kills every process the code started; the fork server reaps them. Does not wait."""
        if self.pid is None:
            return
        _forkserver().kill(self.pid)
        for fd in (self._to_worker, self._from_worker):
            os.close(fd)
        _dirs_to_clean.append(self.dir)
        self.pid = None

    def restart(self):
        """Replace the worker with a fresh one (new process, new cwd, no variables)."""
        self._kill()
        self._start()

    def reset(self):
        """Clear variables and cwd files inside the same worker. Only for trusted code: state the code
        left elsewhere (patched modules, threads, children) survives; `restart()` for model code."""
        self._wait_ready()
        _send(self._to_worker, {"op": "reset"})
        if self._next_message(time.monotonic() + 10) != {"op": "done"}:
            raise SandboxError("sandbox worker did not acknowledge reset")

    def close(self):
        self._kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "pid", None) is not None and _server is not None:
            try:
                self._kill()
            except OSError:  # interpreter exit: the fork server's socket may be closed first; it kills its workers
                pass

    # -- execution
    def run(self, code):
        return run_batch([(self, code)])[0]

    def _call_tool(self, msg):
        name = msg.get("name")
        if name not in self.tools:
            return {"error_type": "ToolNotAvailableError",
                    "error": f"no tool named {name!r}; available tools: {', '.join(sorted(self.tools)) or 'none'}"}
        try:
            result = self.tools[name](**msg.get("kwargs", {}))
            json.dumps(result)
        except Exception as e:  # the tool's failure is reported to the model code, which can handle it
            return {"error_type": type(e).__name__, "error": f"tool {name!r} failed: {type(e).__name__}: {e}"}
        return {"result": result}


def run_batch(pairs):
    """Run (sandbox, code) pairs concurrently (each sandbox at most once) and return their ExecResults
    in order. Tool calls are served here, in the caller, as they arrive."""
    boxes = [box for box, _ in pairs]
    if len(set(map(id, boxes))) != len(boxes):
        raise ValueError("run_batch got the same sandbox twice; run its blocks in order instead")
    results = [None] * len(pairs)
    start = time.monotonic()
    for box, code in pairs:
        if not isinstance(code, str):
            raise TypeError(f"code must be str, not {type(code).__name__}")
        box._wait_ready()
        _send(box._to_worker, {"op": "exec", "code": code})
    deadlines = [time.monotonic() + box.timeout for box in boxes]
    pending = set(range(len(pairs)))
    while pending:
        wait = max(0.0, min(deadlines[i] for i in pending) - time.monotonic())
        readable = set(select.select([boxes[i]._from_worker for i in pending], [], [], wait)[0])
        for i in sorted(pending):
            box = boxes[i]
            alive = box._pump() if box._from_worker in readable else True
            while (msg := box._pop_message()) is not None and isinstance(msg, dict) and msg.get("op") == "tool":
                _send(box._to_worker, box._call_tool(msg))
            if msg is None and not alive:
                msg = "eof"
            elif msg is None and time.monotonic() >= deadlines[i]:
                msg = "timeout"
            if msg is not None:
                results[i] = _finish(box, msg, time.monotonic() - start)
                pending.discard(i)
    return results


def _finish(box, msg, seconds):
    if isinstance(msg, dict) and msg.get("op") == "done" and "output" in msg:
        return ExecResult(msg["output"], msg["error"], msg["error_type"], msg["dropped"] > 0, False, seconds)
    if msg == "timeout":
        error_type = "Timeout"
        error = (f"TimeoutError: the code ran longer than {box.timeout:g} s and was stopped; "
                 "the sandbox was restarted and earlier variables are lost")
    else:
        status = msg.get("status") if isinstance(msg, dict) and msg.get("op") == "exited" else None
        if status is not None and status < 0:
            how = f"killed by {signal.Signals(-status).name}"
            if -status == signal.SIGXCPU:
                how += ", the CPU time limit"
        elif status is not None:
            how = f"exit status {status}"
        else:
            how = "it broke the sandbox protocol" if msg != "eof" else "it died"
        error_type = "WorkerDied"
        error = (f"SandboxError: the code ended the sandbox process ({how}); "
                 "it was restarted and earlier variables are lost")
    box.restart()
    return ExecResult("", error, error_type, False, True, seconds)


class SandboxPool:
    """Pre-started sandboxes for parallel rollouts. `acquire()` hands out a ready worker (or starts one
    when all are busy); `release(box)` replaces its process with a fresh one that boots in the
    background; `run_batch(pairs)` runs blocks of several sandboxes at once."""

    def __init__(self, n=4, **sandbox_kwargs):
        self.n, self.sandbox_kwargs = n, sandbox_kwargs
        self._idle = [Sandbox(**sandbox_kwargs) for _ in range(n)]
        self._busy = set()
        self._lock = threading.Lock()  # rollout threads acquire concurrently (rollout.generate's env replies)

    def acquire(self):
        with self._lock:
            box = self._idle.pop() if self._idle else None
        if box is None:
            box = Sandbox(**self.sandbox_kwargs)
        with self._lock:
            self._busy.add(id(box))
        return box

    def release(self, box):
        with self._lock:
            self._busy.discard(id(box))
            keep = len(self._idle) < self.n
        if keep:
            box.restart()
            with self._lock:
                self._idle.append(box)
        else:
            box.close()

    @staticmethod
    def run_batch(pairs):
        return run_batch(pairs)

    def close(self):
        for box in self._idle:
            box.close()
        self._idle = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def isolation():
    """The protections a sandbox gets on this machine (starts one worker to find out), e.g.
    {"network": "netns", "pids": "pidns", "user": "uid 200001"}."""
    with Sandbox() as box:
        box._wait_ready()
        return box.isolation



# ---------------------------------------------------------------------------------------------
# The `exec` task.
#
# Text format (one episode = prompt, then model and env text appended in turn):
#   prompt       format_prompt(query) = "Question: {query}\n"
#   model turn   "<think>...</think>\n<code>\n{code}\n</code>"        (stop token: </code>)
#   env reply    "\n<output>\n{ExecResult.text}\n</output>\n"        (never trained on)
#   last turn    the plain answer, e.g. "28.27", then EOS
# Reward (strict, weights below): code_extracted (a <code>...</code> block, by tags only), syntax_valid
# (no block was a SyntaxError), executed (the last block ran without error), output_match (the last
# block's output equals the expert's after whitespace normalisation; an empty output never matches),
# format (every code turn is <think>+ [<model>] <code>, the answer is non-empty tag-free text),
# answer_correct (numeric: rel 1e-4 / abs 1e-6; else exact after normalisation). success = answer_correct.

REWARD_WEIGHTS = {"answer_correct": 1.0, "output_match": 0.2, "executed": 0.1, "format": 0.1,
                  "syntax_valid": 0.05, "code_extracted": 0.05}
SPECIAL_TOKENS = ["<think>", "</think>", "<model>", "</model>", "<code>", "</code>", "<output>", "</output>"]
_ENV_RE = re.compile(r"\n<output>\n.*?\n</output>\n", re.S)
_EOS_RE = re.compile(r"(<\|[^<>|]*\|>|</s>|<eos>|<EOS>)\s*$")  # an EOS token the runner may leave on the text
_CODE_TURN_RE = re.compile(r"^(<think>(?:(?!<think>).)*?</think>\s*)+(<model>.*?</model>\s*)?<code>.*</code>$", re.S)


def format_prompt(query):
    """The prompt for a query (also used by sft.py for WorldModel JSONL rows)."""
    return f"Question: {query}\n"


def env_text(output_text):
    """What the env appends after a `</code>`. `<output>` tags inside the output are escaped so a
    response always splits back into the same segments."""
    output_text = output_text.replace("<output>", "&lt;output>").replace("</output>", "&lt;/output>")
    return f"\n<output>\n{output_text}\n</output>\n"


def response_segments(response):
    """Split a response into (text, trainable) segments: env-written <output> blocks are not trainable."""
    segments, pos = [], 0
    for m in _ENV_RE.finditer(response):
        if m.start() > pos:
            segments.append((response[pos:m.start()], True))
        segments.append((m.group(0), False))
        pos = m.end()
    if pos < len(response):
        segments.append((response[pos:], True))
    return segments


def _normalise(text):
    return " ".join(text.strip().lower().rstrip(".").split())


def _as_number(text):
    try:
        return float(text.strip().rstrip(".").replace(",", ""))
    except ValueError:
        return None


def answer_matches(answer, expected):
    """Numeric answers within rel 1e-4 (abs 1e-6); anything else exactly, after normalisation."""
    if answer is None:
        return False
    a, e = _as_number(answer), _as_number(expected)
    if e is not None:
        return a is not None and math.isclose(a, e, rel_tol=1e-4, abs_tol=1e-6)
    return _normalise(answer) == _normalise(expected)


# Deterministic tools the task registers in the caller (model code reaches them through use_tool).
CONSTANTS = {"g": 9.81, "c": 299792458, "G": 6.674e-11, "h": 6.626e-34, "k_B": 1.381e-23, "e": 1.602e-19}
RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 151.0, "CHF": 0.88, "CAD": 1.36}


def _constant(name):
    if name not in CONSTANTS:
        raise KeyError(f"unknown constant {name!r}; known: {', '.join(CONSTANTS)}")
    return CONSTANTS[name]


def _exchange_rate(src, dst):
    for cur in (src, dst):
        if cur not in RATES:
            raise KeyError(f"unknown currency {cur!r}; known: {', '.join(RATES)}")
    return round(RATES[dst] / RATES[src], 6)


TOOLS = {"constant": _constant, "exchange_rate": _exchange_rate}

# Each family draws (difficulty, query, [(think, code), ...]); the expert's outputs come from running
# the code for real, and the answer is the last block's output.
WORDS = ["planet", "river", "garden", "silver", "rocket", "window", "forest", "candle", "marble", "harbor",
         "thunder", "pencil", "violet", "castle", "meadow", "lantern", "crystal", "falcon", "orange", "bridge",
         "summer", "anchor", "velvet", "canyon", "puzzle", "magnet", "island", "copper", "basket", "shadow"]
NAMES = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Femi", "Gus", "Hana", "Ivan", "Jia", "Kofi", "Lena", "Mo",
         "Nia", "Omar", "Pia", "Raj", "Sara", "Tom", "Uma", "Vik", "Wen", "Yara", "Zoe"]


def _arithmetic(r):
    a, b, c = r.randint(2, 999), r.randint(2, 99), r.randint(1, 999)
    op1, op2 = r.choice("+-*"), r.choice("+-*")
    expr = f"{a} {op1} {b} {op2} {c}"
    return "easy", f"What is {expr}?", [(f"compute {expr}", f"print({expr})")]


def _signed(n):
    return f"+ {n}" if n >= 0 else f"- {-n}"


def _algebra(r):
    if r.random() < 0.5:
        x, a = r.randint(-20, 20), r.randint(2, 12)
        b = r.randint(-50, 50)
        c = a * x + b
        return "medium", f"Solve {a}x {_signed(b)} = {c} for x.", [
            (f"x = ({c} - {b}) / {a}", f"print(({c} - {b}) // {a})")]
    x1, x2 = sorted(r.sample(range(-15, 16), 2))
    b, c = -(x1 + x2), x1 * x2
    return "medium", f"Find the larger root of x^2 {_signed(b)}x {_signed(c)} = 0.", [
        ("quadratic formula", f"a, b, c = 1, {b}, {c}\nd = (b*b - 4*a*c) ** 0.5\nprint(round((-b + d) / (2*a), 4))")]


def _geometry(r):
    kind = r.choice(["circle", "hyp", "box"])
    if kind == "circle":
        rad = r.randint(1, 60)
        return "easy", f"What is the area of a circle with radius {rad}? Round to 2 decimals.", [
            (f"area of circle r={rad}", f"import math\nprint(round(math.pi * {rad}**2, 2))")]
    if kind == "hyp":
        a, b = r.randint(1, 90), r.randint(1, 90)
        return "easy", f"A right triangle has legs {a} and {b}. How long is the hypotenuse? Round to 2 decimals.", [
            ("pythagoras", f"print(round(({a}**2 + {b}**2) ** 0.5, 2))")]
    l, w, h = r.randint(2, 40), r.randint(2, 40), r.randint(2, 40)
    return "easy", f"What is the volume of a {l} by {w} by {h} box?", [("volume = l*w*h", f"print({l} * {w} * {h})")]


def _statistics(r):
    xs = [r.randint(1, 99) for _ in range(r.randint(5, 9))]
    stat = r.choice(["mean", "median", "stdev"])
    return "medium", f"What is the {stat} of {xs}? Round to 2 decimals.", [
        (f"{stat} of the list", f"import statistics\nprint(round(statistics.{stat}({xs}), 2))")]


def _physics(r):
    kind = r.choice(["ke", "dist", "force"])
    if kind == "ke":
        m, v = r.randint(1, 200), r.randint(1, 60)
        return "medium", f"What is the kinetic energy in joules of a {m} kg mass moving at {v} m/s?", [
            ("KE = 0.5*m*v^2", f"print(0.5 * {m} * {v}**2)")]
    if kind == "dist":
        v, t = r.randint(2, 120), r.randint(2, 90)
        return "easy", f"A car drives at {v} km/h for {t} minutes. How many km does it cover? Round to 2 decimals.", [
            ("d = v*t, t in hours", f"print(round({v} * {t} / 60, 2))")]
    m, a = r.randint(1, 500), r.randint(1, 30)
    return "easy", f"What force in newtons accelerates {m} kg at {a} m/s^2?", [("F = m*a", f"print({m} * {a})")]


def _finance(r):
    p, rate, n = r.randint(1, 100) * 100, r.randint(1, 12), r.randint(1, 30)
    if r.random() < 0.5:
        return "medium", f"${p} grows at {rate}% compounded yearly for {n} years. What is the final amount? Round to 2 decimals.", [
            ("compound interest", f"print(round({p} * (1 + {rate}/100) ** {n}, 2))")]
    return "easy", f"What is the simple interest on ${p} at {rate}% per year for {n} years?", [
        ("I = P*r*t", f"print({p} * {rate} * {n} / 100)")]


def _logic(r):
    if r.random() < 0.5:
        n = r.randint(2, 5000)
        return "medium", f"Is {n} a prime number? Answer True or False.", [
            ("trial division", f"n = {n}\nprint(n > 1 and all(n % k for k in range(2, int(n**0.5) + 1)))")]
    y = r.randint(1600, 2400)
    return "medium", f"Is {y} a leap year? Answer True or False.", [
        ("divisible by 4, not 100 unless 400", f"y = {y}\nprint(y % 4 == 0 and (y % 100 != 0 or y % 400 == 0))")]


def _programming(r):
    w = r.choice(WORDS) + r.choice(WORDS)
    kind = r.choice(["reverse", "vowels", "digits", "sort"])
    if kind == "reverse":
        return "easy", f"Reverse the string '{w}'.", [("slice with step -1", f"print('{w}'[::-1])")]
    if kind == "vowels":
        return "easy", f"How many vowels are in '{w}'?", [("count aeiou", f"print(sum(ch in 'aeiou' for ch in '{w}'))")]
    if kind == "digits":
        n = r.randint(10**5, 10**9)
        return "easy", f"What is the sum of the digits of {n}?", [("sum digits", f"print(sum(int(d) for d in str({n})))")]
    xs = r.sample(range(1, 100), 6)
    return "easy", f"Sort {xs} in descending order.", [("sorted reverse", f"print(sorted({xs}, reverse=True))")]


def _unit_conversion(r):
    kind = r.choice(["km", "c", "kg"])
    v = r.randint(1, 500)
    if kind == "km":
        return "easy", f"Convert {v} km to miles. Round to 2 decimals.", [("1 km = 0.621371 mi", f"print(round({v} * 0.621371, 2))")]
    if kind == "c":
        return "easy", f"Convert {v} degrees Celsius to Fahrenheit.", [("F = C*9/5 + 32", f"print({v} * 9 / 5 + 32)")]
    return "easy", f"Convert {v} kg to pounds. Round to 2 decimals.", [("1 kg = 2.20462 lb", f"print(round({v} * 2.20462, 2))")]


def _multi_step(r):
    who = r.choice(NAMES)
    a, pa, b, pb, tax = r.randint(2, 60), r.randint(1, 20), r.randint(2, 60), r.randint(1, 40), r.randint(2, 20)
    return "hard", (f"{who} buys {a} pens at ${pa} each and {b} books at ${pb} each. "
                    f"What is the total after {tax}% tax? Round to 2 decimals."), [
        ("first the subtotal", f"subtotal = {a} * {pa} + {b} * {pb}\nprint(subtotal)"),
        (f"then add {tax}% tax", f"print(round(subtotal * (1 + {tax}/100), 2))")]


def _error_recovery(r):
    xs = [r.randint(1, 99) for _ in range(r.randint(4, 8))]
    kind = r.choice(["name", "type"])
    if kind == "name":
        return "hard", f"What is the average of {xs}? Round to 2 decimals.", [
            ("mean = sum/len", f"nums = {xs}\nprint(round(sum(num) / len(nums), 2))"),
            ("typo: num should be nums", f"print(round(sum(nums) / len(nums), 2))")]
    w = r.choice(WORDS)
    return "hard", f"Join the word '{w}' and the number {xs[0]} into one string, then give its length.", [
        ("concatenate", f"s = '{w}' + {xs[0]}\nprint(len(s))"),
        ("need str() for the number", f"s = '{w}' + str({xs[0]})\nprint(len(s))")]


def _tool_use(r):
    if r.random() < 0.5:
        src, dst = r.sample(sorted(RATES), 2)
        amount = r.randint(1, 5000)
        return "medium", f"Convert {amount} {src} to {dst} with the exchange_rate tool. Round to 2 decimals.", [
            ("ask the rate tool", f"rate = use_tool('exchange_rate', src='{src}', dst='{dst}')\nprint(round({amount} * rate, 2))")]
    m, t = r.randint(1, 100), r.randint(1, 20)
    return "medium", f"Using g from the constant tool, what is the weight in newtons of a {m} kg mass? Round to 2 decimals.", [
        ("W = m*g", f"g = use_tool('constant', name='g')\nprint(round({m} * g, 2))")]


FAMILIES = {"arithmetic": _arithmetic, "algebra": _algebra, "geometry": _geometry, "statistics": _statistics,
            "physics": _physics, "finance": _finance, "logic": _logic, "programming": _programming,
            "unit_conversion": _unit_conversion, "multi_step": _multi_step, "error_recovery": _error_recovery,
            "tool_use": _tool_use}
SPLIT_BUCKETS = {"train": range(0, 80), "val": range(80, 90), "test": range(90, 100)}


def _split_of(query):
    """Splits are disjoint by construction: a query's md5 decides its split (80/10/10)."""
    bucket = int(hashlib.md5(query.encode()).hexdigest(), 16) % 100
    return next(s for s, rng in SPLIT_BUCKETS.items() if bucket in rng)


def _run_expert(box, steps):
    """Really execute the expert's blocks (fresh namespace) and build the response text."""
    box.reset()
    response, outputs = "", []
    for think, code in steps:
        result = box.run(code)
        outputs.append(result.text)
        if result.error_type == "SyntaxError" or (len(outputs) == len(steps) and result.error):
            raise SandboxError(f"expert code failed (a generator bug):\n{code}\n{result.text}")
        response += f"<think>{think}</think>\n<code>\n{code}\n</code>" + env_text(result.text)
    answer = outputs[-1].strip()
    return response + answer, outputs, answer


class ExecEpisode:
    def __init__(self, task, example, sandbox=None):
        self.task, self.example = task, example
        self.box, self.turns, self.codes, self.results = sandbox, [], [], []
        self.owns_box = sandbox is None  # a caller's sandbox (chat.py's) outlives the episode
        self.done = False

    def observation(self):
        return format_prompt(self.example["query"])

    def step(self, completion):
        if self.done:
            raise RuntimeError("step() called on a finished episode")
        completion = _EOS_RE.sub("", completion)
        self.turns.append(completion)
        end = completion.rstrip().endswith("</code>")
        start = completion.rfind("<code>")
        if not end or start < 0:
            self.done = True   # a plain answer (or malformed code): the episode ends
            return "", True
        code = completion[start + len("<code>"):completion.rstrip().rfind("</code>")].strip("\n")
        if self.box is None:
            self.box = self.task.pool().acquire()
        result = self.box.run(code)
        self.codes.append(code)
        self.results.append(result)
        self.done = len(self.results) >= self.task.max_turns
        return env_text(result.text), self.done

    def answer(self):
        """The text of the final turn when it is a plain answer, else None."""
        if not self.turns or self.turns[-1].rstrip().endswith("</code>"):
            return None
        text = self.turns[-1].strip()
        return text or None

    def reward(self):
        answer = self.answer()
        last = self.results[-1] if self.results else None
        expected_out = (self.example.get("outputs") or [""])[-1]   # chat queries have no expert
        fmt = bool(answer) and not any(t in answer for t in SPECIAL_TOKENS) and all(
            _CODE_TURN_RE.match(t.strip()) for t in self.turns[:-1])
        c = {"code_extracted": float(bool(self.results)),
             "syntax_valid": float(bool(self.results) and all(r.error_type != "SyntaxError" for r in self.results)),
             "executed": float(last is not None and last.error is None),
             "output_match": float(last is not None and bool(last.text.strip())
                                   and " ".join(last.text.split()) == " ".join(expected_out.split())),
             "format": float(fmt),
             "answer_correct": float("answer" in self.example and answer_matches(answer, self.example["answer"]))}
        c["success"] = c["answer_correct"]
        return sum(REWARD_WEIGHTS[k] * c[k] for k in REWARD_WEIGHTS), c

    def info(self):
        return {"codes": self.codes, "outputs": [r.text for r in self.results],
                "error_types": [r.error_type for r in self.results], "answer": self.answer()}

    def close(self):
        if self.box is not None and self.owns_box:
            self.task.pool().release(self.box)
        self.box = None


class ExecTask:
    name = "exec"
    style = "append"
    special_tokens = SPECIAL_TOKENS
    stop_tokens = ["</code>"]
    max_turns = 4
    max_new_tokens = 256

    def __init__(self, pool_size=4, timeout=5.0):
        self.pool_size, self.timeout = pool_size, timeout
        self._pool = None

    def pool(self):
        """The task's SandboxPool, started on first use (episodes without code never start one)."""
        if self._pool is None:
            self._pool = SandboxPool(self.pool_size, timeout=self.timeout, tools=TOOLS)
        return self._pool

    def examples(self, split, n, seed=0):
        if split not in SPLIT_BUCKETS:
            raise ValueError(f"unknown split {split!r}; use one of {list(SPLIT_BUCKETS)}")
        rng = random.Random(f"exec-{split}-{seed}")
        names, out, seen = list(FAMILIES), [], set()
        with Sandbox(timeout=self.timeout, tools=TOOLS) as box:
            tries = 0
            while len(out) < n:
                family = names[len(out) % len(names)]
                difficulty, query, steps = FAMILIES[family](rng)
                tries += 1
                if tries > 1000 * (n + 10):
                    raise RuntimeError(f"could not draw {n} distinct {split} examples")
                if query in seen or _split_of(query) != split:
                    continue
                seen.add(query)
                response, outputs, answer = _run_expert(box, steps)
                out.append({"id": "exec-" + hashlib.md5(query.encode()).hexdigest()[:12], "family": family,
                            "category": family, "difficulty": difficulty, "query": query, "answer": answer,
                            "response": response, "outputs": outputs})
        return out

    def reset(self, example, sandbox=None):
        """sandbox: run the episode's code in this caller-owned Sandbox (its variables persist) instead of
        a fresh worker from the pool."""
        return ExecEpisode(self, example, sandbox)

    def demo(self, example):
        return [[(format_prompt(example["query"]), False)] + response_segments(example["response"])]

    def close(self):
        if self._pool is not None:
            self._pool.close()
            self._pool = None


TASKS = {"exec": ExecTask()}

if __name__ == "__main__" and sys.argv[1:2] == ["--forkserver"]:
    _forkserver_main(int(sys.argv[2]))
