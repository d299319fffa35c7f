-- The issue list filtered by assignee, in number order; also serves the foreign key to agents.
CREATE INDEX CONCURRENTLY issues_assignee_idx ON issues (workspace_id, assignee_id, number);
