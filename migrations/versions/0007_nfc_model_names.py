"""Model names in Unicode NFC, the one spelling requests are looked up in

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:40:00

From this revision the server normalises every model name it is given to NFC
(registry_server/api/names.py), lookups included. A model stored earlier under
another spelling ("cafe" and a combining accent) could no longer be found by
any request, so its name, and the names its history was recorded under, are
rewritten in NFC. Two models whose names differ only in spelling cannot both
have the NFC name: the one not already spelled that way gets
``<name> (duplicate <id>)`` (an admin can rename it), so neither is lost.

Names are read and compared in Python (portable, and a registry has thousands
of models, not millions); history rows are rewritten by exact name, once per
distinct name that changes. Downgrading keeps the NFC names: revision 0006's
code finds them as stored.
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MAX_NAME = 256


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def _free_name(wanted: str, model_id: int, taken: set[str]) -> str:
    if wanted not in taken:
        return wanted
    suffix = f" (duplicate {model_id})"
    return wanted[: MAX_NAME - len(suffix)] + suffix


def upgrade() -> None:
    conn = op.get_bind()
    models = conn.execute(sa.text("SELECT id, name FROM registered_models ORDER BY id")).all()
    taken = {name for _, name in models}
    renamed: dict[str, str] = {}
    for model_id, name in models:
        if name.isascii() or unicodedata.is_normalized("NFC", name):
            continue
        new = _free_name(_nfc(name), int(model_id), taken)
        conn.execute(
            sa.text("UPDATE registered_models SET name = :new WHERE id = :id"),
            {"new": new, "id": model_id},
        )
        taken.discard(name)
        taken.add(new)
        renamed[name] = new
    # The history is looked up by name too (a deleted model's by the name it had).
    recorded = conn.execute(sa.text("SELECT DISTINCT model_name FROM model_events")).scalars()
    for name in list(recorded):
        if not name or name.isascii() or unicodedata.is_normalized("NFC", name):
            continue
        conn.execute(
            sa.text("UPDATE model_events SET model_name = :new WHERE model_name = :old"),
            {"new": renamed.get(name, _nfc(name)), "old": name},
        )


def downgrade() -> None:
    """Nothing to undo: NFC names are valid names at every revision."""
