"""Authorization: API token scopes and a per-user session version

Revision ID: 0011
Revises: 0010

`api_token.scopes` lists what a token may do (service.permissions.SCOPES); tokens issued
before this revision get none and answer 403 until an admin re-issues them with scopes.
`desk_user.session_version` is bumped on logout, password change and deactivation, so
every session cookie and cached Basic credential of that user stops working at once.
`request_status_change.reason` keeps why a request changed status when someone said
(a cancelled process instance's deleteReason).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("desk_user") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("request_status_change") as batch:
        batch.add_column(sa.Column("reason", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_status_change") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("desk_user") as batch:
        batch.drop_column("session_version")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("scopes")
