"""chat.py: exec variables persist across questions until /reset; both tasks answer --query and exit."""
import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_exec_variables_persist_across_questions_until_reset():
    from chat import ChatTask
    from exec_env import TASKS, Sandbox
    with Sandbox(timeout=5.0) as sandbox:
        task = ChatTask(TASKS["exec"], sandbox)
        first = task.reset({"id": "q1", "query": "set x"})
        first.step("<code>\nx = 41\n</code>")
        first.close()
        second = task.reset({"id": "q2", "query": "use x"})
        reply, done = second.step("<code>\nprint(x + 1)\n</code>")
        assert "42" in reply and not done
        second.close()
        sandbox.reset()
        third = task.reset({"id": "q3", "query": "x again"})
        reply, _ = third.step("<code>\nprint(x)\n</code>")
        assert "NameError" in reply


def test_query_mode_runs_both_tasks(tmp_path):
    from rollout import get_task
    from sft import build_char_tokenizer, build_tiny_model
    for name in ["exec", "vi"]:
        path = str(tmp_path / name)
        tokenizer = build_char_tokenizer(get_task(name).special_tokens)
        torch.manual_seed(0)
        build_tiny_model(tokenizer, "tiny").save_pretrained(path)
        tokenizer.save_pretrained(path)
        out = subprocess.run([sys.executable, "chat.py", "--task", name, "--model", path, "--query", "delete line 1",
                              "--max-tokens", "8", "--max-cycles", "2"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        if name == "vi":  # the notepad is shown after each command
            assert "<notepad>" in out.stdout and "$ " in out.stdout
