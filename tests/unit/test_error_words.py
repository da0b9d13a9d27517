"""Every error code the API can produce is said in both languages of the pages.

The codes come from the one registry (``ErrorCode``); the words from the pages' own file
(api/pages/static/words-errors.js, read as the JSON it keeps between its markers). A new code
without its words, or words that use a parameter the code does not carry, fail here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hall_controller.kernel.error_codes import ErrorCode

STATIC = Path(__file__).resolve().parents[2] / "api" / "pages" / "static"
RULES = Path(__file__).resolve().parents[2] / "hall_controller" / "queue" / "rules.py"
CJK = re.compile(r"[\u4e00-\u9fff]")


def error_words() -> dict[str, dict[str, str]]:
    text = (STATIC / "words-errors.js").read_text(encoding="utf-8")
    found = re.search(r"/\* words \*/(.*)/\* end words \*/", text, re.S)
    assert found, "words-errors.js lost its /* words */ … /* end words */ markers"
    words: Any = json.loads(found.group(1))
    return {"zh": words["zh"], "en": words["en"]}


WORDS = error_words()


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
def test_each_code_has_words_in_both_languages_with_only_its_own_parameters(code: ErrorCode) -> None:
    key = f"error.{code.value}"
    zh, en = WORDS["zh"].get(key), WORDS["en"].get(key)
    assert zh and en, f"{code.value}: words missing (zh: {zh!r}, en: {en!r})"
    assert CJK.search(zh), f"{code.value}: the Chinese words are not Chinese: {zh!r}"
    assert not CJK.search(en), f"{code.value}: the English words hold Chinese: {en!r}"
    for language, text in (("zh", zh), ("en", en)):
        used = set(re.findall(r"\{(\w+)\}", text))
        assert used <= set(code.params), (
            f"{code.value} ({language}) uses {sorted(used - set(code.params))}, "
            f"which its answers do not carry (params: {code.params})")


def test_no_words_for_codes_that_no_longer_exist() -> None:
    codes = {f"error.{c.value}" for c in ErrorCode}
    for language in ("zh", "en"):
        stale = {k for k in WORDS[language] if k.startswith("error.")} - codes
        assert not stale, f"{language}: words for codes the API does not have: {sorted(stale)}"


def test_every_move_an_invalid_move_error_names_has_words() -> None:
    # ticket.invalid_move carries the move ("start serving"); the page says it in words.
    moves = set(re.findall(r'_require\(ticket, "([^"]+)"', RULES.read_text(encoding="utf-8")))
    assert "recall" in moves
    for language in ("zh", "en"):
        missing = {m for m in moves if f"move.{m}" not in WORDS[language]}
        assert not missing, f"{language}: moves without words: {sorted(missing)}"


def test_the_integration_guide_lists_every_code() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "integration.md").read_text(encoding="utf-8")
    table = guide[guide.index("## Errors"):]
    missing = [c.value for c in ErrorCode if f"| `{c.value}` |" not in table]
    assert not missing, f"docs/integration.md's error table lacks {missing}"
