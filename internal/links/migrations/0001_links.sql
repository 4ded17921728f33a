-- Identity links: canonical id -> target -> vendor id. The unique
-- constraint on (target, vendor_id) is the rule that a vendor account
-- belongs to at most one canonical id.
CREATE TABLE link_subjects (
    canonical_id text PRIMARY KEY,
    email        text NOT NULL DEFAULT '',
    username     text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL
);

CREATE TABLE links (
    canonical_id text NOT NULL,
    target       text NOT NULL,
    vendor_id    text NOT NULL,
    source       text NOT NULL CHECK (source IN ('config', 'api', 'resolved', 'migration')),
    client       text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (canonical_id, target),
    CONSTRAINT links_account_once UNIQUE (target, vendor_id)
);
