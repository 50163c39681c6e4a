"""The question set: every answer is checked mechanically; the agent must get >= 95 % right offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.agent.checks import check, figures_backed_by_citations

QUESTIONS: list[dict[str, Any]] = yaml.safe_load((Path(__file__).with_name("questions.yaml")).read_text())["questions"]


def test_question_set_is_large_and_covers_every_intent() -> None:
    assert len(QUESTIONS) >= 110
    kinds = {k for q in QUESTIONS for k in q["expect"]}
    assert {"cheapest", "price", "compare", "managed", "estimate", "unknown", "refuse", "note"} <= kinds


def test_accuracy_at_least_95_percent(agent: Any, catalog: Any) -> None:
    failures = []
    for item in QUESTIONS:
        answer = agent.ask(item["q"])
        errors = check(answer, catalog, item["expect"])
        if errors:
            failures.append(f"{item['q']!r}: {'; '.join(errors)}\n    -> {answer.text}")
    accuracy = 1 - len(failures) / len(QUESTIONS)
    print(f"\nagent accuracy: {accuracy:.1%} ({len(QUESTIONS) - len(failures)}/{len(QUESTIONS)})")
    for f in failures:
        print("FAIL", f)
    assert accuracy >= 0.95, "\n".join(failures)


@pytest.mark.parametrize("item", QUESTIONS, ids=lambda i: i["q"][:60])
def test_every_figure_is_backed_by_a_cited_row(agent: Any, item: dict[str, Any]) -> None:
    answer = agent.ask(item["q"])
    assert figures_backed_by_citations(answer) == [], answer.text
    if "$" in answer.text:
        assert answer.citations
