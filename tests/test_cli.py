"""Every stage script's --help prints (argparse formats help strings with %, so a bare "78.5%" in an Args
docstring crashed `grpo.py --help` and `sft.py --help`)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("script", ["sft.py", "grpo.py", "eval.py", "chat.py", "geometric.py"])
def test_help_prints(script):
    out = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout and "--" in out.stdout
