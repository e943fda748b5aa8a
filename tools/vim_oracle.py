"""Real Vim as the oracle for vi_editor.py: a batch harness, a random case generator, a golden corpus.

`run_vim(cases)` replays thousands of (buffer, cursor, keys) cases in ONE headless Vim 9 process
and returns the buffer, cursor and mode each one leaves. How it stays faithful to a user typing:
1) Keys go through `feedkeys(..., 't')`, so Vim treats them as typed: a failing command beeps, and
   the keys after it still run (keys fed without 't' count as mapped and are flushed on a beep).
2) Nothing runs with feedkeys' 'x' flag (which behaves like `:normal` and ends Insert mode at the
   end of the keys); the cases are a chain through Vim's main loop: each case's keys end in
   `<Cmd>call OracleRecord()<CR>`, which snapshots the state in whatever mode the keys left
   (Insert, Visual, Operator-pending...), then feeds `<C-\\><C-N>` and the next case.
3) Cases are independent: the buffer is set with 'undolevels' at -1 (empties the undo history);
   registers are emptied (and made characterwise, as never-set ones are); marks, jumps, folds and
   a recording are cleared. What Vim cannot clear is set to something inert: the last search
   pattern and the last f/t target become CTRL-A, which no case buffer holds, so `n` and `;` fail
   as they do in a fresh Vim; and the last change (`.`) becomes "d`q" (made on a scratch line
   before each case, then mark q is deleted), whose repeat fails on the unset mark and changes
   nothing, like `.` in a fresh Vim. (Not a failing search or f/t: their repeat would overwrite
   the case's own last search or f/t target.) An empty Insert session empties the replace stack,
   which a UTF-8 Vim's `r` fills and only the end of an Insert/Replace session empties (a later
   `R<BS>` would put back a character a previous case's `r` replaced).
4) Nothing can stall the chain: no hit-enter prompt ('columns' wide, 'report' high, 'shortmess',
   'nomore'), no 1-second wait after an error message ('noshowmode'), TERM=dumb and an <Ignore>
   after each <Esc>, so Esc and the next keys never form a terminal key code (`<Esc>OA` stays
   Esc, O, A; `<Esc>}` is not a mouse click), stray keys cannot reach Ex mode or quit (DRIVER).
   If Vim still stops (keys that end mid-command like `r`, or a backwards Ex range, which asks
   "OK to swap (y/n)?" and which the generator never writes), a watchdog kills it, that case gets
   an "error" result, and the batch resumes after it.
`selfcheck` verifies 1)-4): one Vim for all cases must equal a fresh Vim per case (0/1000 differ),
and `selfcheck --typed` that it equals keys typed one by one into an interactive Vim on a pty
(0/300 differ).
The key notation is ViLM's: literal characters plus <Esc> <Enter> <Tab> <BS> <C-r> <lt>.

Commands:
    python tools/vim_oracle.py record --n 3000 --seed 1 --out tests/data/vim_golden.jsonl
    python tools/vim_oracle.py diff --n 5000 --seed 2 --show 10     # live: Vim vs vi_editor
    python tools/vim_oracle.py diff --n 3000 --seed 21 --replace     # ... with R (Replace mode) commands too
    python tools/vim_oracle.py diff --replay tests/data/vim_golden.jsonl
    python tools/vim_oracle.py selfcheck --n 1000                   # the harness against itself
"""

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root
try:
    from vi_editor import VIM_OPTIONS
except ImportError:  # the harness must not need the engine it checks
    VIM_OPTIONS = ("noautoindent nosmartindent nocindent indentexpr= nojoinspaces expandtab shiftwidth=4 "
                   "tabstop=4 softtabstop=0 backspace=indent,eol,start nohlsearch noincsearch noignorecase "
                   "magic wrapscan")

VIM_CMD = ["vim", "-u", "NONE", "-N", "-i", "NONE", "-n", "--not-a-term"]
# <Ignore> (a key Vim skips in every mode) after <Esc>: even on TERM=dumb, Vim knows mouse key codes
# that start with Esc (<Esc>} is <NetMouse>, <Esc>[ <DecMouse>), and keys fed in one go would match them.
SPECIAL_KEYS = {"Esc": r"\<Esc>\<Ignore>", "Enter": r"\<CR>", "Tab": r"\<Tab>", "BS": r"\<BS>", "C-r": r"\<C-r>",
                "lt": "<"}
KEY_NAME = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)>")
# Vim's mode(1) -> the mode names vi_editor uses (first match wins).
MODES = [("no", "Operator-pending"), ("n", "Normal"), ("i", "Insert"), ("v", "Visual"), ("V", "Visual Line"),
         ("\x16", "Visual Block"), ("R", "Replace"), ("c", "Command-line"), ("r", "Prompt"), ("s", "Select"),
         ("S", "Select"), ("t", "Terminal")]

DRIVER = r"""
set nomore noshowmode report=9999 shortmess=aoOstTWAIcFS columns=250 lines=25 belloff=all
" Keys that a failed motion turns into Normal commands ("c/pat<Enter>quick" runs q, u, i...) must not
" leave the harness: no Ex mode, command-line window, keyword program or quitting.
for lhs in ['Q', 'gQ', 'K', 'ZZ', 'ZQ', 'q:', 'q/', 'q?']
  exe 'nnoremap ' . lhs . ' <Nop>'
endfor
exe 'set ' . g:oracle_options
let s:cases = json_decode(join(readfile(g:oracle_in), "\n"))
let s:i = 0
let s:registers = split('abcdefghijklmnopqrstuvwxyz0123456789-"', '\zs')

" The scratch line for the neutral change (module docstring, point 3); its keys follow at top level.
function! OracleNeutral() abort
  if s:i >= len(s:cases)
    qall!
  endif
  call setline(1, ["xy"])
  if line('$') > 1
    silent 2,$delete _
  endif
  call setpos("'q", [0, 1, 2, 0])
  call cursor(1, 1)
endfunction

function! OracleSetup() abort
  let c = s:cases[s:i]
  let undolevels = &undolevels
  set undolevels=-1
  silent %delete _
  call setline(1, c.lines)
  let &undolevels = undolevels
  " Empty and characterwise, as never-set registers are: '' would hold one empty line, and an empty
  " list keeps the old type (a linewise type makes Visual-mode p split the line).
  for r in s:registers
    call setreg(r, 'x', 'c')
    call setreg(r, [], 'c')
  endfor
  " A pattern no case buffer can match: `n` fails as it does before any search (E35).
  let @/ = "\<C-a>"
  let v:searchforward = 1
  call setcharsearch({'char': "\<C-a>", 'forward': 1, 'until': 0})
  delmarks! | delmarks A-Z0-9
  clearjumps
  normal! zE
  call setpos('.', [0, c.row + 1, c.col + 1, 0, c.col + 1])
  call feedkeys(eval('"' . c.keys . '"') . "\<Cmd>call OracleRecord()\<CR>", 't')
endfunction

function! OracleRecord() abort
  let state = {'i': s:i, 'mode': mode(1), 'lines': getline(1, '$'), 'row': line('.') - 1, 'col': col('.') - 1}
  call writefile([json_encode(state)], g:oracle_out, 'a')
  let s:i += 1
  " q ends a recording that stray keys started ("c/pat<Enter>quick" records into register u).
  let stop = reg_recording() == '' ? '' : 'q'
  " i<C-\><C-N>: an empty Insert session, to empty the replace stack (module docstring, point 3)
  call feedkeys("\<C-\>\<C-N>" . stop . "\<Cmd>call OracleNeutral()\<CR>i\<C-\>\<C-N>d`q"
        \ . "\<Cmd>call OracleSetup()\<CR>", 't')
endfunction

call feedkeys("\<Cmd>call OracleNeutral()\<CR>d`q\<Cmd>call OracleSetup()\<CR>", 't')
"""


def vim_keys(keys: str) -> str:
    """ViLM keys -> the body of a Vim double-quoted string (evaluated by the driver)."""
    out, i = [], 0
    while i < len(keys):
        m = KEY_NAME.match(keys, i) if keys[i] == "<" else None
        if m:
            if m.group(1) not in SPECIAL_KEYS:
                raise ValueError(f"unknown key <{m.group(1)}> at offset {i} in {keys!r}")
            out.append(SPECIAL_KEYS[m.group(1)])
            i = m.end()
            continue
        c = keys[i]
        if not (" " <= c <= "~"):
            raise ValueError(f"non-printable character {c!r} at offset {i} in {keys!r}; use <Enter>/<Tab>/...")
        out.append("\\" + c if c in '\\"' else c)
        i += 1
    return "".join(out)


def mode_name(vim_mode: str) -> str:
    return next((name for prefix, name in MODES if vim_mode.startswith(prefix)), f"unknown({vim_mode!r})")


def check_case(case: dict) -> None:
    lines, cursor = case.get("lines"), case.get("cursor")
    if not isinstance(lines, list) or not lines or not all(isinstance(s, str) for s in lines):
        raise ValueError(f"case lines must be a non-empty list of str (an empty buffer is ['']), got {lines!r}")
    if any(not all(" " <= ch <= "~" for ch in s) for s in lines):
        raise ValueError(f"case lines must be printable ASCII without tabs/newlines: {lines!r}")
    if not (isinstance(cursor, (list, tuple)) and len(cursor) == 2 and 0 <= cursor[0] < len(lines)
            and 0 <= cursor[1] <= max(len(lines[cursor[0]]) - 1, 0)):
        raise ValueError(f"case cursor {cursor!r} is not on a character of {lines!r}")
    if not isinstance(case.get("keys"), str):
        raise ValueError(f"case keys must be a str, got {case.get('keys')!r}")


def run_vim(cases: list[dict], vim_cmd: list[str] = VIM_CMD, timeout: float = 5.0) -> list[dict]:
    """[{"lines", "cursor" (0-based), "keys" (ViLM)}] -> [{"lines", "cursor", "mode", "vim_mode"}] from real Vim.
    A case after which the chain breaks (Vim quit or crashed) gets {"error": ...}; the run resumes after it."""
    for case in cases:
        check_case(case)
    payload = [{"lines": c["lines"], "row": c["cursor"][0], "col": c["cursor"][1], "keys": vim_keys(c["keys"])}
               for c in cases]
    results: list[dict | None] = [None] * len(cases)
    start = 0
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: os.path.join(tmp, name) for name in ("in.json", "out.jsonl", "driver.vim")}
        with open(paths["driver.vim"], "w") as f:
            f.write(DRIVER)
        while start < len(cases):
            with open(paths["in.json"], "w") as f:
                json.dump(payload[start:], f)
            open(paths["out.jsonl"], "w").close()
            setup = (f"let g:oracle_in = '{paths['in.json']}' | let g:oracle_out = '{paths['out.jsonl']}'"
                     f" | let g:oracle_options = '{VIM_OPTIONS}'")
            # stdin is a pipe that stays open and silent: all keys come from the typeahead, and Vim
            # must never see EOF (it polls its input now and then, e.g. to check for CTRL-C).
            stdin_r, stdin_w = os.pipe()
            proc = subprocess.Popen(vim_cmd + ["--cmd", setup, "-S", paths["driver.vim"]], stdin=stdin_r,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
                                    env={**os.environ, "TERM": "dumb"})
            # A watchdog on progress, not on the whole run: Vim is stuck once no case finished for `timeout` s.
            size, last_progress = 0, time.time()
            while proc.poll() is None and time.time() - last_progress < timeout:
                time.sleep(0.05)
                if os.path.getsize(paths["out.jsonl"]) != size:
                    size, last_progress = os.path.getsize(paths["out.jsonl"]), time.time()
            if proc.poll() is None:  # typically keys that end waiting for a character
                proc.kill()
                why = "timed out: do the keys end mid-command, after r, f, t, m, ', \", g, z or q?"
            else:
                why = f"Vim exited with {proc.returncode}"
            proc.wait()
            os.close(stdin_r), os.close(stdin_w)
            with open(paths["out.jsonl"]) as f:
                done = [json.loads(line) for line in f]
            for state in done:
                results[start + state["i"]] = {"lines": state["lines"], "cursor": [state["row"], state["col"]],
                                               "mode": mode_name(state["mode"]), "vim_mode": state["mode"]}
            start += len(done)
            if start < len(cases):
                results[start] = {"error": f"Vim stopped during this case ({why})"}
                start += 1
    return results


TYPED_DRIVER = r"""
set nomore noshowmode report=9999 shortmess=aoOstTWAIcFS belloff=all
exe 'set ' . g:oracle_options
set undolevels=-1
call setline(1, g:oracle_case.lines)
set undolevels&
call setpos('.', [0, g:oracle_case.row + 1, g:oracle_case.col + 1, 0, g:oracle_case.col + 1])
function! OracleRecord() abort
  let state = {'mode': mode(1), 'lines': getline(1, '$'), 'row': line('.') - 1, 'col': col('.') - 1}
  call writefile([json_encode(state)], g:oracle_out)
  qall!
endfunction
for m in ['n', 'x', 'o', 'i', 'c']
  exe m . 'noremap <C-_> <Cmd>call OracleRecord()<CR>'
endfor
"""
TYPED_BYTES = {"Esc": "\x1b", "Enter": "\r", "Tab": "\t", "BS": "\x08", "C-r": "\x12", "lt": "<"}


def run_vim_typed(case: dict, delay: float = 0.002) -> dict:
    """One case typed key by key into a fresh interactive Vim on a pseudo-terminal, then CTRL-_ (mapped
    in every mode) records the state. Slow; it checks that run_vim's feedkeys chain equals typing."""
    import pty
    import select
    check_case(case)
    keys = "".join(TYPED_BYTES[t[1:-1]] if len(t) > 1 else t for t in re.findall(r"<(?:%s)>|." % "|".join(
        re.escape(k) for k in TYPED_BYTES), case["keys"], re.S)) + "\x1f"
    with tempfile.TemporaryDirectory() as tmp:
        out, driver = os.path.join(tmp, "out.json"), os.path.join(tmp, "typed.vim")
        with open(driver, "w") as f:
            f.write(TYPED_DRIVER)
        g = {"lines": case["lines"], "row": case["cursor"][0], "col": case["cursor"][1]}
        setup = (f"let g:oracle_case = {json.dumps(g)} | let g:oracle_out = '{out}'"
                 f" | let g:oracle_options = '{VIM_OPTIONS}'")
        master, slave = pty.openpty()
        proc = subprocess.Popen(VIM_CMD[:-1] + ["--cmd", setup, "-S", driver], stdin=slave, stdout=slave, stderr=slave,
                                cwd=tmp, env={**os.environ, "TERM": "dumb"}, start_new_session=True)
        os.close(slave)

        def drain(wait):  # read Vim's screen output so it never blocks; False once Vim has gone
            try:
                while select.select([master], [], [], wait)[0]:
                    os.read(master, 65536)
                return True
            except OSError:
                return False

        drain(0.3)  # let Vim start and draw: keys typed before it sets up the terminal can be lost
        for ch in keys:
            os.write(master, ch.encode())
            drain(delay)
        deadline = time.time() + 5
        while proc.poll() is None and time.time() < deadline and drain(0.05):
            pass
        proc.kill(), proc.wait(), os.close(master)
        if not os.path.exists(out):
            return {"error": "typed run did not record (keys ending mid-command?)"}
        with open(out) as f:
            state = json.load(f)
    return {"lines": state["lines"], "cursor": [state["row"], state["col"]], "mode": mode_name(state["mode"]),
            "vim_mode": state["mode"]}


# ---------------------------------------------------------------------------------------------
# Random cases. A case = a random buffer + cursor + 1-12 commands; each command is a unit of keys
# (a motion, an operator with its motion, an insert with its text and <Esc>, a Visual selection
# with its operator, an Ex line...) and the kinds it exercises, for the per-kind breakdown.

WORDS = ("foo bar baz qux name value count index item list data self result total size key error line text "
         "hello world alpha beta x y i j n s ok tmp len max min get set add new old end").split()
PROSE = ("the a quick brown fox jumps over lazy dog and then it was not to be or of in on at "
         "we will see how far this goes when you edit text with vi keys every day").split()
IDENTS = WORDS + ["my_var", "getValue", "MAX_SIZE", "x1", "_private", "fooBar", "n2"]
PUNCT = ",.;:!?-+*/=()[]{}<>'\"`_#@$%&|^~\\"


def rand_code_line(rng: random.Random) -> str:
    ind = " " * rng.choice([0, 0, 0, 2, 4, 4, 8, 12])
    a, b, c = rng.choice(IDENTS), rng.choice(IDENTS), rng.choice(IDENTS)
    s = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
    templates = [
        f"def {a}({b}, {c}):", f"function {a}({b}) {{", f"if ({a} == \"{s}\") {{", f"}} else {{", "}", "};",
        f"{a} = [{b}, {c}]", f"return {a}({b}[{c}], '{s}')", f"let {a} = {{{b}: \"{s}\", {c}: {rng.randint(0, 99)}}};",
        f"print(\"{s}\")", f"# {s}", f"// {s} <{b}>", f"{a} < {b} && {c} > {rng.randint(0, 9)}",
        f"for ({a} = 0; {a} < {b}.length; {a}++) {{", f"{a}.{b}({c}, ({s!r}));", f"<{a} {b}=\"{s}\">{c}</{a}>",
        f"x = ((1 + {a}) * [{b}])", f"{a}: {s}", f"{a}(\"{s}\", '{b}', `{c}`)", f"if {a} and not {b}:",
    ]
    line = ind + rng.choice(templates)
    if rng.random() < 0.1:  # unbalanced brackets and stray quotes happen in real edits
        line = line.replace(rng.choice("()[]{}\"'"), "", 1)
    return line


def rand_prose_line(rng: random.Random) -> str:
    words = [rng.choice(PROSE) for _ in range(rng.choice([1, 3, 6, 10, 16, 24]))]
    if rng.random() < 0.3:
        words[0] = words[0].capitalize()
    line = " ".join(words)
    if rng.random() < 0.2:
        i = rng.randrange(len(line) + 1)
        line = line[:i] + rng.choice(PUNCT) + line[i:]
    return line + rng.choice(["", "", ".", ",", "!", "?", " -- ok", "  "])


def rand_buffer(rng: random.Random) -> list[str]:
    r = rng.random()
    if r < 0.04:
        return [""]
    n = rng.choice([1, 2, 3, 4, 5, 6, 8, 10, 14])
    style = rng.choice(["code", "code", "prose", "mixed"])
    lines = []
    for _ in range(n):
        if rng.random() < 0.15:
            lines.append(rng.choice(["", "", " ", "    "]))
        elif style == "code" or (style == "mixed" and rng.random() < 0.5):
            lines.append(rand_code_line(rng))
        else:
            lines.append(rand_prose_line(rng))
    return lines


class Gen:
    """State for one case's command generation: the initial buffer (for chars/words to target),
    and the marks and registers set so far (so `'a` and `"ap` usually refer to something)."""

    def __init__(self, rng: random.Random, lines: list[str], replace: bool = False):
        self.rng, self.lines = rng, lines
        self.replace = replace  # half the insert commands become R (off: the stream of cases is unchanged)
        self.text = "\n".join(lines)
        self.marks, self.registers = [], []
        self.counted = False  # did the current command get a count?

    def count(self, p=0.25, hi=5) -> str:
        if self.rng.random() >= p:
            return ""
        self.counted = True
        return str(self.rng.randint(2, hi))

    def char(self) -> str:
        """A target for f/t/r: usually a character of the buffer, sometimes any printable one."""
        chars = [c for c in self.text if c not in "\n"]
        if chars and self.rng.random() < 0.85:
            return self.rng.choice(chars)
        return self.rng.choice("abcdefxyz0123(){}[]\"' .,;:<>")

    def literal(self, text: str) -> str:
        """Text as ViLM keys: a < is written <lt> where it would start a <Name>, else either way."""
        return "".join("<lt>" if c == "<" and (KEY_NAME.match(text, i) or self.rng.random() < 0.5) else c
                       for i, c in enumerate(text))

    def typed_text(self) -> tuple[str, list[str]]:
        """Text typed in Insert mode, with <Enter>, <Tab>, <BS> now and then."""
        rng, out, kinds = self.rng, [], []
        for _ in range(rng.choice([1, 1, 2, 3, 4])):
            r = rng.random()
            if r < 0.1:
                out.append("<Enter>"), kinds.append("<Enter>(insert)")
            elif r < 0.16:
                out.append("<Tab>"), kinds.append("<Tab>(insert)")
            elif r < 0.26:
                out.append("<BS>" * rng.randint(1, 3)), kinds.append("<BS>(insert)")
            else:
                word = rng.choice(WORDS + PROSE + ["(x)", "[1, 2]", "{a}", "\"s\"", "'c'", " ", "  ", "<p>", "a.b"])
                out.append(self.literal(word + rng.choice(["", " ", " ", ", "])))
        return "".join(out), kinds

    def search_pattern(self, delim="/") -> tuple[str, list[str]]:
        """A pattern built from buffer text (so it usually matches) with Vim regex atoms mixed in.
        delim is the character that ends the pattern (/ or ?), so it is escaped inside."""
        rng = self.rng
        words = re.findall(r"[A-Za-z_]\w*", self.text) or WORDS
        w = rng.choice(words)
        r = rng.random()
        if r < 0.35:
            if self.text.strip() and rng.random() < 0.5:  # a literal substring, specials escaped
                line = rng.choice([s for s in self.lines if s.strip()])
                i = rng.randrange(len(line))
                frag = line[i:i + rng.randint(1, 5)]
                return "".join("\\" + c if c in "\\.*[]~^$" + delim else c for c in frag), ["search:literal"]
            return w, ["search:literal"]
        atoms = [
            (lambda: w[:1] + "." + w[2:] if len(w) > 2 else w + ".", "search:."),
            (lambda: w + "*", "search:*"), (lambda: "^" + rng.choice(["", " *"]) + w, "search:^"),
            (lambda: w + "$", "search:$"),
            (lambda: "[" + "".join(rng.sample("abcdefxyz_(", 3)) + "]" + w[:2], "search:[]"),
            (lambda: "\\<" + w + "\\>", "search:\\<\\>"), (lambda: "\\<" + w[:2], "search:\\<"),
            (lambda: w[:3] + "\\>", "search:\\>"),
            (lambda: rng.choice(["(", "\\[", "{", "\\.", "\""]), "search:escape"),
            (lambda: "[0-9]", "search:[]"), (lambda: "x\\|y", "search:\\|"),
        ]
        make, kind = rng.choice(atoms)
        return make(), [kind]

    def motion(self) -> tuple[str, list[str]]:
        rng = self.rng
        n_lines = len(self.lines)
        r = rng.random()
        if r < 0.50:
            if rng.random() < 0.8:
                m = rng.choice("hjklwbeWBE")
            else:
                m = rng.choice(["ge", "0", "^", "$", "+", "-", "_", "<Enter>"])
            c = "" if m == "0" else self.count()
            return c + m, [m]
        if r < 0.62:
            m = rng.choice("fFtT")
            ch = self.char()
            return self.count(0.15, 3) + m + self.literal(ch), [m]
        if r < 0.67:
            m = rng.choice([";", ";", ","])
            return self.count(0.1, 3) + m, [m]
        if r < 0.79:
            m = rng.choice(["gg", "G", "G", "%", "{", "}", "|"])
            if m in ("gg", "G") and rng.random() < 0.5:
                return str(rng.randint(1, n_lines + 2)) + m, ["{count}" + m]
            if m in "{}":
                return self.count(0.2, 3) + m, [m]
            if m == "|":
                return str(rng.randint(1, 30)) + "|", ["|"]
            return m, [m]
        if r < 0.89:
            d = rng.choice("/?")
            pat, kinds = self.search_pattern(d)
            return d + pat + "<Enter>", [d] + kinds
        if r < 0.95:
            return self.count(0.15, 3) + rng.choice(["n", "n", "N", "*", "#"]), ["n/N/*/#"]
        if self.marks and rng.random() < 0.85:
            mark = rng.choice(self.marks)
        else:
            mark = rng.choice("abcz")
        q = rng.choice(["'", "`"])
        return q + mark, [q + "mark"]

    def text_object(self) -> tuple[str, list[str]]:
        obj = self.rng.choice("iw aw iW aW i\" a\" i' a' i( a( ib ab i[ a[ i{ a{ iB aB i< a< ip ap".split())
        return self.count(0.1, 2) + self.literal(obj), [obj]

    def register(self, p=0.15) -> tuple[str, list[str]]:
        if self.rng.random() >= p:
            return "", []
        r = self.rng.choice("abcxyz" * 2 + "ABC" + "0123456789-")
        return '"' + r, ['"reg']

    def command(self, last: bool) -> tuple[str, list[str]]:
        rng = self.rng
        r = rng.random()
        if r < 0.30:  # a bare motion
            return self.motion()
        if r < 0.50:  # operator + motion / text object / doubled
            reg, kinds = self.register()
            op = rng.choice(["d", "d", "d", "c", "c", "y", "y", ">", "<", "g~", "gu", "gU"])
            form = rng.random()
            if form < 0.2 and op in "dcy><":  # dd cc yy >> <<
                tk = [op + op]
                body = self.count(0.3) + op + op
            elif form < 0.55:
                target, tk = self.text_object()
                body = self.count(0.1, 3) + op + target
            else:
                target, tk = self.motion()
                body = self.count(0.15, 3) + op + target
            if op == "y" and reg:
                self.registers.append(reg[1].lower())
            keys = reg + body
            kinds = kinds + ["op:" + op] + tk
            if op == "c":
                text, ik = self.typed_text()
                keys += text + ("" if last and rng.random() < 0.25 else "<Esc>")
                kinds += ik
            return keys, kinds
        if r < 0.65:  # one-key edits
            reg, kinds = self.register(0.1)
            cmd = rng.choice(["x", "x", "x", "X", "s", "S", "r", "r", "C", "D", "Y", "p", "p", "P", "P", "J", "J", "~"])
            if cmd in "pP" and self.registers and not reg and rng.random() < 0.4:
                reg = '"' + rng.choice(self.registers)
                kinds = ['"reg']
            keys = reg + self.count(0.25, 4) + cmd
            kinds = kinds + [cmd]
            if cmd == "r":
                keys += self.literal(self.char()) if rng.random() < 0.95 else "<Enter>"
            if cmd in "sSC":
                text, ik = self.typed_text()
                keys += text + ("" if last and rng.random() < 0.25 else "<Esc>")
                kinds += ik
            return keys, kinds
        if r < 0.77:  # insert commands
            cmd = "R" if self.replace and rng.random() < 0.5 else rng.choice("iiaaIAoO")
            text, ik = self.typed_text()
            end = "" if last and rng.random() < 0.3 else "<Esc>"
            return self.count(0.1, 3) + cmd + text + end, ["insert:" + cmd] + ik + ([] if end else ["ends-insert"])
        if r < 0.85:  # Visual mode: v/V, motions (and o), then an operator or left open
            v = rng.choice("vvV")
            keys, kinds = v, ["visual:" + v]
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.15:
                    keys, kinds = keys + "o", kinds + ["visual:o"]
                elif v == "v" and rng.random() < 0.2:
                    t, tk = self.text_object()
                    keys, kinds = keys + t, kinds + tk
                else:
                    m, mk = self.motion()
                    keys, kinds = keys + m, kinds + mk
            if last and rng.random() < 0.3:
                return keys, kinds + ["ends-visual"]
            op = rng.choice(["d", "d", "x", "c", "y", "y", ">", "<", "~", "u", "U", "J", "p", "<Esc>"])
            reg, rk = self.register(0.1) if op in ("d", "x", "y", "c", "p") else ("", [])
            keys = keys + reg + op
            kinds = kinds + rk + ["visual-op:" + op]
            if op == "c":
                text, ik = self.typed_text()
                keys += text + "<Esc>"
                kinds += ik
            return keys, kinds
        if r < 0.91:  # undo, redo, repeat
            cmd = rng.choice(["u", "u", "<C-r>", ".", ".", "."])
            return self.count(0.15, 3) + cmd, [cmd]
        if r < 0.94:  # marks
            mark = rng.choice("abcz")
            self.marks.append(mark)
            return "m" + mark, ["m"]
        return self.ex()

    def ex(self) -> tuple[str, list[str]]:
        rng, n = self.rng, len(self.lines)

        def line_no():
            return rng.choice([str(rng.randint(1, n + 1)), ".", "$", str(rng.randint(1, n))])

        def rng_range():
            r = rng.random()
            if r < 0.4:
                return ""
            if r < 0.55:
                return "%"
            if r < 0.75:
                return line_no()
            a, b = sorted([rng.randint(1, n), rng.randint(1, n)])
            # never backwards ("5,$" on a 3-line buffer): Vim would ask "OK to swap (y/n)?"
            return rng.choice([f"{a},{b}", ".,$", f"{a},{b + 1}"])

        r = rng.random()
        if r < 0.25:
            return ":" + str(rng.randint(1, n + 2)) + "<Enter>", [":N"]
        if r < 0.6:
            pat, pk = self.search_pattern()
            rep = rng.choice(["", "X", "foo", "(&)", "\\0!", "a b", "new_" + rng.choice(WORDS)])
            flags = rng.choice(["", "g", "g"])
            ex_range = rng_range()
            kind = ":%s" if ex_range == "%" else ":s"
            return f":{ex_range}s/{pat}/{rep}/{flags}<Enter>", [kind] + pk
        if r < 0.75:
            return f":{rng_range()}d<Enter>", [":d"]
        cmd = rng.choice(["m", "t", "co"])
        return f":{rng_range()}{cmd} {rng.choice(['0', '$', '.', str(rng.randint(0, n))])}<Enter>", [":" + cmd]


def escape_lt(cmds: list[str]) -> list[str]:
    """Commands are written one by one, so a literal < (the < operator, a typed <) can form a <Name>
    with the keys after it, even in the next command ("<h" + "l>"); write those as <lt>."""
    tokens = []  # (command index, token): a special key name, <lt>, or one literal character
    for ci, cmd in enumerate(cmds):
        i = 0
        while i < len(cmd):
            m = KEY_NAME.match(cmd, i) if cmd[i] == "<" else None
            m = m if m and m.group(1) in SPECIAL_KEYS else None
            tokens.append((ci, m.group(0) if m else cmd[i]))
            i = m.end() if m else i + 1
    out, tail = [""] * len(cmds), ""
    for ci, tok in reversed(tokens):  # right to left, so the keys after each < are final
        if tok == "<" and KEY_NAME.match(tok + tail):
            tok = "<lt>"
        out[ci], tail = tok + out[ci], tok + tail
    return out


def random_case(rng: random.Random, replace: bool = False) -> dict:
    """{"lines", "cursor", "keys", "cmds" (keys of each command), "cmd_kinds" (kinds of each command),
    "kinds" (all kinds used, sorted)}."""
    lines = rand_buffer(rng)
    row = rng.randrange(len(lines))
    cursor = [row, rng.randrange(max(len(lines[row]), 1))]
    gen = Gen(rng, lines, replace)
    n_cmds = rng.choice([1, 1, 2, 2, 3, 4, 5, 6, 8, 10, 12])
    cmds, cmd_kinds = [], []
    for i in range(n_cmds):
        gen.counted = False
        keys, kinds = gen.command(last=i == n_cmds - 1)
        cmds.append(keys)
        cmd_kinds.append(sorted(set(kinds + ["count"] * gen.counted)))
    cmds = escape_lt(cmds)
    return {"lines": lines, "cursor": cursor, "keys": "".join(cmds), "cmds": cmds, "cmd_kinds": cmd_kinds,
            "kinds": sorted(set().union(*cmd_kinds))}


def random_cases(n: int, seed: int, replace: bool = False) -> list[dict]:
    rng = random.Random(seed)
    return [{"id": f"s{seed}-{i}", **random_case(rng, replace)} for i in range(n)]


# ---------------------------------------------------------------------------------------------
# Differential testing against vi_editor.

def run_engine(case: dict) -> dict:
    """What vi_editor leaves after the case's keys; an exception is a result too (it disagrees)."""
    from vi_editor import Editor
    try:
        ed = Editor(list(case["lines"]), tuple(case["cursor"]))
        ed.feed(case["keys"])
        return {"lines": list(ed.lines), "cursor": list(ed.cursor), "mode": ed.mode}
    except Exception as e:  # noqa: BLE001 -- report any engine crash as a disagreement, with its message
        return {"error": f"{type(e).__name__}: {e}"}


def same(expect: dict, got: dict) -> bool:
    return "error" not in expect and all(expect[k] == got.get(k) for k in ("lines", "cursor", "mode"))


def first_divergence(cases: list[dict]) -> list[tuple | None]:
    """For each disagreeing case with per-command keys ("cmds"): (k, vim state, vi_editor state) for the
    first command k after which the two differ (every prefix is replayed in one Vim batch), else None."""
    prefixes, owner = [], []
    for ci, case in enumerate(cases):
        for k in range(1, len(case.get("cmds", [])) + 1):
            prefixes.append({**case, "keys": "".join(case["cmds"][:k])})
            owner.append((ci, k - 1))
    found: list[tuple | None] = [None] * len(cases)
    for (ci, k), prefix, expect in zip(owner, prefixes, run_vim(prefixes)):
        if found[ci] is None and not same(expect, got := run_engine(prefix)):
            found[ci] = (k, expect, got)
    return found


def show_state(name: str, r: dict) -> None:
    if "error" in r:
        print(f"  {name}: {r['error']}")
    else:
        print(f"  {name}: mode={r['mode']} cursor={r['cursor']} lines={r['lines']}")


def diff(cases: list[dict], expects: list[dict], show: int) -> float:
    t0 = time.time()
    gots = [run_engine(c) for c in cases]
    t_engine = time.time() - t0
    bad = [i for i, (e, g) in enumerate(zip(expects, gots)) if not same(e, g)]
    agree = 100.0 * (len(cases) - len(bad)) / max(len(cases), 1)
    print(f"agreement: {len(cases) - len(bad)}/{len(cases)} = {agree:.2f}%   (vi_editor {t_engine:.1f}s)")
    stopped = sum("error" in e for e in expects)
    if stopped:
        print(f"({stopped} of the disagreements are cases that stopped Vim: a harness or generator problem)")
    if not bad:
        return agree
    culprits = [None] * len(bad)
    if shutil.which(VIM_CMD[0]):
        t0 = time.time()
        culprits = first_divergence([cases[i] for i in bad])
        print(f"(first divergent command located by replaying prefixes in Vim: {time.time() - t0:.1f}s)")
    # Per kind: how many cases use it, how many of those disagree, and in how many the first
    # divergent command is of that kind (the column that points at the bug).
    used, wrong, blamed = Counter(), Counter(), Counter()
    for case in cases:
        used.update(case.get("kinds", []))
    for i, div in zip(bad, culprits):
        wrong.update(cases[i].get("kinds", []))
        if div is not None:
            blamed.update(cases[i]["cmd_kinds"][div[0]])
    print(f"\n{'kind':<22}{'cases':>7}{'disagree':>10}{'%':>7}{'first-div':>11}")
    for kind in sorted(wrong, key=lambda k: (-blamed[k], -wrong[k], k)):
        print(f"{kind:<22}{used[kind]:>7}{wrong[kind]:>10}{100.0 * wrong[kind] / used[kind]:>7.1f}{blamed[kind]:>11}")
    for i, div in list(zip(bad, culprits))[:show]:
        c = cases[i]
        print(f"\n--- {c.get('id', i)}  cursor={c['cursor']}  keys={c['keys']!r}")
        for line in c["lines"]:
            print(f"    | {line}")
        if div is not None and div[0] < len(c["cmds"]) - 1:
            k, e, g = div
            print(f"  first divergent command #{k}: {c['cmds'][k]!r} (after {''.join(c['cmds'][:k])!r}); there:")
            show_state("vim", e), show_state("vi_editor", g)
            print("  at the end:")
        show_state("vim", expects[i]), show_state("vi_editor", gots[i])
    return agree


def load_corpus(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="generate random cases, run real Vim, write the golden corpus (JSONL)")
    rec.add_argument("--n", type=int, default=3000, help="number of cases")
    rec.add_argument("--seed", type=int, default=1, help="generator seed")
    rec.add_argument("--out", default="tests/data/vim_golden.jsonl", help="output JSONL path")
    dif = sub.add_parser("diff", help="compare vi_editor with real Vim (live) or with a recorded corpus")
    dif.add_argument("--n", type=int, default=5000, help="number of random cases (live)")
    dif.add_argument("--seed", type=int, default=2, help="generator seed (live)")
    dif.add_argument("--replay", help="compare against this recorded corpus instead of running Vim")
    dif.add_argument("--show", type=int, default=10, help="print the first K disagreements")
    dif.add_argument("--replace", action="store_true", help="also generate R (Replace mode): half the insert commands")
    chk = sub.add_parser("selfcheck", help="harness check: one Vim for all cases vs a fresh Vim per case")
    chk.add_argument("--n", type=int, default=200, help="number of random cases")
    chk.add_argument("--seed", type=int, default=3, help="generator seed")
    chk.add_argument("--typed", action="store_true", help="compare with keys typed into an interactive Vim on a pty")
    args = p.parse_args()

    if args.cmd == "record":
        cases = random_cases(args.n, args.seed)
        t0 = time.time()
        expects = run_vim(cases)
        print(f"Vim ran {len(cases)} cases in {time.time() - t0:.1f}s")
        broken = [c["id"] for c, e in zip(cases, expects) if "error" in e]
        if broken:
            print(f"dropped {len(broken)} cases that stopped Vim: {broken}")
        with open(args.out, "w") as f:
            for c, e in zip(cases, expects):
                if "error" not in e:
                    f.write(json.dumps({**c, "expect": {k: e[k] for k in ("lines", "cursor", "mode")}}) + "\n")
        print(f"wrote {len(cases) - len(broken)} cases to {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB)")
    elif args.cmd == "diff":
        if args.replay:
            cases = load_corpus(args.replay)
            expects = [c["expect"] for c in cases]
        else:
            cases = random_cases(args.n, args.seed, args.replace)
            t0 = time.time()
            expects = run_vim(cases)
            print(f"Vim ran {len(cases)} cases in {time.time() - t0:.1f}s")
        diff(cases, expects, args.show)
    else:
        cases = random_cases(args.n, args.seed)
        t0 = time.time()
        batch = run_vim(cases)
        t_batch = time.time() - t0
        t0 = time.time()
        other = [run_vim_typed(c) if args.typed else run_vim([c])[0] for c in cases]
        name = "typed into a fresh Vim" if args.typed else "a fresh Vim per case"
        bad = [i for i, (b, o) in enumerate(zip(batch, other)) if b != o]
        print(f"batch {t_batch:.1f}s, {name} {time.time() - t0:.1f}s; {len(bad)}/{len(cases)} differ")
        for i in bad[:10]:
            print(json.dumps(cases[i]), "\n  batch:", batch[i], "\n  other:", other[i])


if __name__ == "__main__":
    main()
