"""Unit tests of vi_editor: tricky Vim behaviours, each expected state checked against real Vim 9.0
(vim -u NONE -N -i NONE -n with VIM_OPTIONS) when the case was written. Pure Python, fast.

The broad check is the differential run against Vim: `python tools/vim_oracle.py diff --n 5000`."""
import pytest

from vi_editor import Editor, KeyParseError, parse_keys

JS = ['const name = "world";', "", "function hello() {", '  console.log("hello " + name);', "}", "",
      "function goodbye() {", '  console.log("goodbye");', "}", ""]
WORDS = ["  abc def", "ghi jkl", "", "  mno pqr", "stu"]

# (buffer, cursor, keys, expected buffer, expected cursor, expected mode)
CASES = [
    # the seed example: % on "function hello() {" jumps to the ")" of "()", so one line is copied
    (JS, (0, 0), "3GV%y9Gp", JS[:9] + ["function hello() {"] + JS[9:], (9, 0), "Normal"),
    # dw on the last word of a line stops at the end of the line
    (["foo bar", "baz"], (0, 4), "dw", ["foo ", "baz"], (0, 3), "Normal"),
    # cw on a word is ce; cw on blanks changes the blanks up to the next word (no 'w' in cpo)
    (["foo bar"], (0, 0), "cwx<Esc>", ["x bar"], (0, 0), "Normal"),
    (["foo   bar"], (0, 3), "cwx<Esc>", ["fooxbar"], (0, 3), "Normal"),
    # an exclusive motion ending in column 0 stops at the previous line's end ...
    (["ab cd", "ef"], (0, 3), "d/ef<Enter>", ["ab ", "ef"], (0, 2), "Normal"),
    # ... and becomes linewise when it started in the indent
    (["  ab", "ef"], (0, 1), "d/ef<Enter>", ["ef"], (0, 0), "Normal"),
    # counts on operator and motion multiply; "." repeats with its own count or a new one
    (["a b c d e f g"], (0, 0), "2d2w", ["e f g"], (0, 0), "Normal"),
    (["a b c d e f g"], (0, 0), "dw2.", ["d e f g"], (0, 0), "Normal"),
    (["x"], (0, 0), "ahi<Esc>3.", ["xhihihihi"], (0, 8), "Normal"),
    # insert counts, including o with a count
    ([""], (0, 0), "5i-<Esc>", ["-----"], (0, 4), "Normal"),
    (["a"], (0, 0), "3o<Esc>", ["a", "", "", ""], (3, 0), "Normal"),
    (["a"], (0, 0), "3ofoo<Esc>", ["a", "foo", "foo", "foo"], (3, 2), "Normal"),
    # <BS> in Insert mode joins lines (backspace=eol); <Tab> expands to the next tabstop
    (["ab", "cd"], (1, 0), "i<BS><Esc>", ["abcd"], (0, 1), "Normal"),
    (["ab"], (0, 1), "i<Tab><Esc>", ["a   b"], (0, 3), "Normal"),
    # undo puts the cursor where Vim does: dd/u -> start of the line, o/u -> the old position
    (WORDS, (1, 5), "ddu", WORDS, (1, 0), "Normal"),
    (WORDS, (1, 5), "ofoo<Esc>u", WORDS, (1, 5), "Normal"),
    (WORDS, (1, 5), "dbu", WORDS, (1, 4), "Normal"),
    (WORDS, (1, 5), "ix<Esc>jixx<Esc>uu<C-r>", ["  abc def", "ghi jxkl", "", "  mno pqr", "stu"], (1, 5), "Normal"),
    # linewise yank leaves the cursor on the start line, in the column of the start position
    (WORDS, (1, 5), "yk", WORDS, (0, 5), "Normal"),
    (WORDS, (1, 5), "Vjy", WORDS, (1, 0), "Normal"),
    # registers: append with "A, numbered deletes shift, small deletes go to "-
    (["one", "two", "three"], (0, 0), '"ayyj"Ayy"ap', ["one", "two", "one", "two", "three"], (2, 0), "Normal"),
    (["one", "two", "three"], (0, 0), 'dddd"2p', ["three", "one"], (1, 0), "Normal"),
    (["one two"], (0, 0), 'dwyiw"-P', ["one two"], (0, 3), "Normal"),
    # text objects
    (['f(a, "b c") x'], (0, 7), 'ci"z<Esc>', ['f(a, "z") x'], (0, 6), "Normal"),
    (['f(a, "b c") x'], (0, 3), "da(", ["f x"], (0, 1), "Normal"),
    (["a b", "c", "", "d"], (0, 0), "dap", ["d"], (0, 0), "Normal"),
    (["one two  three"], (0, 5), "daw", ["one three"], (0, 4), "Normal"),
    # Vim 9.0: with no block around the cursor, i( takes the next one
    (["a <b c> d", "x (y) z"], (0, 1), "jdi(", ["a <b c> d", "x () z"], (1, 3), "Normal"),
    # % skips parentheses inside "..." when the line has an even number of quotes
    (['f(")", x)'], (0, 1), "%", ['f(")", x)'], (0, 8), "Normal"),
    # search: wrap-around, n/N, * with \<word\>, regex groups in :s
    (["foo", "bar", "foo"], (2, 0), "/foo<Enter>", ["foo", "bar", "foo"], (0, 0), "Normal"),
    (["ab ab", "ab"], (0, 0), "nx", ["b ab", "ab"], (0, 0), "Normal"),  # no pattern yet: n fails
    (["foo foobar foo"], (0, 0), "*x", ["foo foobar oo"], (0, 11), "Normal"),
    (["ab ab"], (0, 0), r":s/\(a\)b/\1-&/g<Enter>", ["a-ab a-ab"], (0, 0), "Normal"),
    (["aaa", "xy"], (0, 0), ":%s/a*/[&]/g<Enter>", ["[aaa]", "[]x[]y"], (1, 0), "Normal"),
    # Ex ranges, :m, :t, :d
    (["1", "2", "3", "4"], (0, 0), ":2,3m$<Enter>", ["1", "4", "2", "3"], (3, 0), "Normal"),
    (["1", "2", "3"], (0, 0), ":1t.<Enter>", ["1", "1", "2", "3"], (1, 0), "Normal"),
    (["1", "2", "3"], (0, 0), ":.,.+1d<Enter>", ["3"], (0, 0), "Normal"),
    (["1", "2", "3"], (0, 0), ":3<Enter>", ["1", "2", "3"], (2, 0), "Normal"),
    # marks as operator targets
    (["a", "b", "c", "d"], (0, 0), "jmajjd'a", ["a"], (0, 0), "Normal"),
    # Visual mode
    (["abc", "def"], (0, 1), "vjd", ["af"], (0, 1), "Normal"),
    (["abc", "def"], (0, 0), "Vj>", ["    abc", "    def"], (0, 4), "Normal"),
    (["abc def"], (0, 0), "veU", ["ABC def"], (0, 0), "Normal"),
    (["abc", "def"], (0, 0), "v$d", ["def"], (0, 0), "Normal"),  # $ takes the line break
    (["a", "b"], (0, 0), "vj:s/$/!/<Enter>", ["a!", "b!"], (1, 0), "Normal"),
    # J: no space before ")", none added after a trailing space, leading blanks dropped
    (["f(", ")", "x ", "  y"], (0, 0), "4J", ["f() x y"], (0, 6), "Normal"),
    # r, ~ and x with counts; a count past the line end makes r fail but x delete to the end
    (["abcd"], (0, 1), "2rx", ["axxd"], (0, 2), "Normal"),
    (["abcd"], (0, 1), "9rx", ["abcd"], (0, 1), "Normal"),
    (["abcd"], (0, 1), "9x", ["a"], (0, 0), "Normal"),
    (["abcd"], (0, 0), "3~", ["ABCd"], (0, 3), "Normal"),
    # a failing command is dropped and the keys after it still run
    (["abc"], (0, 0), "fzx", ["bc"], (0, 0), "Normal"),
    (["abc"], (0, 0), "kx", ["bc"], (0, 0), "Normal"),
    # w and e that run out of words still move (Vim only beeps)
    (["foo bar"], (0, 0), "5e", ["foo bar"], (0, 6), "Normal"),
    # curswant: j/k keep the wanted column across short lines; $ sticks to line ends
    (["abcdef", "ab", "abcdef"], (0, 4), "jj", ["abcdef", "ab", "abcdef"], (2, 4), "Normal"),
    (["abc", "abcdef"], (0, 0), "$j", ["abc", "abcdef"], (1, 5), "Normal"),
    # modes reported like Vim's mode(1)
    (["abc"], (0, 0), "d", ["abc"], (0, 0), "Operator-pending"),
    (["abc"], (0, 0), "d2i", ["abc"], (0, 0), "Operator-pending"),
    (["abc"], (0, 0), '"a', ["abc"], (0, 0), "Normal"),
    (["abc"], (0, 0), "A", ["abc"], (0, 3), "Insert"),
    (["abc"], (0, 0), "vl", ["abc"], (0, 1), "Visual"),
    (["abc"], (0, 0), "V", ["abc"], (0, 0), "Visual Line"),
    (["abc"], (0, 0), ":s/a", ["abc"], (0, 0), "Command-line"),
    (["abc"], (0, 0), "d/b", ["abc"], (0, 0), "Command-line"),
    (["abc"], (0, 0), ":s/a/b/<Esc>", ["abc"], (0, 0), "Normal"),
    (["abc"], (0, 0), ":xyz<BS><BS><BS>s/a/b/<Enter>", ["bbc"], (0, 0), "Normal"),
    # Visual mode: the cursor may sit on the line break ($ / past-the-end moves)
    (["abc", "x"], (0, 0), "v$", ["abc", "x"], (0, 3), "Visual"),
    # Visual p replaces the selection; "." then repeats only the delete (Vim's redo buffer)
    (["one two three"], (0, 0), "yiwwviwp", ["one one three"], (0, 6), "Normal"),
    (["ab cd ef gh"], (0, 0), "yiwwvlpw.", ["ab ab  gh"], (0, 6), "Normal"),
    # sentences and go
    (["One. Two three. Four"], (0, 0), "2)D", ["One. Two three. "], (0, 15), "Normal"),
    (["abc", "def"], (0, 0), "6gox", ["abc", "df"], (1, 1), "Normal"),
    # the undo of a change that emptied the buffer, then a delete that has nothing to delete
    (["a", "b"], (0, 0), ":%d<Enter>xu", ["a", "b"], (0, 0), "Normal"),
]


@pytest.mark.parametrize("lines,cursor,keys,want_lines,want_cursor,want_mode", CASES,
                         ids=[c[2] for c in CASES])
def test_against_vim(lines, cursor, keys, want_lines, want_cursor, want_mode):
    ed = Editor(lines, cursor)
    assert ed.feed(keys) is None
    assert (ed.lines, ed.cursor, ed.mode) == (want_lines, want_cursor, want_mode)


def test_parse_keys():
    assert parse_keys("3GV%y") == ["3", "G", "V", "%", "y"]
    assert parse_keys("<<") == ["<", "<"]                        # dedent, not a key name
    assert parse_keys("i<lt>a><Esc>") == ["i", "<", "a", ">", "<Esc>"]
    assert parse_keys("<CR><Enter><Tab><BS><C-r>") == ["<Enter>", "<Enter>", "<Tab>", "<BS>", "<C-r>"]
    assert parse_keys("a<1>") == ["a", "<", "1", ">"]             # not a <Name>: literal
    with pytest.raises(KeyParseError, match="<Foo>"):
        parse_keys("x<Foo>")


def test_parse_error_leaves_state_unchanged():
    ed = Editor(["abc"], (0, 1))
    ed.feed("d")  # a pending operator must survive too
    msg = ed.feed("x<Bogus>")
    assert msg is not None and "<Bogus>" in msg
    assert (ed.lines, ed.cursor, ed.mode) == (["abc"], (0, 1), "Operator-pending")
    ed.feed("l")
    assert ed.lines == ["ac"]


def test_pending_state_persists_across_feeds():
    ed = Editor(["one two three"])
    ed.feed("c")
    ed.feed("w")
    assert ed.mode == "Insert"
    ed.feed("ONE")
    ed.feed("<Esc>")
    assert (ed.lines, ed.cursor, ed.mode) == (["ONE two three"], (0, 2), "Normal")
    ed.feed("w.")
    assert ed.lines == ["ONE ONE three"]


def test_empty_buffer_and_bad_arguments():
    ed = Editor()
    assert (ed.lines, ed.cursor, ed.text()) == ([""], (0, 0), "")
    ed.feed("ihello<Enter>world<Esc>")
    assert ed.text() == "hello\nworld"
    with pytest.raises(ValueError, match="cursor"):
        Editor(["a"], (3, 0))
    with pytest.raises(ValueError, match="newlines"):
        Editor(["a\nb"])


def test_p_with_empty_register_fails_and_continues():
    ed = Editor(["abc"])
    ed.feed("px")
    assert ed.lines == ["bc"]
