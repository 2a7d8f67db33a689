"""Issue 17: an open_clip tag whose weights cannot be downloaded (an offline machine) is one `error:` line with
the fix, from every command that loads a model, never a traceback. The commands run in a subprocess with
HF_HUB_OFFLINE=1 and an empty Hugging Face cache (HF_HOME in tmp_path): nothing can be downloaded, and a
cache of the real weights on the machine cannot make the test pass or fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import render_video

REPO = Path(__file__).resolve().parents[1]


def _offline_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "fitclip", *args], capture_output=True, text=True, timeout=180,
                          cwd=REPO, env=env)


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    folder = tmp_path / "videos"
    render_video(folder / "clip.mp4", num_frames=8)
    (folder / "captions.csv").write_text("video_id,caption\nclip,a grey clip\n")  # the folder corpus: retrieval
    return folder


@pytest.mark.parametrize("command", ["search", "evaluate"])
def test_cli_offline_openai_tag_is_one_error_line_naming_the_fix(tmp_path, videos, command):
    args = {"search": ["search", "--videos", str(videos), "--queries", "a grey clip", "--out", str(tmp_path / "out")],
            "evaluate": ["evaluate", "--dataset", "folder", "--data-root", str(videos)]}[command]
    out = _offline_cli(tmp_path, *args, "--arch", "ViT-B-16", "--pretrained", "openai", "--num-workers", "0",
                       "--no-progress")
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr and "Failed to download" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), out.stderr
    line = errors[0]
    assert "ViT-B-16" in line and "'openai'" in line and "could not be downloaded" in line
    assert "HF_HUB_OFFLINE=1" in line and "--pretrained PATH" in line and "run once online" in line
    assert not (tmp_path / "out" / "protocol.json").exists()
