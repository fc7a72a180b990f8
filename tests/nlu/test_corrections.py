"""nlu/corrections.py: what reads as a typed correction of one answer, and its value."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu.corrections import MAX_CORRECTION, Correction, read_correction


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("地址错了，应该是6栋2单元301", "address", "6栋2单元301"),
        ("门牌号码不对，是502", "address", "502"),
        ("改一下地址，6栋201", "address", "6栋201"),
        ("我要改一下地址", "address", None),
        ("Wrong address: 6 Building 2 Unit 301", "address", "6 Building 2 Unit 301"),
        ("the address is wrong, it should be Building 6", "address", "Building 6"),
        ("电话写错了，是13912345678", "phone", "13912345678"),
        ("手机号换了，新的是13900001111", "phone", "13900001111"),
        ("电话号码不对", "phone", None),
        ("修改电话", "phone", None),
        ("The phone number is wrong. It's 13912345678", "phone", "13912345678"),
        ("I need to change my phone number to 13912345678", "phone", "13912345678"),
        ("时间改成后天上午", "preferred_time", "后天上午"),
        ("时间不对，应该是周六上午", "preferred_time", "周六上午"),
        ("换个时间，下周一下午", "preferred_time", "下周一下午"),
        ("change the time", "preferred_time", None),
        ("change the time to tomorrow morning", "preferred_time", "tomorrow morning"),
        ("需求写错了，应该是厨房水管漏水", "description", "厨房水管漏水"),
        ("照片发错了", "photo", None),
    ],
)
def test_corrections_name_the_answer_and_the_new_value(
    text: str, field: str, value: str | None
) -> None:
    assert read_correction(text) == Correction(field, value)


@pytest.mark.parametrize(
    "text",
    [
        "我想把阳台改成封闭的",  # a correcting word, no answer named
        "地址在3栋，水管坏了",  # an answer named, nothing corrected
        "快递送错地址了",
        "用的时间长了，灯坏了",
        "手机屏碎了换一个",
        "我家电话打不通",
        "电路老化要改造",
        "/change_field",
        "",
        "地址错了" + "很" * MAX_CORRECTION,  # a long message is a need
    ],
)
def test_needs_are_not_corrections(text: str) -> None:
    assert read_correction(text) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_reads_as_a_correction_of_a_known_answer_or_none(text: str) -> None:
    correction = read_correction(text)
    if correction is not None:
        assert correction.field in {"address", "phone", "preferred_time", "description", "photo"}
        assert correction.value is None or correction.value in text
