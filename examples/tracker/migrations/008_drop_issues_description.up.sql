-- slipway:post-deploy
-- The second phase of 007's rename, once every replica runs 0.2.0 (slipway up --post-deploy):
-- no code reads or writes description any more.
DROP TRIGGER issues_sync_body ON issues;
DROP FUNCTION issues_sync_body();
ALTER TABLE issues DROP COLUMN description;
