"""exec_env: the sandbox's behaviour and the `exec` task protocol (splits, demos, episodes, rewards)."""
import time

import pytest

import exec_env as E


@pytest.fixture(scope="module")
def box():
    tools = {"double": lambda x: 2 * x, "fail": lambda: 1 / 0, "greet": lambda name: f"hi {name}"}
    with E.Sandbox(timeout=3.0, tools=tools) as b:
        yield b


@pytest.fixture(scope="module")
def task():
    t = E.ExecTask(pool_size=2)
    yield t
    t.close()


def test_variables_persist_and_errors_are_reported(box):
    assert box.run("x = 20\nprint(x + 1)").text == "21"
    assert box.run("x += 1\nprint(x)").text == "21"
    r = box.run("y = 1\n1 / 0")
    assert r.error_type == "ZeroDivisionError" and not r.restarted
    assert 'File "<code-' in r.error and "exec_env" not in r.error and "/root" not in r.error
    assert box.run("print(x, y)").text == "21 1"   # the failing block's earlier lines did run
    r = box.run("def f(:\n  pass")
    assert r.error_type == "SyntaxError"
    assert box.run("print(x)").text == "21"


def test_exit_and_interrupt_are_errors_not_crashes(box):
    box.run("keep = 5")
    for code, kind in [("import sys; sys.exit(3)", "SystemExit"), ("raise KeyboardInterrupt", "KeyboardInterrupt"),
                       ("exit()", "SystemExit")]:
        r = box.run(code)
        assert r.error_type == kind and not r.restarted
    assert box.run("print(keep)").text == "5"


def test_stdlib_and_numpy_import_in_the_sandbox(box):
    r = box.run("import math, json, statistics, fractions, numpy as np\nprint(np.arange(4).sum(), math.gcd(12, 18))")
    assert r.error is None, r.error
    assert r.text == "6 6"


def test_use_tool_crosses_the_process_boundary(box):
    assert box.run("print(use_tool('double', x=21))").text == "42"
    assert box.run("print(use_tool('greet', name='Ada'))").text == "hi Ada"   # a kwarg called `name`
    r = box.run("use_tool('nope', a=1)")
    assert r.error_type == "ToolNotAvailableError"
    assert "available tools: double, fail, greet" in r.error
    r = box.run("try:\n    use_tool('fail')\nexcept RuntimeError as e:\n    print('caught', e)")
    assert r.text.startswith("caught tool 'fail' failed: ZeroDivisionError")


def test_output_is_captured_and_capped(box):
    r = box.run("print('a' * 10000)")
    assert r.truncated and r.output == "a" * E.OUTPUT_LIMIT and r.text.endswith("...[output truncated]")
    r = box.run("import os, sys\nos.write(1, b'raw\\n')\nprint('py', file=sys.stderr)")
    assert r.text == "py\nraw"
    assert box.run("print('small')").text == "small"   # no truncation state leaks into the next block


def test_non_ascii_code_runs_whole(box):
    assert box.run("s = 'héllo → wörld'\nprint(len(s), s)").text == "13 héllo → wörld"


def test_pool_runs_blocks_concurrently():
    with E.SandboxPool(3, timeout=5.0) as pool:
        boxes = [pool.acquire() for _ in range(3)]
        for b in boxes:
            b._wait_ready()
        t = time.monotonic()
        results = pool.run_batch([(b, f"import time; time.sleep(0.5); print({i})") for i, b in enumerate(boxes)])
        elapsed = time.monotonic() - t
        assert [r.text for r in results] == ["0", "1", "2"]
        assert elapsed < 1.2, elapsed   # sequential would take 1.5 s
        with pytest.raises(ValueError, match="same sandbox twice"):
            pool.run_batch([(boxes[0], "1"), (boxes[0], "2")])
        boxes[0].run("secret = 1")
        pool.release(boxes[0])   # a released sandbox comes back as a fresh process
        again = pool.acquire()
        assert again.run("print('secret' in globals())").text == "False"


def test_bad_arguments_raise_clear_errors(box):
    with pytest.raises(ValueError, match="timeout"):
        E.Sandbox(timeout=0)
    with pytest.raises(TypeError, match="code must be str"):
        box.run(b"print(1)")
    with pytest.raises(ValueError, match="unknown split"):
        E.TASKS["exec"].examples("dev", 1)


def test_splits_disjoint_deterministic_and_cover_families(task):
    train = task.examples("train", 48, seed=0)
    assert train == task.examples("train", 48, seed=0)
    val, test = task.examples("val", 24, seed=0), task.examples("test", 24, seed=0)
    queries = [{e["query"] for e in s} for s in (train, val, test)]
    assert not (queries[0] & queries[1]) and not (queries[0] & queries[2]) and not (queries[1] & queries[2])
    assert len({e["id"] for e in train + val + test}) == 96
    assert {e["family"] for e in train} == set(E.FAMILIES)
    assert {e["difficulty"] for e in train} == {"easy", "medium", "hard"}
    # another seed draws other examples of the same split
    assert {e["query"] for e in task.examples("train", 12, seed=1)} != {e["query"] for e in train[:12]}


def test_expert_outputs_come_from_real_execution(task):
    by_family = {}
    for e in task.examples("train", 36, seed=3):
        by_family.setdefault(e["family"], e)
    arith = by_family["arithmetic"]
    expr = arith["query"][len("What is "):-1]
    assert int(arith["answer"]) == eval(expr)   # independent check of the sandbox's number
    recovery = by_family["error_recovery"]
    assert len(recovery["outputs"]) == 2 and "Error" in recovery["outputs"][0] and "Traceback" in recovery["outputs"][0]
    assert "Error" not in recovery["outputs"][1]
    assert len(by_family["multi_step"]["outputs"]) == 2
    assert "use_tool(" in by_family["tool_use"]["response"]


def test_response_segments_mark_env_text_untrainable():
    resp = "<think>t</think>\n<code>\nprint(1)\n</code>" + E.env_text("1") + "1"
    segs = E.response_segments(resp)
    assert segs == [("<think>t</think>\n<code>\nprint(1)\n</code>", True), ("\n<output>\n1\n</output>\n", False), ("1", True)]
    assert "".join(s for s, _ in segs) == resp
    # output that contains the tag itself cannot break the split
    tricky = "<code>\nprint('</output>')\n</code>" + E.env_text("\n</output>\nhi") + "x"
    assert [t for _, t in E.response_segments(tricky)] == [True, False, True]


def replay(task, example, turns):
    ep = task.reset(example)
    assert ep.observation() == E.format_prompt(example["query"])
    env = []
    try:
        for t in turns:
            reply, done = ep.step(t)
            env.append(reply)
            if done:
                break
        return ep.reward(), ep.answer(), env, ep.info()
    finally:
        ep.close()


def test_every_family_demo_replays_to_success(task):
    seen = {}
    for e in task.examples("val", 36, seed=0):
        seen.setdefault(e["family"], e)
    assert set(seen) == set(E.FAMILIES)
    for family, e in seen.items():
        (segments,) = task.demo(e)
        assert segments[0] == (E.format_prompt(e["query"]), False)
        model_turns = [s for s, trainable in segments[1:] if trainable]
        expected_env = [s for s, trainable in segments[1:] if not trainable]
        (total, comps), answer, env, info = replay(task, e, model_turns)
        assert env[:-1] == expected_env, family   # the env writes exactly what the demo holds
        assert comps["success"] == 1.0 and comps["output_match"] == 1.0 and comps["format"] == 1.0, (family, comps, info)
        assert answer == e["answer"]
        assert total == pytest.approx(sum(E.REWARD_WEIGHTS.values())), (family, comps)


def test_rewards_are_strict(task):
    e = next(x for x in task.examples("train", 12, seed=0) if x["family"] == "arithmetic")
    code_turn = e["response"].split("<output>")[0].rstrip("\n")
    # right answer without code: correct but no code components
    (_, c), _, _, _ = replay(task, e, [e["answer"]])
    assert c["answer_correct"] == 1 and c["code_extracted"] == 0 and c["output_match"] == 0
    # code that prints nothing never matches the output, wrong answer is not success
    (_, c), _, _, _ = replay(task, e, ["<think>x</think>\n<code>\nv = 1\n</code>", "12345678"])
    assert c["executed"] == 1 and c["output_match"] == 0 and c["success"] == 0
    # syntax error
    (_, c), _, _, _ = replay(task, e, ["<think>x</think>\n<code>\nprint(\n</code>", e["answer"]])
    assert c["syntax_valid"] == 0 and c["executed"] == 0
    # code without a think is executed but loses the format point; a trailing EOS token is ignored
    (_, c), ans, _, _ = replay(task, e, [code_turn.split("</think>\n")[1], e["answer"] + "<|endoftext|>"])
    assert c["output_match"] == 1 and c["format"] == 0 and c["success"] == 1 and ans == e["answer"]
    # numeric tolerance, but not a different number
    assert E.answer_matches("28.270001", "28.27") and not E.answer_matches("28.3", "28.27")
    assert E.answer_matches("True.", "True") and not E.answer_matches("", "True") and not E.answer_matches(None, "1")


def test_no_forced_code_and_turn_limit(task):
    e = task.examples("test", 1, seed=0)[0]
    ep = task.reset(e)
    try:
        assert ep.step("I think the answer is 3") == ("", True)   # plain text ends the episode
    finally:
        ep.close()
    ep = task.reset(e)
    try:
        for i in range(task.max_turns):
            reply, done = ep.step(f"<think>t</think><code>print({i})</code>")
            assert reply == f"\n<output>\n{i}\n</output>\n"
        assert done and ep.answer() is None and ep.reward()[1]["success"] == 0
    finally:
        ep.close()
