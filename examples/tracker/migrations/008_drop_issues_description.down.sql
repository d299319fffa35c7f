-- 007's state again: description back, filled from body, and kept equal to it.
ALTER TABLE issues ADD COLUMN description text NOT NULL DEFAULT '';
UPDATE issues SET description = body;

CREATE FUNCTION issues_sync_body() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
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
