r"""A pure-Python Vi editor state machine that agrees with real Vim.

`Editor` holds a buffer (a list of lines without newlines), a cursor and a mode, and `feed(keys)`
runs keys written in ViLM notation ("3GV%y9Gp", "ciwfoo<Esc>", ":%s/a/b/g<Enter>"). The reference
for every behaviour is real Vim 9.0 started as `vim -u NONE -N -i NONE -n` with VIM_OPTIONS set.
The hard parts are ports of Vim's own C routines (fwd_word/bck_word/end_word, findpar, findsent,
findmatchlimit for %, current_word/current_block/current_quote/current_par, do_join, do_sub's
empty-match rule, u_undoredo's cursor placement), and `tools/vim_oracle.py diff` measures the
agreement on random command sequences (buffer, cursor and mode after every case).

Keys typed after a failing command (motion past an edge, search not found, `p` with an empty
register, ...) still run: the failing command is dropped, as in Vim with typed-ahead keys. Pending
state (a half-typed command, Insert, Visual or Command-line mode) persists across `feed()` calls.

Supported: counts everywhere; motions h j k l w b e W B E ge gE 0 ^ $ g_ g0 g$ gm gg G go | f F t T
; , % { } ( ) H M L / ? (offsets e s b and lines) n N * # + - _ <Enter> <BS> <Space> ' `;
operators d c y > < g~ gu gU g? with any motion or text object (iw aw iW aW i" a" i' a' i` a`
i( a( ib ab i[ a[ i{ a{ iB aB i< a< ip ap); dd cc yy >> << g~~ guu gUU g??; x X s S r C D Y p P
gp gP J gJ ~ u <C-r> . i a I A o O gI R q{reg} (records into the register; @ is not supported);
Visual v V with motions, text objects, o, d x X D c s C S R y Y > < ~ u U J gJ r p P :, and gv;
registers "a-"z, "A-"Z (append), the unnamed register, "0, "1-"9 with Vim's shifting, "-, "_;
marks m{a-z} '{a-z} `{a-z} '' ``; Ex lines :{range} (N . $ % 'x '< '> /pat/ ?pat? +N -N , ;),
:s (flags g i I e n &, count), :&, :d [x] [N], :y, :m, :t/:co, :j, :> :<, :u, :red, :noh; Insert
mode text, <Enter>, <Tab> (expandtab), <BS> (backspace=indent,eol,start), <Esc>, <C-r>{reg}, and the
same keys in Replace mode (R: typed text overwrites, <Enter> splits, <BS> puts back what was replaced);
Vim magic regexes: literal text . * ^ $ ~ [...] (ranges, ^, [:classes:]) \< \> \+ \= \? \{n,m}
\{-n,m} \( \) \%( \| \1 \s \d \w \a \l \u \x ... \c \C, and & \0-\9 ~ \u \U \l \L \e \E \r in
:s replacements. The window is assumed to show the whole buffer (H, M, L; z commands are no-ops).

Not supported (the command is dropped like a failing one): Virtual Replace mode (gR), blockwise Visual
(<C-v>), Select mode, sentence/paragraph text objects is/as, [ and ] motions, forced motions
(dv, dV), macros (@), marks A-Z and 0-9, the ! = gq gw zf operators, <C-a>/<C-x>, U (line undo),
Visual I/A, search offsets with ; and \zs \ze \v \V \n in patterns, :s confirm (c), Ex commands
other than those listed (they fail with "Not an editor command", as unknown ones do in Vim),
command-line <Tab> completion and history. Known gaps against Vim are listed in the report of
`python tools/vim_oracle.py diff`; the main ones are "." after a Visual-mode p, undo after
changes that touch several separate places, and Visual-mode extension of quote/block objects.
"""
import functools
import re

# Real Vim is the reference: vim -u NONE -N -i NONE -n, then these options.
VIM_OPTIONS = ("noautoindent nosmartindent nocindent indentexpr= nojoinspaces expandtab "
               "shiftwidth=4 tabstop=4 softtabstop=0 backspace=indent,eol,start "
               "nohlsearch noincsearch noignorecase magic wrapscan")
SHIFTWIDTH = 4
TABSTOP = 4
MAXCOL = 1 << 30  # curswant after "$": stick to the end of every line
MAX_COUNT = 9999  # counts are clamped here (Vim has no cap): a sampled 99999999ix<Esc> must not build a huge buffer

_ALIASES = {"x": "dl", "X": "dh", "D": "d$", "C": "c$", "s": "cl", "S": "cc", "Y": "yy"}  # one-key operator commands
# Normal-mode keys that start a motion ("g" aside: it starts other commands too)
_MOTION_KEYS = frozenset(["h", "<BS>", "l", " ", "j", "k", "<C-n>", "<C-p>", "+", "<Enter>", "-", "_", "G", "H", "L",
                          "M", "0", "^", "$", "|", "w", "W", "b", "B", "e", "E", "f", "F", "t", "T", ";", ",", "%",
                          "{", "}", "(", ")", "'", "`", "/", "?", "n", "N", "*", "#"])
MODE_NAMES = {"n": "Normal", "no": "Operator-pending", "i": "Insert", "v": "Visual",
              "V": "Visual Line", "c": "Command-line"}

# ---------------------------------------------------------------------------------------------
# Key parsing
# ---------------------------------------------------------------------------------------------

class KeyParseError(ValueError):
    """The key string holds a <Name> that is not a known key."""


SPECIAL_KEYS = {"esc": "<Esc>", "enter": "<Enter>", "cr": "<Enter>", "return": "<Enter>",
                "tab": "<Tab>", "bs": "<BS>", "c-r": "<C-r>", "lt": "<"}
_RAW_CONTROL = {"\n": "<Enter>", "\r": "<Enter>", "\t": "<Tab>", "\x1b": "<Esc>", "\x08": "<BS>",
                "\x12": "<C-r>"}
_KEY_TOKEN = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)>|[\n\r\t\x1b\x08\x12]")  # what is not a literal character


def parse_keys(s: str) -> list[str]:
    """ViLM key notation -> keys: single characters or "<Esc>", "<Enter>", "<Tab>", "<BS>", "<C-r>".

    A '<' that does not start <Name> is a literal '<' (so "<<" is the dedent command); <lt> is a
    literal '<'; <CR> is an alias of <Enter>. An unknown <Name> raises KeyParseError."""
    m = _KEY_TOKEN.search(s)
    if m is None:
        return list(s)  # the common case: plain characters only
    keys = []
    i = 0
    while m:
        keys += s[i:m.start()]
        if m.group(1) is None:
            keys.append(_RAW_CONTROL[m.group()])
        else:
            key = SPECIAL_KEYS.get(m.group(1).lower())
            if key is None:
                raise KeyParseError(f"unknown key <{m.group(1)}> at position {m.start()}")
            keys.append(key)
        i = m.end()
        m = _KEY_TOKEN.search(s, i)
    keys += s[i:]
    return keys


# ---------------------------------------------------------------------------------------------
# Regex translation: Vim "magic" patterns -> Python re
# ---------------------------------------------------------------------------------------------

_KW = "0-9A-Za-z_\u00c0-\u00ff"  # 'iskeyword' default "@,48-57,_,192-255"
_CLASS_ESCAPES = {  # Vim character classes outside [...]
    "s": r"[ \t]", "S": r"[^ \t]", "d": r"[0-9]", "D": r"[^0-9]", "w": r"[0-9A-Za-z_]",
    "W": r"[^0-9A-Za-z_]", "a": r"[A-Za-z]", "A": r"[^A-Za-z]", "l": r"[a-z]", "L": r"[^a-z]",
    "u": r"[A-Z]", "U": r"[^A-Z]", "x": r"[0-9A-Fa-f]", "X": r"[^0-9A-Fa-f]", "o": r"[0-7]",
    "O": r"[^0-7]", "h": r"[A-Za-z_]", "H": r"[^A-Za-z_]", "k": f"[{_KW}]", "i": f"[{_KW}]",
    "f": r"[\x21-\x7e]", "p": r"[\x20-\x7e]", "K": r"[A-Za-z_\u00c0-\u00ff]",
    "I": r"[A-Za-z_\u00c0-\u00ff]", "F": r"[A-Za-z!-/:-@\[-`{-~]", "P": r"[ -/:-~]",
    "t": r"\t", "e": r"\x1b", "r": r"\r",
}
_POSIX = {"alpha": "A-Za-z", "digit": "0-9", "alnum": "0-9A-Za-z", "lower": "a-z", "upper": "A-Z",
          "space": r" \t\n\r\f\v", "blank": r" \t", "punct": r"!-/:-@\[-`{-~",
          "xdigit": "0-9A-Fa-f", "cntrl": r"\x00-\x1f\x7f", "print": r" -~", "graph": r"!-~",
          "return": r"\r", "tab": r"\t", "escape": r"\x1b", "backspace": r"\x08"}


class _Abort(Exception):
    """A command failed: Vim beeps and drops it; the keys after it still run."""


class _More(Exception):
    """The pending command needs more keys."""


class _Reader:
    """Hands out the pending keys one by one; running out means the command is incomplete."""
    __slots__ = ("keys", "pos")

    def __init__(self, keys):
        self.keys = keys
        self.pos = 0

    def __call__(self):
        if self.pos >= len(self.keys):
            raise _More
        self.pos += 1
        return self.keys[self.pos - 1]

    def peek(self):
        if self.pos >= len(self.keys):
            raise _More
        return self.keys[self.pos]

    def chars(self):
        """The plain characters from here on (typed text, which needs no parsing), all at once."""
        start = self.pos
        while self.pos < len(self.keys) and len(self.keys[self.pos]) == 1:
            self.pos += 1
        return self.keys[start:self.pos]


def _translate_collection(pat, i):
    """pat[i] == '['. Returns (python class, index after ']') or None when there is no ']'."""
    j = i + 1
    out = "["
    if j < len(pat) and pat[j] == "^":
        out += "^"
        j += 1
    if j < len(pat) and pat[j] == "]":  # a ']' right after '[' or '[^' is literal
        out += r"\]"
        j += 1
    while j < len(pat) and pat[j] != "]":
        c = pat[j]
        if c == "[" and pat.startswith("[:", j):
            end = pat.find(":]", j + 2)
            name = pat[j + 2:end] if end > 0 else None
            if name in _POSIX:
                out += _POSIX[name]
                j = end + 2
                continue
        if c == "\\" and j + 1 < len(pat):
            n = pat[j + 1]
            simple = {"e": r"\x1b", "t": r"\t", "r": r"\r", "b": r"\x08", "n": r"\n",
                      "]": r"\]", "^": r"\^", "-": r"\-", "\\": r"\\"}
            if n in simple:
                out += simple[n]
                j += 2
                continue
            out += r"\\"  # any other backslash is literal inside [...]
            j += 1
            continue
        if c == "-":
            out += "-" if (out[-1] not in "[^" and j + 1 < len(pat) and pat[j + 1] != "]") else r"\-"
        else:
            out += re.escape(c) if c in "\\[]^&~|" else c
        j += 1
    if j >= len(pat):
        return None
    return out + "]", j + 1


@functools.lru_cache(maxsize=256)  # searches and :s repeat their patterns ("n", "&", ".")
def vim_regex(pat: str, last_sub: str = "") -> "re.Pattern":
    """Translate a Vim magic pattern into a compiled Python regex (raises _Abort when it can't)."""
    out = []
    flags = 0
    i = 0
    n = len(pat)
    at_start = True  # where '^' and '*' are special/literal as in Vim
    while i < n:
        c = pat[i]
        start_here = at_start
        at_start = False
        if c == "\\":
            i += 1
            if i >= n:
                out.append(r"\\")
                break
            c = pat[i]
            if c == "<":
                out.append(f"(?<![{_KW}])(?=[{_KW}])")
                at_start = start_here
            elif c == ">":
                out.append(f"(?<=[{_KW}])(?![{_KW}])")
            elif c == "(":
                out.append("(")
                at_start = True
            elif c == "%" and pat.startswith("%(", i):
                out.append("(?:")
                i += 1
                at_start = True
            elif c == ")":
                out.append(")")
            elif c == "|":
                out.append("|")
                at_start = True
            elif c in "+=?":
                if start_here or not out:
                    raise _Abort("E64: nothing to repeat")
                out.append("+" if c == "+" else "?")
            elif c == "{":
                end = pat.find("}", i)
                if end < 0:
                    raise _Abort("E554: syntax error in \\{...}")
                body = pat[i + 1:end].rstrip("\\")
                lazy = body.startswith("-")
                body = body.lstrip("-")
                if not re.fullmatch(r"\d*(,\d*)?", body):
                    raise _Abort("E554: syntax error in \\{...}")
                if body in ("", ","):
                    q = "*"
                elif "," not in body:
                    q = "{%s}" % body
                else:
                    lo, hi = body.split(",")
                    q = "{%s,%s}" % (lo or "0", hi)
                out.append(q + ("?" if lazy else ""))
                i = end
            elif c == "c":
                flags |= re.IGNORECASE
            elif c == "C":
                i += 1  # match case: already the default
                continue
            elif c in _CLASS_ESCAPES:
                out.append(_CLASS_ESCAPES[c])
            elif c in "123456789":
                out.append("\\" + c)
            elif c in "nzvVmM%@&":
                raise _Abort(f"unsupported pattern item \\{c}")
            else:
                out.append(re.escape(c))
        elif c == "^":
            out.append("^" if start_here else r"\^")
            at_start = start_here
        elif c == "$":
            rest = pat[i + 1:]
            out.append("$" if rest == "" or rest.startswith("\\|") or rest.startswith("\\)") else r"\$")
        elif c == ".":
            out.append(".")
        elif c == "*":
            out.append(r"\*" if start_here else "*")
        elif c == "~":
            out.append(re.escape(last_sub))
        elif c == "[":
            coll = _translate_collection(pat, i)
            if coll is None:
                out.append(r"\[")
            else:
                out.append(coll[0])
                i = coll[1]
                continue
        else:
            out.append(re.escape(c))
        i += 1
    try:
        return re.compile("".join(out), flags)
    except re.error as e:
        raise _Abort(f"E486: bad pattern: {e}")


def _vim_sub_expand(rep, m, last_sub):
    """Expand a :s replacement (Vim magic rules) for match m. Returns the text ('\\r' = line break)."""
    if "\\" not in rep and "&" not in rep and "~" not in rep:
        return rep  # plain text (the common case): nothing to expand
    out = []
    case_one = None   # \u or \l: applies to the next character
    case_all = None   # \U or \L: applies until \E or \e

    def emit(text):
        nonlocal case_one
        for ch in text:
            if case_one:
                ch = ch.upper() if case_one == "u" else ch.lower()
                case_one = None
            elif case_all:
                ch = ch.upper() if case_all == "U" else ch.lower()
            out.append(ch)

    i = 0
    while i < len(rep):
        c = rep[i]
        if c == "\\" and i + 1 < len(rep):
            n = rep[i + 1]
            i += 2
            if n.isdigit():
                emit(m.group(int(n)) or "" if int(n) <= (m.re.groups) else "")
            elif n in "ul":
                case_one = n
            elif n in "UL":
                case_all = n
            elif n in "eE":
                case_all = None
            elif n == "r":
                out.append("\r")
            elif n == "n":
                out.append("\x00")
            elif n == "t":
                out.append("\t")
            else:
                emit(n)
            continue
        if c == "&":
            emit(m.group(0))
        elif c == "~":
            emit(last_sub)
        elif c == "\r":
            out.append("\r")
        else:
            emit(c)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Small text helpers
# ---------------------------------------------------------------------------------------------

def _is_kw(ch):
    o = ord(ch)
    return ch.isalnum() if o < 128 else (192 <= o <= 255 or (o > 255 and ch.isalnum())) or ch == "_"


@functools.lru_cache(maxsize=4096)  # called for every character a word motion passes
def _char_class(ch, big):
    """Vim's cls(): 0 blank (NUL too), 1 punctuation, 2 keyword. W-motions see 0 or 1."""
    if ch in " \t\xa0":
        return 0
    if big:
        return 1
    return 2 if (ch == "_" or _is_kw(ch)) else 1


def _first_nonblank(line):
    return len(line) - len(line.lstrip(" \t"))


def _indent_width(line):
    w = 0
    for ch in line:
        if ch == " ":
            w += 1
        elif ch == "\t":
            w += TABSTOP - w % TABSTOP
        else:
            break
    return w


def _tab_spaces(line, col):
    """How many spaces <Tab> types at col (expandtab, softtabstop=0): up to the next tabstop."""
    vcol = 0
    for ch in line[:col]:
        vcol += TABSTOP - vcol % TABSTOP if ch == "\t" else 1
    return TABSTOP - vcol % TABSTOP


def _swapcase(ch):
    s = ch.lower() if ch.isupper() else ch.upper()
    return s if len(s) == 1 else ch


def _rot13(ch):
    if "a" <= ch <= "z":
        return chr((ord(ch) - 97 + 13) % 26 + 97)
    if "A" <= ch <= "Z":
        return chr((ord(ch) - 65 + 13) % 26 + 65)
    return ch


_CASE_OPS = {"~": _swapcase, "u": lambda ch: ch.lower() if len(ch.lower()) == 1 else ch,
             "U": lambda ch: ch.upper() if len(ch.upper()) == 1 else ch, "?": _rot13}

# paragraph/section nroff macros ('paragraphs' and 'sections' defaults)
_PARA_MACROS = "IPLPPPQPP TPHPLIPpLpItpplpipbp"
_SECT_MACROS = "SHNHH HUnhsh"


def _inmacro(opt, s):
    s0 = s[0] if s else ""
    s1 = s[1] if len(s) > 1 else ""
    for k in range(0, len(opt) - 1, 2):
        m0, m1 = opt[k], opt[k + 1]
        if (m0 == s0 or (m0 == " " and s0 in ("", " "))) and \
                (m1 == s1 or (m1 == " " and (s0 == "" or s1 in ("", " ")))):
            return True
    return False


# Ex command lines: the command name, a number, a +N/-N address offset, the flags of :s
_EX_NAME = re.compile(r"[a-zA-Z]+|[&<>!=#@*]+|")
_DIGITS = re.compile(r"\d+")
_EX_OFFSET = re.compile(r"([+-])(\d*)")
_SUB_FLAGS = re.compile(r"&?[gciIenr#lp]*")
_SEARCH_OFFSET = re.compile(r"([esb]?)([+-]?\d*)")  # the offset after /pattern/: e+1, s-2, b, +3


# ---------------------------------------------------------------------------------------------
# The editor
# ---------------------------------------------------------------------------------------------

class Editor:
    """Vim state machine: buffer, cursor, mode, registers, marks, undo tree (linear), last search."""

    def __init__(self, lines: list[str] | None = None, cursor: tuple[int, int] = (0, 0)):
        self.lines = list(lines) if lines else [""]
        for line in self.lines:
            if "\n" in line:
                raise ValueError("buffer lines must not contain newlines")
        r, c = cursor
        if not (0 <= r < len(self.lines)) or c < 0:
            raise ValueError(f"cursor {cursor} is outside the buffer ({len(self.lines)} lines)")
        self.row = r
        self.col = min(c, max(0, len(self.lines[r]) - 1))
        self.curswant = self.col
        self._mode = "n"            # n i v V (Command-line/Operator-pending come from `pending`)
        self.pending: list[str] = []  # keys of the Normal/Visual command being typed
        self._op_pending = False
        self._cmdline = False
        self.regs: dict[str, tuple[list[str], bool]] = {}  # name -> (lines, linewise)
        self._unnamed = None        # register the unnamed register points to
        self.marks: dict[str, tuple[int, int]] = {}
        self._pcmark = None
        self._undo: list[tuple] = []  # (lines as a tuple, cursor, marks, first, size) before each change
        self._redo: list[tuple] = []
        self._step_open = False     # a change in the current undo step has been saved already
        self._last_ft = None        # (command, char) for ; and ,
        self._last_search = None    # (pattern, forward)
        self._last_sub = None       # (pattern, replacement) of the last :s
        self._last_sub_rep = ""     # replacement text for "~"
        self._dot = None            # (register, count, keys, visual) of the last change
        self._replaying = False
        self._visual_start = (0, 0)
        self._last_visual = None    # (mode, start, end, curswant) for gv and '< '>
        self._insert = None         # insert session state
        # Vim's replace stack: "" (NUL) heads the entry of each character typed in Replace mode, then
        # the character it overwrote. In a UTF-8 Vim, Normal-mode r pushes entries too, and only the end
        # of an Insert/Replace session empties it: a <BS> left of where R started puts back what r replaced.
        self._rstack: list[str] = []
        self._recording = None      # (register, start index in _typed) while "q" records
        self._aborted = False
        self._ml_empty = False      # all lines were deleted (Vim's ML_EMPTY)
        self._redo_visual = False   # "." is replaying a Visual-mode change
        self._typed: list[str] = []

    # -- public API ----------------------------------------------------------------------------

    @property
    def cursor(self) -> tuple[int, int]:
        return (self.row, self.col)

    @property
    def mode(self) -> str:
        if self._insert is not None:
            return "Replace" if self._insert["cmd"] == "R" else "Insert"
        if self._cmdline:
            return "Command-line"
        if self._op_pending and self._mode == "n":
            return "Operator-pending"
        return MODE_NAMES[self._mode]

    def text(self) -> str:
        return "\n".join(self.lines)

    def feed(self, keys: str) -> str | None:
        try:
            parsed = parse_keys(keys)
        except KeyParseError as e:
            return str(e)
        i = 0
        while i < len(parsed):
            if self._recording is not None:
                self._key(parsed[i])  # "q" records what is typed: key by key
                i += 1
            elif self._insert is not None:
                i = self._insert_keys(parsed, i)
            else:
                i = self._command(parsed, i)
        return None

    # -- key dispatch --------------------------------------------------------------------------

    def _key(self, k):
        """One typed key (feed() does the same for many keys at once; "." replays through here)."""
        if self._recording is not None:
            self._typed.append(k)
        if self._insert is not None:
            self._insert_key(k)
        elif self._cmdline and len(k) == 1:
            self.pending.append(k)  # typing on a command line: nothing to re-parse yet
        else:
            self._command([k], 0)

    def _command(self, keys, i):
        """Run the pending Normal/Visual command, continued by keys[i:]. Returns the index after its last
        key, or len(keys) when it needs more keys (they stay pending).

        The command is parsed from its first key again each time keys arrive. Parsing all the keys at
        hand at once equals feeding them one by one (a parse that runs out of keys raises _More before
        it changes anything), without re-parsing every prefix of the command."""
        done = len(self.pending)
        self.pending = self.pending + keys[i:]
        self._op_pending = False
        self._cmdline = False
        nxt = _Reader(self.pending)
        try:
            if self._mode in "vV":
                self._visual_command(nxt)
            else:
                self._normal_command(nxt)
        except _More:
            return len(keys)
        except _Abort:
            self._aborted = True
        self.pending = []
        self._op_pending = False
        self._cmdline = False
        if self._insert is None:
            self._step_open = False
            self._clamp()
        return i + nxt.pos - done

    def _read_count(self, nxt, k):
        """Read a count starting at key k. Returns (count or 0, first key after it)."""
        n = 0
        while len(k) == 1 and (k in "123456789" or (k == "0" and n)):
            n = min(n * 10 + int(k), MAX_COUNT)
            k = nxt()
        return n, k

    def _read_cmdline(self, nxt):
        """Keys of a command line up to <Enter>; <BS> edits, <Esc> (or <BS> on empty) cancels."""
        self._cmdline = True
        text = []
        while True:
            text += nxt.chars()
            k = nxt()
            if k == "<Enter>":
                self._cmdline = False
                return "".join(text)
            if k == "<Esc>":
                raise _Abort("cancelled")
            if k == "<BS>":
                if not text:
                    raise _Abort("cancelled")
                text.pop()
            elif k == "<C-r>":
                reg = nxt()
                text.extend(self._reg_text(reg).replace("\n", "\r"))
            elif k == "<Tab>":
                text.append("\t")
            else:
                text.append(k)

    # -- Normal mode ---------------------------------------------------------------------------

    def _normal_command(self, nxt):
        reg = None
        count = 0
        k = nxt()
        while True:
            n, k = self._read_count(nxt, k)
            if n:
                count = count * n if count else n
            if k != '"':
                break
            reg = nxt()
            if not (reg.isalnum() and reg.isascii() or reg in '"-_.:/+*%#'):
                raise _Abort("invalid register")
            k = nxt()
        self._run_normal(k, nxt, reg, count)

    def _set_dot(self, reg, count, keys, visual=None):
        """Remember a change for ".": visual = (mode, lines, columns) re-selects a Visual area."""
        self._dot = (reg, count, list(keys), visual)

    def _run_normal(self, k, nxt, reg, count):
        if k in _MOTION_KEYS:  # the most common command: no need to test k against all the others first
            self._move(self._motion(k, nxt, count, None))
            return
        c1 = count or 1
        if k in ("d", "c", "y", "<", ">", "!", "=") or (k == "g" and nxt.peek() in "~uU?"):
            self._operator(k, nxt, reg, count)
            return
        if k in _ALIASES:
            keys = list(_ALIASES[k])
            self._operator(keys[0], _Reader(keys[1:]), reg, count, alias=k)
            return
        if k == "g":
            k2 = nxt()
            if k2 in ("J",):
                self._join(c1, spaces=False)
                self._set_dot(reg, count, ["g", "J"])
                return
            if k2 == "I":
                self._begin_insert("gI", c1, reg, count)
                return
            if k2 == "v":
                self._reselect_visual()
                return
            if k2 in ("p", "P"):
                self._put(reg, c1, after=k2 == "p", gmove=True)
                self._set_dot(reg, count, ["g", k2])
                return
            self._move(self._motion("g", nxt, count, None, first=k2))
            return
        if k in "iaIAoOR":
            self._begin_insert(k, c1, reg, count)
            return
        if k in ("p", "P"):
            self._set_dot(reg, count, [k])  # Vim records the put even when it fails
            self._put(reg, c1, after=k == "p")
            return
        if k == "J":
            self._join(c1, spaces=True)
            self._set_dot(reg, count, ["J"])
            return
        if k == "r":
            ch = nxt()
            self._replace_chars(c1, ch)
            self._set_dot(reg, count, ["r", ch])
            return
        if k == "~":
            self._tilde(c1)
            self._set_dot(reg, count, ["~"])
            return
        if k == "u":
            for _ in range(c1):
                self._undo_step(redo=False)
            return
        if k == "<C-r>":
            for _ in range(c1):
                self._undo_step(redo=True)
            return
        if k == ".":
            self._repeat(count)
            return
        if k in ("v", "V"):
            self._start_visual(k, count)
            return
        if k == "m":
            name = nxt()
            if not (name.isascii() and name.isalpha() and name.islower()) and name not in "'`<>[]":
                raise _Abort("E191: bad mark")
            if name in "'`":
                self._pcmark = (self.row, self.col)
            else:
                self.marks[name] = (self.row, self.col)
            return
        if k == ":":
            line = self._read_cmdline(nxt)
            if count:
                line = (".,.+%d" % (count - 1) if count > 1 else ".") + line
            self._ex(line)
            return
        if k == "&":
            self._ex("s")
            return
        if k == "q":
            # macro recording changes nothing visible; the register gets the typed keys
            if self._recording is not None:
                name, start = self._recording
                self._recording = None
                keys = self._typed[start:-1]
                raw = {"<Esc>": "\x1b", "<Enter>": "\r", "<Tab>": "\t", "<BS>": "\x80kb", "<C-r>": "\x12"}
                self._write_reg(name, ["".join(raw.get(x, x) for x in keys)], False)
                return
            name = nxt()
            if not (name.isascii() and (name.isalnum() or name == '"')):
                raise _Abort("invalid register")
            self._recording = (name if name != '"' else "0", len(self._typed))
            return
        if k in ("[", "]", "@", "z", "Z"):
            k2 = nxt()  # two-key commands: scrolling (z) and quitting (Z) change nothing here
            if k == "z" and k2 in ("z", "t", "b", ".", "-", "<Enter>", "h", "l", "s", "e"):
                return
            raise _Abort(f"unsupported command {k}{k2}")
        if k == "<Esc>":
            raise _Abort("escape")
        self._move(self._motion(k, nxt, count, None))

    # -- cursor helpers ------------------------------------------------------------------------

    def _clamp(self):
        """Normal mode: keep the cursor on a character (0 on an empty line)."""
        if self.row >= len(self.lines):
            self.row = len(self.lines) - 1
        n = len(self.lines[self.row])
        limit = n if (self._mode in "vV" or self._insert is not None) else max(0, n - 1)
        if self.col > limit:
            self.col = limit
        if self.col < 0:
            self.col = 0

    def _col_for_want(self, row, want):
        n = len(self.lines[row])
        limit = n if (self._mode in "vV" or self._insert is not None) else max(0, n - 1)
        return min(want, limit)

    def _move(self, target):
        """Apply a motion result in Normal/Visual mode."""
        r, c, kind, keep_want, jump = target
        if jump:
            self._pcmark = (self.row, self.col)
        self.row, self.col = r, c
        if not keep_want:
            self.curswant = c if kind != "dollar" else MAXCOL
        self._clamp()

    # -- motions -------------------------------------------------------------------------------

    def _motion(self, k, nxt, count, op, first=None):
        """Parse and compute a motion. Returns (row, col, kind, keep_curswant, is_jump).

        kind: "excl" | "incl" | "line" | "dollar" (inclusive, sets curswant to MAXCOL).
        Raises _Abort when the motion fails; with an operator some motions succeed anyway
        (as in Vim: h and l never fail under an operator, w moves onto the end)."""
        c1 = count or 1
        lines = self.lines
        r, c = self.row, self.col
        last = len(lines) - 1
        line = lines[r]
        vis = self._mode in "vV"
        self._use_reg_one = False
        if k == "g":
            k2 = first if first is not None else nxt()
            if k2 == "g":
                row = min(c1 - 1, last) if count else 0
                return (row, _first_nonblank(lines[row]), "line", False, True)
            if k2 in ("e", "E"):
                return self._word_motion("g" + k2, c1, op)
            if k2 == "_":
                if c1 > 1 and r >= last:
                    raise _Abort("g_ past end")
                row = min(r + c1 - 1, last)
                ln = lines[row]
                col = len(ln.rstrip(" \t")) - 1
                return (row, max(col, 0), "incl", False, False)
            if k2 == "0":
                return (r, 0, "excl", False, False)
            if k2 == "$":
                return (r, max(len(line) - 1, 0), "incl", False, False)
            if k2 in ("j", "k"):
                return self._motion(k2, nxt, count, op)
            if k2 == "o":
                # [count]go: byte offset in the buffer (newlines count one byte)
                off = c1 - 1
                for row, ln in enumerate(lines):
                    if off <= len(ln) or row == last:
                        return (row, min(off, max(len(ln) - 1, 0)), "excl", False, True)
                    off -= len(ln) + 1
            if k2 == "m":
                return (r, min(40, max(len(line) - 1, 0)), "excl", False, False)  # an 80-column window
            raise _Abort("unknown g command")
        if k in ("h", "<BS>"):
            if c == 0 and not (k == "<BS>" and r > 0):
                if op:
                    return (r, c, "excl", False, False)
                raise _Abort("h at column 0")
            for _ in range(c1):
                if c > 0:
                    c -= 1
                elif k == "<BS>" and r > 0:
                    r -= 1
                    c = len(lines[r]) if (vis or op) else max(len(lines[r]) - 1, 0)
                else:
                    break
            return (r, c, "excl", False, False)
        if k in ("l", " "):
            n = len(line)
            kind = "excl"
            moved = False
            limit = n if vis else n - 1
            for _ in range(c1):
                if c < limit or (op and c < n):
                    if op and c == n - 1 and not vis:
                        c = n
                    else:
                        c += 1
                    moved = True
                    continue
                if k == " " and r < last:
                    if op and kind == "excl" and lines[r] != "":
                        kind = "incl"  # the line break counts as a character
                        continue
                    r += 1
                    c = 0
                    kind = "excl"
                    limit = len(lines[r]) if vis else len(lines[r]) - 1
                    n = len(lines[r])
                    moved = True
                    continue
                if not op and not moved:
                    raise _Abort("l at end of line")
                break
            return (r, c, kind, False, False)
        if k in ("j", "k", "<C-n>", "<C-p>"):
            down = k in ("j", "<C-n>")
            if (down and r >= last) or (not down and r <= 0):
                raise _Abort("j/k at edge")
            row = min(r + c1, last) if down else max(r - c1, 0)
            return (row, self._col_for_want(row, self.curswant), "line", True, False)
        if k in ("+", "<Enter>", "-", "_"):
            if k == "_":
                if c1 > 1 and r >= last:
                    raise _Abort("_ at edge")
                row = min(r + c1 - 1, last)
            elif k == "-":
                if r <= 0:
                    raise _Abort("- at top")
                row = max(r - c1, 0)
            else:
                if r >= last:
                    raise _Abort("+ at bottom")
                row = min(r + c1, last)
            if k == "_" and op == "y":
                return (row, c, "line", False, False)  # like yy: the cursor does not move
            return (row, _first_nonblank(lines[row]), "line", False, False)
        if k == "G":
            row = min(count - 1, last) if count else last
            return (row, _first_nonblank(lines[row]), "line", False, True)
        if k in ("H", "L", "M"):
            # the whole buffer is assumed to fit the window (Vim's default 24-line terminal)
            if k == "H":
                row = min(c1 - 1, last)
            elif k == "L":
                row = max(last - (c1 - 1), 0)
            else:
                row = last // 2
            return (row, _first_nonblank(lines[row]), "line", False, True)
        if k == "0":
            return (r, 0, "excl", False, False)
        if k == "^":
            return (r, _first_nonblank(line), "excl", False, False)
        if k == "$":
            if c1 > 1 and r >= last:
                raise _Abort("$ past end")
            row = min(r + c1 - 1, last)
            n = len(lines[row])
            col = n if (vis and n) else max(n - 1, 0)
            if op and n:
                col = n - 1
            return (row, col, "dollar", False, False)
        if k == "|":
            self.curswant = c1 - 1  # the wanted column sticks even past a short line
            return (r, self._col_for_want(r, c1 - 1), "excl", True, False)
        if k in ("w", "W", "b", "B", "e", "E"):
            return self._word_motion(k, c1, op)
        if k in ("f", "F", "t", "T"):
            ch = self._char_arg(nxt)
            self._last_ft = (k, ch)
            return self._find_char(k, ch, c1, repeat=False)
        if k in (";", ","):
            if not self._last_ft:
                raise _Abort("no previous f/t")
            cmd, ch = self._last_ft
            if k == ",":
                cmd = {"f": "F", "F": "f", "t": "T", "T": "t"}[cmd]
            return self._find_char(cmd, ch, c1, repeat=True)
        if k == "%":
            self._use_reg_one = True
            if count:
                if count > 100:
                    raise _Abort("count > 100")
                row = (count * len(lines) + 99) // 100 - 1
                return (row, _first_nonblank(lines[row]), "line", False, True)
            pos = self._findmatch(r, c)
            if pos is None:
                raise _Abort("no match")
            if len(pos) == 3:  # #if/#endif matching is linewise
                return (pos[0], pos[1], "line", False, True)
            return (pos[0], pos[1], "incl", False, True)
        if k in ("{", "}"):
            self._use_reg_one = True
            return self._paragraph(k == "}", c1)
        if k in ("(", ")"):
            self._use_reg_one = True
            r2, c2 = self._sentence(k == ")", c1)
            kind = "excl"
            if c2 > 0 and c2 >= len(lines[r2]) and not vis:
                c2, kind = c2 - 1, "incl"
            return (r2, c2, kind, False, True)
        if k in ("'", "`"):
            name = nxt()
            pos = self._get_mark(name)
            if k == "'":
                return (pos[0], _first_nonblank(lines[pos[0]]), "line", False, True)
            self._use_reg_one = True
            col = min(pos[1], max(len(lines[pos[0]]) - (0 if vis else 1), 0))
            return (pos[0], col, "excl", False, True)
        if k in ("/", "?"):
            text = self._read_cmdline(nxt)
            self._use_reg_one = True
            return self._search_cmd(text, k == "/", c1)
        if k in ("n", "N"):
            if not self._last_search:
                raise _Abort("E35: no previous regular expression")
            pat, fwd, off = self._last_search
            self._use_reg_one = True
            return self._do_search(pat, fwd if k == "n" else not fwd, c1, off)
        if k in ("*", "#"):
            return self._star(k == "*", c1)
        raise _Abort(f"unknown command {k}")

    def _char_arg(self, nxt):
        ch = nxt()
        if ch == "<Esc>":
            raise _Abort("cancelled")
        return {"<Tab>": "\t", "<Enter>": "\r"}.get(ch, ch)

    def _get_mark(self, name):
        if name in "'`":
            pos = self._pcmark or (0, 0)
        elif name in "<>" and self._last_visual:
            mode, s, e, _ = self._last_visual
            a, b = sorted([s, e])
            pos = a if name == "<" else b
            if mode == "V":
                pos = (pos[0], 0 if name == "<" else MAXCOL)
        else:
            pos = self.marks.get(name)
        if pos is None or pos[0] >= len(self.lines):
            raise _Abort("E20: mark not set")
        return pos

    def _find_char(self, cmd, ch, count, repeat):
        line = self.lines[self.row]
        c = self.col
        fwd = cmd in "ft"
        till = cmd in "tT"
        for i in range(count):
            start = c
            # ";" after t/T must not get stuck on the same character (cpo has no ';')
            if till and repeat and count == 1 and i == 0:
                start = c + 1 if fwd else c - 1
            if fwd:
                j = line.find(ch, start + 1)
            else:
                j = line.rfind(ch, 0, max(start, 0))
            if j < 0:
                raise _Abort("char not found")
            c = j
        if till:
            c = c - 1 if fwd else c + 1
        return (self.row, c, "incl" if fwd else "excl", False, False)

    # word motions, ported from Vim's search.c (fwd_word, bck_word, end_word, bckend_word)

    def _cls(self, r, c, big):
        line = self.lines[r]
        return _char_class(line[c], big) if c < len(line) else 0

    def _inc(self, r, c):
        n = len(self.lines[r])
        if c < n:
            c += 1
            return r, c, (0 if c < n else 2)
        if r < len(self.lines) - 1:
            return r + 1, 0, 1
        return r, c, -1

    def _dec(self, r, c):
        if c > 0:
            return r, min(c - 1, max(len(self.lines[r]) - 1, 0)) if c > len(self.lines[r]) else c - 1, 0
        if r > 0:
            return r - 1, len(self.lines[r - 1]), 1
        return r, c, -1

    def _fwd_word(self, count, big, eol, start=None):
        """Vim's fwd_word: returns ((row, col), ok). The position may be the NUL past a line."""
        r, c = start or (self.row, self.col)
        last = len(self.lines) - 1
        while count > 0:
            count -= 1
            sclass = self._cls(r, c, big)
            last_line = r == last
            r, c, i = self._inc(r, c)
            if i == -1 or (i >= 1 and last_line):
                return (r, c), False
            if i >= 1 and eol and count == 0:
                return (r, c), True
            if sclass != 0:
                while self._cls(r, c, big) == sclass:
                    r, c, i = self._inc(r, c)
                    if i == -1 or (i >= 1 and eol and count == 0):
                        return (r, c), True
            while self._cls(r, c, big) == 0:
                if c == 0 and self.lines[r] == "":
                    break
                r, c, i = self._inc(r, c)
                if i == -1 or (i >= 1 and eol and count == 0):
                    return (r, c), True
        return (r, c), True

    def _end_word(self, count, big, stop, empty, start=None):
        """Vim's end_word: returns ((row, col), ok)."""
        r, c = start or (self.row, self.col)
        while count > 0:
            count -= 1
            sclass = self._cls(r, c, big)
            r, c, i = self._inc(r, c)
            if i == -1:
                return (r, c), False
            if self._cls(r, c, big) == sclass and sclass != 0:
                while self._cls(r, c, big) == sclass:
                    r, c, i = self._inc(r, c)
                    if i == -1:
                        return (r, c), False
            elif not stop or sclass == 0:
                finished = False
                while self._cls(r, c, big) == 0:
                    if c == 0 and self.lines[r] == "" and empty:
                        finished = True
                        break
                    r, c, i = self._inc(r, c)
                    if i == -1:
                        return (r, c), False
                if finished:
                    stop = False
                    continue
                cl = self._cls(r, c, big)
                while self._cls(r, c, big) == cl:
                    r, c, i = self._inc(r, c)
                    if i == -1:
                        return (r, c), False
            r, c, _ = self._dec(r, c)
            stop = False
        return (r, c), True

    def _bck_word(self, count, big, stop=False):
        """Vim's bck_word: returns ((row, col), ok)."""
        r, c = self.row, self.col
        while count > 0:
            count -= 1
            sclass = self._cls(r, c, big)
            r, c, i = self._dec(r, c)
            if i == -1:
                return (r, c), False
            finished = False
            if not stop or sclass == self._cls(r, c, big) or sclass == 0:
                while self._cls(r, c, big) == 0:
                    if c == 0 and self.lines[r] == "":
                        finished = True
                        break
                    r, c, i = self._dec(r, c)
                    if i == -1:
                        return (r, c), True
                if not finished:
                    cl = self._cls(r, c, big)
                    while self._cls(r, c, big) == cl:
                        r, c, i = self._dec(r, c)
                        if i == -1:
                            return (r, c), True
            if not finished:
                r, c, _ = self._inc(r, c)
            stop = False
        return (r, c), True

    def _bckend_word(self, count, big, eol=False):
        """Vim's bckend_word (ge): returns ((row, col), ok)."""
        r, c = self.row, self.col
        while count > 0:
            count -= 1
            sclass = self._cls(r, c, big)
            r, c, i = self._dec(r, c)
            if i == -1:
                return (r, c), False
            if eol and i == 1:
                return (r, c), True
            if sclass != 0:
                while self._cls(r, c, big) == sclass:
                    r, c, i = self._dec(r, c)
                    if i == -1 or (eol and i == 1):
                        return (r, c), True
            while self._cls(r, c, big) == 0:
                if c == 0 and self.lines[r] == "":
                    break
                r, c, i = self._dec(r, c)
                if i == -1 or (eol and i == 1):
                    return (r, c), True
        return (r, c), True

    def _word_motion(self, k, count, op):
        """w W e E b B ge gE. A failing w/e still moves (Vim only beeps); b/ge cancel an operator."""
        big = k in "WEB" or k == "gE"
        vis = self._mode in "vV"
        start = (self.row, self.col)
        kind = "excl"
        if k in ("b", "B", "ge", "gE"):
            pos, ok = (self._bck_word if k in "bB" else self._bckend_word)(count, big)
            if not ok and op is not None:
                self.row, self.col = pos  # the operator is cancelled, the cursor stays moved
                raise _Abort("b/ge at the start of the buffer")
            return (pos[0], pos[1], "incl" if k in ("ge", "gE") else "excl", False, False)
        word_end = k in "eE"
        if op == "c" and not word_end:
            line = self.lines[self.row]
            ch = line[self.col] if self.col < len(line) else ""
            if ch and ch not in " \t":
                # "cw" is "ce": the change stops at the end of the word
                word_end = True
        if word_end:
            (r, c), ok = self._end_word(count, big, stop=op == "c" and k in "wW", empty=False)
            kind = "incl"
        else:
            (r, c), ok = self._fwd_word(count, big, op is not None)
        # don't leave the cursor on the NUL past the end of a line (unless it did not move)
        if (r, c) > start and c > 0 and c >= len(self.lines[r]) and not vis:
            c -= 1
            kind = "incl"
        return (r, c, kind, False, False)

    def _sentence(self, forward, count):
        """Vim's findsent: the start of the count-th next/previous sentence."""
        lines = self.lines
        step = self._incl if forward else (lambda r, c: self._decl(r, c))

        def ch(r, c):
            return lines[r][c] if c < len(lines[r]) else ""

        r, c = self.row, self.col
        while count > 0:
            count -= 1
            noskip = False
            found = False
            if ch(r, c) == "":
                while True:
                    r2, c2, i = step(r, c)
                    if i == -1:
                        break
                    r, c = r2, c2
                    if ch(r, c) != "":
                        break
                found = forward
            elif forward and c == 0 and self._startps(r):
                if r == len(lines) - 1:
                    raise _Abort("no next sentence")
                r, found = r + 1, True
            elif not forward:
                r, c, _ = self._decl(r, c)
            if not found:
                found_dot = False
                while ch(r, c) in (" ", "\t") or (ch(r, c) and ch(r, c) in ".!?)]\"'"):
                    cc = ch(r, c)
                    tr, tc, i = self._decl(r, c)
                    if i == -1 or (lines[tr] == "" and forward):
                        break
                    if found_dot:
                        break
                    if cc in ".!?":
                        found_dot = True
                    if cc in ")]\"'" and not (ch(tr, tc) and ch(tr, tc) in ".!?)]\"'"):
                        break
                    r, c = tr, tc
                startrow = r
                while True:
                    cc = ch(r, c)
                    if cc == "" or (c == 0 and self._startps(r)):
                        if not forward and r != startrow:
                            r, c = r + 1, 0
                        break
                    if cc in ".!?":
                        tr, tc = r, c
                        while True:
                            tr, tc, i = self._inc(tr, tc)
                            if i == -1:
                                break
                            if not (ch(tr, tc) and ch(tr, tc) in ")]\"'"):
                                break
                        nxt_ch = ch(tr, tc)
                        if i == -1 or nxt_ch in (" ", "\t", ""):
                            r, c = tr, tc
                            if ch(r, c) == "":
                                r, c, _ = self._inc(r, c)
                            break
                    r2, c2, i = step(r, c)
                    if i == -1:
                        if count:
                            raise _Abort("no more sentences")
                        noskip = True
                        break
                    r, c = r2, c2
            while not noskip and ch(r, c) in (" ", "\t"):
                r2, c2, i = self._incl(r, c)
                if i == -1:
                    break
                r, c = r2, c2
        return r, c

    def _startps(self, row):
        s = self.lines[row]
        if s == "" or s[0] == "\f":
            return True
        return s[0] == "." and (_inmacro(_SECT_MACROS, s[1:]) or _inmacro(_PARA_MACROS, s[1:]))

    def _paragraph(self, forward, count):
        d = 1 if forward else -1
        curr = self.row
        last = len(self.lines) - 1
        while count > 0:
            count -= 1
            did_skip = False
            first = True
            while True:
                if self.lines[curr] != "":
                    did_skip = True
                if not first and did_skip and self._startps(curr):
                    break
                first = False
                curr += d
                if curr < 0 or curr > last:
                    if count:
                        raise _Abort("paragraph past edge")
                    curr -= d
                    break
        if curr == last:  # Vim 9.0 does this for "{" too
            n = len(self.lines[curr])
            if n:
                return (curr, n - 1, "incl", False, True)
        return (curr, 0, "excl", False, True)

    # -- % matching (port of Vim's findmatchlimit) ---------------------------------------------

    def _findmatch(self, r, c, initc=None, cpo_match=False, forward=False):
        """Returns (row, col) of the match, (row, col, 'line') for #if matching, or None."""
        lines = self.lines
        linep = lines[r]
        backwards = False
        hash_dir = 0
        comment_dir = 0
        match_escaped = 0
        pairs = {"(": (")", False), ")": ("(", True), "{": ("}", False), "}": ("{", True),
                 "[": ("]", False), "]": ("[", True)}
        if initc is not None:
            # text objects: find the unclosed initc (backwards) or its partner (forwards)
            findc = initc
            initc = pairs[findc][0]
            backwards = findc in "({[" and not forward
            pos_r, pos_c = r, c
        else:
            pos_r, pos_c = r, c
            findc = None
            if not cpo_match:
                stripped = linep.lstrip(" \t")
                ws = len(linep) - len(stripped)
                if stripped.startswith("#") and pos_c <= ws:
                    rest = stripped[1:].lstrip(" \t")
                    if rest.startswith(("if", "endif", "el")):
                        hash_dir = 1
                elif pos_c < len(linep) and linep[pos_c] == "/":
                    if linep[pos_c + 1:pos_c + 2] == "*":
                        comment_dir, backwards = 1, False
                        pos_c += 1
                    elif pos_c > 0 and linep[pos_c - 1] == "*":
                        comment_dir, backwards = -1, True
                        pos_c -= 1
                elif pos_c < len(linep) and linep[pos_c] == "*":
                    if linep[pos_c + 1:pos_c + 2] == "/":
                        comment_dir, backwards = -1, True
                    elif pos_c > 0 and linep[pos_c - 1] == "/":
                        comment_dir, backwards = 1, False
            if not hash_dir and not comment_dir:
                if pos_c >= len(linep) and pos_c:
                    pos_c -= 1
                while pos_c < len(linep) and linep[pos_c] not in pairs:
                    pos_c += 1
                if pos_c >= len(linep):
                    if not cpo_match and linep.lstrip(" \t").startswith("#"):
                        hash_dir = 1
                    else:
                        return None
                else:
                    initc = linep[pos_c]
                    findc, backwards = pairs[initc]
                    bsl = 0
                    col = pos_c
                    while col > 0 and linep[col - 1] == "\\":
                        bsl += 1
                        col -= 1
                    match_escaped = bsl & 1
            if hash_dir:
                return self._match_hash(pos_r, linep)
        if comment_dir:
            return self._match_comment(pos_r, pos_c, comment_dir)
        count = 0
        do_quotes = -1
        start_in_quotes = None  # MAYBE
        inquote = False
        last = len(lines) - 1
        while True:
            if backwards:
                if pos_c == 0:
                    if pos_r == 0:
                        break
                    pos_r -= 1
                    linep = lines[pos_r]
                    pos_c = len(linep)
                    do_quotes = -1
                else:
                    pos_c -= 1
            else:
                if pos_c >= len(linep):
                    if pos_r == last:
                        break
                    pos_r += 1
                    linep = lines[pos_r]
                    pos_c = 0
                    do_quotes = -1
                else:
                    pos_c += 1
            if cpo_match:
                do_quotes = 0
            elif do_quotes == -1:
                at_start = do_quotes
                nq = 0
                p = 0
                while p < len(linep):
                    if p == pos_c + backwards:
                        at_start = nq & 1
                    ch = linep[p]
                    if ch == '"' and (p == 0 or linep[p - 1] != "'" or linep[p + 1:p + 2] != "'"):
                        nq += 1
                    if ch == "\\" and p + 1 < len(linep):
                        p += 1
                    p += 1
                do_quotes = 1 if nq % 2 == 0 else 0
                if not do_quotes:
                    inquote = False
                    if linep.endswith("\\"):
                        do_quotes = 1
                        if start_in_quotes is None:
                            inquote = True
                            start_in_quotes = True
                        elif backwards:
                            inquote = True
                    if pos_r > 0:
                        prev = lines[pos_r - 1]
                        if prev.endswith("\\"):
                            do_quotes = 1
                            if start_in_quotes is None:
                                inquote = bool(at_start) and at_start != -1
                                if inquote:
                                    start_in_quotes = True
                            elif not backwards:
                                inquote = True
            if start_in_quotes is None:
                start_in_quotes = False
            ch = linep[pos_c] if pos_c < len(linep) else ""
            if ch == "":
                if pos_c == 0 or linep[pos_c - 1] != "\\":
                    inquote = False
                    start_in_quotes = False
                continue
            if ch == '"':
                if do_quotes:
                    col = pos_c - 1
                    while col >= 0 and linep[col] == "\\":
                        col -= 1
                    if (pos_c - 1 - col) % 2 == 0:
                        inquote = not inquote
                        start_in_quotes = False
                continue
            if ch == "'" and not cpo_match and initc != "'" and findc != "'":
                if backwards:
                    if pos_c > 1:
                        if linep[pos_c - 2] == "'":
                            pos_c -= 2
                            continue
                        if linep[pos_c - 2] == "\\" and pos_c > 2 and linep[pos_c - 3] == "'":
                            pos_c -= 3
                            continue
                elif pos_c + 1 < len(linep):
                    if linep[pos_c + 1] == "\\" and pos_c + 3 < len(linep) and linep[pos_c + 3] == "'":
                        pos_c += 3
                        continue
                    if pos_c + 2 < len(linep) and linep[pos_c + 2] == "'":
                        pos_c += 2
                        continue
            if (not inquote or start_in_quotes is True) and (ch == initc or ch == findc):
                bsl = 0
                col = pos_c
                while col > 0 and linep[col - 1] == "\\":
                    bsl += 1
                    col -= 1
                if (bsl & 1) == match_escaped:
                    if ch == initc:
                        count += 1
                    else:
                        if count == 0:
                            return (pos_r, pos_c)
                        count -= 1
        return None

    def _match_hash(self, r, linep):
        rest = linep.lstrip(" \t")[1:].lstrip(" \t")
        if rest.startswith(("if", "el")):
            d = 1
        elif rest.startswith("endif"):
            d = -1
        else:
            return None
        count = 0
        last = len(self.lines) - 1
        while (d > 0 and r < last) or (d < 0 and r > 0):
            r += d
            ln = self.lines[r]
            st = ln.lstrip(" \t")
            if not st.startswith("#"):
                continue
            col = len(ln) - len(st)
            w = st[1:].lstrip(" \t")
            if d > 0:
                if w.startswith("if"):
                    count += 1
                elif w.startswith("el"):
                    if count == 0:
                        return (r, col, "line")
                elif w.startswith("endif"):
                    if count == 0:
                        return (r, col, "line")
                    count -= 1
            else:
                if w.startswith("if"):
                    if count == 0:
                        return (r, col, "line")
                    count -= 1
                elif w.startswith("endif"):
                    count += 1
        return None

    def _match_comment(self, r, c, d):
        lines = self.lines
        if d > 0:
            j = lines[r].find("*/", c + 1)
            while j < 0:
                r += 1
                if r >= len(lines):
                    return None
                j = lines[r].find("*/")
            return (r, j + 1)
        j = lines[r].rfind("/*", 0, c)
        while j < 0:
            r -= 1
            if r < 0:
                return None
            j = lines[r].rfind("/*")
        return (r, j)

    # -- searching -----------------------------------------------------------------------------

    def _search_cmd(self, text, forward, count):
        sep = "/" if forward else "?"
        # split "pattern/offset" at the first unescaped separator
        pat, off, i = [], None, 0
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                pat.append(text[i:i + 2])
                i += 2
                continue
            if ch == sep:
                off = text[i + 1:]
                break
            pat.append(ch)
            i += 1
        pat = "".join(pat)
        if forward is False:
            pat = pat.replace("\\?", "?")
        else:
            pat = pat.replace("\\/", "/")
        if pat == "":
            if not self._last_search:
                raise _Abort("E35: no previous regular expression")
            pat = self._last_search[0]
            if off is None:
                off = ""
        offset = self._parse_offset(off or "")
        self._last_search = (pat, forward, offset)
        return self._do_search(pat, forward, count, offset)

    def _parse_offset(self, off):
        m = _SEARCH_OFFSET.fullmatch(off)
        if not m:
            raise _Abort("unsupported search offset")
        kind, num = m.group(1), m.group(2)
        if num in ("+", "-"):
            num += "1"
        return (kind, int(num) if num else 0)

    def _do_search(self, pat, forward, count, offset=("", 0)):
        rx = vim_regex(pat, self._last_sub_rep)
        r, c = self.row, self.col
        kind, num = offset
        end_pos = None
        for _ in range(count):
            found = self._search_once(rx, r, c, forward)
            if found is None:
                raise _Abort(f"E486: Pattern not found: {pat}")
            (r, c), end_pos = found
        if kind == "" and num:
            row = min(max(r + num, 0), len(self.lines) - 1)
            return (row, _first_nonblank(self.lines[row]), "line", False, True)
        if kind == "e":
            er, ec = end_pos
            ec = ec - 1 + num
            r, c = er, max(ec, 0)
            return (r, c, "incl", False, True)
        if kind in ("s", "b"):
            c = max(c + num, 0)
            return (r, c, "incl" if num > 0 else "excl", False, True)
        return (r, c, "excl", False, True)

    def _search_once(self, rx, r0, c0, forward):
        """One search step from (r0, c0) with wrap-around. Returns ((row, col), (row, endcol))."""
        lines = self.lines
        n = len(lines)
        if forward:
            # first line: matches must start after the cursor (continuing after each match, cpo-c)
            line = lines[r0]
            pos = 0
            while pos <= len(line):
                m = rx.search(line, pos)
                if m is None:
                    break
                st = m.start()
                if st - (st == len(line) and st > 0) >= c0 + 1:
                    return (r0, st), (r0, m.end())
                pos = m.end() if m.end() > st else st + 1
                if pos >= len(line):
                    break
            for k in range(1, n + 1):
                row = (r0 + k) % n
                m = rx.search(lines[row])
                if m:
                    return (row, m.start()), (row, m.end())
            return None
        # backward: the last match starting before the cursor
        line = lines[r0]
        best = None
        if c0 > 0:
            pos = 0
            while pos <= len(line):
                m = rx.search(line, pos)
                if m is None or m.start() >= c0:
                    break
                best = m
                pos = m.end() if m.end() > m.start() else m.start() + 1
                if pos >= len(line):
                    break
        if best:
            return (r0, best.start()), (r0, best.end())
        for k in range(1, n + 1):
            row = (r0 - k) % n
            line = lines[row]
            pos = 0
            best = None
            while pos <= len(line):
                m = rx.search(line, pos)
                if m is None:
                    break
                best = m
                pos = m.end() if m.end() > m.start() else m.start() + 1
                if pos >= len(line):
                    break
            if best:
                return (row, best.start()), (row, best.end())
        return None

    def _star(self, forward, count):
        line = self.lines[self.row]
        col = self.col
        n = len(line)
        # 1. an identifier under or after the cursor, else any non-blank text
        c = col
        while c < n and _char_class(line[c], False) != 2:
            c += 1
        if c < n:
            while c > 0 and _char_class(line[c - 1], False) == 2:
                c -= 1
            e = c
            while e < n and _char_class(line[e], False) == 2:
                e += 1
        else:
            c = col
            while c < n and _char_class(line[c], False) == 0:
                c += 1
            if c >= n:
                raise _Abort("E348: no string under cursor")
            cls = _char_class(line[c], False)
            while c > 0 and _char_class(line[c - 1], False) == cls:
                c -= 1
            e = c
            while e < n and _char_class(line[e], False) != 0:
                e += 1
        word = line[c:e]
        special = "/.*~[^$\\" if forward else "/?.*~[^$\\"
        pat = "".join("\\" + ch if ch in special else ch for ch in word)
        if _is_kw(word[0]) or word[0] == "_":
            pat = "\\<" + pat
        if _is_kw(word[-1]) or word[-1] == "_":
            pat = pat + "\\>"
        self._last_search = (pat, forward, ("", 0))
        self._use_reg_one = True
        save = self.col
        self.col = c
        try:
            return self._do_search(pat, forward, count)
        finally:
            self.col = save

    # -- text objects --------------------------------------------------------------------------

    def _text_object(self, kind, obj, count):
        """Returns (start, end, motion kind) for an operator; raises _Abort when there is none."""
        if obj in "wW":
            return self._word_object(kind == "a", obj == "W", count)
        if obj in "\"'`":
            return self._quote_object(kind == "a", obj, count)
        pairs = {"(": "(", ")": "(", "b": "(", "{": "{", "}": "{", "B": "{", "[": "[", "]": "[",
                 "<": "<", ">": "<"}
        if obj in pairs:
            return self._block_object(kind == "a", pairs[obj], count)
        if obj == "p":
            return self._par_object(kind == "a", count)
        raise _Abort("unsupported text object")

    def _back_in_line(self, r, c, big):
        sclass = self._cls(r, c, big)
        while c > 0:
            if self._cls(r, c - 1, big) != sclass:
                break
            c -= 1
        return c

    def _word_object(self, include, big, count, visual_from=None):
        r, c = self.row, self.col
        inclusive = True
        include_white = False
        start = None
        if visual_from is None:
            c = self._back_in_line(r, c, big)
            start = (r, c)
            if (self._cls(r, c, big) == 0) == include:
                (r, c), ok = self._end_word(1, big, stop=True, empty=True, start=(r, c))
                if not ok:
                    raise _Abort("no word")
            else:
                (r, c), _ = self._fwd_word(1, big, True, start=(r, c))
                if c == 0:
                    r, c, _ = self._decl(r, c)
                else:
                    c -= 1
                if include:
                    include_white = True
            count -= 1
        else:
            start = visual_from
        while count > 0:
            inclusive = True
            if visual_from is not None and (r, c) < visual_from:
                # Visual mode with the cursor at the start: extend backwards
                r, c, _ = self._decl(r, c)
                if (r, c) == (0, 0) and (self.row, self.col) == (0, 0):
                    raise _Abort("no more words")
                save = (self.row, self.col)
                self.row, self.col = r, c
                try:
                    if include != (self._cls(r, c, big) != 0):
                        (r, c), ok = self._bck_word(1, big, stop=True)
                    else:
                        (r, c), ok = self._bckend_word(1, big, eol=True)
                        if ok:
                            r, c, _ = self._incl(r, c)
                finally:
                    self.row, self.col = save
                if not ok:
                    raise _Abort("no more words")
                count -= 1
                continue
            r, c, i = self._incl(r, c)
            if i == -1:
                self.row, self.col = r, c
                raise _Abort("no more words")
            if include != (self._cls(r, c, big) == 0):
                (r, c), ok = self._fwd_word(1, big, True, start=(r, c))
                if not ok and count > 1:
                    self.row, self.col = r, c
                    raise _Abort("no more words")
                if c > 0:
                    c -= 1
                else:
                    inclusive = False
            else:
                (r, c), ok = self._end_word(1, big, stop=True, empty=True, start=(r, c))
                if not ok:
                    self.row, self.col = r, c
                    raise _Abort("no more words")
            count -= 1
        if include_white and (self._cls(r, c, big) != 0 or (c == 0 and not inclusive)):
            sr, sc = start
            if sc > 0:
                sc2 = self._back_in_line(sr, sc - 1, big)
                if self._cls(sr, sc2, big) == 0 and sc2 > 0:
                    start = (sr, sc2)
        return start, (r, c), ("incl" if inclusive else "excl")

    def _incl(self, r, c):
        r, c, i = self._inc(r, c)
        if i >= 1 and c:
            r, c, i = self._inc(r, c)
        return r, c, i

    def _decl(self, r, c):
        r, c, i = self._dec(r, c)
        if i == 1 and c:
            r, c, i = self._dec(r, c)
        return r, c, i

    def _quote_object(self, include, q, count):
        line = self.lines[self.row]
        col = self.col

        def next_quote(col, escape):
            while col < len(line):
                ch = line[col]
                if escape and ch == "\\":
                    col += 1
                    if col >= len(line):
                        return -1
                elif ch == q:
                    return col
                col += 1
            return -1

        if col < len(line) and line[col] == q:
            first = col
            cs = 0
            while True:
                cs = next_quote(cs, False)
                if cs < 0 or cs > first:
                    raise _Abort("no quote")
                ce = next_quote(cs + 1, True)
                if ce < 0:
                    raise _Abort("no quote")
                if cs <= first <= ce:
                    break
                cs = ce + 1
        else:
            cs = col
            while cs > 0:
                cs -= 1
                nb = 0
                while cs - nb > 0 and line[cs - nb - 1] == "\\":
                    nb += 1
                if nb & 1:
                    cs -= nb
                elif line[cs] == q:
                    break
            if cs >= len(line) or line[cs] != q:
                cs = next_quote(cs, False)
                if cs < 0:
                    raise _Abort("no quote")
            ce = next_quote(cs + 1, True)
            if ce < 0:
                raise _Abort("no quote")
        if include:
            if ce + 1 < len(line) and line[ce + 1] in " \t":
                while ce + 1 < len(line) and line[ce + 1] in " \t":
                    ce += 1
            else:
                while cs > 0 and line[cs - 1] in " \t":
                    cs -= 1
        if not include and count < 2:
            cs += 1
        kind = "excl"
        end = ce
        if include or count > 1:
            end = ce + 1
            if end >= len(line):
                kind = "incl"
        return (self.row, cs), (self.row, end), kind

    def _block_object(self, include, what, count):
        other = {"(": ")", "{": "}", "[": "]", "<": ">"}[what]
        r, c = self.row, self.col
        line = self.lines[r]
        if what == "{":
            while c < _first_nonblank(line) and c < len(line):
                c += 1
        if c < len(line) and line[c] == what:
            c += 1
        # the count-th enclosing block; when there is none, Vim 9.0 takes the next one forward
        forward = self._find_unclosed(r, c, what) is None
        pos = None
        cr, cc = r, c
        for _ in range(count):
            pos = self._find_unclosed(cr, cc, what, forward)
            if pos is None:
                break
            cr, cc = start = pos
        if pos is None:
            raise _Abort("no block")
        end = self._find_partner(cr, cc, what, other)
        if end is None:
            raise _Abort("no block")
        sr, sc = start
        er, ec = end
        if include:
            return (sr, sc), (er, ec), "incl"
        # exclude the brackets; a closing one preceded only by indent also drops that indent
        sr, sc, _ = self._incl(sr, sc)
        sol = ec == 0
        er, ec, _ = self._decl(er, ec)
        while ec < _first_nonblank(self.lines[er]):
            sol = True
            er, ec, i = self._decl(er, ec)
            if i != 0:
                break
        if sol:
            er, ec, _ = self._incl(er, ec)
            return (sr, sc), (er, ec), "excl"
        if (sr, sc) <= (er, ec):
            return (sr, sc), (er, ec), "incl"
        return (sr, sc), (sr, sc), "excl"

    def _find_unclosed(self, r, c, what, forward=False):
        """An unclosed `what` before (r, c) (or the next one after it when forward)."""
        if what == "<":
            return self._scan_pair(r, c, "<", ">", backwards=not forward)
        return self._findmatch(r, c, initc=what, cpo_match=True, forward=forward)

    def _find_partner(self, r, c, what, other):
        if what == "<":
            return self._scan_pair(r, c, ">", "<", backwards=False)
        return self._findmatch(r, c, initc=other, cpo_match=True)

    def _scan_pair(self, r, c, findc, initc, backwards):
        """Plain nesting scan from the char after/before (r, c) for an unmatched findc (used for
        <>, which the % machinery does not pair by default)."""
        lines = self.lines
        count = 0
        while True:
            if backwards:
                c -= 1
                while c < 0:
                    if r == 0:
                        return None
                    r -= 1
                    c = len(lines[r]) - 1
            else:
                c += 1
                while c >= len(lines[r]):
                    if r == len(lines) - 1:
                        return None
                    r += 1
                    c = 0
            ch = lines[r][c]
            if ch == initc:
                count += 1
            elif ch == findc:
                if count == 0:
                    return (r, c)
                count -= 1

    def _extend_par(self, include, count):
        """ip/ap in a Visual area of several lines: extend it by paragraphs (Vim's current_par)."""
        last = len(self.lines) - 1
        start = self.row
        d = -1 if start < self._visual_start[0] else 1
        edge = 0 if d < 0 else last
        fail = False
        for _ in range(count):
            if start == edge:
                fail = True
                break
            prev_white = None
            for _ in range(2):
                start += d
                white = self._linewhite(start)
                if prev_white == white:
                    start -= d
                    break
                while start != edge:
                    if white != self._linewhite(start + d) or \
                            (not white and self._startps(start + (1 if d > 0 else 0))):
                        break
                    start += d
                if not include or start == edge:
                    break
                prev_white = white
        self.row, self.col = start, 0
        if fail:
            raise _Abort("no more paragraphs")

    def _linewhite(self, row):
        return self.lines[row].strip(" \t") == ""

    def _par_object(self, include, count, start_row=None):
        lines = self.lines
        last = len(lines) - 1
        start = self.row if start_row is None else start_row
        white_in_front = self._linewhite(start)
        while start > 0:
            if white_in_front:
                if not self._linewhite(start - 1):
                    break
            elif self._linewhite(start - 1) or self._startps(start):
                break
            start -= 1
        end = start
        while end <= last and self._linewhite(end):
            end += 1
        end -= 1
        i = count
        if not include and white_in_front:
            i -= 1
        do_white = False
        while i > 0:
            i -= 1
            if end == last:
                raise _Abort("ip past end")
            if not include:
                do_white = self._linewhite(end + 1)
            if include or not do_white:
                end += 1
                while end < last and not self._linewhite(end + 1) and not self._startps(end + 1):
                    end += 1
            if i == 0 and white_in_front and include:
                break
            if include or do_white:
                while end < last and self._linewhite(end + 1):
                    end += 1
        if not white_in_front and not self._linewhite(end) and include:
            while start > 0 and self._linewhite(start - 1):
                start -= 1
        return (start, 0), (end, 0), "line"

    # -- operators -----------------------------------------------------------------------------

    def _operator(self, k, nxt, reg, count, alias=None):
        op = k
        if k == "g":
            op = "g" + nxt()
        if op in ("!", "="):
            raise _Abort("unsupported operator")
        self._op_pending = True
        n2, k2 = self._read_count(nxt, nxt())
        motion_at = nxt.pos - 1
        total = (count or 1) * (n2 or 1) if (count or n2) else 0
        c1 = total or 1
        orig = (self.row, self.col)
        last = len(self.lines) - 1

        def record(motion_keys):
            if op != "y":
                self._set_dot(reg, total, [alias] if alias else list(op) + motion_keys)

        if k2 == op[-1] or (len(op) == 2 and k2 == "g" and nxt.peek() == op[1] and nxt()):
            # dd, cc, yy, >>, <<, g~~ / g~g~, guu, gUU, g??: count lines from the cursor
            self._op_pending = False
            if c1 > 1 and self.row >= last:
                raise _Abort("count past the last line")
            end_row = min(self.row + c1 - 1, last)
            cur = orig
            if op != "y" and end_row == self.row:
                cur = min(orig, (self.row, _first_nonblank(self.lines[self.row])))
            record(list(op[-1]) if len(op) == 1 else [op[1]])
            self._apply_op(op, reg, (self.row, 0), (end_row, 0), "line", cur)
            return
        if k2 in ("i", "a"):
            obj = nxt()
            self._op_pending = False
            s, e, kind = self._text_object(k2, obj, c1)
            s, e = sorted([s, e])  # "iw" on an empty line ends before it starts
            e, kind = self._exclusive_adjust(s, e, kind)
            record([k2, obj])
            self._apply_op(op, reg, s, e, kind, s)
            return
        if k2 in ("v", "V", "<C-v>"):
            raise _Abort("forced motions are not supported")
        if k2 == "g":
            target = self._motion("g", nxt, total, op, first=nxt())
        else:
            target = self._motion(k2, nxt, total, op)
        self._op_pending = False
        r, c, kind, _, jump = target
        if jump:
            self._pcmark = orig
        if kind == "dollar":
            kind = "incl"
        s, e = sorted([orig, (r, c)])
        cur = s
        if k2 != "<BS>":
            e, kind = self._exclusive_adjust(s, e, kind)
        record(nxt.keys[motion_at:nxt.pos])
        self._apply_op(op, reg, s, e, kind, cur, use_reg_one=self._use_reg_one)

    def _exclusive_adjust(self, s, e, kind):
        """An exclusive motion ending in column 0 of a later line stops at the end of the line
        before, and becomes linewise when it started in the indent (":help exclusive")."""
        if kind != "excl" or e[1] != 0 or e[0] <= s[0]:
            return e, kind
        er = e[0] - 1
        if _first_nonblank(self.lines[s[0]]) >= s[1]:
            return (er, 0), "line"
        n = len(self.lines[er])
        return (er, max(n - 1, 0)), ("incl" if n else "excl")

    def _apply_op(self, op, reg, s, e, kind, cur, use_reg_one=False, visual=False):
        """Run operator op over s..e (s <= e) with motion kind excl/incl/line.

        cur: where Vim leaves the cursor before operating (the start of the operated text,
        with its column even for linewise motions); undo returns there."""
        lines = self.lines
        if kind == "line":
            s, e = (s[0], 0), (e[0], 0)
        empty = kind == "excl" and s == e
        self.row, self.col = cur
        if op == "y":
            text, linewise = self._region_text(s, e, kind)
            self._yank_to(reg, [""] if empty else text, linewise)
            self._clamp()
            return
        if op in ("d", "c"):
            if self._ml_empty:
                # all lines were deleted: Vim's op_delete does nothing at all (no register)
                if op == "c":
                    self._save_undo(s[0], 1)
                    self._enter_insert_at(0, 0)
                return
            if op == "d" and kind != "line" and e[0] > s[0] and not visual:
                # "d" over lines that starts in the indent and ends at a line end is linewise
                end_line = lines[e[0]]
                after = end_line[e[1] + (1 if kind == "incl" and e[1] < len(end_line) else 0):]
                if after.strip(" \t") == "" and _first_nonblank(lines[s[0]]) >= s[1]:
                    kind = "line"
                    s, e = (s[0], 0), (e[0], 0)
            if op == "d" and not empty and kind != "line" and s[0] == e[0] and lines[s[0]] == "":
                return  # "D" on an empty line: nothing happens, registers stay
            if empty:
                self._save_undo(s[0], 1)
                self.row, self.col = s
                if op == "c":
                    self._enter_insert_at(s[0], s[1])
                return
            text, linewise = self._region_text(s, e, kind)
            self._store_delete(reg, text, linewise, use_reg_one or e[0] > s[0])
            if op == "c" and kind == "line" and e[0] > s[0]:
                # Vim deletes the lines below first, with the cursor one line down
                self.row = s[0] + 1
                self._save_undo(s[0] + 1, e[0] - s[0])
            self._save_undo(s[0], e[0] - s[0] + 1)
            if kind == "line":
                if op == "c":
                    self._set_lines(s[0], e[0] + 1, [""])
                    self._enter_insert_at(s[0], 0)
                    return
                self._set_lines(s[0], e[0] + 1, [])
                if not self.lines:
                    self.lines.append("")
                    self._ml_empty = True
                self.row = min(s[0], len(self.lines) - 1)
                self.col = _first_nonblank(self.lines[self.row])
                self.curswant = self.col
                return
            ec = e[1] + (1 if kind == "incl" else 0)
            first, lastl = lines[s[0]], lines[e[0]]
            self._set_lines(s[0], e[0] + 1, [first[:s[1]] + lastl[ec:]])
            self.row, self.col = s
            if op == "c":
                self._enter_insert_at(s[0], s[1])
                return
            self._clamp()
            self.curswant = self.col
            return
        self._save_undo(s[0], e[0] - s[0] + 1)
        if op in (">", "<"):
            for row in range(s[0], e[0] + 1):
                self._shift_line(row, 1 if op == ">" else -1)
            self.row = s[0]
            self.col = _first_nonblank(lines[s[0]])
            self.curswant = self.col
            return
        fn = _CASE_OPS[op[1]]
        if empty and s[1] == 0:
            # Vim backs the end up one char: at the buffer start it cannot move (one char is
            # changed); elsewhere it lands on the line above and the whole line is changed
            kind, e = ("incl", s) if s[0] == 0 else ("line", s)
        for row in range(s[0], e[0] + 1):
            ln = lines[row]
            a = s[1] if (row == s[0] and kind != "line") else 0
            b = (e[1] + (1 if kind == "incl" else 0)) if (row == e[0] and kind != "line") else len(ln)
            lines[row] = ln[:a] + "".join(fn(ch) for ch in ln[a:b]) + ln[b:]
        self._clamp()
        self.curswant = self.col

    def _shift_line(self, row, amount):
        ln = self.lines[row]
        if ln == "":
            return
        width = _indent_width(ln)
        new = max(0, width + amount * SHIFTWIDTH)
        self.lines[row] = " " * new + ln[_first_nonblank(ln):]

    def _region_text(self, s, e, kind):
        lines = self.lines
        if kind == "line":
            return lines[s[0]:e[0] + 1], True
        ec = e[1] + (1 if kind == "incl" else 0)
        if s[0] == e[0]:
            return [lines[s[0]][s[1]:ec]], False
        return [lines[s[0]][s[1]:]] + lines[s[0] + 1:e[0]] + [lines[e[0]][:ec]], False

    # -- registers -----------------------------------------------------------------------------

    def _write_reg(self, name, text, linewise):
        if name.isupper():
            low = name.lower()
            old = self.regs.get(low)
            if old:
                olines, olw = old
                if linewise or olw:
                    self.regs[low] = (olines + text, True)
                else:
                    self.regs[low] = (olines[:-1] + [olines[-1] + text[0]] + text[1:], False)
            else:
                self.regs[low] = (list(text), linewise)
            return low
        self.regs[name] = (list(text), linewise)
        return name

    def _yank_to(self, reg, text, linewise):
        if reg == "_":
            return
        if reg in (None, '"'):
            self._unnamed = self._write_reg("0", text, linewise)
        else:
            self._unnamed = self._write_reg(reg, text, linewise)

    def _store_delete(self, reg, text, linewise, multi):
        if reg == "_":
            return
        if reg not in (None, '"'):
            self._unnamed = self._write_reg(reg, text, linewise)
        appended = reg is not None and reg.isupper()
        if linewise or multi:
            for older, newer in zip("98765432", "87654321"):  # "8 -> "9, ..., "1 -> "2
                if newer in self.regs:
                    self.regs[older] = self.regs[newer]
            self.regs["1"] = (list(text), linewise)
            if not appended:
                self._unnamed = "1"
        if reg in (None, '"') and not linewise and len(text) == 1:
            self.regs["-"] = (list(text), False)
            self._unnamed = "-"

    def _reg_text(self, reg):
        """Register contents as one string (linewise ends with a newline)."""
        content = self._get_reg(reg)
        if content is None:
            return ""
        text, linewise = content
        return "\n".join(text) + ("\n" if linewise else "")

    def _get_reg(self, reg):
        if reg in (None, '"'):
            return self.regs.get(self._unnamed) if self._unnamed else None
        if reg == "/":
            return ([self._last_search[0]], False) if self._last_search else None
        return self.regs.get(reg.lower())

    # -- put, join, replace, tilde -------------------------------------------------------------

    def _put(self, reg, count, after, gmove=False):
        self._save_undo(self.row + 1, 0)  # Vim starts the undo step before it looks at the register
        content = self._get_reg(reg)
        if content is None or reg == "_":
            raise _Abort("E353: Nothing in register")
        self._put_text(content[0], content[1], count, after, gmove)

    def _put_text(self, text, linewise, count, after, gmove=False):
        self._save_undo(self.row + (1 if after else 0), 0) if linewise else self._save_undo(self.row, 1)
        lines = self.lines
        if linewise:
            row = self.row + 1 if after else self.row
            new = text * count
            self._set_lines(row, row, list(new))
            if gmove:
                self.row = min(row + len(new), len(lines) - 1)
                self.col = 0
            else:
                self.row = row
                self.col = _first_nonblank(lines[row])
            self.curswant = self.col
            return
        line = lines[self.row]
        col = self.col
        if after and line:
            col += 1
        body = "\n".join(text)
        full = body * count
        parts = full.split("\n")
        if len(parts) == 1:
            lines[self.row] = line[:col] + full + line[col:]
            self.col = col + len(full) - 1 if full else col
            if gmove:
                self.col = col + len(full)
        else:
            new = [line[:col] + parts[0]] + parts[1:-1] + [parts[-1] + line[col:]]
            self._set_lines(self.row, self.row + 1, new)
            if gmove:
                self.row += len(parts) - 1
                self.col = len(parts[-1])
            else:
                self.col = col
        self.curswant = self.col

    def _join(self, count, spaces, rows=None):
        lines = self.lines
        if rows is None:
            count = max(count, 2)
            if self.row + count - 1 > len(lines) - 1:
                if count <= 2:
                    raise _Abort("J on the last line")
                count = len(lines) - self.row
            first = self.row
        else:
            first, count = rows
        self._save_undo(first, count)
        result = lines[first]
        end = result[-1:]  # last character of the previous piece (Vim's endcurr1)
        col = 0
        for i in range(1, count):
            nxt_line = lines[first + i]
            sp = ""
            if spaces:
                nxt_line = nxt_line.lstrip(" \t")
                if nxt_line and not nxt_line.startswith(")") and result and end != "\t" and end != " ":
                    sp = " "
                end = nxt_line[-1:]
            col = len(result)
            result = result + sp + nxt_line
        self._set_lines(first, first + count, [result])
        self.row = first
        self.col = min(col, max(len(result) - 1, 0))
        self.curswant = self.col

    def _replace_chars(self, count, ch):
        line = self.lines[self.row]
        if ch == "<Esc>":
            raise _Abort("cancelled")
        if self.col + count > len(line):
            raise _Abort("r past end of line")
        self._save_undo(self.row, 1)
        if ch in ("<Enter>", "\r"):
            self._set_lines(self.row, self.row + 1, [line[:self.col], line[self.col + count:]])
            self.row += 1
            self.col = 0
            self.curswant = 0
            self._rstack = []  # Vim inserts the line break in an Insert session, whose end flushes the stack
            return
        ch = {"<Tab>": "\t"}.get(ch, ch)
        if len(ch) != 1:
            raise _Abort("bad replacement char")
        self._rstack += [x for old in line[self.col:self.col + count] for x in ("", old)]  # as Vim's ins_char
        self.lines[self.row] = line[:self.col] + ch * count + line[self.col + count:]
        self.col += count - 1
        self.curswant = self.col

    def _tilde(self, count):
        line = self.lines[self.row]
        if not line:
            raise _Abort("~ on an empty line")
        self._save_undo(self.row, 1)
        end = min(self.col + count, len(line))
        self.lines[self.row] = line[:self.col] + "".join(_swapcase(ch) for ch in line[self.col:end]) + line[end:]
        self.col = min(end, len(line) - 1)
        self.curswant = self.col

    # -- buffer primitives (with mark adjustment) ----------------------------------------------

    def _set_lines(self, a, b, new):
        """Replace lines[a:b] with new, moving marks below the change."""
        delta = len(new) - (b - a)
        self.lines[a:b] = new
        if self.marks and (delta or b - a != len(new)):
            for name, (mr, mc) in list(self.marks.items()):
                if mr >= b:
                    self.marks[name] = (mr + delta, mc)
                elif mr >= a + len(new) and delta < 0:
                    del self.marks[name]

    # -- undo ----------------------------------------------------------------------------------

    def _save_undo(self, first=None, size=None):
        """Snapshot the buffer before the first change of an undo step (a tuple: the strings are shared,
        and a tuple of strings is not tracked by the garbage collector as the history grows).

        first, size: the rows this change replaces (Vim's u_save range); undo uses them, as Vim
        does, to decide where the cursor goes."""
        self._ml_empty = False
        if self._step_open:
            return
        self._step_open = True
        self._undo.append((tuple(self.lines), (self.row, self.col), dict(self.marks), first, size))
        self._redo.clear()

    def _undo_step(self, redo):
        src, dst = (self._redo, self._undo) if redo else (self._undo, self._redo)
        if not src:
            raise _Abort("already at oldest/newest change")
        old_lines, uh_cursor, marks, first, size = src.pop()
        self._ml_empty = False
        cur = self.lines
        # the block this step restores: the saved rows, else the smallest differing block
        if first is None:
            first = 0
            while first < len(cur) and first < len(old_lines) and cur[first] == old_lines[first]:
                first += 1
            s = 0
            while s < len(cur) - first and s < len(old_lines) - first and cur[-1 - s] == old_lines[-1 - s]:
                s += 1
            size = len(old_lines) - first - s
        # the entry now holds the lines it replaces, for the way back (the cursor saved before
        # the original change stays with it)
        back = size + len(cur) - len(old_lines)
        dst.append((tuple(cur), uh_cursor, dict(self.marks), first, back))
        self.lines = list(old_lines)
        if not redo:
            self.marks.update(marks)
        ur, uc = uh_cursor
        oldsize = size + len(cur) - len(old_lines)
        if first - 1 <= ur <= first + size:
            row = ur  # the saved cursor is inside the block: go back there
        else:
            i = 0
            while i < size and i < oldsize and first + i < len(cur) and cur[first + i] == old_lines[first + i]:
                i += 1
            row = first + i if i < size else first
        if ur + 1 == row and row > 0:
            row -= 1
        if row < len(self.lines):
            self.row = row
            self.col = uc if ur == row else _first_nonblank(self.lines[row])
        else:
            self.row = len(self.lines) - 1
            self.col = 0
        self.col = min(self.col, max(len(self.lines[self.row]) - 1, 0))
        self.curswant = self.col

    # -- '.' repeat ----------------------------------------------------------------------------

    def _repeat(self, count):
        if self._dot is None:
            raise _Abort("nothing to repeat")
        reg, old_count, keys, visual = self._dot
        n = count or old_count
        if reg and reg.isdigit() and reg not in "09":
            reg = str(int(reg) + 1)  # "1p... repeats with "2p, "3p, ...
        self.pending = []
        if visual:
            # re-select an area of the same size at the cursor (Vim ignores a new count here)
            mode, nlines, vcol = visual
            n = old_count
            self._mode = mode
            self._visual_start = (self.row, self.col)
            self.row = min(self.row + nlines - 1, len(self.lines) - 1)
            if vcol == MAXCOL or mode == "v":
                if mode == "v":
                    self.curswant = self.col + vcol - 1 if nlines <= 1 else vcol
                else:
                    self.curswant = MAXCOL
                self.col = self._col_for_want(self.row, self.curswant)
        seq = (['"', reg] if reg else []) + (list(str(n)) if n else []) + list(keys)
        self._aborted = False
        self._redo_visual = visual is not None
        try:
            for k in seq:
                self._key(k)
                if self._aborted:
                    break  # a failing command flushes the rest of the repeated keys
        finally:
            self._redo_visual = False
        raise _Abort("done")  # the '.' itself is finished; nothing else to do

    # -- Insert mode ---------------------------------------------------------------------------

    def _begin_insert(self, k, count, reg, raw_count):
        line = self.lines[self.row]
        if k in ("i", "R"):
            col = self.col
        elif k == "a":
            col = self.col + 1 if line else 0
        elif k == "I":
            col = _first_nonblank(line)
        elif k == "gI":
            col = 0
        elif k == "A":
            col = len(line)
        else:
            self._save_undo(self.row + 1 if k == "o" else self.row, 0)
            row = self.row + 1 if k == "o" else self.row
            self._set_lines(row, row, [""])
            self.row = row
            col = 0
        self.row, self.col = self.row, col
        self._insert = {"cmd": k, "count": count, "keys": [], "top": self.row,  # top: Vim's Insstart.lnum
                        "dot": (reg, raw_count, ["g", "I"] if k == "gI" else [k], None)}

    def _enter_insert_at(self, r, c):
        """Insert mode after c/s/C/S: the '.' record is the change command plus the typed text."""
        self.row, self.col = r, c
        self._insert = {"cmd": "c", "count": 1, "keys": [], "dot": self._dot}

    def _insert_keys(self, keys, i):
        """Insert-mode keys from keys[i]: a run of plain characters (typed text, the common case) goes in
        as one string, as _insert_key would put it char by char; other keys go one by one. Returns the
        index after the keys used."""
        j = i
        while j < len(keys) and len(keys[j]) == 1:
            j += 1
        if j == i or self._insert.get("creg"):
            self._insert_key(keys[i])
            return i + 1
        self._insert["keys"].extend(keys[i:j])
        self._save_undo(self.row, 1)
        line = self.lines[self.row]
        end = self.col
        if self._insert["cmd"] == "R":  # overwrite, appending past the end of the line
            end = min(self.col + j - i, len(line))
            self._rstack += [x for ch in line[self.col:end] for x in ("", ch)] + [""] * (self.col + j - i - end)
        self.lines[self.row] = line[:self.col] + "".join(keys[i:j]) + line[end:]
        self.col += j - i
        return j

    def _insert_key(self, k, record=True):
        ins = self._insert
        if ins.get("creg"):  # the key after <C-r> names the register, even <Esc>
            ins["creg"] = False
            # its text goes in as if typed, and is what "." and a count repeat (not the register)
            for ch in self._reg_text(k):
                self._insert_key("<Enter>" if ch == "\n" else ch, record)
            return
        if k == "<Esc>":
            if record:
                self._finish_insert()
            return
        if k == "<C-r>":
            ins["creg"] = True
            return
        if k == "<BS>" and self.col == 0 and self.row == 0:
            return  # nothing to delete: Vim beeps and leaves it out of the repeat text
        if record:
            ins["keys"].append(k)
        self._save_undo(self.row, 1)
        line = self.lines[self.row]
        if ins["cmd"] == "R":
            self._replace_key(k, line)
        elif k == "<Enter>":
            self._set_lines(self.row, self.row + 1, [line[:self.col], line[self.col:]])
            self.row += 1
            self.col = 0
        elif k == "<BS>":
            if self.col > 0:
                self.lines[self.row] = line[:self.col - 1] + line[self.col:]
                self.col -= 1
            elif self.row > 0:
                prev = self.lines[self.row - 1]
                self._set_lines(self.row - 1, self.row + 1, [prev + line])
                self.row -= 1
                self.col = len(prev)
        elif k == "<Tab>":
            n = _tab_spaces(line, self.col)
            self.lines[self.row] = line[:self.col] + " " * n + line[self.col:]
            self.col += n
        else:
            self.lines[self.row] = line[:self.col] + k + line[self.col:]
            self.col += 1

    def _replace_key(self, k, line):
        """One Replace-mode key: Vim's ins_char, ins_eol, ins_tab and ins_bs in MODE_REPLACE."""
        stack = self._rstack
        if k == "<Enter>":  # splits the line and replaces nothing; ins_eol and open_line push a NUL each
            self._set_lines(self.row, self.row + 1, [line[:self.col], line[self.col:]])
            self.row += 1
            self.col = 0
            stack += ["", ""]
        elif k == "<BS>":
            cc = stack.pop() if stack else None  # None: the stack is empty
            if self.col == 0:
                top = self._insert["top"]
                if self.row == top:
                    self._insert["top"] -= 1
                if self.row <= top:  # in the line R started in only move, past the end of the line above
                    self.row -= 1
                    self.col = len(self.lines[self.row])
                    return
                # at a line break typed in this session: join back (cc was the NUL open_line pushed,
                # with no blanks to put back before it, as there is no autoindent)
                prev = self.lines[self.row - 1]
                self.row -= 1
                self.col = len(prev)
                self._set_lines(self.row, self.row + 2, [prev + line])
            else:
                self.col -= 1
                if cc == "":  # typed past the end or inserted: delete it
                    self.lines[self.row] = line[:self.col] + line[self.col + 1:]
                    return
                if cc is None:  # nothing to put back: only move
                    return
                self.lines[self.row] = line[:self.col] + cc + line[self.col + 1:]
            # replace_pop_ins: put back characters up to the entry's NUL
            while stack and stack[-1]:
                line = self.lines[self.row]
                self.lines[self.row] = line[:self.col] + stack.pop() + line[self.col:]
            if stack:
                stack.pop()
        else:
            # <Tab> (expandtab): the first space overwrites, the others are inserted
            text = " " * _tab_spaces(line, self.col) if k == "<Tab>" else k
            stack += ["", line[self.col]] if self.col < len(line) else [""]
            stack += [""] * (len(text) - 1)
            self.lines[self.row] = line[:self.col] + text + line[self.col + 1:]
            self.col += len(text)

    def _finish_insert(self):
        ins = self._insert
        if ins["cmd"] not in ("o", "O") and all(len(k) == 1 for k in ins["keys"]):
            # plain characters: insert (R: overwrite) all repetitions at once (key by key is quadratic
            # in the count)
            line, text = self.lines[self.row], "".join(ins["keys"]) * (ins["count"] - 1)
            end = self.col + len(text) if ins["cmd"] == "R" else self.col
            self.lines[self.row] = line[:self.col] + text + line[end:]
            self.col += len(text)
            ins = dict(ins, count=1)
        for _ in range(ins["count"] - 1):
            if ins["cmd"] in ("o", "O"):
                self._insert_key("<Enter>", record=False)
            for k in ins["keys"]:
                self._insert_key(k, record=False)
        self._insert = None
        self._rstack = []  # Vim's stop_insert: replace_flush
        reg, count, keys, visual = ins["dot"]
        self._dot = (reg, count, keys + ins["keys"] + ["<Esc>"], visual)
        if self.col > 0:
            self.col -= 1
        self.curswant = self.col
        self._step_open = False
        self._clamp()

    # -- Visual mode ---------------------------------------------------------------------------

    def _start_visual(self, k, count):
        self._mode = k
        self._visual_start = (self.row, self.col)
        if count > 1 and k == "v":
            self.col = min(self.col + count - 1, max(len(self.lines[self.row]) - 1, 0))
            self.curswant = self.col
        elif count > 1 and k == "V":
            self.row = min(self.row + count - 1, len(self.lines) - 1)
            self.col = self._col_for_want(self.row, self.curswant)

    def _reselect_visual(self):
        if not self._last_visual:
            raise _Abort("no previous Visual area")
        mode, s, e, want = self._last_visual
        last = len(self.lines) - 1
        s = (min(s[0], last), s[1])
        e = (min(e[0], last), e[1])
        self._mode = mode
        self._visual_start = s
        self.row, self.col = e
        self.curswant = want
        self._clamp()

    def _end_visual(self):
        self._last_visual = (self._mode, self._visual_start, (self.row, self.col), self.curswant)
        self._mode = "n"

    def _visual_region(self):
        """(start, end, kind) of the selection for an operator."""
        s, e = sorted([self._visual_start, (self.row, self.col)])
        if self._mode == "V":
            return (s[0], 0), (e[0], 0), "line"
        kind = "incl"
        if e[1] >= len(self.lines[e[0]]):
            # the end sits on the line break: include it
            if e[0] < len(self.lines) - 1:
                e = (e[0] + 1, 0)
                kind = "excl"
            else:
                e = (e[0], max(len(self.lines[e[0]]) - 1, 0))
                kind = "incl" if self.lines[e[0]] else "excl"
                if not self.lines[e[0]] and s == e:
                    kind = "excl"
        return s, e, kind

    def _visual_command(self, nxt):
        reg = None
        count = 0
        k = nxt()
        while True:
            n, k = self._read_count(nxt, k)
            if n:
                count = count * n if count else n
            if k != '"':
                break
            reg = nxt()
            k = nxt()
        c1 = count or 1
        if k == "<Esc>":
            self._end_visual()
            return
        if k in ("v", "V"):
            if self._mode == k:
                self._end_visual()
            else:
                self._mode = k
            return
        if k == "o":
            self._visual_start, (self.row, self.col) = (self.row, self.col), self._visual_start
            self.curswant = self.col
            return
        if k in ("i", "a"):
            obj = nxt()
            self._visual_object(k, obj, c1)
            return
        if k == ":":
            line = self._read_cmdline(nxt)
            self._end_visual()
            self._ex("'<,'>" + line)
            return
        if k == "g":
            k2 = nxt()
            if k2 in ("~", "u", "U", "?", "J"):
                self._visual_op("g" + k2, reg, c1, ["g", k2])
                self.curswant = self.col
                return
            if k2 == "v":
                raise _Abort("gv in Visual")
            self._move(self._motion("g", nxt, count, None, first=k2))
            return
        ops = {"d": "d", "x": "d", "<Del>": "d", "X": "D", "D": "D", "y": "y", "Y": "Y",
               "c": "c", "s": "c", "C": "C", "S": "C", "R": "C", ">": ">", "<": "<", "~": "g~",
               "u": "gu", "U": "gU", "J": "J", "p": "p", "P": "P", "r": "r"}
        if k in ops:
            self._visual_op(ops[k], reg, c1, [k], nxt if k == "r" else None)
            self.curswant = self.col
            return
        if k in ("I", "A"):
            raise _Abort("Visual I/A are not supported")
        self._move(self._motion(k, nxt, count, None))

    def _visual_object(self, k, obj, count):
        cur = (self.row, self.col)
        if obj in "wW" and self._visual_start != cur:
            s, e, kind = self._word_object(k == "a", obj == "W", count, visual_from=self._visual_start)
            self.row, self.col = e
            if self._mode == "V":
                self._mode = "v"
            return
        if obj == "p":
            if self._visual_start[0] != self.row:
                self._extend_par(k == "a", count)
                return
            s, e, kind = self._par_object(k == "a", count)
            if self._mode == "V" and s[0] == self.row:
                self._extend_par(k == "a", count)  # "Vipip" on one white line: extend
                return
            self._mode = "V"
            if self._visual_start[0] != s[0]:
                self._visual_start = s
            self.row, self.col = e[0], 0
            return
        s, e, kind = self._text_object(k, obj, count)
        if kind == "excl":
            if e == s:
                return
            e = self._decl(*e)[:2]
        if kind == "line":
            self._mode = "V"
        elif self._mode == "V":
            self._mode = "v"
        self._visual_start = s
        self.row, self.col = e
        self.curswant = self.col

    def _visual_op(self, op, reg, count, op_keys, nxt=None):
        ch = self._char_arg(nxt) if op == "r" else None
        if op == "r":
            op_keys = op_keys + [nxt.keys[nxt.pos - 1]]
        vs, cur = self._visual_start, (self.row, self.col)
        s, e, kind = self._visual_region()
        mode = self._mode
        if op not in ("y", "Y"):
            a, b = sorted([vs, cur])
            nlines = b[0] - a[0] + 1
            vcol = MAXCOL if self.curswant == MAXCOL else (b[1] - a[1] + 1 if nlines <= 1 else b[1])
            dot_reg, dot_keys = reg, op_keys
            if op in ("p", "P"):
                # Visual p deletes through the "d" operator, which is what "." repeats in Vim
                dot_reg, dot_keys = None, ["d"]
            self._set_dot(dot_reg, count if count > 1 else 0, dot_keys, (mode, nlines, vcol))
        self._end_visual()
        # Vim puts the cursor on min(Visual start (column 0 when linewise), cursor) first
        # (a "." repeat keeps the cursor column even for a linewise area)
        start = (vs[0], 0) if mode == "V" and not self._redo_visual else vs
        curpos = start if start < cur else cur
        if mode == "V" or op in ("D", "Y", "C", "J", "gJ", ">", "<"):
            # operators on whole lines: the rows of the area, never the line break after it
            rows = sorted([vs[0], cur[0]])
            s, e, kind = (rows[0], 0), (rows[1], 0), "line"
        op = {"D": "d", "Y": "y", "C": "c"}.get(op, op)
        if op in ("J", "gJ"):
            self.row, self.col = curpos
            n = max(e[0] - s[0] + 1, 2)
            if s[0] + n - 1 >= len(self.lines):
                raise _Abort("J on the last line")
            self._join(0, spaces=op == "J", rows=(s[0], n))
            return
        if op == "r":
            self._save_undo(s[0], e[0] - s[0] + 1)
            for row in range(s[0], e[0] + 1):
                ln = self.lines[row]
                a = s[1] if (row == s[0] and kind != "line") else 0
                b = (e[1] + (1 if kind == "incl" else 0)) if (row == e[0] and kind != "line") else len(ln)
                self.lines[row] = ln[:a] + ch * (b - a) + ln[b:]
            self.row, self.col = s if kind != "line" else (s[0], 0)
            self.curswant = self.col
            return
        if op in ("p", "P"):
            # the put text replaces the selection: delete it (registers change as for "d"),
            # then put what the register held before (Vim's nv_put)
            content = self._get_reg(reg)
            whole = kind == "line" and s[0] == 0 and e[0] == len(self.lines) - 1
            self._apply_op("d", None, s, e, kind, curpos, visual=True)
            if content is None or reg == "_":
                raise _Abort("E353: Nothing in register")
            text, linewise = content
            after = (mode != "V" and self.col < s[1]) or (mode == "V" and self.row < s[0])
            if mode == "V":
                linewise = True
            elif linewise:
                # a linewise register splits the line at the cursor and goes in between
                line = self.lines[self.row]
                cut = self.col + (1 if after and line else 0)
                self._set_lines(self.row, self.row + 1, [line[:cut], line[cut:]])
                after = True
            self._put_text(text, linewise, count, after)
            if whole and self.lines[-1] == "" and len(self.lines) > 1:
                self._set_lines(len(self.lines) - 1, len(self.lines), [])
                if self.row >= len(self.lines):
                    self.row = len(self.lines) - 1
                    self.col = max(len(self.lines[-1]) - 1, 0)
            return
        if op in (">", "<"):
            self.row, self.col = curpos
            self._save_undo(s[0], e[0] - s[0] + 1)
            for row in range(s[0], e[0] + 1):
                self._shift_line(row, count if op == ">" else -count)
            self.row = s[0]
            self.col = _first_nonblank(self.lines[s[0]])
            self.curswant = self.col
            return
        self._apply_op(op, reg, s, e, kind, curpos, visual=True)

    # -- Ex command lines ----------------------------------------------------------------------

    def _ex(self, line):
        s = line.lstrip(" \t:")
        rng, s = self._ex_range(s)
        s = s.lstrip(" \t")
        m = _EX_NAME.match(s)
        name = m.group(0)
        arg = s[len(name):]
        last = len(self.lines) - 1
        if not name:
            if arg.strip():
                raise _Abort("E488: trailing characters")
            if rng is None:
                return
            row = rng[1]
            if row < 0:
                raise _Abort("E16: invalid range")
            self._pcmark = (self.row, self.col)
            self.row = min(row, last) if row >= 0 else 0
            self.col = _first_nonblank(self.lines[self.row])
            self.curswant = self.col
            return
        cur = (self.row, self.row)
        a, b = rng if rng else cur
        if name.startswith("s") and ("substitute".startswith(name) or re.fullmatch(r"s[gciIenr&]*", name)):
            if name not in ("s", "su", "sub", "subs", "subst", "substi", "substit", "substitu",
                            "substitut", "substitute"):
                # ":sg" style flags without delimiters are not supported
                raise _Abort("E492: not an editor command")
            self._check_range(a, b)
            self._substitute(a, b, arg)
            return
        if name == "&" or name == "&&":
            self._check_range(a, b)
            self._substitute(a, b, "")
            return
        if name in ("d", "de", "del", "dele", "delet", "delete"):
            self._check_range(a, b)
            if self._ml_empty:
                return  # nothing to delete in an emptied buffer
            reg, cnt = self._ex_reg_count(arg)
            if cnt:
                a, b = b, min(b + cnt - 1, last)
            text = self.lines[a:b + 1]
            self._store_delete(reg, text, True, True)
            self.row, self.col = a, _first_nonblank(self.lines[a])
            self._save_undo(a, b - a + 1)
            self._set_lines(a, b + 1, [])
            if not self.lines:
                self.lines.append("")
                self._ml_empty = True
            self.row = min(a, len(self.lines) - 1)
            self.col = _first_nonblank(self.lines[self.row])
            self.curswant = self.col
            return
        if name in ("y", "ya", "yan", "yank"):
            self._check_range(a, b)
            reg, cnt = self._ex_reg_count(arg)
            if cnt:
                a, b = b, min(b + cnt - 1, last)
            self._yank_to(reg, self.lines[a:b + 1], True)
            return
        if name in ("m", "mo", "mov", "move", "t", "co", "cop", "copy"):
            self._check_range(a, b)
            dest_s = arg.strip()
            drng, rest = self._ex_range(dest_s)
            if drng is None or rest.strip():
                raise _Abort("E14: invalid address")
            dest = drng[1]  # the destination line (0-based), -1 means "before line 1"
            if dest > last:
                raise _Abort("E16: invalid range")
            block = self.lines[a:b + 1]
            if name.startswith("m"):
                if a <= dest < b:
                    raise _Abort("E134: cannot move a range of lines into itself")
                if dest == b or dest == a - 1:
                    self.row = b  # nothing moves (and Vim makes no undo step)
                else:
                    self._save_undo()
                    del self.lines[a:b + 1]
                    ins = dest + 1 if dest < a else dest + 1 - len(block)
                    self.lines[ins:ins] = block
                    self.row = ins + len(block) - 1
            else:
                self._save_undo()
                self.lines[dest + 1:dest + 1] = block
                self.row = dest + len(block)
            self.col = _first_nonblank(self.lines[self.row])
            self.curswant = self.col
            return
        if name in ("j", "jo", "joi", "join"):
            self._check_range(a, b)
            bang = arg.startswith("!")
            if rng is None or a == b:
                b = a + 1
            if b > last:
                raise _Abort("join past end")
            self.row = a
            self._join(0, spaces=not bang, rows=(a, b - a + 1))
            return
        if name in (">", "<", ">>", "<<", ">>>", "<<<"):
            self._check_range(a, b)
            self.row, self.col = a, _first_nonblank(self.lines[a])
            self._save_undo(a, b - a + 1)
            amount = len(name) * (1 if name[0] == ">" else -1)
            for row in range(a, b + 1):
                self._shift_line(row, amount)
            self.row = b
            self.col = _first_nonblank(self.lines[b])
            self.curswant = self.col
            return
        if name in ("u", "un", "und", "undo"):
            self._undo_step(redo=False)
            return
        if name in ("red", "redo"):
            self._undo_step(redo=True)
            return
        if name in ("noh", "nohl", "nohls", "nohlsearch"):
            return
        raise _Abort(f"E492: Not an editor command: {line}")

    def _check_range(self, a, b):
        if a < 0 or b < 0 or a > len(self.lines) - 1 or b > len(self.lines) - 1:
            raise _Abort("E16: invalid range")
        if a > b:
            raise _Abort("E493: backwards range")

    def _ex_reg_count(self, arg):
        arg = arg.strip()
        reg = None
        if arg and not arg[0].isdigit():
            reg = arg[0]
            arg = arg[1:].strip()
        cnt = 0
        if arg:
            if not arg.isdigit():
                raise _Abort("E488: trailing characters")
            cnt = int(arg)
        return reg, cnt

    def _ex_address(self, s):
        """One address at the start of s -> (0-based row or None, rest)."""
        lines = self.lines
        row = None
        s = s.lstrip(" ")
        if s[:1].isdigit():
            m = _DIGITS.match(s)
            row = int(m.group(0)) - 1
            s = s[m.end():]
        elif s[:1] == ".":
            row = self.row
            s = s[1:]
        elif s[:1] == "$":
            row = len(lines) - 1
            s = s[1:]
        elif s[:1] == "'" and len(s) > 1:
            row = self._get_mark(s[1])[0]
            s = s[2:]
        elif s[:1] in ("/", "?"):
            sep = s[0]
            j = 1
            while j < len(s) and s[j] != sep:
                j += 2 if s[j] == "\\" else 1
            pat = s[1:j] or (self._last_search[0] if self._last_search else "")
            s = s[j + 1:]
            rx = vim_regex(pat, self._last_sub_rep)
            n = len(lines)
            rng = range(1, n + 1)
            found = None
            for k in rng:
                rr = (self.row + k) % n if sep == "/" else (self.row - k) % n
                if rx.search(lines[rr]):
                    found = rr
                    break
            if found is None:
                raise _Abort("E486: pattern not found")
            self._last_search = (pat, sep == "/", ("", 0))
            row = found
        while True:
            s2 = s.lstrip(" ")
            m = _EX_OFFSET.match(s2)
            if not m:
                m2 = _DIGITS.match(s2)
                if m2 and row is not None:
                    row += int(m2.group(0))
                    s = s2[m2.end():]
                    continue
                break
            if row is None:
                row = self.row
            n = int(m.group(2)) if m.group(2) else 1
            row += n if m.group(1) == "+" else -n
            s = s2[m.end():]
        return row, s

    def _ex_range(self, s):
        """Parse a range -> ((a, b) or None, rest). Rows are 0-based."""
        s = s.lstrip(" \t")
        if s.startswith("%"):
            return (0, len(self.lines) - 1), s[1:]
        a, s = self._ex_address(s)
        if s.lstrip(" ").startswith((",", ";")):
            s = s.lstrip(" ")
            if s[0] == ";" and a is not None:
                self.row = min(max(a, 0), len(self.lines) - 1)
            b, s = self._ex_address(s[1:])
            if a is None:
                a = self.row
            if b is None:
                b = self.row
            return (a, b), s
        if a is None:
            return None, s
        return (a, a), s

    def _substitute(self, a, b, arg):
        arg = arg.lstrip(" ") if arg[:1] == " " and len(arg.strip()) == 0 else arg
        if arg and not arg[0].isalnum() and arg[0] not in ' \t"|\\':
            sep = arg[0]
            parts = []
            cur = []
            i = 1
            while i < len(arg) and len(parts) < 2:
                ch = arg[i]
                if ch == "\\" and i + 1 < len(arg):
                    if arg[i + 1] == sep:
                        cur.append(sep)
                    else:
                        cur.append(arg[i:i + 2])
                    i += 2
                    continue
                if ch == sep:
                    parts.append("".join(cur))
                    cur = []
                    i += 1
                    continue
                cur.append(ch)
                i += 1
            if len(parts) < 2:
                parts.append("".join(cur))
                rest = ""
            else:
                rest = arg[i:]
            if len(parts) == 1:
                parts.append("")
            pat, rep = parts
            if pat == "":
                if not self._last_search:
                    raise _Abort("E35: no previous regular expression")
                pat = self._last_search[0]
            if rep == "~":
                rep = self._last_sub_rep
            self._last_sub = (pat, rep)
            self._last_sub_rep = rep
            self._last_search = (pat, self._last_search[1] if self._last_search else True, ("", 0))
        else:
            if not self._last_sub:
                raise _Abort("E35: no previous substitute")
            pat, rep = self._last_sub
            rest = arg
        flags = rest.strip()
        m = _SUB_FLAGS.match(flags)
        fl = m.group(0)
        tail = flags[m.end():].strip()
        if "c" in fl:
            raise _Abort("confirm flag is not supported")
        if tail:
            if not tail.isdigit():
                raise _Abort("E488: trailing characters")
            a, b = b, min(b + int(tail) - 1, len(self.lines) - 1)
        rx = vim_regex(pat, self._last_sub_rep)
        if "i" in fl:
            rx = re.compile(rx.pattern, re.IGNORECASE)
        glob = "g" in fl
        last_row = None
        row = a
        end = b
        while row <= end:
            line = self.lines[row]
            # Vim's do_sub loop: an empty match right where the previous match ended does not
            # count, and nothing is tried once the end of the line is reached
            out = []
            copycol = 0
            matchcol = 0
            prev = None
            hit = False
            m = rx.search(line, 0)
            while m:
                if matchcol == prev and m.start() == m.end() == matchcol:
                    matchcol += 1
                    if matchcol >= len(line):
                        break
                else:
                    hit = True
                    out.append(line[copycol:m.start()])
                    out.append(_vim_sub_expand(rep, m, self._last_sub_rep))
                    copycol = matchcol = prev = m.end()
                    if not glob or matchcol >= len(line):
                        break
                m = rx.search(line, matchcol)
            pos = copycol
            if hit:
                if "n" in fl:
                    row += 1
                    continue
                out.append(line[pos:])
                new = "".join(out).split("\r")
                if not self._step_open:
                    self.row, self.col = row, 0
                self._save_undo(row, 1)
                self._set_lines(row, row + 1, new)
                end += len(new) - 1
                row += len(new) - 1
                last_row = row
            row += 1
        if last_row is None:
            if "e" in fl:
                return
            raise _Abort("E486: Pattern not found")
        self._pcmark = (self.row, self.col)
        self.row = last_row
        self.col = _first_nonblank(self.lines[last_row])
        self.curswant = self.col
