-- Alerts carry the indicator's MITRE techniques, and analysts' comments (MDE's alert entity has
-- both).
ALTER TABLE alerts ADD COLUMN mitre_techniques TEXT NOT NULL DEFAULT '[]';
ALTER TABLE alerts ADD COLUMN comments TEXT NOT NULL DEFAULT '[]';
UPDATE alerts SET mitre_techniques = coalesce(
    (SELECT i.mitre_techniques FROM indicators i
     WHERE i.tenant_no = alerts.tenant_no AND i.id = alerts.indicator_id), '[]');
