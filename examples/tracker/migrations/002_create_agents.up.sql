-- Who works on issues: AI agents and people with an account. The name is unique per workspace.
CREATE TABLE agents (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workspace_id bigint NOT NULL REFERENCES workspaces ON DELETE CASCADE,
  name text NOT NULL,
  kind text NOT NULL CONSTRAINT agents_kind_valid CHECK (kind IN ('ai', 'human')),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT agents_name_unique UNIQUE (workspace_id, name),
  -- The target of issues' (workspace_id, assignee_id) key: an assignee belongs to the issue's workspace.
  CONSTRAINT agents_workspace_id_unique UNIQUE (workspace_id, id)
);
