-- Account deletion and operator-made changes: a deleted user keeps its row (its id stays
-- resolvable in the audit log) but nothing personal; audit events name who made the change.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
ALTER TABLE audit_events ADD COLUMN actor VARCHAR(128);
-- A TEXT column with a binary collation reads back as a BLOB: deletion rewrites `detail` (it
-- masks phones), so it must read as text.
ALTER TABLE audit_events MODIFY detail VARCHAR(1024);
