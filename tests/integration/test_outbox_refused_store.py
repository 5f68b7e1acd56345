"""Refused outbox rows on the real, migrated database (routing's schema, inside the test's
rolled-back transaction): set aside from the outbox, listed, replayed to the end of the
outbox once, discarded."""

from __future__ import annotations

from sqlalchemy import insert, select

from shared.db.metadata import outbox_refused_table, outbox_table, service_metadata
from shared.outbox.refused import (
    REPLAY_HEADER,
    OutboxRow,
    count_refused,
    discard,
    list_refused,
    replay,
    set_aside,
)

metadata = service_metadata("routing")
outbox, refused = outbox_table(metadata), outbox_refused_table(metadata)


async def add(session, name: str, value: bytes = b"v") -> OutboxRow:
    row = (await session.execute(
        insert(outbox).values(topic="t.v1", key=b"lead-" + name.encode(), value=value, headers={"name": name})
        .returning(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers, outbox.c.created_at)
    )).one()
    return OutboxRow(row.id, row.topic, row.key, row.value, dict(row.headers), row.created_at)


async def outbox_names(session) -> list[str]:
    rows = (await session.execute(select(outbox.c.headers).order_by(outbox.c.id))).scalars().all()
    return [h["name"] for h in rows]


async def test_set_aside_replay_and_discard(session):
    before = await count_refused(session, refused)
    a, b, c = [await add(session, name, value=name.encode() * 3) for name in ("a", "b", "c")]
    await set_aside(session, outbox, refused, [(a, ValueError("too big")), (c, KeyError("nope"))])
    assert await outbox_names(session) == ["b"]

    kept = (await list_refused(session, refused))[before:]
    assert [(k.outbox_id, k.topic, k.key, k.value, k.headers, k.created_at) for k in kept] == [
        (a.id, "t.v1", b"lead-a", b"aaa", {"name": "a"}, a.created_at),
        (c.id, "t.v1", b"lead-c", b"ccc", {"name": "c"}, c.created_at),
    ]
    assert [k.reason for k in kept] == ["ValueError: too big", "KeyError: 'nope'"]
    assert await count_refused(session, refused) == before + 2
    assert [k.id for k in await list_refused(session, refused, ids=[kept[1].id])] == [kept[1].id]

    d = await add(session, "d")
    placed = await replay(session, outbox, refused, [kept[1].id, kept[0].id])
    assert list(placed) == [kept[0].id, kept[1].id]  # back in their original order
    assert all(new > d.id for new in placed.values())  # at the end of the outbox
    assert await outbox_names(session) == ["b", "d", "a", "c"]
    again = (await session.execute(select(outbox).where(outbox.c.id == placed[kept[0].id]))).one()
    assert (again.key, again.value) == (b"lead-a", b"aaa")
    assert again.headers == {"name": "a", REPLAY_HEADER: f"outbox_refused:{kept[0].id}"}
    assert await replay(session, outbox, refused, [kept[0].id]) == {}  # once only

    e = await add(session, "e")
    await set_aside(session, outbox, refused, [(e, ValueError("x"))])
    [left] = (await list_refused(session, refused))[before:]
    assert await discard(session, refused, [left.id, 10**12]) == [left.id]
    assert await count_refused(session, refused) == before
