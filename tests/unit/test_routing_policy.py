from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.routing.domain.policy import Owner, PolicyError, load_policy, round_robin

CONFIG = Path(__file__).resolve().parents[2] / "config" / "routing_policy.yaml"


def owners(n: int) -> tuple[Owner, ...]:
    return tuple(Owner(id=f"o{i}", name=f"Owner {i}", email=f"o{i}@x.io") for i in range(n))


def test_the_shipped_policy_loads():
    assert len(load_policy(CONFIG).owners) >= 2


@given(st.integers(1, 12), st.integers(0, 10_000), st.integers(1, 300))
def test_round_robin_shares_never_differ_by_more_than_one(n, start, leads):
    pool = owners(n)
    position = start
    counts = Counter()
    for _ in range(leads):
        owner, position = round_robin(pool, position)
        counts[owner.id] += 1
    assert position == start + leads
    shares = [counts[o.id] for o in pool]
    assert max(shares) - min(shares) <= 1


def test_invalid_policy_names_the_field(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: '1'\nowners:\n  - id: Bad Id\n    name: X\n    email: x@y.z\n")
    with pytest.raises(PolicyError, match=r"owners\.0\.id"):
        load_policy(path)
    path.write_text("version: '1'\nowners: []\n")
    with pytest.raises(PolicyError, match="owners"):
        load_policy(path)
