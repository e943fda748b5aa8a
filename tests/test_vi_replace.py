"""Replace mode (Normal-mode R) in vi_editor. Every expected state below is what real Vim 9.0 left
(vim -u NONE -N -i NONE -n with VIM_OPTIONS, run through tools/vim_oracle.py when the case was written);
test_table_is_what_vim_does re-checks the table where Vim is installed."""
import os
import shutil
import sys
import time

import pytest

from vi_editor import MAX_COUNT, Editor, parse_keys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import vim_oracle  # noqa: E402

# (buffer, cursor, keys, expected buffer, expected cursor, expected mode)
CASES = [
    # drawing on an ASCII canvas: overwrite in place, the cursor ends on the last character written
    (["          "], (0, 0), "3|RHELLO<Esc>", ["  HELLO   "], (0, 6), "Normal"),
    (["abcdef"], (0, 1), "Rxy", ["axydef"], (0, 3), "Replace"),
    (["abcdef"], (0, 1), "Rxy<Esc>", ["axydef"], (0, 2), "Normal"),
    (["abcdef"], (0, 1), "R<Esc>", ["abcdef"], (0, 0), "Normal"),
    # past the end of the line the characters are appended
    (["abc"], (0, 1), "Rwxyz<Esc>", ["awxyz"], (0, 4), "Normal"),
    (["abcdef"], (0, 5), "Rxyz<Esc>", ["abcdexyz"], (0, 7), "Normal"),
    ([""], (0, 0), "Rxy<Esc>", ["xy"], (0, 1), "Normal"),
    # <BS> puts back what was overwritten and deletes what was appended; left of where R started it
    # only moves (backspace=start), and at the start of that line it goes past the end of the line above
    (["abcdef"], (0, 1), "Rxy<BS><BS><BS><Esc>", ["abcdef"], (0, 0), "Normal"),
    (["abc"], (0, 1), "Rwxyz<BS><BS><BS><Esc>", ["awc"], (0, 1), "Normal"),
    (["abcdef"], (0, 1), "Rxy<BS>z<BS><BS><BS>q<Esc>", ["qbcdef"], (0, 0), "Normal"),
    (["abcdef", "ghi"], (1, 0), "R<BS>", ["abcdef", "ghi"], (0, 6), "Replace"),
    (["abcdef", "ghi"], (1, 0), "R<BS>x<Esc>", ["abcdefx", "ghi"], (0, 6), "Normal"),
    (["abcdef", "ghi"], (0, 0), "R<BS>x<Esc>", ["xbcdef", "ghi"], (0, 0), "Normal"),
    (["ab", "cdef"], (1, 0), "R<BS>x<Enter>y<BS><BS><BS><BS>", ["ab", "cdef"], (0, 1), "Replace"),
    # <Enter> splits the line and replaces nothing; <BS> at the start of the new line joins back
    (["abcdef"], (0, 1), "Rx<Enter>yz<Esc>", ["ax", "yzef"], (1, 1), "Normal"),
    (["abcdef"], (0, 1), "Rx<Enter>y<BS><BS>", ["axcdef"], (0, 2), "Replace"),
    (["abcdef"], (0, 1), "R<Enter><Enter><BS><BS><BS><BS>", ["abcdef"], (0, 0), "Replace"),
    # <Tab> (expandtab): the first space overwrites, the others are inserted; <BS> undoes both
    (["abcdef"], (0, 2), "R<Tab>x<Esc>", ["ab  xef"], (0, 4), "Normal"),
    (["abcdef"], (0, 2), "R<Tab><BS><BS>", ["abcdef"], (0, 2), "Replace"),
    # <C-r> types the register: its characters overwrite, its line breaks split; "." repeats the text
    # it typed, not the register as it is by then (in Insert mode too); the key after <C-r> is a
    # register name, even <Esc>
    (["abc", "klmnop"], (0, 0), "yyjR<C-r>0<Esc>", ["abc", "abc", "nop"], (2, 0), "Normal"),
    (["ab"], (0, 0), "ylR<C-r>0<Esc>0lyl.", ["aa"], (0, 1), "Normal"),
    (["ab"], (0, 0), "ylA<C-r>0<Esc>0lyl.", ["abaa"], (0, 3), "Normal"),
    (["ab"], (0, 0), "A<C-r><Esc>x<Esc>.", ["abxx"], (0, 3), "Normal"),
    # a count repeats the typed text, and the repetitions overwrite too (not inserted)
    (["abcdefghij"], (0, 1), "3Rxy<Esc>", ["axyxyxyhij"], (0, 6), "Normal"),
    (["abc"], (0, 1), "5Rab<Esc>", ["aababababab"], (0, 10), "Normal"),
    (["abcdefghij"], (0, 1), "2Rx<Enter>y<Esc>", ["ax", "yx", "yfghij"], (2, 0), "Normal"),
    (["abcdef"], (0, 2), "2R<Tab>x<Esc>", ["ab  x   x"], (0, 8), "Normal"),
    (["abcdef"], (0, 3), "3R<BS>x<Esc>", ["abxdef"], (0, 2), "Normal"),  # each repetition's <BS> restores
    # "." repeats the R change with its count, or with a new one
    (["abcdefghij"], (0, 1), "Rxy<Esc>.", ["axxyefghij"], (0, 3), "Normal"),
    (["abcdefghij"], (0, 1), "Rxy<Esc>3.", ["axxyxyxyij"], (0, 7), "Normal"),
    (["abcdefghij"], (0, 1), "2Rxy<Esc>.", ["axyxxyxyij"], (0, 7), "Normal"),
    (["  HELLO   "], (0, 2), "REEE<Esc>0.", ["EEEEELO   "], (0, 2), "Normal"),
    (["abcdef"], (0, 0), "R<BS>x<Esc>l.", ["xxcdef"], (0, 1), "Normal"),  # a beeping <BS> is not repeated
    (["abcdef"], (0, 2), "Rx<BS><BS>y<Esc>l.", ["aycdef"], (0, 1), "Normal"),
    # u undoes the whole Replace session, cursor back where R started; <C-r> redoes it
    (["abcdefghij"], (0, 4), "3Rxy<Esc>u", ["abcdefghij"], (0, 4), "Normal"),
    (["abcdefghij", "klm"], (0, 1), "Rx<Enter>yz<Esc>u", ["abcdefghij", "klm"], (0, 1), "Normal"),
    (["abcdef", "ghi"], (1, 1), "R<BS><BS><BS>xy<Esc>u<C-r>", ["abcdexy", "ghi"], (1, 1), "Normal"),
    (["abcdef"], (0, 1), "Rxy<Esc>u.", ["axydef"], (0, 2), "Normal"),
    (["abcdef"], (0, 2), "xR<BS><Esc>u", ["abdef"], (0, 2), "Normal"),  # a <BS> that only moved is a change too
    (["abcdef"], (0, 2), "xR<Esc>u", ["abcdef"], (0, 2), "Normal"),
    # a UTF-8 Vim's r pushes what it replaced on the replace stack too, and only the end of an Insert or
    # Replace session empties it: a <BS> left of where R started puts those characters back
    (["abc def"], (0, 0), "rXwR<BS><Esc>", ["Xbcadef"], (0, 2), "Normal"),
    (["abc def"], (0, 0), "rXrYwR<BS><BS><BS><Esc>", ["YbaXdef"], (0, 0), "Normal"),
    (["abc def"], (0, 0), "rXw3Rq<BS><BS><Esc>", ["Xbcadef"], (0, 0), "Normal"),
    (["abc def", "ghi"], (0, 0), "rXjR<BS><BS><Esc>", ["Xbc de", "ghi"], (0, 5), "Normal"),
    (["abc def"], (0, 0), "rXwi<Esc>lR<BS><Esc>", ["Xbc def"], (0, 2), "Normal"),
    (["abc def"], (0, 0), "rXwRq<Esc>R<BS><Esc>", ["Xbc qef"], (0, 2), "Normal"),
]


@pytest.mark.parametrize("lines,cursor,keys,want_lines,want_cursor,want_mode", CASES,
                         ids=[c[2] for c in CASES])
def test_replace_mode(lines, cursor, keys, want_lines, want_cursor, want_mode):
    ed = Editor(lines, cursor)
    ed.feed(keys)
    assert (ed.lines, ed.cursor, ed.mode) == (want_lines, want_cursor, want_mode)


@pytest.mark.parametrize("lines,cursor,keys,want_lines,want_cursor,want_mode", CASES,
                         ids=[c[2] for c in CASES])
def test_key_by_key_equals_one_feed(lines, cursor, keys, want_lines, want_cursor, want_mode):
    # feed() overwrites a run of plain characters in one slice; typed one at a time they go key by key
    ed = Editor(lines, cursor)
    for k in parse_keys(keys):
        ed.feed(k)
    assert (ed.lines, ed.cursor, ed.mode) == (want_lines, want_cursor, want_mode)


def test_long_and_repeated_replace_is_linear():
    ed = Editor(["." * 100])
    t0 = time.time()
    ed.feed("R" + "x" * 200_000 + "<Esc>")
    ed.feed(f"0{MAX_COUNT * 100}Rab<Esc>")  # the count is clamped as Insert's is
    assert time.time() - t0 < 2.0
    assert ed.lines == ["ab" * MAX_COUNT + "x" * (200_000 - 2 * MAX_COUNT)] and ed.cursor == (0, 2 * MAX_COUNT - 1)


needs_vim = pytest.mark.skipif(shutil.which("vim") is None, reason="real Vim is not installed")


@needs_vim
def test_table_is_what_vim_does():
    cases = [{"lines": l, "cursor": list(c), "keys": k} for l, c, k, *_ in CASES]
    for (lines, cursor, keys, *want), got in zip(CASES, vim_oracle.run_vim(cases)):
        assert [got["lines"], tuple(got["cursor"]), got["mode"]] == want, keys


@needs_vim
def test_harness_empties_the_replace_stack_between_cases():
    cases = [{"lines": ["abc def"], "cursor": [0, 0], "keys": "3rX"},
             {"lines": ["abc def"], "cursor": [0, 4], "keys": "R<BS><BS><Esc>"}]
    assert vim_oracle.run_vim(cases)[1] == vim_oracle.run_vim(cases[1:])[0]
