"""Re-export of the throwaway PostgreSQL server used by tests and the benchmark suite."""

from scripts.throwaway_pg import *  # noqa: F401,F403
from scripts.throwaway_pg import PostgresNotInstalledError, PostgresStartError, ThrowawayPostgres, create_database  # noqa: F401
