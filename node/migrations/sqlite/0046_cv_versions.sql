-- CV versions (src/candidates.rs attach_cv / use_cv_text): every uploaded
-- file keeps the text read from it; the record's searchable text is the one
-- the counsellor chose (by default the newest readable upload). A file
-- without readable text (a scan) is flagged and never empties the record's
-- text. Files uploaded before this migration have no stored text.
ALTER TABLE candidate_files ADD COLUMN extracted_text TEXT;
ALTER TABLE candidate_files ADD COLUMN text_chars INTEGER NOT NULL DEFAULT 0;
ALTER TABLE candidate_files ADD COLUMN readable INTEGER NOT NULL DEFAULT 1;
ALTER TABLE candidate_files ADD COLUMN in_use INTEGER NOT NULL DEFAULT 0;
