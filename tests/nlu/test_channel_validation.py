"""nlu/channels.py builds Rasa's action-response validator once (it runs in the
engine's environment, so the check runs there as a subprocess): valid responses pass,
invalid ones raise the same ValidationError as Rasa's own check."""

from __future__ import annotations

import subprocess
import textwrap

from config import PROJECT_ROOT
from config.settings import Settings

CHECK = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from jsonschema import ValidationError
    import nlu.channels  # noqa: F401  (installs the cached validator)
    from rasa.core.actions.action import RemoteAction

    valid = {"events": [{"event": "slot", "name": "phone", "value": "+86"}], "responses": []}
    assert RemoteAction._validate_action_result(None, valid) is True
    try:
        RemoteAction._validate_action_result(None, {"events": [{"x": 1}], "responses": 3})
    except ValidationError as error:
        assert "Failed to validate Action server response" in error.message
        print("ok")
    """
)


def test_cached_validator_accepts_valid_and_refuses_invalid_responses() -> None:
    python = Settings().rasa_venv / "bin" / "python"
    result = subprocess.run(
        [str(python), "-c", CHECK, str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
