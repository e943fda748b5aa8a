"""Red-team tests: hostile model code against the exec sandbox.

Each test runs an attack, asserts what is blocked or contained, that this (the caller's) process is
unharmed, and that the next code block still works. Protections that depend on running as root (the
worker's own uid) are skipped, with the reason, when the tests do not run as root.
"""
import os
import socket
import subprocess
import time

import pytest

import exec_env as E

ROOT = os.getuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="uid separation is only active when the caller is root")


@pytest.fixture(scope="module")
def box():
    os.environ["EXEC_ENV_FAKE_SECRET"] = "hunter2-do-not-leak"   # set before the worker starts
    with E.Sandbox(timeout=2.0, memory_mb=512, nproc=16) as b:
        b._wait_ready()
        yield b
    del os.environ["EXEC_ENV_FAKE_SECRET"]


def still_works(box):
    """The sandbox answers the next block, and this process is alive (we are running this line)."""
    assert box.run("print(6 * 7)").text == "42"


def test_isolation_is_reported(box):
    assert box.isolation["network"] in ("netns", "audit-hook")
    assert box.isolation["pids"] in ("pidns", "none")
    if ROOT:
        assert box.isolation["pids"] == "pidns"
        assert box.isolation["user"].startswith("uid ") and box.isolation["user"] != "uid 0"


@needs_root
def test_cannot_write_outside_the_sandbox_dir(box, tmp_path):
    target = tmp_path / "pwned.txt"
    r = box.run(f"open({str(target)!r}, 'w').write('x')")
    assert r.error_type == "PermissionError" and not target.exists()
    for path in ["/etc/pwned", os.path.join(os.getcwd(), "pwned.py"), os.path.abspath(E.__file__)]:
        assert box.run(f"open({path!r}, 'a').write('x')").error_type == "PermissionError", path
    assert not os.path.exists("/etc/pwned") and not os.path.exists("pwned.py")
    # its own cwd is writable and private
    assert box.run("open('mine.txt', 'w').write('ok'); print(open('mine.txt').read())").text == "ok"
    assert os.path.exists(os.path.join(box.dir, "mine.txt"))
    still_works(box)


def test_caller_environment_is_not_visible(box):
    r = box.run("import os\nprint(sorted(os.environ))\nprint('hunter2' in str(os.environ))")
    assert "EXEC_ENV_FAKE_SECRET" not in r.text and r.text.endswith("False")
    # nor through /proc: the caller's environ, or any process's environ (a bait process holds the secret)
    bait = subprocess.Popen(["sleep", "30"], env={"EXEC_ENV_FAKE_SECRET": "hunter2-do-not-leak"})
    try:
        time.sleep(0.05)
        assert b"hunter2" in open(f"/proc/{bait.pid}/environ", "rb").read()   # the bait is readable by us
        r = box.run(f"import os\n"
                    f"for p in [{os.getpid()}, {bait.pid}]:\n"
                    f"    try:\n        open(f'/proc/{{p}}/environ', 'rb').read(); print('read')\n"
                    f"    except OSError as e:\n        print(type(e).__name__)\n"
                    "leaks = []\n"
                    "for p in os.listdir('/proc'):\n"
                    "    try:\n        leaks += [p] if b'hunter2' in open(f'/proc/{p}/environ', 'rb').read() else []\n"
                    "    except OSError:\n        pass\n"
                    "print(leaks)")
    finally:
        bait.kill()
        bait.wait()
    if ROOT:
        assert r.text.splitlines() == ["PermissionError", "PermissionError", "[]"], r.text
    still_works(box)


def test_no_network(box):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        r = box.run("import socket\n"
                    "for addr in [('127.0.0.1', %d), ('1.1.1.1', 53)]:\n"
                    "    try:\n        socket.create_connection(addr, timeout=1); print('connected', addr)\n"
                    "    except OSError as e:\n        print('blocked', type(e).__name__)" % port)
        assert "connected" not in r.text and r.text.count("blocked") == 2, r.text
        listener.settimeout(0.2)
        with pytest.raises(socket.timeout):
            listener.accept()   # the caller's listening socket saw nothing
    finally:
        listener.close()
    still_works(box)


def test_infinite_loop_is_killed_and_replaced(box):
    box.run("kept = 1")
    t = time.monotonic()
    r = box.run("while True:\n    pass")
    assert r.error_type == "Timeout" and r.restarted and time.monotonic() - t < 4
    assert "variables are lost" in r.error
    assert box.run("print('kept' in globals())").text == "False"
    still_works(box)


def processes_of_uid(uid):
    """Processes (zombies included) running as uid, from /proc."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                if any(line.split()[1:2] == [str(uid)] for line in f if line.startswith("Uid:")):
                    found.append(pid)
        except OSError:
            pass
    return found


def gone_within(uid, seconds):
    """True once no process of uid is left (the old worker dies in the background after a restart)."""
    deadline = time.monotonic() + seconds
    while processes_of_uid(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return processes_of_uid(uid) == []


@needs_root
def test_fork_bomb_is_contained(box):
    uid = box.uid
    t = time.monotonic()
    r = box.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    assert r.error_type == "Timeout" and time.monotonic() - t < 6
    assert gone_within(uid, 3.0)   # all killed and reaped, no zombies left behind
    still_works(box)


@needs_root
def test_escaped_children_are_killed(box):
    """A child that leaves the process group (setsid) still dies with the sandbox (pid namespace)."""
    r = box.run("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n    os._exit(0)\nprint('ok')")
    assert r.text == "ok"
    uid = box.uid
    assert len(processes_of_uid(uid)) == 2   # the worker and its escaped child
    box.restart()
    assert gone_within(uid, 3.0)
    still_works(box)


def test_memory_bomb_raises_memory_error(box):
    box.run("kept = 2")
    r = box.run("x = bytearray(4 * 1024**3)")
    assert r.error_type == "MemoryError" and not r.restarted
    r = box.run("x = [0] * (10**9)")
    assert r.error_type == "MemoryError"
    assert box.run("print(kept)").text == "2"


def test_huge_print_is_capped(box):
    t = time.monotonic()
    r = box.run("for i in range(200000):\n    print(i)")
    assert r.truncated and len(r.output) == E.OUTPUT_LIMIT and time.monotonic() - t < 2.5
    r = box.run("import os\nos.write(1, b'y' * 100000)")
    assert r.truncated and len(r.output) <= E.OUTPUT_LIMIT
    still_works(box)


def test_os_exit_and_segfault_are_reported(box):
    r = box.run("import os\nos._exit(7)")
    assert r.error_type == "WorkerDied" and "exit status 7" in r.error and r.restarted
    r = box.run("import ctypes\nctypes.string_at(0)")
    assert r.error_type == "WorkerDied" and "SIGSEGV" in r.error
    still_works(box)


@needs_root
def test_cannot_kill_the_parent(box):
    me = os.getpid()
    # in its pid namespace the worker's parent is pid 0 and this process has no pid at all; by number it
    # can only guess: our real pid is not in its namespace, and other uids are off limits anyway
    r = box.run("import os, signal\nprint(os.getppid())\n"
                "for target in [%d, %d]:\n"
                "    try:\n        os.kill(target, signal.SIGKILL); print('killed', target)\n"
                "    except OSError as e:\n        print(type(e).__name__)\n"
                "try:\n    os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n    pass\nprint('alive')" % (me, os.getppid()))
    assert r.text.splitlines() == ["0", "ProcessLookupError", "ProcessLookupError", "alive"], r.text
    r = box.run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")   # kill(0): its own group
    assert r.error_type in (None, "WorkerDied")
    assert os.getpid() == me
    still_works(box)


def test_monkey_patching_stdout_does_not_stick(box):
    r = box.run("import sys\nsys.stdout = None\nsys.stderr = open('log.txt', 'w')")
    assert r.error is None
    assert box.run("print('back')").text == "back"
    r = box.run("import builtins\nbuiltins.print = lambda *a, **k: None")
    assert r.error is None
    # patched builtins live in the worker only; a fresh episode (restart) starts clean
    box.restart()
    still_works(box)


def test_reading_etc_is_allowed_but_not_secrets(box):
    r = box.run("print(open('/etc/hostname').read() != '')\n"
                "for p in ['/etc/shadow', '/root/.bash_history', '/root']:\n"
                "    try:\n        open(p).read() if p != '/root' else __import__('os').listdir(p); print('read', p)\n"
                "    except OSError as e:\n        print(type(e).__name__)")
    lines = r.text.splitlines()
    assert lines[0] == "True"
    if ROOT:
        assert lines[1] == "PermissionError" and lines[3] == "PermissionError"
        assert lines[2] in ("PermissionError", "FileNotFoundError")
    still_works(box)


@needs_root
def test_ctypes_libc_cannot_regain_privileges(box):
    r = box.run("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                "print(libc.setuid(0), libc.setgid(0), libc.unshare(0x40000000), libc.kill(%d, 9))\n"
                "print(os.getuid() != 0)" % os.getpid())
    assert r.text == "-1 -1 -1 -1\nTrue", r.text
    still_works(box)


def test_ulimit_escape_is_refused(box):
    r = box.run("import resource\n"
                "for lim in [resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE]:\n"
                "    try:\n        resource.setrlimit(lim, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)); print('raised')\n"
                "    except (ValueError, OSError) as e:\n        print(type(e).__name__)")
    if ROOT:
        assert r.text.splitlines() == ["ValueError"] * 3, r.text
    r = box.run("open('big.bin', 'wb').write(b'0' * (64 * 1024**2))")   # over the 16 MiB file-size limit
    assert r.error_type == "OSError" and "File too large" in r.error
    still_works(box)
