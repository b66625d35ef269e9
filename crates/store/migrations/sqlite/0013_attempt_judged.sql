-- What a policy replay judges of an attempt (its device signals, location, network facts, place country,
-- verdicts and when it was decided: a few hundred bytes), written beside its document whenever the
-- document is (issue 13). A replay reads this instead of the whole document (about 2 KB). Attempts
-- stored before have none: a replay reads their document, as before.
ALTER TABLE attempts ADD COLUMN judged TEXT;
-- The attempt's version when `judged` was written. An earlier smartauth writing to the same file (a rolling
-- upgrade, a rollback) changes the document and the version without it: a replay then reads the document.
ALTER TABLE attempts ADD COLUMN judged_version INTEGER;
-- Erasure empties it with the person (it holds the device and the place), whichever version erases.
CREATE TRIGGER attempts_judged_erased AFTER UPDATE OF person_id ON attempts
  WHEN NEW.person_id IS NULL AND (NEW.judged IS NOT NULL OR NEW.judged_version IS NOT NULL)
BEGIN
  UPDATE attempts SET judged = NULL, judged_version = NULL WHERE id = NEW.id;
END;
