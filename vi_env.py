"""ViLM environment: a Vi editor behind the ViLM observation format, an HTTP server, and the `vi` task.

The model sees the buffer, the mode and an instruction, and answers with Vi keys then `</command>`; the
keys go through `vi_editor.Editor` (a pure-Python Vi that follows real Vim) and the next turn is a fresh
observation rendered from the new state ("reprompt" style). An empty command means "done".

Three layers, top to bottom:
1. `render()` / `parse_command()` / `VimEnv`: the observation format and the in-process env.
2. The HTTP server (stdlib `http.server`): `/init_session`, `/get_state`, `/act`, as in the ViLM seed.
3. The `vi` task: generated examples in 28 families (code edits, text fixes, ASCII drawing), an expert
   planner that writes one canonical key sequence per step, and the reward.

    python vi_env.py --serve --port 8765          # serve sessions on 127.0.0.1:8765
    python vi_env.py --show 3 --split test        # print a few examples with their demo keys
"""
import argparse
import functools
import json
import random
import re
import secrets
import threading
import zlib
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vi_editor import Editor

SPECIAL_TOKENS = ["<BOS>", "</command>", "<Esc>", "<Enter>", "<Tab>"]
END = "</command>"

# ----------------------------------------------------------------------------------------------------
# 1. Observation and the in-process env


@functools.lru_cache(maxsize=256)
def line_labels(n):
    """("1 |", "2 |", ..., "10|") for an n-line buffer: numbers left-aligned to the widest one."""
    width = len(str(n))
    return tuple(str(i).ljust(width) + "|" for i in range(1, n + 1))


def render(lines, cursor, mode, prompt):
    """The ViLM observation. `<cursor>` goes before the character under the cursor (Normal/Visual) or at
    the insertion point (Insert: may be the end of the line)."""
    labels = line_labels(len(lines))
    numbered = list(map(str.__add__, labels, lines))  # the hot path of every step: keep it cheap
    row, col = cursor
    numbered[row] = labels[row] + lines[row][:col] + "<cursor>" + lines[row][col:]
    return ("<BOS>\n<notepad>\n" + "\n".join(numbered) +
            f"\n</notepad>\n<mode>{mode}</mode>\n<prompt>{prompt}</prompt>\n<command>")


def parse_command(text):
    """(keys, truncated): the keys before `</command>` (text after it is ignored). A completion with no
    `</command>` was cut off by the token budget: its keys still count, and truncated=True says so."""
    keys, sep, _ = text.partition(END)
    return keys, not sep


def _check_lines(lines):
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise ValueError("lines must be a list of strings")
    bad = [i for i, x in enumerate(lines) if "\n" in x or "\r" in x]
    if bad:
        raise ValueError(f"lines must not contain newlines (line {bad[0] + 1} does)")
    return lines or [""]


class VimEnv:
    """One editing session: reset(buffer, cursor, prompt) -> observation; step(keys) -> (observation, info)."""

    def __init__(self):
        self.editor = None
        self.prompt = ""

    def reset(self, buffer, cursor=(0, 0), prompt=""):
        lines = buffer.split("\n") if isinstance(buffer, str) else _check_lines(list(buffer))
        row, col = cursor
        if not (0 <= row < len(lines) and 0 <= col <= max(len(lines[row]) - 1, 0)):
            raise ValueError(f"cursor {tuple(cursor)} is outside the buffer ({len(lines)} lines)")
        self.editor = Editor(lines, (row, col))
        self.prompt = prompt
        return self.observation()

    def observation(self):
        ed = self.editor
        return render(ed.lines, ed.cursor, ed.mode, self.prompt)

    def step(self, keys):
        """Feed keys (ViLM notation). A key parse error leaves the state unchanged and is reported in info."""
        if self.editor is None:
            raise RuntimeError("call reset() before step()")
        ed = self.editor
        error = ed.feed(keys)
        mode, cursor = ed.mode, ed.cursor
        return render(ed.lines, cursor, mode, self.prompt), {"error": error, "mode": mode, "cursor": list(cursor)}

    def state(self):
        ed = self.editor
        return {"lines": list(ed.lines), "cursor": list(ed.cursor), "mode": ed.mode, "prompt": self.prompt}

    def text(self):
        return self.editor.text()


# ----------------------------------------------------------------------------------------------------
# 2. HTTP server: JSON over POST, sessions in an LRU dict. Bad requests get 4xx {"error": "..."}.

MAX_BODY = 64 * 1024


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _field(body, name, types, required=True, default=None):
    if name not in body:
        if required:
            raise ApiError(400, f"missing field {name!r}")
        return default
    value = body[name]
    if not isinstance(value, types) or isinstance(value, bool):
        kinds = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise ApiError(400, f"field {name!r} must be {kinds}, got {type(value).__name__}")
    return value


class SessionStore:
    """Sessions by id, at most `max_sessions`; the least recently used one is evicted first."""

    def __init__(self, max_sessions):
        self.max_sessions = max_sessions
        self.sessions = OrderedDict()
        self.lock = threading.Lock()  # one lock: editor steps take microseconds, so contention is cheap

    def init_session(self, body):
        if "text" in body:
            buffer = _field(body, "text", str)
        elif "lines" in body:
            buffer = _field(body, "lines", list)
        else:
            raise ApiError(400, "missing field 'text' (or 'lines')")
        cursor = _field(body, "cursor", list, required=False, default=[0, 0])
        if len(cursor) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in cursor):
            raise ApiError(400, "field 'cursor' must be [row, col] (two integers, 0-based)")
        prompt = _field(body, "prompt", str, required=False, default="")
        env = VimEnv()
        try:
            observation = env.reset(buffer, tuple(cursor), prompt)
        except ValueError as e:
            raise ApiError(400, str(e))
        session_id = secrets.token_hex(8)
        with self.lock:
            self.sessions[session_id] = env
            while len(self.sessions) > self.max_sessions:
                self.sessions.popitem(last=False)
        return {"session_id": session_id, "observation": observation, **env.state()}

    def _get(self, body):
        session_id = _field(body, "session_id", str)
        env = self.sessions.get(session_id)
        if env is None:
            raise ApiError(404, f"unknown session {session_id!r} (never created, or evicted)")
        self.sessions.move_to_end(session_id)
        return env

    def get_state(self, body):
        with self.lock:
            env = self._get(body)
            return {"observation": env.observation(), **env.state()}

    def act(self, body):
        if "keys" in body:
            keys, truncated = _field(body, "keys", str), False
        elif "command" in body:
            keys, truncated = parse_command(_field(body, "command", str))
        else:
            raise ApiError(400, "missing field 'keys' (or 'command')")
        with self.lock:
            env = self._get(body)
            observation, info = env.step(keys)
            if info["error"]:
                raise ApiError(400, f"bad keys: {info['error']}")
            return {"observation": observation, "info": {**info, "truncated": truncated}}  # lines: /get_state


def make_server(host="127.0.0.1", port=8765, max_sessions=256):
    """A ThreadingHTTPServer (not yet serving); port 0 picks a free port (server.server_address)."""
    store = SessionStore(max_sessions)
    routes = {"/init_session": store.init_session, "/get_state": store.get_state, "/act": store.act}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        # send each reply in one write with no Nagle delay: headers and body in separate packets meet the
        # client's delayed ACK and cost ~40 ms a request on loopback
        wbufsize = -1
        disable_nagle_algorithm = True

        def log_message(self, *args):  # one line per request would cost more than the request itself
            pass

        def _reply(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.close_connection = True
            self._reply(405, {"error": f"use POST with a JSON body; routes: {', '.join(routes)}"})

        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length", ""))
                if length < 0:
                    raise ValueError
            except ValueError:
                self.close_connection = True
                return self._reply(411, {"error": "missing or bad Content-Length header"})
            if length > MAX_BODY:
                self.close_connection = True  # the body is left unread, so the connection can't be reused
                return self._reply(413, {"error": f"request body of {length} bytes exceeds {MAX_BODY}"})
            raw = self.rfile.read(length)
            try:
                if self.path not in routes:
                    raise ApiError(404, f"unknown route {self.path!r}; routes: {', '.join(routes)}")
                try:
                    body = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    raise ApiError(400, f"bad JSON: {e}")
                if not isinstance(body, dict):
                    raise ApiError(400, "the JSON body must be an object")
                self._reply(200, routes[self.path](body))
            except ApiError as e:
                self._reply(e.status, {"error": str(e)})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


# ----------------------------------------------------------------------------------------------------
# 3. The `vi` task
#
# Held-out splits, by construction: every word, identifier and banner text is a made-up word whose crc32
# picks its split (8 buckets train, 1 val, 1 test), and so does every drawing's parameter tuple (shape,
# position, size, character): no test example can come out of generating train, and vice versa.
#
# Canonical keys (one way to do each thing, so a small model can learn it): go to a line with `{N}G`;
# line ranges with Ex `:{a},{b}...<Enter>`; word changes with `:{N}s/old/new/<Enter>`; drawing overwrites
# a canvas of spaces run by run with `{col}|{n}r{ch}` (`l` when the run starts right after the cursor),
# text typed over in Replace mode with `{col}|R{text}<Esc>`, one canvas row per step. Every demo ends with an empty command.
# Every episode starts with the cursor at (0, 0) and no expert step ends there (`leaves_origin`), so a
# history-free observation still shows whether the instruction was already carried out.

SPLIT_OF = {"train": range(0, 8), "val": (8,), "test": (9,)}
CONSONANTS, VOWELS = "bcdfghjklmnprstvz", "aeiou"
CANVAS_CHARS = "#*o+x=@%"


def in_split(key, split):
    """True when `key` (a word or a drawing's parameters) belongs to `split`: crc32 buckets 0-7 train, 8 val, 9 test."""
    return zlib.crc32(repr(key).encode()) % 10 in SPLIT_OF[split]


def split_words(rng, split, k):
    """k distinct made-up words of `split` (two syllables, 4-6 letters). Train draws from ~2M words, so a
    model has to learn to copy the words an instruction names; it cannot memorise them."""
    words = []
    while len(words) < k:
        word = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) + (rng.choice(CONSONANTS) if rng.random() < 0.25 else "")
                       for _ in range(2))
        if word not in words and in_split(word, split):
            words.append(word)
    return words


def ex_subst(pattern_or_word):
    # Every word we substitute is plain [a-z_ ]; keep it that way so `:s` needs no escaping.
    assert all(c.isalnum() or c in "_ " for c in pattern_or_word), pattern_or_word
    return pattern_or_word


# -- buffers ---------------------------------------------------------------------------------------

def code_snippet(rng, words, lang, max_lines=10):
    """A small Python or JavaScript file: 2 functions of 2-3 body lines, at most max_lines lines. Returns
    (lines, functions) where functions is [(name, first_line_index, last_line_index)]."""
    f1, f2, a, b, x, y = rng.sample(words, 6)
    bodies = [
        [("{x} = {a} + {b}", "const {x} = {a} + {b};"), ("return {x}", "return {x};")],
        [("{x} = {a} * 2", "let {x} = {a} * 2;"), ("print({x})", "console.log({x});"), ("return {x}", "return {x};")],
        [("{y} = {b} - {a}", "const {y} = {b} - {a};"), ("return {y}", "return {y};")],
        [("{y} = len({a})", "const {y} = {a}.length;"), ("{x} = {y} + 1", "const {x} = {y} + 1;"), ("return {x}", "return {x};")],
    ]
    overhead = 3 if lang == "py" else 5  # def lines (and closing braces) plus the blank line between
    first = rng.choice([x for x in bodies if len(x) + 2 + overhead <= max_lines])
    second = rng.choice([x for x in bodies if len(first) + len(x) + overhead <= max_lines])
    lines, functions = [], []
    for fname, params, body in ((f1, f"{a}, {b}", first), (f2, f"{b}, {a}", second)):
        start = len(lines)
        if lang == "py":
            lines.append(f"def {fname}({params}):")
            lines += ["    " + py.format(a=a, b=b, x=x, y=y) for py, _ in body]
        else:
            lines.append(f"function {fname}({params}) {{")
            lines += ["    " + js.format(a=a, b=b, x=x, y=y) for _, js in body]
            lines.append("}")
        functions.append((fname, start, len(lines) - 1))
        lines.append("")
    lines.pop()  # no trailing blank line
    return lines, functions


SENTENCES = ["the {a} is near the {b}", "a {a} and a {b}", "we saw the {a} today", "my {a} likes the {b}",
             "put the {a} by the {b}", "one {a} two {b}", "find the {a} first", "the {a} was {b} colored"]


def text_buffer(rng, words, n_lines):
    return [rng.choice(SENTENCES).format(a=rng.choice(words), b=rng.choice(words)) for _ in range(n_lines)]


def pick(rng, *templates):
    return rng.choice(templates)


def span(a, b):
    return f"line {a}" if a == b else f"lines {a}-{b}"


# -- families: each returns (lines, target_lines, prompt, [keys per step]) --------------------------

def fam_delete_line(rng, words, split):
    lines, _ = code_snippet(rng, words, rng.choice(["py", "js"]))
    n = rng.randrange(len(lines)) + 1
    target = lines[:n - 1] + lines[n:]
    prompt = pick(rng, f"Delete line {n}.", f"Remove line {n}.", f"Line {n} is not needed: delete it.")
    return lines, target, prompt, [f"{n}Gdd"]


def fam_duplicate_line(rng, words, split):
    lines, _ = code_snippet(rng, words, rng.choice(["py", "js"]))
    n = rng.choice([i + 1 for i, x in enumerate(lines) if x])
    target = lines[:n] + [lines[n - 1]] + lines[n:]
    prompt = pick(rng, f"Duplicate line {n}.", f"Make a copy of line {n} right below it.", f"Copy line {n} below itself.")
    return lines, target, prompt, [f"{n}Gyyp"]


def _adjacent_distinct(rng, lines):
    return rng.choice([i + 1 for i in range(len(lines) - 1) if lines[i] != lines[i + 1]])


def fam_swap_lines(rng, words, split):
    lines, _ = code_snippet(rng, words, rng.choice(["py", "js"]))
    n = _adjacent_distinct(rng, lines)
    target = lines[:n - 1] + [lines[n], lines[n - 1]] + lines[n + 1:]
    prompt = pick(rng, f"Swap lines {n} and {n + 1}.", f"Exchange line {n} with line {n + 1}.",
                  f"Put line {n + 1} before line {n}.")
    return lines, target, prompt, [f"{n}Gddp"]


def fam_append_text(rng, words, split):
    lang = rng.choice(["py", "js"])
    lines, _ = code_snippet(rng, words, lang)
    if lang == "js":  # a statement lost its semicolon
        n = rng.choice([i + 1 for i, x in enumerate(lines) if x.endswith(";")])
        target, lines = list(lines), list(lines)
        lines[n - 1] = lines[n - 1][:-1]
        suffix = ";"
    else:
        n = rng.choice([i + 1 for i, x in enumerate(lines) if x.startswith("    ")])
        suffix = rng.choice(["  # TODO", "  # noqa", "  # check"])  # a fixed set: no unseen word to copy
        target = list(lines)
        target[n - 1] += suffix
    prompt = pick(rng, f"Append `{suffix}` to the end of line {n}.", f"Add `{suffix}` at the end of line {n}.",
                  f"Line {n} should end with `{suffix}`.")
    return lines, target, prompt, [f"{n}GA{suffix}<Esc>"]


def fam_delete_range(rng, words, split):
    lines, _ = code_snippet(rng, words, rng.choice(["py", "js"]))
    a = rng.randrange(1, len(lines))
    b = rng.randrange(a + 1, min(a + 3, len(lines)) + 1)
    target = lines[:a - 1] + lines[b:]
    prompt = pick(rng, f"Delete lines {a} to {b}.", f"Remove lines {a}-{b}.", f"Lines {a} through {b} must go: delete them.")
    return lines, target, prompt, [f":{a},{b}d<Enter>"]


def fam_join_lines(rng, words, split):
    target, _ = code_snippet(rng, words, rng.choice(["py", "js"]), max_lines=9)
    # split a statement with an operator in two; J (one space, next line's indent removed) restores it
    n = rng.choice([i + 1 for i, x in enumerate(target) if " = " in x])
    head, tail = target[n - 1].split(" = ", 1)
    lines = target[:n - 1] + [head + " =", "        " + tail] + target[n:]
    prompt = pick(rng, f"Join lines {n} and {n + 1}.", f"Join line {n} with the line after it.",
                  f"Lines {n} and {n + 1} belong on one line: join them.")
    return lines, target, prompt, [f"{n}GJ"]


def new_name(rng, words, text):
    """A word of `words` absent from `text`, as the new name of a rename: UPPER-case (a constant) or
    Capitalised (a class) a quarter of the time each. The banner families type UPPER-case words, and a char
    model that meets capitals nowhere else miscopies them (banner 0% on the GPU with lower-case renames)."""
    word = rng.choice([w for w in words if w not in text])
    return rng.choice([word, word, word.upper(), word.capitalize()])


def fam_change_word(rng, words, split):
    lines, _ = code_snippet(rng, words, rng.choice(["py", "js"]))
    n, old = rng.choice([(i + 1, w) for i, x in enumerate(lines) for w in words if x.count(w) == 1])
    new = new_name(rng, words, "\n".join(lines))
    target = list(lines)
    target[n - 1] = lines[n - 1].replace(old, new)
    prompt = pick(rng, f"Change `{old}` on line {n} to `{new}`.", f"On line {n}, replace `{old}` with `{new}`.",
                  f"Line {n}: `{old}` should be `{new}`.")
    return lines, target, prompt, [f":{n}s/{ex_subst(old)}/{ex_subst(new)}/<Enter>"]


def fam_move_line(rng, words, split):
    lines, _ = code_snippet(rng, words, rng.choice(["py", "js"]))
    a = rng.randrange(1, len(lines) + 1)
    b = rng.choice([b for b in range(1, len(lines) + 1) if b not in (a, a - 1)])
    rest = lines[:a - 1] + lines[a:]
    at = b if b < a else b - 1  # index in `rest` after which the line lands
    target = rest[:at] + [lines[a - 1]] + rest[at:]
    prompt = pick(rng, f"Move line {a} below line {b}.", f"Move line {a} so it comes right after line {b}.",
                  f"Cut line {a} and put it under line {b}.")
    return lines, target, prompt, [f":{a}m{b}<Enter>"]


def fam_copy_function(rng, words, split):
    lines, functions = code_snippet(rng, words, rng.choice(["py", "js"]))
    (f, a, b), (g, _, c) = functions
    target = lines[:c + 1] + lines[a:b + 1] + lines[c + 1:]
    prompt = pick(rng, f"Copy the function `{f}` (lines {a + 1}-{b + 1}) and paste it below the function `{g}`, "
                       f"which ends on line {c + 1}.",
                  f"Put a copy of `{f}` (lines {a + 1}-{b + 1}) right after `{g}` (which ends on line {c + 1}).")
    return lines, target, prompt, [f":{a + 1},{b + 1}t{c + 1}<Enter>"]


def fam_rename_line(rng, words, split):
    lang = rng.choice(["py", "js"])
    lines, _ = code_snippet(rng, words, lang, max_lines=9)
    # a line that mentions the identifier twice, e.g. `x = x + 1`
    v = rng.choice(words)
    n = rng.randrange(2, len(lines) + 1)
    extra = f"    {v} = {v} + 1" if lang == "py" else f"    {v} = {v} + 1;"
    lines = lines[:n - 1] + [extra] + lines[n - 1:]
    new = new_name(rng, words, "\n".join(lines))
    target = list(lines)
    target[n - 1] = extra.replace(v, new)
    prompt = pick(rng, f"Rename `{v}` to `{new}` on line {n}.", f"On line {n}, rename every `{v}` to `{new}`.")
    return lines, target, prompt, [f":{n}s/{ex_subst(v)}/{ex_subst(new)}/g<Enter>"]


def fam_rename_all(rng, words, split):
    lines, _ = code_snippet(rng, words, rng.choice(["py", "js"]))
    text = "\n".join(lines)
    # identifiers that are never part of another word, so a plain substitution renames exactly them
    tokens = re.findall(r"\w+", text)
    old = rng.choice([w for w in words if tokens.count(w) >= 2 and text.count(w) == tokens.count(w)])
    new = new_name(rng, words, text)
    target = [x.replace(old, new) for x in lines]
    prompt = pick(rng, f"Rename the identifier `{old}` to `{new}` everywhere.", f"Rename `{old}` to `{new}` in the whole file.",
                  f"Replace every `{old}` with `{new}`.")
    return lines, target, prompt, [f":%s/{ex_subst(old)}/{ex_subst(new)}/g<Enter>"]


def fam_insert_after(rng, words, split):
    lang = rng.choice(["py", "js"])
    lines, _ = code_snippet(rng, words, lang)
    text = "\n".join(lines)
    # a word that occurs exactly once, so `/word` lands on that line (never at (0, 0): lines start with a keyword)
    choices = [(i, w) for i, x in enumerate(lines) for w in words if text.count(w) == 1 and w in x]
    i, pat = rng.choice(choices)
    v = rng.choice(words)
    new = f"    print({v})" if lang == "py" else f"    console.log({v});"
    target = lines[:i + 1] + [new] + lines[i + 1:]
    prompt = pick(rng, f"Insert the line `{new.strip()}` (indented 4 spaces) after the line containing `{pat}`.",
                  f"After the line with `{pat}`, add a line `{new.strip()}` indented by 4 spaces.")
    return lines, target, prompt, [f"/{pat}<Enter>o{new}<Esc>"]


def fam_indent_block(rng, words, split):
    lines, functions = code_snippet(rng, words, rng.choice(["py", "js"]))
    _, s, e = rng.choice(functions)
    body = [i for i in range(s + 1, e + 1) if lines[i].startswith("    ")]
    a = rng.choice(body)
    b = rng.choice([j for j in body if j >= a])
    target = list(lines)
    if rng.random() < 0.5:
        for j in range(a, b + 1):
            target[j] = "    " + lines[j]
        prompt = pick(rng, f"Indent {span(a + 1, b + 1)} by one level.", f"Shift {span(a + 1, b + 1)} right by 4 spaces.")
        op = ">"
    else:
        for j in range(a, b + 1):
            target[j] = lines[j][4:]
        prompt = pick(rng, f"Dedent {span(a + 1, b + 1)} by one level.", f"Shift {span(a + 1, b + 1)} left by 4 spaces.")
        op = "<"
    return lines, target, prompt, [f"{a + 1}GV{b + 1}G{op}"]


def fam_comment_range(rng, words, split):
    lang = rng.choice(["py", "js"])
    lines, _ = code_snippet(rng, words, lang)
    a = rng.randrange(1, len(lines) + 1)
    b = rng.randrange(a, min(a + 2, len(lines)) + 1)
    mark, escaped = ("# ", "# ") if lang == "py" else ("// ", "\\/\\/ ")
    target = [mark + x if a - 1 <= i < b else x for i, x in enumerate(lines)]
    prompt = pick(rng, f"Comment out {span(a, b)} with `{mark.strip()}`.", f"Put `{mark}` in front of {span(a, b)}.")
    return lines, target, prompt, [f":{a},{b}s/^/{escaped}/<Enter>"]


def fam_delete_function(rng, words, split):
    lines, functions = code_snippet(rng, words, rng.choice(["py", "js"]))
    f, s, e = rng.choice(functions)
    if e + 1 < len(lines):  # take the blank line after it along
        e += 1
    else:
        s -= 1  # last function: take the blank line before it
    target = lines[:s] + lines[e + 1:]
    prompt = pick(rng, f"Delete the function `{f}` (lines {s + 1}-{e + 1}, with its blank line).",
                  f"Remove `{f}` and its blank line: lines {s + 1}-{e + 1}.")
    return lines, target, prompt, [f":{s + 1},{e + 1}d<Enter>"]


def _misspell(rng, word):
    i = rng.randrange(len(word) - 1)
    kind = rng.choice(["swap", "drop", "double"])
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def fam_fix_typo(rng, words, split):
    lines = text_buffer(rng, words, rng.randrange(3, 7))
    n, good = rng.choice([(i + 1, w) for i, x in enumerate(lines) for w in x.split() if w in words])
    # the misspelt word must not be another split's word either (a short word may have no such typo)
    typos = [t for t in {_misspell(rng, good) for _ in range(30)} if in_split(t, split)]
    if not typos:
        return fam_fix_typo(rng, words, split)
    bad = rng.choice(sorted(typos))
    lines = list(lines)
    lines[n - 1] = " ".join(bad if w == good else w for w in lines[n - 1].split())
    if lines[n - 1].count(bad) != 1:  # the typo must be unique on its line
        return fam_fix_typo(rng, words, split)
    target = list(lines)
    target[n - 1] = lines[n - 1].replace(bad, good)
    prompt = pick(rng, f"Fix the misspelt word `{bad}` on line {n}: it should be `{good}`.",
                  f"Line {n} has a typo: `{bad}` should read `{good}`.", f"Correct `{bad}` to `{good}` on line {n}.")
    return lines, target, prompt, [f":{n}s/{ex_subst(bad)}/{ex_subst(good)}/<Enter>"]


def fam_capitalise(rng, words, split):
    lines = text_buffer(rng, words, rng.randrange(3, 7))
    n = rng.randrange(len(lines)) + 1
    target = list(lines)
    target[n - 1] = lines[n - 1][0].upper() + lines[n - 1][1:]
    prompt = pick(rng, f"Capitalise the first letter of line {n}.", f"Line {n} should start with a capital letter.",
                  f"Make the first word of line {n} start with an upper-case letter.")
    return lines, target, prompt, [f"{n}G~"]


def fam_replace_phrase(rng, words, split):
    lines = text_buffer(rng, words, rng.randrange(3, 7))
    n = rng.randrange(len(lines)) + 1
    ws = lines[n - 1].split()
    k = rng.randrange(len(ws) - 1)
    old = " ".join(ws[k:k + 2])
    new = " ".join(rng.sample(words, 2))
    if lines[n - 1].count(old) != 1:
        return fam_replace_phrase(rng, words, split)
    target = list(lines)
    target[n - 1] = lines[n - 1].replace(old, new)
    prompt = pick(rng, f"Replace `{old}` with `{new}` on line {n}.", f"On line {n}, change the phrase `{old}` to `{new}`.")
    return lines, target, prompt, [f":{n}s/{ex_subst(old)}/{ex_subst(new)}/<Enter>"]


def fam_reorder_lines(rng, words, split):
    lines = text_buffer(rng, words, rng.randrange(3, 7))
    n = _adjacent_distinct(rng, lines)
    target = lines[:n - 1] + [lines[n], lines[n - 1]] + lines[n + 1:]
    prompt = pick(rng, f"Lines {n} and {n + 1} are in the wrong order: swap them.",
                  f"Reorder the text so line {n + 1} comes before line {n}.")
    return lines, target, prompt, [f"{n}Gddp"]


# -- drawing: shapes are lists of runs (row, col, n, ch), 0-based; the canvas is lines of spaces --------

def run_keys(runs_of_row):
    """Keys that draw one row's runs (sorted left to right) after the cursor is on that row."""
    keys, cursor = "", None
    for _, col, n, ch in runs_of_row:
        keys += "l" if cursor == col - 1 else f"{col + 1}|"
        if len(ch) > 1:  # text: typed over in Replace mode (`{n}s` would make the model count the text's length)
            keys += f"R{ch}<Esc>"
        else:
            keys += f"{n}r{ch}" if n > 1 else f"r{ch}"
        cursor = col + n - 1  # both leave the cursor on the run's last char
    return keys


def draw(lines, runs):
    out = [list(x) for x in lines]
    for row, col, n, ch in runs:
        out[row][col:col + n] = list(ch * n if len(ch) == 1 else ch)
    return ["".join(x) for x in out]


def shape_runs(kind, r, c, w, h, ch, word=""):
    if kind == "hline":
        return [(r, c, w, ch)]
    if kind == "vline":
        return [(r + i, c, 1, ch) for i in range(h)]
    if kind == "filled_rect":
        return [(r + i, c, w, ch) for i in range(h)]
    if kind == "hollow_rect":
        edge = [(r, c, w, ch), (r + h - 1, c, w, ch)]
        return edge[:1] + [x for i in range(1, h - 1) for x in ((r + i, c, 1, ch), (r + i, c + w - 1, 1, ch))] + edge[1:]
    if kind == "triangle":
        return [(r + i, c, i + 1, ch) for i in range(h)]
    if kind == "frame":
        top = [(r, c, 1, "+"), (r, c + 1, w - 2, "-"), (r, c + w - 1, 1, "+")]
        side = [x for i in range(1, h - 1) for x in ((r + i, c, 1, "|"), (r + i, c + w - 1, 1, "|"))]
        return top + side + [(r + h - 1, col, n, x) for _, col, n, x in top]
    if kind == "grid":
        row = " ".join(ch * w)
        return [(r + i, c, len(row), row) for i in range(h)]
    if kind == "banner":
        return [(r, c, len(word), word)]
    if kind == "framed_banner":
        w = len(word) + 4
        top = [(r, c, 1, "+"), (r, c + 1, w - 2, "-"), (r, c + w - 1, 1, "+")]
        return top + [(r + 1, c, w, f"| {word} |")] + [(r + 2, col, n, x) for _, col, n, x in top]
    raise ValueError(kind)


DRAW_PROMPTS = {
    "hline": ["Draw a horizontal line of {w} `{ch}` on row {R}, starting at column {C}.",
              "On row {R}, draw {w} `{ch}` in a row from column {C}."],
    "vline": ["Draw a vertical line of {h} `{ch}` in column {C}, from row {R} to row {R2}.",
              "In column {C}, put `{ch}` on rows {R} to {R2}."],
    "filled_rect": ["Draw a filled {w}x{h} rectangle of `{ch}` with its top-left corner at row {R}, column {C}.",
                    "Fill rows {R}-{R2}, columns {C}-{C2} with `{ch}` ({w} wide, {h} tall)."],
    "hollow_rect": ["Draw a hollow {w}x{h} rectangle of `{ch}` from row {R}, column {C} to row {R2}, column {C2}.",
                    "Draw the outline of a {w}-wide, {h}-tall box of `{ch}` covering rows {R}-{R2} and columns {C}-{C2}."],
    "triangle": ["Draw a right triangle of `{ch}` with {h} rows: row {R} has 1 `{ch}` at column {C}, each row below one more.",
                 "Starting at row {R}, column {C}, draw a {h}-row staircase triangle of `{ch}` (widths 1 to {h})."],
    "frame": ["Draw a {w}x{h} frame with `+` corners, `-` top and bottom and `|` sides, top-left at row {R}, column {C} "
              "(right side in column {C2}).",
              "Box rows {R}-{R2}, columns {C}-{C2} with a frame: `+` corners, `-` edges, `|` sides ({w} wide)."],
    "grid": ["Draw a grid of `{ch}`: {w} per row separated by single spaces ({L} characters), on rows {R}-{R2}, from column {C}.",
             "On rows {R} to {R2}, starting at column {C}, write {w} `{ch}` separated by spaces ({L} characters)."],
    "banner": ["Write `{word}` on row {R}, starting at column {C}.", "Put the text `{word}` at row {R}, column {C}."],
    "framed_banner": ["Write `{word}` in a framed banner ({L} wide, 3 tall, `+` corners, `-` edges, `| {word} |` in the "
                      "middle) with its top-left corner at row {R}, column {C}.",
                      "Draw a 3-row banner around `{word}`: `+` and {L2} `-` and `+` above and below, `| {word} |` "
                      "in between, top-left at row {R}, column {C}."],
}


def make_drawing(kind):
    def fam(rng, words, split):
        H, W = rng.randrange(5, 9), rng.randrange(16, 25)
        for _ in range(1000):
            ch = rng.choice(CANVAS_CHARS)
            word = rng.choice(words).upper() if "banner" in kind else ""
            # w: width (or count, for grid), h: rows; every draw is made each time, so the stream stays simple
            w = {"hline": rng.randrange(3, 11), "vline": 1, "triangle": 1, "grid": rng.randrange(2, 6),
                 "banner": len(word), "framed_banner": len(word) + 4}.get(kind, rng.randrange(3, 9))
            h = {"hline": 1, "banner": 1, "framed_banner": 3, "triangle": rng.randrange(2, 5)}.get(kind, rng.randrange(2, 5))
            width = {"grid": 2 * w - 1, "triangle": h}.get(kind, w)
            if kind in ("hollow_rect", "frame"):
                h = max(h, 3)
            if width > W or h > H:
                continue
            r, c = rng.randrange(H - h + 1), rng.randrange(W - width + 1)
            if in_split((kind, r, c, w, h, ch, word), split):
                break
        else:
            raise RuntimeError(f"no {kind} parameters found for split {split}")
        canvas = [" " * W for _ in range(H)]
        if rng.random() < 0.5:  # a partly filled canvas: some earlier drawing somewhere
            other = rng.choice([x for x in CANVAS_CHARS if x != ch])
            ow, orow = rng.randrange(2, 6), rng.randrange(H)
            canvas = draw(canvas, [(orow, rng.randrange(W - ow + 1), ow, other)])
        runs = shape_runs(kind, r, c, w, h, ch, word)
        target = draw(canvas, runs)
        steps = []
        for row in sorted({x[0] for x in runs}):  # one canvas row per step
            steps.append(f"{row + 1}G" + run_keys(sorted(x for x in runs if x[0] == row)))
        prompt = rng.choice(DRAW_PROMPTS[kind]).format(w=w, h=h, ch=ch, word=word, R=r + 1, C=c + 1, R2=r + h,
                                                        C2=c + width, L=width, L2=width - 2)
        return canvas, target, prompt, steps
    return fam


# Difficulty, measured with `sft.py --task vi --model-size cpu --steps 1500 --batch-size 32 --num-examples 6000`
# (a 1.6M-parameter char model from scratch; H100, ~2 min) and 20 greedy val episodes per family, two runs:
# "easy" families need only numbers copied from the instruction: 15-100% (runs differ a lot: 37% vs 18%
# overall, at the same val loss, depending on whether copying from the prompt was learned); "medium" need
# made-up words copied (0% in both runs) or two numbers placed right (move_line, hline: 0-25%); "hard" are
# the multi-step drawings (0-30%).
FAMILIES = {  # name: (difficulty, generator)
    "delete_line": ("easy", fam_delete_line),
    "duplicate_line": ("easy", fam_duplicate_line),
    "swap_lines": ("easy", fam_swap_lines),
    "append_text": ("easy", fam_append_text),
    "delete_range": ("easy", fam_delete_range),
    "join_lines": ("easy", fam_join_lines),
    "capitalise": ("easy", fam_capitalise),
    "reorder_lines": ("easy", fam_reorder_lines),
    "indent_block": ("easy", fam_indent_block),
    "comment_range": ("easy", fam_comment_range),
    "delete_function": ("easy", fam_delete_function),
    "copy_function": ("easy", fam_copy_function),
    "change_word": ("medium", fam_change_word),
    "fix_typo": ("medium", fam_fix_typo),
    "replace_phrase": ("medium", fam_replace_phrase),
    "rename_line": ("medium", fam_rename_line),
    "rename_all": ("medium", fam_rename_all),
    "insert_after": ("medium", fam_insert_after),
    "move_line": ("medium", fam_move_line),
    "hline": ("medium", make_drawing("hline")),
    "banner": ("medium", make_drawing("banner")),
    "vline": ("hard", make_drawing("vline")),
    "filled_rect": ("hard", make_drawing("filled_rect")),
    "hollow_rect": ("hard", make_drawing("hollow_rect")),
    "triangle": ("hard", make_drawing("triangle")),
    "frame": ("hard", make_drawing("frame")),
    "grid": ("hard", make_drawing("grid")),
    "framed_banner": ("hard", make_drawing("framed_banner")),
}


def edit_distance(a, b):
    """Levenshtein distance; the common prefix and suffix are stripped first (edits are local)."""
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    a, b = a[i:], b[i:]
    while a and b and a[-1] == b[-1]:
        a, b = a[:-1], b[:-1]
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def leaves_origin(lines, steps):
    """True when no expert step ends with the cursor at (0, 0), where every episode starts. The observation
    has no history, so this is what tells "not yet done" (cursor on 1|) from "done" (e.g. after `1Gdd`)."""
    env = VimEnv()
    env.reset(lines)
    for keys in steps:
        env.step(keys)
        if env.editor.cursor == (0, 0):
            return False
    return True


class ViEpisode:
    def __init__(self, task, example):
        self.task, self.example = task, example
        self.env = VimEnv()
        self.env.reset(example["lines"], tuple(example["cursor"]), example["prompt"])
        self.turns, self.parse_errors, self.truncated, self.done = 0, 0, 0, False
        self.commands = []

    def observation(self):
        return self.env.observation()

    def step(self, completion):
        if self.done:
            raise RuntimeError("step() after the episode ended")
        keys, truncated = parse_command(completion)
        self.truncated += truncated
        self.commands.append(keys)
        if keys:
            _, info = self.env.step(keys)
            self.parse_errors += info["error"] is not None
        self.turns += 1
        self.done = keys == "" or self.turns >= self.task.max_turns
        return self.env.observation(), self.done

    def reward(self):
        """1.0 for the exact target; else 0.5 x progress, where progress is the fraction of the start's edit
        distance to the target that was closed, floored at 0: doing nothing and doing damage both earn 0 (a
        negative score for a wrong edit would teach GRPO that doing nothing is safest). Minus 0.1 per
        command with a key parse error."""
        final, target, start = self.env.text(), "\n".join(self.example["target"]), "\n".join(self.example["lines"])
        exact = float(final == target)
        d0 = edit_distance(start, target)
        if exact:
            progress = 1.0
        elif abs(len(final) - len(target)) >= d0:
            # distance >= length gap >= d0: no progress, and no quadratic distance on a buffer blown up by `9999p`
            progress = 0.0
        else:
            progress = max(0.0, (d0 - edit_distance(final, target)) / d0)
        total = (1.0 if exact else 0.5 * progress) - 0.1 * self.parse_errors
        return total, {"success": exact, "exact": exact, "similarity": progress, "parse_errors": float(self.parse_errors)}

    def answer(self):
        return self.env.text()

    def info(self):
        return {"final": self.env.text(), "target": "\n".join(self.example["target"]), "commands": self.commands,
                "parse_errors": self.parse_errors, "truncated": self.truncated, "mode": self.env.editor.mode}

    def close(self):
        pass


class ViTask:
    name = "vi"
    style = "reprompt"
    special_tokens = SPECIAL_TOKENS
    stop_tokens = [END]
    max_turns = 6  # the longest demo (a 4-row drawing) is 4 commands + the empty "done"
    max_new_tokens = 64
    families = {name: difficulty for name, (difficulty, _) in FAMILIES.items()}
    # What stages train on by default (--families auto): a 0.8M model learns the easy families in 10 CPU
    # minutes but not the copy-a-word or drawing ones; pass --families all on a GPU.
    default_families = "easy"

    def examples(self, split, n, seed=0, families=None):
        """n examples of `split`, cycling through `families` (default: all) in order; deterministic."""
        if split not in SPLIT_OF:
            raise ValueError(f"split must be one of {list(SPLIT_OF)}, got {split!r}")
        families = list(families or FAMILIES)
        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown families {unknown}; known: {list(FAMILIES)}")
        out = []
        for i in range(n):
            family = families[(i + seed) % len(families)]  # offset by seed: small draws (a GRPO step) still cover every family
            difficulty, generate = FAMILIES[family]
            rng = random.Random(f"vi:{split}:{seed}:{i}")
            words = split_words(rng, split, 12)  # this example's vocabulary
            lines, target, prompt, steps = generate(rng, words, split)
            while not leaves_origin(lines, steps):
                lines, target, prompt, steps = generate(rng, words, split)
            out.append({"id": f"vi-{split}-{seed}-{i}", "family": family, "difficulty": difficulty, "split": split,
                        "prompt": prompt, "lines": lines, "cursor": [0, 0], "target": target, "expert": steps})
        return out

    def reset(self, example):
        return ViEpisode(self, example)

    def demo(self, example):
        """One [(observation, False), (keys + "</command>", True)] sequence per step, the last one empty ("done").
        Replayed through the env as it is built: a demo that misses the target raises."""
        episode = self.reset(example)
        sequences = []
        for keys in example["expert"] + [""]:
            sequences.append([(episode.observation(), False), (keys + END, True)])
            episode.step(keys + END)
        if episode.answer() != "\n".join(example["target"]) or episode.parse_errors:
            raise AssertionError(f"demo of {example['id']} ({example['family']}) misses the target: "
                                 f"{episode.answer()!r} != {chr(10).join(example['target'])!r}")
        return sequences


TASKS = {"vi": ViTask()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--serve", action="store_true", help="run the HTTP server")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    p.add_argument("--port", type=int, default=8765, help="port to bind")
    p.add_argument("--max-sessions", type=int, default=256, help="sessions kept; the least recently used is evicted")
    p.add_argument("--show", type=int, default=0, help="print this many examples with their demo keys")
    p.add_argument("--split", default="train", help="split for --show")
    args = p.parse_args()
    if args.show:
        task = TASKS["vi"]
        for ex in task.examples(args.split, args.show):
            for seq in task.demo(ex):
                print(seq[0][0] + seq[1][0] + "\n")
            print("-" * 60)
    if args.serve:
        server = make_server(args.host, args.port, args.max_sessions)
        print(f"serving ViLM sessions on http://{args.host}:{server.server_address[1]}", flush=True)
        server.serve_forever()
    if not (args.show or args.serve):
        p.print_help()


if __name__ == "__main__":
    main()
