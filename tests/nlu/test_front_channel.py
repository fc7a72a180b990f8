"""The engine answers each front under its own name (nlu/channels.py), so that a
`channel: cli` variation in domain.yml is what the terminal chat says and Telegram and
the web chat keep theirs. nlu/channels.py runs in the engine's environment, so the
check runs there as a subprocess, on the real domain."""

from __future__ import annotations

import json
import subprocess
import textwrap

from config import PROJECT_ROOT
from config.settings import Settings

CHECK = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.path.insert(0, sys.argv[1])
    from nlu.channels import named_after_front
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain

    nlg = TemplatedNaturalLanguageGenerator(Domain.load(sys.argv[1] + "/domain.yml").responses)
    said = {}
    for sender, metadata in [
        ("cli:me", {"channel": "cli"}),
        ("telegram:42", {"channel": "telegram"}),
        ("web:abc", {"channel": "web"}),
        ("cli:no-metadata", None),
    ]:
        collector = CollectingOutputChannel()
        message = named_after_front(UserMessage("hi", collector, sender, metadata=metadata))
        for language in ("zh", "en"):
            reply = nlg.generate_from_slots(
                "utter_ask_address", {"language": language}, message.output_channel.name()
            )
            said[f"{sender} {language}"] = reply
        # The replies still reach the list the REST handler answers with.
        asyncio.run(message.output_channel.send_text_message(sender, "x"))
        assert collector.messages[-1]["text"] == "x"
    print(json.dumps(said, ensure_ascii=False))
    """
)


def _replies() -> dict[str, dict[str, object]]:
    python = Settings().rasa_venv / "bin" / "python"
    result = subprocess.run(
        [str(python), "-c", CHECK, str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    replies: dict[str, dict[str, object]] = json.loads(result.stdout.strip().splitlines()[-1])
    return replies


def _text(reply: dict[str, object]) -> str:
    custom = reply.get("custom")
    text = custom.get("text") if isinstance(custom, dict) else reply.get("text")
    assert isinstance(text, str)
    return text


def test_the_terminal_gets_its_own_variation_and_the_other_fronts_theirs() -> None:
    said = _replies()
    for sender in ("cli:me", "cli:no-metadata"):
        assert "/location 纬度 经度" in _text(said[f"{sender} zh"])
        assert "/location LAT LON" in _text(said[f"{sender} en"])
        assert "按钮" not in _text(said[f"{sender} zh"])
        assert "reply_keyboard" not in str(said[f"{sender} zh"])
    for sender in ("telegram:42", "web:abc"):
        zh, en = said[f"{sender} zh"], said[f"{sender} en"]
        assert "点下方按钮发送定位" in _text(zh)
        assert "tap the button to send your location" in _text(en)
        custom = zh.get("custom")
        assert isinstance(custom, dict) and custom["reply_keyboard"]
