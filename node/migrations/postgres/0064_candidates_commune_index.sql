-- The network search counts, per commune, the records living there (to show
-- the commune only above a threshold): an index instead of a scan per commune.
CREATE INDEX candidates_commune ON candidates(commune_insee);
