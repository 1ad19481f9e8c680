-- Confirm writes a square thumbnail beside each avatar (issue 15). An upload row names the
-- thumbnail's key and URL; a user row carries the URL of their avatar's thumbnail. Rows from
-- before have no thumbnail: their uploads keep thumb_key '' (the sweeper has nothing more to
-- delete) and name the avatar as its own thumbnail, and so do their users.

-- +goose Up
ALTER TABLE uploads ADD COLUMN thumb_key TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN thumb_url TEXT NOT NULL DEFAULT '';
UPDATE uploads SET thumb_url = url;
ALTER TABLE users ADD COLUMN avatar_thumb_url TEXT;
UPDATE users SET avatar_thumb_url = avatar_url WHERE avatar_url IS NOT NULL;

-- +goose Down
ALTER TABLE users DROP COLUMN avatar_thumb_url;
ALTER TABLE uploads DROP COLUMN thumb_url;
ALTER TABLE uploads DROP COLUMN thumb_key;
