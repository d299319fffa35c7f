-- Release 0.2.0 renames issues.description to body (a comment's text is its body too), in two
-- phases: this migration runs before 0.2.0 rolls out, 008 once every replica runs it. Until then
-- replicas of 0.1.0 still read and write description, so it stays, and a trigger keeps the two
-- columns equal whichever one a replica writes.
ALTER TABLE issues ADD COLUMN body text NOT NULL DEFAULT '';

CREATE FUNCTION issues_sync_body() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- 0.1.0 leaves body to its default, 0.2.0 leaves description to its own: the one given wins.
    IF NEW.body = '' THEN NEW.body := NEW.description; ELSE NEW.description := NEW.body; END IF;
  ELSIF NEW.description IS DISTINCT FROM OLD.description THEN
    NEW.body := NEW.description;
  ELSE
    NEW.description := NEW.body;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER issues_sync_body BEFORE INSERT OR UPDATE ON issues FOR EACH ROW EXECUTE FUNCTION issues_sync_body();

-- The issues written before the trigger. One statement suits a table this size; batch a big one
-- (each batch a transaction of its own), after this migration.
UPDATE issues SET body = description WHERE body <> description;
