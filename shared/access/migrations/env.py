from shared.access.tables import SCHEMA, metadata
from shared.db.migration_env import run

run(metadata, SCHEMA)
