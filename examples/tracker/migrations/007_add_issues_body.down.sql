DROP TRIGGER issues_sync_body ON issues;
DROP FUNCTION issues_sync_body();
ALTER TABLE issues DROP COLUMN body;
