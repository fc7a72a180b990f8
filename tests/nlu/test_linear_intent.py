"""nlu/linear_intent.py, the engine's intent classifier, trained, saved, loaded and
used as Rasa's graph does it. It runs in the engine's environment (.venv-rasa), so
each check is a script run there."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from config import PROJECT_ROOT
from config.settings import Settings
from nlu.tooling.engine import engine_env

SETUP = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, sys.argv[1])
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from nlu.linear_intent import LinearIntentClassifier, TooFewExamples

    EXAMPLES = {
        "repair": ["水龙头坏了", "马桶堵了", "下水道堵了", "the tap is leaking", "fix my toilet"],
        "elder_care": [
            "陪我妈聊聊天", "看看独居老人", "我爸一个人在家", "visit my old mother",
            "check on my elderly dad",
        ],
        "greet": ["你好", "您好啊", "早上好", "hello", "hi there"],
    }
    storage = LocalModelStorage(Path(sys.argv[2]))
    context = ExecutionContext(GraphSchema({}), node_name="classifier")
    tokenizer = JiebaTokenizer.create(
        JiebaTokenizer.get_default_config(), storage, Resource("tokenizer"), context
    )

    def messages(texts):
        found = [Message.build(text=text) for text in texts]
        tokenizer.process(found)
        return found

    def training(examples):
        data = TrainingData(
            [Message.build(text=t, intent=i) for i, texts in examples.items() for t in texts]
        )
        return tokenizer.process_training_data(data)

    def trained(examples, name="classifier"):
        resource = Resource(name)
        classifier = LinearIntentClassifier.create({}, storage, resource, context)
        classifier.train(training(examples))
        return LinearIntentClassifier.load({}, storage, resource, context)
    """
)

CLASSIFIES = """
classifier = trained(EXAMPLES)
found = classifier.process(messages(["厨房水龙头漏水", "please visit my old father", "你好呀"]))
labels = [m.get("intent")["name"] for m in found]
assert labels == ["repair", "elder_care", "greet"], labels
ranking = found[0].get("intent_ranking")
assert [r["name"] for r in ranking][0] == "repair"
assert len(ranking) == 3 and abs(sum(r["confidence"] for r in ranking) - 1) < 1e-6, ranking
assert ranking[0]["confidence"] > ranking[1]["confidence"] >= ranking[2]["confidence"]
empty = classifier.process(messages([""]))[0].get("intent")
assert empty["name"] in EXAMPLES and 0 <= empty["confidence"] <= 1, empty
print("ok")
"""

NEEDS_TWO_EXAMPLES = """
try:
    trained({**EXAMPLES, "thank": ["谢谢"]})
except TooFewExamples as error:
    assert "'thank'" in str(error), error
    print("ok")
"""

UNTRAINED_IS_SILENT = """
classifier = trained({})
found = classifier.process(messages(["水龙头坏了"]))
assert found[0].get("intent") is None
print("ok")
"""

REFUSES_UNTRUSTED_TYPES = """
import skops.io as sio
from collections import OrderedDict
from rasa.shared.exceptions import RasaException
from nlu.linear_intent import MODEL_FILE

trained(EXAMPLES, name="tampered")
with storage.write_to(Resource("tampered")) as directory:
    sio.dump({"classifier": OrderedDict()}, directory / MODEL_FILE)
try:
    LinearIntentClassifier.load({}, storage, Resource("tampered"), context)
except RasaException as error:
    assert "not trusted" in str(error), error
    print("ok")
"""


def _run(script: str, tmp_path: Path) -> str:
    python = Settings().rasa_venv / "bin" / "python"
    result = subprocess.run(
        [str(python), "-c", SETUP + textwrap.dedent(script), str(PROJECT_ROOT), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=engine_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_classifies_after_a_save_and_load_with_a_ranking_of_probabilities(
    tmp_path: Path,
) -> None:
    assert _run(CLASSIFIES, tmp_path).endswith("ok")


def test_an_intent_with_one_example_is_a_clear_training_error(tmp_path: Path) -> None:
    assert _run(NEEDS_TWO_EXAMPLES, tmp_path).endswith("ok")


def test_without_intent_examples_nothing_is_predicted(tmp_path: Path) -> None:
    assert _run(UNTRAINED_IS_SILENT, tmp_path).endswith("ok")


def test_a_model_file_with_other_types_refuses_to_load(tmp_path: Path) -> None:
    assert _run(REFUSES_UNTRUSTED_TYPES, tmp_path).endswith("ok")
