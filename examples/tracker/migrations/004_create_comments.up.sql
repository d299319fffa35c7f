-- Comments on an issue, by an agent or by a named person (exactly one), threaded by parent.
-- `key` is the comment's natural key within its issue: seed files name a comment by it, a client
-- retrying a POST sends the same key again (and gets a 409, not a second comment), and a reply
-- names its parent by it.
CREATE TABLE comments (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  issue_id bigint NOT NULL REFERENCES issues ON DELETE CASCADE,
  key text NOT NULL,
  parent_key text,
  agent_id bigint REFERENCES agents,
  person text,
  body text NOT NULL CONSTRAINT comments_body_not_empty CHECK (body <> ''),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Also the index behind listing an issue's comments.
  CONSTRAINT comments_key_unique UNIQUE (issue_id, key),
  -- A reply answers a comment on the same issue.
  CONSTRAINT comments_parent_fk FOREIGN KEY (issue_id, parent_key) REFERENCES comments (issue_id, key),
  CONSTRAINT comments_one_author CHECK ((agent_id IS NULL) <> (person IS NULL))
);
