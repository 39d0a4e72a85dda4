-- OCR of scanned PDFs (src/extract/ocr.rs): a CV version whose text was
-- read by Tesseract from the page pictures is marked, so that the UI asks a
-- counsellor to check it.
ALTER TABLE candidate_files ADD COLUMN ocr INTEGER NOT NULL DEFAULT 0;
