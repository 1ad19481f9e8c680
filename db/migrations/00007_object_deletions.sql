-- Erasing a user (DELETE /v1/me, or WeChat's cancellation event) removes their records at once
-- and leaves here the keys of every object of theirs, which the sweeper deletes: a storage outage
-- delays a deletion but never loses it. A key is kept only until its object is deleted; an upload
-- key whose signature is still valid (a client could still write it) waits until not_before.

-- +goose Up
CREATE TABLE object_deletions (
    object_key TEXT   NOT NULL PRIMARY KEY,
    not_before BIGINT NOT NULL,
    -- Lease of the sweeper instance deleting the object; stale leases are retaken.
    claimed_at BIGINT
);
CREATE INDEX object_deletions_due ON object_deletions (not_before);

-- +goose Down
DROP TABLE object_deletions;
