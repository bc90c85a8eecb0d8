-- The JDBC sink reads the topic name "coupa.invoices" as schema "coupa",
-- table "invoices" (a dot qualifies the name); auto.create makes tables but
-- never schemas, so the schema is made here, once, when the volume is new.
CREATE SCHEMA IF NOT EXISTS coupa;
