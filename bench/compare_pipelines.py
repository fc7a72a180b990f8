"""Compare NLU pipelines on the held-out set: train each config (NLU only), serve it,
score it with the same code as `orders evaluate-nlu`, and print a Markdown table.

    .venv/bin/python bench/compare_pipelines.py nlu/config.yml nlu/experiments/*.yml
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from config import PROJECT_ROOT
from config.settings import get_settings
from nlu.tooling.engine import RASA_DATA, engine_env
from nlu.tooling.evaluate import evaluate, load_heldout
from tests.servers import free_port, process


def training_folder(out: Path) -> Path:
    """The NLU training files (not the dialogue rules), gathered in one folder."""
    folder = out / "nlu-data"
    folder.mkdir(exist_ok=True)
    for path in RASA_DATA.glob("nlu*.yml"):
        shutil.copy(path, folder / path.name)
    return folder


def train(config: Path, out: Path) -> tuple[Path, float]:
    """Train an NLU-only model with this config; return it and the seconds it took."""
    rasa = str(get_settings().rasa_venv / "bin" / "rasa")
    # Rasa cuts a fixed model name at its first dot ("linear-C-0.3" -> "linear-C-0"),
    # and `rasa run` given a missing file serves another model of the folder instead.
    name = config.stem.replace(".", "_")
    started = time.perf_counter()
    subprocess.run(
        [
            rasa,
            "train",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            str(training_folder(out)),
            "--out",
            str(out),
            "--fixed-model-name",
            name,
        ],
        cwd=PROJECT_ROOT,
        env=engine_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    model = out / f"{name}.tar.gz"
    if not model.exists():
        raise SystemExit(f"training {config} did not write {model}")
    return model, time.perf_counter() - started


def main(configs: list[str]) -> None:
    sets = load_heldout()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in map(Path, configs):
            model, seconds = train(config, Path(tmp))
            port = free_port()
            rasa = str(get_settings().rasa_venv / "bin" / "rasa")
            command = [
                rasa,
                "run",
                "--enable-api",
                "--interface",
                "127.0.0.1",
                "--port",
                str(port),
                "--model",
                str(model),
            ]
            url = f"http://127.0.0.1:{port}"
            with process(command, engine_env(), Path(tmp) / f"{config.stem}.log", f"{url}/status"):
                report = asyncio.run(evaluate(url, sets))
            report["train_seconds"] = round(seconds, 1)
            report["config"] = str(config)
            rows.append(report)
            print(json.dumps(report, ensure_ascii=False), file=sys.stderr, flush=True)
    print(
        "| config | zh macro-F1 | en macro-F1 | emergency recall | false alarms | "
        "asks (right / wrong) | p50 ms | p99 ms | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        zh, en = r["languages"].get("zh", {}), r["languages"].get("en", {})
        print(
            f"| {r['config']} | {zh.get('macro_f1')} | {en.get('macro_f1')} | "
            f"{r['emergency_recall']} | {r['emergency_false_alarm_rate']:.2%} | "
            f"{r['clarify_rate']:.1%} ({r['clarify_rate_when_right']:.1%} / "
            f"{r['clarify_rate_when_wrong']:.1%}) | "
            f"{r['latency_ms_p50']} | {r['latency_ms_p99']} | {r['train_seconds']} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
