"""The `orders` commands other tools rely on: classify and the terminal chat."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from config import PROJECT_ROOT
from config.settings import Settings
from nlu.tooling.engine import ensure_model
from tests.e2e.conftest import make_settings
from tests.servers import action_server, port_open, rasa_server, stack_env

ORDERS = [sys.executable, "-m", "app.cli"]


def orders_command(
    args: list[str], settings: Settings, stdin: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack_env(settings), "LANG": "C.UTF-8"}
    return subprocess.run(
        ORDERS + args,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=timeout,
        check=False,
    )


def run_orders(args: list[str], settings: Settings, stdin: str, timeout: float) -> str:
    result = orders_command(args, settings, stdin, timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_classify_prints_one_json_object_per_line(stack: Settings) -> None:
    lines = [
        "我家厨房水管漏水了",
        "my 80-year-old mother needs someone to check on her",
        "你好",
        "",
    ]
    output = run_orders(["classify"], stack, "\n".join(lines) + "\n", timeout=120)
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [row["text"] for row in rows] == lines
    assert set(rows[0]) == {"text", "label", "intent", "category", "confidence"}
    assert (rows[0]["label"], rows[0]["intent"], rows[0]["category"]) == (
        "repair",
        "request_service",
        "repair",
    )
    assert rows[1]["label"] == "elder_care"
    assert (rows[2]["label"], rows[2]["intent"], rows[2]["category"]) == ("greet", "greet", None)
    assert 0.0 < rows[0]["confidence"] <= 1.0


def test_classify_refuses_an_engine_serving_another_model(tmp_path: Path) -> None:
    # An engine left running from before the training data changed: its answers would
    # not be the production model's. Here: the same model under another name.
    settings = make_settings(tmp_path)
    older = tmp_path / "orders-0000000000000000.tar.gz"
    older.write_bytes(ensure_model(settings).read_bytes())
    with action_server(settings, tmp_path / "actions.log"):
        with rasa_server(settings, older, tmp_path / "rasa.log"):
            result = orders_command(["classify"], settings, "水管漏了\n", timeout=120)
    assert result.returncode == 1, result.stdout
    assert "serves orders-0000000000000000.tar.gz, not orders-" in result.stderr
    assert result.stdout == ""


def test_terminal_chat_files_a_request(stack: Settings) -> None:
    script = "\n".join(
        [
            "我家厨房水管漏水了",
            "幸福小区3栋2单元501",
            "明天下午三点",
            "12345",
            "13812345678",
            "1",
            "1",
            "/status",
            "/quit",
        ]
    )
    output = run_orders(["chat", "--user", "cli-test"], stack, script + "\n", timeout=120)
    assert "这个号码好像不对" in output
    assert "[1] ✅ 提交" in output  # buttons are numbered
    # The terminal's own wording: no location, contact or photo buttons to tap.
    assert "或输入 /location 纬度 经度 发送定位" in output
    assert "请输入一个联系电话" in output
    assert "没有的话输入“跳过”前的数字" in output
    assert "按钮" not in output.replace("数字选择按钮", "")
    numbers = re.findall(r"RO-\d{6}-\d{4,}", output)
    assert numbers and numbers[0] == numbers[-1]  # filed, then listed by /status


def test_terminal_chat_starts_and_stops_its_own_engine(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    output = run_orders(["chat", "--user", "newcomer"], settings, "hello\n/quit\n", timeout=600)
    assert "community services assistant" in output
    log = (settings.data_dir / "logs" / "stack.log").read_text(errors="replace")
    assert "Action endpoint is up and running" in log
    assert "Failed to read endpoint configuration" not in log  # no missing endpoints.yml
    assert not port_open("127.0.0.1", settings.rasa_port)
    assert not port_open("127.0.0.1", settings.actions_port)


def test_a_malformed_setting_stops_at_start_with_a_sentence() -> None:
    env = {**os.environ, "DATABASE_URL": "mysql://nope", "REDIS_URL": "http://x"}
    result = subprocess.run(
        [*ORDERS, "up"],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DATABASE_URL must be sqlite+aiosqlite:///" in result.stderr
    assert "REDIS_URL must be a redis:// URL" in result.stderr
