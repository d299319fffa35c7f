-- The issue list filtered by status, in number order. Built without blocking writes to issues,
-- so it runs outside a transaction: slipway marks it in flight first.
CREATE INDEX CONCURRENTLY issues_status_idx ON issues (workspace_id, status, number);
