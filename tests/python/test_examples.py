"""The README's Python quickstart and the examples run as tests."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_python_quickstart_runs(tmp_path: pathlib.Path) -> None:
    blocks = readme_python_blocks()
    assert blocks, "README.md has no python block under '## Use from Python'"
    # Every block: the async quickstart and the blocking one.
    assert len(blocks) >= 2, "README.md's Python section lost its open_blocking example"
    for i, block in enumerate(blocks):
        code = block.replace("/var/lib/cyberfly", str(tmp_path / f"store{i}"))
        code = code.replace("/tmp/cyberfly-demo", str(tmp_path / f"demo{i}"))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr


def test_quickstart_example_runs(tmp_path: pathlib.Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "hello" in out.stdout and "closed" in out.stdout


def test_plot_stats_example_runs_with_or_without_matplotlib(tmp_path: pathlib.Path) -> None:
    png = tmp_path / "stats.png"
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "plot_stats.py"), str(png)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert png.exists() or "matplotlib is not installed" in out.stdout
