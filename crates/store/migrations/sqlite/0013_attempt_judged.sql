-- What a policy replay judges of an attempt (its device signals, location, network facts, place country,
-- verdicts and when it was decided: a few hundred bytes), written beside its document whenever the
-- document is (issue 13). A replay reads this instead of the whole document (about 2 KB). Attempts
-- stored before have none: a replay reads their document, as before. Erasure empties it with the person.
ALTER TABLE attempts ADD COLUMN judged TEXT;
