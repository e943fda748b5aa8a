"""vi_editor against real Vim: replay of the recorded golden corpus (no Vim needed), the harness itself on
hand-checked cases, and a live differential on fresh random sequences (where Vim is installed).
Regenerate the corpus with `python tools/vim_oracle.py record --n 3000 --seed 1 --out tests/data/vim_golden.jsonl`."""
import json
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import vim_oracle  # noqa: E402

CORPUS = os.path.join(ROOT, "tests", "data", "vim_golden.jsonl")
KNOWN = os.path.join(ROOT, "tests", "data", "vim_known_diffs.json")
needs_vim = pytest.mark.skipif(shutil.which("vim") is None, reason="real Vim is not installed")


@pytest.fixture(scope="module")
def corpus():
    return vim_oracle.load_corpus(CORPUS)


@pytest.fixture(scope="module")
def known():
    with open(KNOWN) as f:
        return {d["id"]: d["explanation"] for d in json.load(f)}


@pytest.fixture(scope="module")
def disagreements(corpus):
    return {c["id"]: got for c in corpus if not vim_oracle.same(c["expect"], got := vim_oracle.run_engine(c))}


# -- the golden corpus -------------------------------------------------------------------------------------

def test_corpus_is_well_formed_and_covers_every_command_kind(corpus):
    assert os.path.getsize(CORPUS) < 3_000_000
    assert len(corpus) >= 2900 and len({c["id"] for c in corpus}) == len(corpus)
    for c in corpus:
        vim_oracle.check_case(c)
        assert "".join(c["cmds"]) == c["keys"] and len(c["cmds"]) == len(c["cmd_kinds"]) <= 12
        assert c["expect"]["mode"] in ("Normal", "Insert", "Visual", "Visual Line", "Command-line", "Operator-pending")
    kinds = {k for c in corpus for k in c["kinds"]}
    required = ("h j k l w b e W B E ge 0 ^ $ gg G {count}G f F t T ; , % { } / ? n/N/*/# + - _ | <Enter> "
                "op:d op:c op:y op:> op:< op:g~ op:gu op:gU iw aw iW aW i\" a\" i' a' i( a( ib ab i[ a[ i{ a{ iB aB "
                "i< a< ip ap dd cc yy >> << x X s S r C D Y p P J ~ u <C-r> . insert:i insert:a insert:I insert:A "
                "insert:o insert:O <Enter>(insert) <Tab>(insert) <BS>(insert) visual:v visual:V visual:o \"reg m 'mark "
                "`mark :N :s :%s :d :m :t :co search:. search:* search:^ search:$ search:[] search:\\<\\> "
                "search:escape count ends-insert ends-visual").split()
    assert not set(required) - kinds, f"kinds missing from the corpus: {set(required) - kinds}"
    modes = {c["expect"]["mode"] for c in corpus}
    assert {"Normal", "Insert", "Visual", "Visual Line"} <= modes


def test_known_diffs_are_few_and_explained(corpus, known):
    ids = {c["id"] for c in corpus}
    assert len(known) <= 0.005 * len(corpus), f"{len(known)} known diffs > 0.5% of {len(corpus)} cases"
    for case_id, why in known.items():
        assert case_id in ids, f"known diff {case_id} is not in the corpus"
        assert len(why.strip()) > 20, f"known diff {case_id} needs a real explanation"


def test_vi_editor_agrees_with_recorded_vim(corpus, known, disagreements):
    new = {i: g for i, g in disagreements.items() if i not in known}
    by_id = {c["id"]: c for c in corpus}
    detail = "\n".join(f"{i}: lines={by_id[i]['lines']} cursor={by_id[i]['cursor']} keys={by_id[i]['keys']!r}\n"
                       f"  vim: {by_id[i]['expect']}\n  got: {g}" for i, g in list(new.items())[:5])
    assert not new, f"{len(new)} disagreements with Vim not in {KNOWN} (first 5):\n{detail}"


def test_known_diffs_still_disagree(known, disagreements):
    fixed = sorted(set(known) - set(disagreements))
    assert not fixed, f"these now agree with Vim; remove them from {KNOWN}: {fixed}"


# -- the harness (real Vim) ----------------------------------------------------------------------------

HAND_CHECKED = [  # (lines, cursor, keys) -> (lines, cursor, mode), checked by hand in Vim 9.0
    (["foo bar baz"], [0, 0], "dw", ["bar baz"], [0, 0], "Normal"),
    (["foo bar baz"], [0, 0], "Ahey", ["foo bar bazhey"], [0, 14], "Insert"),
    (["foo bar baz"], [0, 4], "vll", ["foo bar baz"], [0, 6], "Visual"),
    (["a", "b", "c"], [0, 0], "Vj", ["a", "b", "c"], [1, 0], "Visual Line"),
    (["foo bar baz"], [0, 0], "d", ["foo bar baz"], [0, 0], "Operator-pending"),
    (["foo bar baz"], [0, 0], ":s/bar", ["foo bar baz"], [0, 0], "Command-line"),
    (["foo bar baz"], [0, 0], "fqx", ["oo bar baz"], [0, 0], "Normal"),  # failing f: the x still runs
    (["foo bar"], [0, 0], "x:s/zzz/q/<Enter>x", ["o bar"], [0, 0], "Normal"),  # failing :s likewise
    (["x"], [0, 0], "ihi<Esc>OA", ["A", "hix"], [0, 1], "Insert"),  # <Esc>OA is not a cursor key
    ([""], [0, 0], "ia<lt>b<Esc>", ["a<b"], [0, 2], "Normal"),
    (["  foo"], [0, 4], "<<", ["foo"], [0, 0], "Normal"),
    (["abc"], [0, 0], "ix<Tab>y<BS>z<Esc>", ["x   zabc"], [0, 4], "Normal"),  # expandtab, tabstop 4
    (["a b", "c"], [0, 0], "dwu", ["a b", "c"], [0, 0], "Normal"),
    (["foo bar"], [0, 0], "xu<C-r>", ["oo bar"], [0, 0], "Normal"),
    (['a"b'], [0, 0], "r\\", ['\\"b'], [0, 0], "Normal"),
]


@needs_vim
def test_harness_on_hand_checked_cases():
    cases = [{"lines": l, "cursor": c, "keys": k} for l, c, k, *_ in HAND_CHECKED]
    for (lines, cursor, keys, *want), got in zip(HAND_CHECKED, vim_oracle.run_vim(cases)):
        assert [got["lines"], got["cursor"], got["mode"]] == want, keys


@needs_vim
def test_harness_cases_are_independent():
    # Each second case runs right after a case that set the state it could leak: undo history,
    # registers, marks, last search, last f/t, last change, a recording. It must act as in a fresh Vim.
    pairs = [("x", "u"), ("xu", "<C-r>"), ('"ayy', '"ap'), ("yy", "p"), ("dd", "P"), ("wma", "`a"), ("jmb", "'b"),
             ("/foo<Enter>", "n"), ("?bar<Enter>", "N"), ("fb", ";"), ("tz", ","), ("x", "."), ("ihi<Esc>", "."),
             ("c/zzz<Enter>quick", "ia<Esc>"), ("yy", "vlp")]
    for buf in (["foo bar baz"], ["foo bar baz", "qux foo"]):  # one line: once hid a reset bug
        cases = [{"lines": buf, "cursor": [0, 0], "keys": k} for pair in pairs for k in pair]
        batch = vim_oracle.run_vim(cases)
        fresh = vim_oracle.run_vim([{"lines": buf, "cursor": [0, 0], "keys": k} for _, k in pairs])
        for (first, second), after, alone in zip(pairs, batch[1::2], fresh):
            assert after == alone, f"{second!r} after {first!r}"
            if second not in ("ia<Esc>", "vlp"):
                assert after["lines"] == buf, f"{second!r} after {first!r} changed the buffer: state leaked"


@needs_vim
def test_harness_equals_typing_into_an_interactive_vim():
    # The reference: keys typed one by one into a fresh interactive Vim on a pseudo-terminal. These
    # cases caught real harness bugs: `.` before any change must not touch the last search or f/t
    # target, and <Esc> followed by } or [ must not be read as a mouse key code.
    buf = ["foo bar baz", "qux foo {x}"]
    keys = ["?ba<Enter>.n", "fb.;", "/qux<Enter>.N", "3.", "ia<Esc>}x", "x<Esc>[x", "yyvlp", "ci{z<Esc>u"]
    cases = [{"lines": buf, "cursor": [0, 4], "keys": k} for k in keys]
    for case, batch in zip(cases, vim_oracle.run_vim(cases)):
        assert batch == vim_oracle.run_vim_typed(case), case["keys"]


@needs_vim
def test_harness_batch_equals_fresh_vim_per_case():
    cases = vim_oracle.random_cases(30, seed=7)
    assert vim_oracle.run_vim(cases) == [vim_oracle.run_vim([c])[0] for c in cases]


def test_bad_input_is_rejected_with_a_clear_error():
    with pytest.raises(ValueError, match="unknown key <Up>"):
        vim_oracle.vim_keys("ix<Up>")
    with pytest.raises(ValueError, match="cursor"):
        vim_oracle.check_case({"lines": ["ab"], "cursor": [0, 5], "keys": "x"})
    with pytest.raises(ValueError, match="empty buffer"):
        vim_oracle.check_case({"lines": [], "cursor": [0, 0], "keys": "x"})


def test_generator_is_deterministic_and_writes_valid_keys():
    a, b = vim_oracle.random_cases(200, seed=5), vim_oracle.random_cases(200, seed=5)
    assert a == b and a != vim_oracle.random_cases(200, seed=6)
    for c in a:
        vim_oracle.check_case(c)
        vim_oracle.vim_keys(c["keys"])  # raises on a <Name> that is not a key
        assert 1 <= len(c["cmds"]) <= 12


# -- live differential ------------------------------------------------------------------------------------

@needs_vim
def test_live_differential_on_fresh_random_sequences():
    cases = vim_oracle.random_cases(300, seed=20251123)
    expects = vim_oracle.run_vim(cases)
    bad = [c["keys"] for c, e in zip(cases, expects) if not vim_oracle.same(e, vim_oracle.run_engine(c))]
    agreement = 1 - len(bad) / len(cases)
    assert agreement >= 0.995, f"agreement {agreement:.1%}; disagreeing keys (first 5): {bad[:5]}"
