DROP INDEX CONCURRENTLY issues_assignee_idx;
