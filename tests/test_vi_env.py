"""vi_env: observation format, env API, HTTP server (with its error cases), and the `vi` task (demos replay
to the target through the engine, and agree with real Vim where it is installed)."""
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

import vi_env
from vi_env import VimEnv, parse_command, render

TASK = vi_env.TASKS["vi"]
DRAWINGS = {"hline", "vline", "filled_rect", "hollow_rect", "triangle", "frame", "grid", "banner", "framed_banner"}


# -- observation -------------------------------------------------------------------------------------

def test_render_matches_vilm_format():
    obs = render(['const name = "world";', "", "x"], (0, 0), "Normal", "Do it.")
    assert obs == ('<BOS>\n<notepad>\n1|<cursor>const name = "world";\n2|\n3|x\n</notepad>\n'
                   "<mode>Normal</mode>\n<prompt>Do it.</prompt>\n<command>")


def test_render_pads_line_numbers_to_widest():
    obs = render([str(i) for i in range(10)], (9, 0), "Normal", "")
    assert "\n1 |0\n" in obs and "\n9 |8\n" in obs and "\n10|<cursor>9\n" in obs


def test_empty_buffer_and_insert_cursor():
    env = VimEnv()
    assert "\n1|<cursor>\n</notepad>" in env.reset("")
    env.reset(["abc", "de"], (0, 1))
    obs, info = env.step("A")  # append: insertion point after the last char
    assert info == {"error": None, "mode": "Insert", "cursor": [0, 3]}
    assert "\n1|abc<cursor>\n2|de\n" in obs and "<mode>Insert</mode>" in obs
    obs, info = env.step("!<Esc>")
    assert "\n1|abc<cursor>!\n" in obs and info["mode"] == "Normal"  # <Esc> moves back onto the "!"


def test_visual_mode_renders_like_normal():
    env = VimEnv()
    env.reset(["hello world"], (0, 0))
    obs, info = env.step("wv")
    assert info["mode"] == "Visual" and "1|hello <cursor>world" in obs and "<mode>Visual</mode>" in obs


def test_parse_command():
    assert parse_command("2Gdd</command>") == ("2Gdd", False)
    assert parse_command("x</command>trailing junk</command>") == ("x", False)
    assert parse_command("</command>") == ("", False)
    assert parse_command("3Gd") == ("3Gd", True)  # cut off by the token budget: flagged
    assert parse_command("") == ("", True)


def test_env_step_state_and_parse_error_leaves_state():
    env = VimEnv()
    env.reset("one\ntwo\nthree", prompt="p")
    _, info = env.step("2Gdd")
    assert info["error"] is None and env.state() == {"lines": ["one", "three"], "cursor": [1, 0], "mode": "Normal", "prompt": "p"}
    before = env.state()
    obs, info = env.step("dd<Nope>")
    assert "Nope" in info["error"] and env.state() == before
    json.dumps(env.state())


def test_env_rejects_bad_input():
    env = VimEnv()
    with pytest.raises(ValueError, match="outside the buffer"):
        env.reset("ab", (3, 0))
    with pytest.raises(ValueError, match="newlines"):
        env.reset(["a\nb"])
    with pytest.raises(RuntimeError, match="reset"):
        VimEnv().step("x")


# -- HTTP server ---------------------------------------------------------------------------------------

@pytest.fixture
def server():
    srv = vi_env.make_server("127.0.0.1", 0, max_sessions=2)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def post(srv, path, body, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    data = raw if raw is not None else json.dumps(body).encode()
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read())
    conn.close()
    return out


def test_server_session_roundtrip(server):
    status, r = post(server, "/init_session", {"text": "a\nb\nc", "cursor": [1, 0], "prompt": "Delete line 2."})
    assert status == 200 and r["lines"] == ["a", "b", "c"] and "2|<cursor>b" in r["observation"]
    sid = r["session_id"]
    status, r = post(server, "/act", {"session_id": sid, "keys": "dd"})
    assert status == 200 and "1|a\n2|<cursor>c\n" in r["observation"]
    assert r["info"] == {"error": None, "mode": "Normal", "cursor": [1, 0], "truncated": False}
    status, r = post(server, "/act", {"session_id": sid, "command": "Ax<Esc></command>ignored"})
    assert status == 200 and "2|c<cursor>x\n" in r["observation"] and r["info"]["truncated"] is False
    status, r = post(server, "/act", {"session_id": sid, "command": "0"})  # no </command>: run, flagged
    assert status == 200 and "2|<cursor>cx\n" in r["observation"] and r["info"]["truncated"] is True
    status, r = post(server, "/get_state", {"session_id": sid})
    assert status == 200 and r["lines"] == ["a", "cx"] and r["mode"] == "Normal" and "<prompt>Delete line 2.</prompt>" in r["observation"]
    status, r = post(server, "/init_session", {"lines": ["x"]})
    assert status == 200 and r["cursor"] == [0, 0]


def test_server_keep_alive(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request("POST", "/init_session", body=json.dumps({"text": "abc"}))
    sid = json.loads(conn.getresponse().read())["session_id"]
    for _ in range(5):  # same connection
        conn.request("POST", "/act", body=json.dumps({"session_id": sid, "keys": "x"}))
        r = json.loads(conn.getresponse().read())
    assert "1|<cursor>\n" in r["observation"]
    conn.close()


@pytest.mark.parametrize("path,body,raw,status,needle", [
    ("/act", None, b"{not json", 400, "bad JSON"),
    ("/act", None, b"[1, 2]", 400, "must be an object"),
    ("/nope", {}, None, 404, "unknown route"),
    ("/act", {"session_id": "deadbeef", "keys": "x"}, None, 404, "unknown session"),
    ("/act", {"keys": "x"}, None, 400, "missing field 'session_id'"),
    ("/init_session", {"prompt": "hi"}, None, 400, "missing field 'text'"),
    ("/init_session", {"text": 5}, None, 400, "field 'text' must be str"),
    ("/init_session", {"lines": ["a", 3]}, None, 400, "list of strings"),
    ("/init_session", {"text": "ab", "cursor": [0]}, None, 400, "cursor"),
    ("/init_session", {"text": "ab", "cursor": [4, 0]}, None, 400, "outside the buffer"),
    ("/init_session", {"text": "ab", "prompt": ["x"]}, None, 400, "field 'prompt' must be str"),
])
def test_server_errors(server, path, body, raw, status, needle):
    got, r = post(server, path, body, raw)
    assert got == status and needle in r["error"]


def test_server_bad_keys_and_wrong_type(server):
    sid = post(server, "/init_session", {"text": "abc"})[1]["session_id"]
    status, r = post(server, "/act", {"session_id": sid, "keys": "x<Bogus>"})
    assert status == 400 and "Bogus" in r["error"]
    status, r = post(server, "/act", {"session_id": sid, "keys": 7})
    assert status == 400 and "'keys' must be str" in r["error"]
    assert post(server, "/get_state", {"session_id": sid})[1]["lines"] == ["abc"]  # unchanged


def test_server_body_cap_and_get(server):
    status, r = post(server, "/init_session", None, raw=json.dumps({"text": "a" * 100_000}).encode())
    assert status == 413 and "exceeds" in r["error"]
    for length in ("-5", "abc"):
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.putrequest("POST", "/act")
        conn.putheader("Content-Length", length)
        conn.endheaders()
        resp = conn.getresponse()
        assert resp.status == 411 and "Content-Length" in json.loads(resp.read())["error"]
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request("GET", "/act")
    resp = conn.getresponse()
    assert resp.status == 405 and "POST" in json.loads(resp.read())["error"]


def test_server_evicts_least_recently_used(server):  # max_sessions=2
    a, b = (post(server, "/init_session", {"text": t})[1]["session_id"] for t in "ab")
    post(server, "/get_state", {"session_id": a})  # a is now the most recent
    post(server, "/init_session", {"text": "c"})
    assert post(server, "/get_state", {"session_id": a})[0] == 200
    assert post(server, "/get_state", {"session_id": b})[0] == 404


# -- the vi task -----------------------------------------------------------------------------------------

def test_task_protocol_fields():
    assert TASK.style == "reprompt" and TASK.stop_tokens == ["</command>"]
    assert TASK.special_tokens == ["<BOS>", "</command>", "<Esc>", "<Enter>", "<Tab>"]
    assert set(TASK.families.values()) == {"easy", "medium", "hard"} and len(TASK.families) >= 20


def test_examples_deterministic_and_json():
    a = TASK.examples("train", 60, seed=5)
    assert a == TASK.examples("train", 60, seed=5) and a != TASK.examples("train", 60, seed=6)
    json.dumps(a)
    assert len({e["id"] for e in a}) == 60
    easy = [f for f, d in TASK.families.items() if d == "easy"]
    assert {e["family"] for e in TASK.examples("val", 30, families=easy)} == set(easy)
    with pytest.raises(ValueError, match="unknown families"):
        TASK.examples("train", 1, families=["nope"])
    with pytest.raises(ValueError, match="split"):
        TASK.examples("dev", 1)


def test_splits_disjoint_by_construction():
    import random
    rng = random.Random(0)
    for split in ("train", "val", "test"):  # a word's split is a function of the word
        assert all(vi_env.in_split(w, split) for w in vi_env.split_words(rng, split, 200))
    assert sum(vi_env.in_split(w, s) for s in ("train", "val", "test") for w in ["abcd", "mobi", "tarek"]) == 3
    key = lambda e: (tuple(e["lines"]), e["prompt"])
    train_examples = TASK.examples("train", 3000)
    test = TASK.examples("test", 1000)
    assert not ({key(e) for e in train_examples} & {key(e) for e in test})
    assert not ({e["id"] for e in test} & {e["id"] for e in train_examples})
    # the only words a test example shares with train are the templates' own words (in vi_env's source)
    def tokens(examples):  # words of the instructions, and of the buffers (canvases hold runs like "ooo")
        text = " ".join(" ".join([e["prompt"]] + ([] if e["family"] in DRAWINGS else e["lines"])) for e in examples)
        return set(re.findall(r"[a-z]+", text.lower()))

    with open(vi_env.__file__) as f:
        template_words = set(re.findall(r"[a-z]+", f.read().lower()))
    shared = tokens(train_examples) & tokens(test)
    assert shared <= template_words, shared - template_words
    assert len(tokens(test) - template_words) > 500  # and the test split has plenty of its own


def test_observations_small_for_easy_and_medium():
    for e in TASK.examples("train", 28 * 20):
        if e["difficulty"] != "hard":
            assert len(e["lines"]) <= 10 and max(map(len, e["lines"])) <= 40, e
        assert len(render(e["lines"], (0, 0), "Normal", e["prompt"])) <= 600, e


@pytest.mark.parametrize("split,per_family", [("train", 200), ("val", 50), ("test", 100)])
def test_every_demo_replays_to_target(split, per_family):
    for e in TASK.examples(split, per_family * len(TASK.families), seed=11):
        seqs = TASK.demo(e)  # raises if the replay misses the target
        assert seqs[-1][1] == ("</command>", True) and all(len(s) == 2 and not s[0][1] for s in seqs)
        assert len(seqs) <= TASK.max_turns
        # only the first observation has the cursor at the origin: "done" is visible without history
        env = VimEnv()
        env.reset(e["lines"], tuple(e["cursor"]))
        assert e["cursor"] == [0, 0] and all(env.step(k)[1]["cursor"] != [0, 0] for k in e["expert"])


def _play(example, commands):
    ep = TASK.reset(example)
    for c in commands:
        _, done = ep.step(c)
        if done:
            break
    return ep, done


def test_reward():
    e = TASK.examples("test", 1, families=["delete_range"])[0]
    ep, done = _play(e, [k + "</command>" for k in e["expert"]] + ["</command>"])
    assert done and ep.reward() == (1.0, {"success": 1.0, "exact": 1.0, "similarity": 1.0, "parse_errors": 0.0})
    assert ep.answer() == "\n".join(e["target"])
    ep, done = _play(e, ["</command>"])  # doing nothing earns 0
    assert done and ep.reward()[0] == 0.0
    ep, _ = _play(e, ["<Oops></command>", "</command>"])
    assert ep.reward() == (pytest.approx(-0.1), {"success": 0.0, "exact": 0.0, "similarity": 0.0, "parse_errors": 1.0})
    a, b = map(int, e["expert"][0][1:-len("d<Enter>")].split(","))
    ep, _ = _play(e, [f"{a}Gdd</command>", "</command>"])  # part of the way there
    total, comp = ep.reward()
    assert 0 < total < 0.5 and comp["success"] == 0.0
    ep, _ = _play(e, ["ggdG</command>", "</command>"])  # damage earns nothing, like doing nothing
    assert ep.reward() == (0.0, {"success": 0.0, "exact": 0.0, "similarity": 0.0, "parse_errors": 0.0})
    ep, _ = _play(e, ["ggdG</command>", "<Bad></command>"])
    assert ep.reward()[0] == pytest.approx(-0.1)


def test_edit_distance_and_blown_up_buffer():
    assert vi_env.edit_distance("kitten", "sitting") == 3 and vi_env.edit_distance("", "abc") == 3
    assert vi_env.edit_distance("abcdef", "abXdef") == 1 and vi_env.edit_distance("same", "same") == 0
    e = TASK.examples("train", 1, families=["delete_line"])[0]
    ep, _ = _play(e, ["yy20000p</command>", "</command>"])
    start = time.perf_counter()
    assert ep.reward()[0] == 0.0 and time.perf_counter() - start < 0.5


def test_episode_ends_after_max_turns_and_truncated_counts():
    e = TASK.examples("train", 1)[0]
    ep = TASK.reset(e)
    dones = [ep.step("l")[1] for _ in range(TASK.max_turns)]  # no </command>: truncated, still executed
    assert dones == [False] * (TASK.max_turns - 1) + [True] and ep.info()["truncated"] == TASK.max_turns
    with pytest.raises(RuntimeError):
        ep.step("</command>")


# -- the expert against real Vim (the reference), when it is installed -----------------------------------

VIM_OPTIONS = ("noautoindent nosmartindent nocindent indentexpr= nojoinspaces expandtab shiftwidth=4 tabstop=4 "
               "softtabstop=0 backspace=indent,eol,start nohlsearch noincsearch noignorecase magic wrapscan")


def real_vim(lines, commands):
    d = tempfile.mkdtemp()
    src, out, script = (os.path.join(d, n) for n in ("in.txt", "out.txt", "keys"))
    with open(src, "w") as f:
        f.write("\n".join(lines) + "\n")
    keys = "".join(commands).replace("<Esc>", "\x1b").replace("<Enter>", "\r").replace("<Tab>", "\t")
    with open(script, "w") as f:
        f.write(f":set {VIM_OPTIONS}\r{keys}\x1b\x1b:w! {out}\r:qa!\r")
    subprocess.run(["vim", "-u", "NONE", "-N", "-i", "NONE", "-n", "--not-a-term", "-s", script, src],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    with open(out) as f:
        text = f.read()
    shutil.rmtree(d)
    return text[:-1].split("\n")


@pytest.mark.skipif(shutil.which("vim") is None, reason="real Vim not installed")
def test_demos_agree_with_real_vim():
    for e in TASK.examples("test", 3 * len(TASK.families), seed=2):
        assert real_vim(e["lines"], e["expert"]) == e["target"], e
