-- Portable SQL only: these files are shared by the SQLite and PostgreSQL backends.
-- Times are BIGINT unix milliseconds (UTC). Optional values are NULL, not ''.

-- +goose Up
CREATE TABLE users (
    id         TEXT   NOT NULL PRIMARY KEY,
    openid     TEXT   NOT NULL UNIQUE,
    unionid    TEXT,
    nickname   TEXT   NOT NULL DEFAULT '',
    avatar_url TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE uploads (
    id           TEXT   NOT NULL PRIMARY KEY,
    user_id      TEXT   NOT NULL REFERENCES users (id),
    object_key   TEXT   NOT NULL UNIQUE,
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
    -- A confirmed avatar the user has since replaced; its object is deleted after a grace period.
    replaced_at  BIGINT,
    -- Lease of the sweeper instance deleting this upload's object; stale leases are retaken.
    sweep_claimed_at  BIGINT,
    -- When the sweeper deleted the object (expired or replaced uploads only).
    object_deleted_at BIGINT
);

-- Serves the per-user pending-upload cap.
CREATE INDEX uploads_user_status_expires ON uploads (user_id, status, expires_at);
-- Serve the sweeper: expired pending uploads, and replaced avatars.
CREATE INDEX uploads_sweep_expired ON uploads (status, expires_at) WHERE object_deleted_at IS NULL;
CREATE INDEX uploads_sweep_replaced ON uploads (replaced_at) WHERE replaced_at IS NOT NULL AND object_deleted_at IS NULL;
CREATE INDEX users_avatar_url ON users (avatar_url);

-- +goose Down
DROP TABLE uploads;
DROP TABLE users;
