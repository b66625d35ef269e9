-- The enrolled face's template (its embedding), encrypted with the master key like the image.
ALTER TABLE identities ADD COLUMN face_template_enc BLOB;
