-- A workspace holds its own agents and issues; the slug names it in URLs.
CREATE TABLE workspaces (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug text NOT NULL CONSTRAINT workspaces_slug_unique UNIQUE
    CONSTRAINT workspaces_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text NOT NULL,
  -- The highest issue number handed out here: creating an issue bumps it under the row lock,
  -- so replicas creating issues at the same moment never pick the same number.
  last_issue_number integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);
