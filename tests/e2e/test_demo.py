"""The Quick start demo against the running stack: every sample lead reaches a decision, each
routed one says why every rule did not match, and the README's sample output is what it prints."""

from __future__ import annotations

import re
from pathlib import Path

from devstack.demo import SAMPLE_LEADS, DemoResult, report_lines, run_demo

README = Path(__file__).resolve().parents[2] / "README.md"
TAG = re.compile(r"\.([0-9a-f]{6})@")
INBOUND_NAMES = re.compile(r"Ana Silva|Ben Okafor|Chloé Martin")
INBOUND_IDS = re.compile(r"ana\.silva|ben\.okafor|chloe\.martin")


def readme_sample() -> list[str]:
    """The demo output the README shows after "it prints lines like:"."""
    after = README.read_text(encoding="utf-8").split("lines like:\n\n```\n", 1)
    assert len(after) == 2, "README.md no longer shows the demo's output after 'it prints lines like:'"
    return after[1].split("\n```", 1)[0].splitlines()


def comparable(lines: list[str]) -> list[str]:
    """Lines with what differs between runs masked: the run tag and who the round robin's turn was."""
    masked = [TAG.sub(".<tag>@", line) for line in lines]
    return [INBOUND_IDS.sub("<desk-id>", INBOUND_NAMES.sub("<desk>", line)) for line in masked]


def test_demo_routes_the_good_fits_and_nurtures_the_rest(stack, capsys):
    results = run_demo(stack)
    assert len(results) == len(SAMPLE_LEADS)
    destinations = [r.destination for r in results]
    assert all(d.startswith("routed to ") for d in destinations[:3])
    assert destinations[3:] == ["nurture", "nurture"]
    assert len(set(destinations[:3])) == 3  # three good fits, three different owners in turn
    printed = capsys.readouterr().out
    assert all(r.email in printed for r in results)

    grace = next(r for r in results if r.email.startswith("grace.hopper."))
    assert grace.rules[0] == "enterprise_americas: company_size 1200 < 5000"
    assert all(not line.endswith(": matched") for r in results[:3] for line in r.rules)
    assert [line.split(":")[0] for line in grace.rules] == [
        "enterprise_americas", "enterprise_emea", "dach_public_sector", "hot_leads"]

    assert comparable(report_lines(results)) == comparable(readme_sample())


def test_the_readme_comparison_sees_a_changed_reason():
    shown = readme_sample()
    routed = DemoResult("a.b.123abc@x.io", "id", "routed to Ana Silva", "no rule matched -> fallback team inbound")
    assert comparable(report_lines([routed])) != comparable(shown)
    assert comparable(["  x.aaaaaa@y  ->  routed to Ben Okafor"]) == comparable(["  x.bbbbbb@y  ->  routed to Ana Silva"])
