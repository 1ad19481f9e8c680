-- uploads.object_key loses its UNIQUE index. Every upload signature inserts a row, and the
-- index put each insert on a random page of its own (keys start with the user id): the
-- insert cost a fifth more with it on SQLite, the whole signature about 20% of its throughput.
-- Nothing looks a row up by object_key, and its uniqueness follows from the primary key's:
-- CreateUpload only accepts keys that name their upload's id (see keysNameID), exactly as
-- avatar_key already did (00003).
--
-- SQLite cannot drop a constraint's index, so the table is rebuilt, with the same columns in
-- the same order and every index but that one. The statements are portable; on PostgreSQL
-- the rebuild holds uploads' lock for as long as copying it takes (run `wxavatar migrate`
-- before the new instances, as for every migration). On PostgreSQL the primary key's
-- constraint is now named uploads_next_pkey; nothing refers to it by name.

-- +goose Up
CREATE TABLE uploads_next (
    id           TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users (id),
    object_key   TEXT   NOT NULL,
    content_type TEXT   NOT NULL,
    max_bytes    BIGINT NOT NULL,
    status       TEXT   NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'confirmed', 'rejected', 'expired')),
    size         BIGINT NOT NULL DEFAULT 0,
    url          TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    rejected_at  BIGINT,
    replaced_at  BIGINT,
    sweep_claimed_at  BIGINT,
    object_deleted_at BIGINT,
    avatar_key   TEXT   NOT NULL DEFAULT '',
    avatar_deleted_at BIGINT,
    copy_etag    TEXT,
    copy_claimed_at BIGINT
);
INSERT INTO uploads_next (id, user_id, object_key, content_type, max_bytes, status, size, url,
        created_at, expires_at, confirmed_at, rejected_at, replaced_at, sweep_claimed_at,
        object_deleted_at, avatar_key, avatar_deleted_at, copy_etag, copy_claimed_at)
    SELECT id, user_id, object_key, content_type, max_bytes, status, size, url,
        created_at, expires_at, confirmed_at, rejected_at, replaced_at, sweep_claimed_at,
        object_deleted_at, avatar_key, avatar_deleted_at, copy_etag, copy_claimed_at
    FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_next RENAME TO uploads;
CREATE INDEX uploads_user_status_expires ON uploads (user_id, status, expires_at);
CREATE INDEX uploads_sweep_expired ON uploads (status, expires_at) WHERE object_deleted_at IS NULL;
CREATE INDEX uploads_sweep_replaced ON uploads (replaced_at) WHERE replaced_at IS NOT NULL AND avatar_deleted_at IS NULL;

-- +goose Down
CREATE UNIQUE INDEX uploads_object_key ON uploads (object_key);
