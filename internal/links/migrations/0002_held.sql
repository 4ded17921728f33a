-- Attributes a front door keeps for a canonical id because no target
-- holds them (SCIM name parts): a small JSON object, bounded by the
-- store (links.MaxHeldBytes), and the count of its changes. json, not
-- jsonb: the object is returned byte for byte as it was stored.
ALTER TABLE link_subjects
    ADD COLUMN held json,
    ADD COLUMN held_version bigint NOT NULL DEFAULT 0;
