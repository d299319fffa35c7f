-- Issues are numbered per workspace (acme #1, acme #2, …), like a repository's.
CREATE TABLE issues (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id bigint NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  number integer NOT NULL CONSTRAINT issues_number_positive CHECK (number > 0),
  title text NOT NULL CONSTRAINT issues_title_not_empty CHECK (title <> ''),
  description text NOT NULL DEFAULT '',
  status text NOT NULL DEFAULT 'open'
    CONSTRAINT issues_status_valid CHECK (status IN ('open', 'in_progress', 'blocked', 'done')),
  priority text NOT NULL DEFAULT 'normal'
    CONSTRAINT issues_priority_valid CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
  assignee_id bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Also the index behind get-by-number and the paginated list (ordered by number).
  CONSTRAINT issues_number_unique UNIQUE (workspace_id, number),
  CONSTRAINT issues_assignee_fk FOREIGN KEY (workspace_id, assignee_id) REFERENCES agents (workspace_id, id)
);
