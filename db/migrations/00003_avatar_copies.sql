-- A confirmed avatar is a server-side copy of the uploaded object, under a key no upload
-- signature names: a signature stays valid until it expires, and without the copy its holder
-- could overwrite a confirmed avatar with bytes nobody checked.
--   avatar_key:        where the copy goes. Rows from before this migration served the upload
--                      key itself, so for them avatar_key = object_key.
--   avatar_deleted_at: when the sweeper deleted the copy (object_deleted_at is the upload key's).
--   copy_etag, copy_claimed_at: the version of the upload key one confirm is copying, and since
--                      when; a confirm that checked another version must not copy it over.
-- avatar_key has no index: nothing looks a row up by it, and its uniqueness follows from the
-- id's (the service names it avatars/<user>/<id>/avatar.<ext>); a unique index on it made
-- every upload signature's INSERT a quarter slower on SQLite.

-- +goose Up
ALTER TABLE uploads ADD COLUMN avatar_key TEXT NOT NULL DEFAULT '';
UPDATE uploads SET avatar_key = object_key;
ALTER TABLE uploads ADD COLUMN avatar_deleted_at BIGINT;
ALTER TABLE uploads ADD COLUMN copy_etag TEXT;
ALTER TABLE uploads ADD COLUMN copy_claimed_at BIGINT;
UPDATE uploads SET avatar_deleted_at = object_deleted_at WHERE status = 'confirmed';
DROP INDEX uploads_sweep_replaced;
CREATE INDEX uploads_sweep_replaced ON uploads (replaced_at) WHERE replaced_at IS NOT NULL AND avatar_deleted_at IS NULL;

-- +goose Down
DROP INDEX uploads_sweep_replaced;
CREATE INDEX uploads_sweep_replaced ON uploads (replaced_at) WHERE replaced_at IS NOT NULL AND object_deleted_at IS NULL;
ALTER TABLE uploads DROP COLUMN copy_claimed_at;
ALTER TABLE uploads DROP COLUMN copy_etag;
ALTER TABLE uploads DROP COLUMN avatar_deleted_at;
ALTER TABLE uploads DROP COLUMN avatar_key;
