-- The audit trail: one row per identity change. Rows are only inserted and,
-- by the retention job, deleted; never updated.
CREATE TABLE IF NOT EXISTS audit_records (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL,
    action          text        NOT NULL,
    user_id         text        NOT NULL,
    client          text        NOT NULL,
    auth_method     text        NOT NULL,
    status          text        NOT NULL,
    http_status     integer     NOT NULL DEFAULT 0,
    dry_run         boolean     NOT NULL DEFAULT false,
    idempotency_key text        NOT NULL DEFAULT '',
    trace_id        text        NOT NULL DEFAULT '',
    fields          jsonb       NOT NULL DEFAULT '[]',
    field_values    jsonb,
    targets         jsonb,
    detail          jsonb
);
-- GET /v1/audit?user=... and the retention job's range scans.
CREATE INDEX IF NOT EXISTS audit_records_user_at ON audit_records (user_id, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_records_client_at ON audit_records (client, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_records_at ON audit_records (at DESC, id DESC);
