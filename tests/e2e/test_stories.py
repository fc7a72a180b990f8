"""The conversation tests (nlu/tests/test_*.yml) against the production model.

`rasa test core --e2e` reads the test stories, classifies every resident message that
has text with the model's NLU, and checks every action the dialogue policies predict
against the story. Custom actions do not run: each story carries the events they
return. `--fail-on-prediction-errors` makes the first wrong intent or action fail the
command; Rasa then prints the story up to the mistake, marked `# predicted: …`.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import PROJECT_ROOT
from config.settings import Settings
from nlu.tooling.engine import engine_env, ensure_model, rasa_executable

STORIES = PROJECT_ROOT / "nlu" / "tests"
FAILED_STORIES = "failed_test_stories.yml"
STORY_REPORT = "story_report.json"
RASA_TIMEOUT_S = 600
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Training (when the data changed) plus the run; the run alone takes about 15 s.
pytestmark = pytest.mark.timeout(900)


def story_names() -> list[str]:
    """The stories Rasa should evaluate: those of the `test_`-prefixed files."""
    names: list[str] = []
    for path in sorted(STORIES.glob("test_*.yml")):
        document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        names += [str(story["story"]) for story in document.get("stories") or []]
    return names


def failure_details(out: Path, output: str) -> str:
    """Why the run failed: Rasa's failed-stories file if it wrote one, else the failed
    story it printed (with the flag it stops at the first mistake, before the file)."""
    failed = out / FAILED_STORIES
    if failed.exists():
        return f"{failed}:\n{failed.read_text(encoding='utf-8')}"
    text = _ANSI.sub("", output)
    start = text.find("Failed Story")
    return text[start:] if start >= 0 else text[-6000:]


def test_every_conversation_story_passes(tmp_path: Path) -> None:
    names = story_names()
    assert names, f"no test stories in {STORIES}/test_*.yml"
    settings = Settings()
    model = ensure_model(settings, log=tmp_path / "train.log")
    out = tmp_path / "results"
    command = [
        str(rasa_executable(settings)),
        "test",
        "core",
        "--model",
        str(model),
        "--stories",
        str(STORIES),
        "--out",
        str(out),
        "--e2e",
        "--fail-on-prediction-errors",
        "--no-plot",
    ]
    result = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=engine_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=RASA_TIMEOUT_S,
        check=False,
    )
    exit_code = result.returncode
    assert exit_code == 0, f"rasa test core exited with {exit_code}\n" + failure_details(
        out, result.stdout
    )

    # Success must mean every story was evaluated and passed, not that none was found.
    report = json.loads((out / STORY_REPORT).read_text(encoding="utf-8"))
    conversations = report.get("conversation_accuracy") or {"correct": 0, "total": 0}
    assert conversations["total"] == len(names), (conversations, names)
    assert conversations["correct"] == conversations["total"], failure_details(out, result.stdout)
