-- A learnt place keeps the accuracy of the fix it was learnt from (metres, as the client reported it), so that
-- travel is judged on what two fixes can tell apart (issue 13). Places learnt before have none: the engine
-- takes them as 2 km wide.
ALTER TABLE known_contexts ADD COLUMN accuracy REAL;
