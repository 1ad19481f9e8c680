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
                 CHECK (status IN ('pending', 'confirmed', 'rejected')),
    size         BIGINT NOT NULL DEFAULT 0,
    url          TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    rejected_at  BIGINT
);

-- Serves the per-user pending-upload cap; a sweeper looking for expired pending uploads
-- filters on (status, expires_at) and can add its own index when it exists.
CREATE INDEX uploads_user_status_expires ON uploads (user_id, status, expires_at);

-- +goose Down
DROP TABLE uploads;
DROP TABLE users;
