-- Blue/green read models: each view's live version and the schema its tables are in. A rebuild
-- fills version N+1 in its own schema beside the live one, then switches this row atomically.
CREATE TABLE projection_versions (
    name text PRIMARY KEY,
    version integer NOT NULL,
    schema_name text NOT NULL
);
INSERT INTO projection_versions (name, version, schema_name) VALUES
    ('directory', 1, 'public'), ('wallet_balances', 1, 'public'), ('commissions', 1, 'public'),
    ('platform_totals', 1, 'public'), ('team_performance', 1, 'public'),
    ('activations', 1, 'public'), ('platform_months', 1, 'public');

-- Tracking rows are per version from now on: "<name>@<version>".
UPDATE projection_tracking SET name = name || '@1' WHERE name NOT LIKE '%@%';
