#!/usr/bin/env bash
# Regenerate the initial migration from the models. RETIRED: revision 0002 exists, so databases
# made by 0001 are out there (the demo's among them); add new revisions instead. Kept for the
# record of how 0001 was made; it refuses to run.
echo "0001 is released: add a new revision (see docs/helpers.md) instead of regenerating it" >&2
exit 1
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f src/coinpilot/store/migrations/versions/0001_*.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from coinpilot.store.migrate import alembic_config
cfg = alembic_config(f"sqlite:///{sys.argv[1]}/regen.db")
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
PY
f=$(ls src/coinpilot/store/migrations/versions/0001_*.py)
# Seed the single control row (trading disabled, no emergency stop).
.venv/bin/python - "$f" <<'PY'
import sys, re
p = sys.argv[1]
s = open(p).read().replace("astext_type=Text()", "astext_type=sa.Text()")
seed = '''
    op.bulk_insert(
        sa.table(
            "control_state",
            sa.column("id", sa.Integer),
            sa.column("trading_enabled", sa.Boolean),
            sa.column("emergency_stop", sa.Boolean),
            sa.column("lock_version", sa.Integer),
            sa.column("updated_at", sa.DateTime(timezone=True)),
        ),
        [{"id": 1, "trading_enabled": False, "emergency_stop": False, "lock_version": 0,
          "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}],
    )
'''
s = s.replace("    # ### end Alembic commands ###\n", "    # ### end Alembic commands ###\n" + seed, 1)
s = s.replace("import sqlalchemy as sa\n", "from datetime import UTC, datetime\n\nimport sqlalchemy as sa\n", 1)
open(p, "w").write(s)
PY
rm -rf "$tmp"
.venv/bin/ruff format "$f" >/dev/null && .venv/bin/ruff check --fix "$f" >/dev/null || true
echo "regenerated $f"
