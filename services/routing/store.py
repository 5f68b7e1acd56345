"""What routing reads before it decides: owner loads, strategy state, accounts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.domain.availability import OwnerLoad, day_bounds, week_bounds
from services.routing.tables import accounts, assignments, strategy_states


async def owner_loads(session: AsyncSession, owners, now: datetime) -> dict[str, OwnerLoad]:
    """Assignments today and this week (each in the owner's own zone) and still open."""
    recent = (await session.execute(
        select(assignments.c.owner_id, assignments.c.assigned_at)
        .where(assignments.c.assigned_at >= now - timedelta(days=8))
    )).all()
    open_counts = dict((await session.execute(
        select(assignments.c.owner_id, func.count()).where(assignments.c.status == "assigned")
        .group_by(assignments.c.owner_id)
    )).all())
    loads: dict[str, OwnerLoad] = {}
    for owner in owners:
        day, week = day_bounds(owner, now)[0], week_bounds(owner, now)[0]
        mine = [at for who, at in recent if who == owner.id]
        loads[owner.id] = OwnerLoad(
            assigned_today=sum(at >= day for at in mine),
            assigned_this_week=sum(at >= week for at in mine),
            open_assignments=open_counts.get(owner.id, 0),
        )
    return loads


async def load_states(session: AsyncSession) -> dict[str, dict]:
    return dict((await session.execute(select(strategy_states.c.team_id, strategy_states.c.state))).all())


async def save_state(session: AsyncSession, team_id: str, state: Mapping) -> None:
    await session.execute(
        insert(strategy_states).values(team_id=team_id, state=dict(state))
        .on_conflict_do_update(index_elements=["team_id"], set_={"state": dict(state), "updated_at": func.now()})
    )


async def account_owners(session: AsyncSession) -> dict[str, str]:
    return dict((await session.execute(select(accounts.c.domain, accounts.c.owner_id))).all())
