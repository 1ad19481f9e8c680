-- What WeChat's content security said of a user's nickname when it was saved: 'pass',
-- 'review' (saved by NICKNAME_REVIEW=accept), 'unchecked' (saved while WeChat could not
-- judge, with CONTENT_SECURITY_FAIL_OPEN=true), or NULL where no check ran (content security
-- off, or nicknames saved before it).

-- +goose Up
ALTER TABLE users ADD COLUMN nickname_check TEXT;

-- +goose Down
ALTER TABLE users DROP COLUMN nickname_check;
