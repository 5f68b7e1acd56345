"""Moves stored leads to the id their identity derives to, for when the identity rules change
(``config/identity.yaml``; first: from the lower-cased email to ``shared.identity.identity_of``).

One schema at a time, from the emails that schema stores next to lead ids: a lead whose
identity's id is free moves there with every row carrying its id. Nothing is merged: where the
identity's id is another stored lead's, or several stored leads share one identity, one lead
at most takes the id and the others keep theirs (reported, for a person to close them in the
CRM); folding two sales histories into one is not a rule a machine should guess.
The rules, and when to run this, are in docs/architecture.md ("One identity").

``python -m shared.db.rekey [--config-dir DIR]`` re-keys every service's schema (DATABASE_URL);
each service's migration that changed the rules did it once already.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.engine import Connection

from shared.access.installation import lead_id_key
from shared.db.engine import make_engine
from shared.identity import InvalidEmail, lead_id_for
from shared.identity_policy import IdentityPolicy, load_identity_policy
from shared.settings import REPO_CONFIG_DIR

log = logging.getLogger(__name__)


LOWER_CASED_EMAIL = IdentityPolicy(sub_addressing=(), domain_aliases={}, insignificant_dots=())
"""The rules before one identity: a person was their lower-cased email (migrations go back to it)."""


@dataclass(frozen=True)
class LeadKeys:
    """Where one schema keeps lead ids (always a column ``lead_id``). A migration writes its own
    copy: it must keep meaning the tables of its revision."""

    schema: str
    emails: tuple[str, ...]  # tables with an ``email`` column next to the id: who the id is
    keyed: tuple[str, ...]  # tables where the id is (part of) a unique key: a lead's own state
    carried: tuple[str, ...] = ()  # tables that only carry the id
    aliases: str | None = None  # (old_lead_id, lead_id): moved ids keep answering


SCHEMAS: tuple[LeadKeys, ...] = (
    LeadKeys("scoring", emails=("leads",), keyed=("leads",),
             carried=("activities", "submissions", "lead_outcomes")),
    LeadKeys("routing", emails=("routed_leads",), keyed=("routed_leads", "assignments", "nurtured", "queued"),
             carried=("decisions", "crm_deliveries")),
    LeadKeys("feedback", emails=("lead_stages", "crm_contacts"), keyed=("lead_stages",),
             carried=("outcomes", "timeline", "crm_contacts", "parked_outcomes"), aliases="lead_aliases"),
)
"""Today's tables. Intake is not here: its submissions keep the lead id they were answered with
(an idempotent replay answers the same), and it stores no email."""


@dataclass(frozen=True)
class Kept:
    """A stored id that does not move, and why."""

    lead_id: uuid.UUID
    identity_id: uuid.UUID | None
    why: str


@dataclass(frozen=True)
class RekeyPlan:
    moves: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # old id -> the identity's id
    kept: tuple[Kept, ...] = ()


def _plainest(emails: Collection[str]) -> tuple[int, str]:
    return min((len(e), e) for e in emails)


def identity_ids(stored: Mapping[uuid.UUID, Collection[str]], policy: IdentityPolicy, key: bytes | None = None
                 ) -> tuple[dict[uuid.UUID, uuid.UUID], list[Kept]]:
    """The ids whose identity's id is another (old -> new), and those that cannot be read.
    ``key``: the lead id key (None: the process's, ``UNKEYED``: the ids before keyed ids)."""
    targets: dict[uuid.UUID, uuid.UUID] = {}
    kept: list[Kept] = []
    for old, emails in stored.items():
        try:
            ids = {lead_id_for(email, policy, key=key) for email in emails}
        except InvalidEmail:
            kept.append(Kept(old, None, "a stored email is not an address"))
            continue
        if len(ids) > 1:
            kept.append(Kept(old, None, "its stored emails are different people under these rules"))
        elif (new := ids.pop()) != old:
            targets[old] = new
    return targets, kept


def plan_rekey(stored: Mapping[uuid.UUID, Collection[str]], keyed: Collection[uuid.UUID],
               policy: IdentityPolicy, key: bytes | None = None) -> RekeyPlan:
    """What moves where. ``stored``: each id's emails; ``keyed``: the ids (among the stored ones
    and their identities' ids) that have rows in a keyed table, i.e. are leads.

    Per identity: ids that are no lead (a linked contact, say) always move; if the identity's id
    is a lead already, no lead moves to it; else the lead with the plainest email (shortest, then
    alphabetical) does. Every lead that stays apart is in ``kept``.
    """
    targets, unreadable = identity_ids(stored, policy, key)
    return _plan(stored, targets, keyed, unreadable)


def _plan(stored: Mapping[uuid.UUID, Collection[str]], targets: Mapping[uuid.UUID, uuid.UUID],
          keyed: Collection[uuid.UUID], kept: list[Kept]) -> RekeyPlan:
    groups: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for old, new in targets.items():
        groups[new].append(old)
    moves: dict[uuid.UUID, uuid.UUID] = {}
    for new, olds in groups.items():
        leads = sorted((o for o in olds if o in keyed), key=lambda o: _plainest(stored[o]))
        moves.update((o, new) for o in olds if o not in keyed)
        if new in keyed:
            kept += [Kept(o, new, "its identity's id is another stored lead") for o in leads]
        elif leads:
            moves[leads[0]] = new
            kept += [Kept(o, new, "another stored lead of its identity took the id") for o in leads[1:]]
    chained = {old for old, new in moves.items() if new in moves}  # never with one set of rules
    kept += [Kept(old, moves.pop(old), "its identity's id moves itself") for old in chained]
    return RekeyPlan(moves, tuple(kept))


# -- on the database -------------------------------------------------------------------------

_IDS = ARRAY(UUID(as_uuid=True))


def _table(keys: LeadKeys, table: str) -> str:
    return f'"{keys.schema}"."{table}"'


def _stored(conn: Connection, keys: LeadKeys) -> dict[uuid.UUID, set[str]]:
    stored: dict[uuid.UUID, set[str]] = defaultdict(set)
    for table in keys.emails:
        for lead_id, email in conn.execute(text(f"SELECT DISTINCT lead_id, email FROM {_table(keys, table)}")):
            stored[lead_id].add(email)
    return stored


def _keyed(conn: Connection, keys: LeadKeys, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for table in keys.keyed:
        query = text(f"SELECT DISTINCT lead_id FROM {_table(keys, table)} WHERE lead_id = ANY(:ids)")
        found.update(conn.execute(query.bindparams(bindparam("ids", type_=_IDS)), {"ids": list(ids)}).scalars())
    return found


def rekey(conn: Connection, keys: LeadKeys, policy: IdentityPolicy, *, key: bytes | None = None,
          keep_aliases: bool = True) -> RekeyPlan:
    """Plan and apply in the caller's transaction. Writers to the schema's lead tables wait
    until it commits, so no lead appears under an id the plan thought free.

    ``key``: the lead id key the ids move to; None: the installation's (``access.installation``).
    ``keep_aliases``: False when the old ids must stop answering (they were computable from an
    email: the move to keyed ids); the schema's aliases are then dropped altogether."""
    tables = dict.fromkeys((*keys.keyed, *keys.carried, *keys.emails))
    conn.execute(text(f"LOCK TABLE {', '.join(_table(keys, t) for t in tables)} IN EXCLUSIVE MODE"))
    stored = _stored(conn, keys)
    if key is None and stored:
        key = lead_id_key(conn)
    targets, unreadable = identity_ids(stored, policy, key)
    plan = _plan(stored, targets, _keyed(conn, keys, {*targets, *targets.values()}), unreadable)
    if plan.moves:
        moved = {"olds": list(plan.moves), "news": list(plan.moves.values())}
        mapping = "unnest(:olds, :news) AS m(old_id, new_id)"

        def run(sql: str) -> None:
            conn.execute(text(sql).bindparams(bindparam("olds", type_=_IDS), bindparam("news", type_=_IDS)), moved)

        for table in tables:
            run(f"UPDATE {_table(keys, table)} AS t SET lead_id = m.new_id FROM {mapping} WHERE t.lead_id = m.old_id")
        if keys.aliases and keep_aliases:
            aliases = _table(keys, keys.aliases)
            run(f"UPDATE {aliases} AS a SET lead_id = m.new_id FROM {mapping} WHERE a.lead_id = m.old_id")
            run(f"INSERT INTO {aliases} (old_lead_id, lead_id) SELECT old_id, new_id FROM {mapping} "
                "ON CONFLICT (old_lead_id) DO UPDATE SET lead_id = EXCLUDED.lead_id, recorded_at = now()")
            conn.execute(text(f"DELETE FROM {aliases} WHERE old_lead_id = lead_id"))
    if keys.aliases and not keep_aliases:
        conn.execute(text(f"DELETE FROM {_table(keys, keys.aliases)}"))
    log.info("re-keyed %s: %d id(s) moved, %d lead(s) kept apart", keys.schema, len(plan.moves), len(plan.kept))
    for kept in plan.kept:  # ids only: no personal data in logs
        log.warning("%s: lead %s keeps its id (identity's id %s): %s", keys.schema, kept.lead_id,
                    kept.identity_id, kept.why)
    return plan


async def rekey_all(database_url: str, policy: IdentityPolicy) -> dict[str, RekeyPlan]:
    """Every schema of ``SCHEMAS``, each in its own transaction."""
    engine = make_engine(database_url, pool_size=1, timeout_s=600)  # a whole schema's UPDATE in one statement
    plans: dict[str, RekeyPlan] = {}
    try:
        for keys in SCHEMAS:
            async with engine.begin() as conn:
                plans[keys.schema] = await conn.run_sync(rekey, keys, policy)
    finally:
        await engine.dispose()
    return plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.db.rekey", description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=REPO_CONFIG_DIR,
                        help="the directory holding identity.yaml (default: the repository's config/)")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set (postgresql+asyncpg://user:password@host:port/db)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    plans = asyncio.run(rekey_all(url, load_identity_policy(args.config_dir)))
    for schema, plan in plans.items():
        print(f"{schema}: {len(plan.moves)} id(s) moved, {len(plan.kept)} lead(s) kept apart")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
