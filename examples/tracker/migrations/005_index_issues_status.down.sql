DROP INDEX CONCURRENTLY issues_status_idx;
