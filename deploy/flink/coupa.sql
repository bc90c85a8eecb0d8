-- coupa-kafka topics into PostgreSQL, continuously, with Flink SQL.
--
-- Run by coupa.flink.SqlJob, which fills ${NAME} from the environment:
--   KAFKA_BROKERS        bootstrap brokers, host:port[,host:port]
--   SCHEMA_REGISTRY_URL  the registry coupa-kafka registers its schemas in
--   COUPA_TOPIC_PREFIX   coupa-kafka's topic prefix (default "coupa.")
--   JDBC_URL             jdbc:postgresql://host:port/db?user=...&password=...
-- The tables it writes are created by postgres.sql (Flink's JDBC sink does
-- not create tables).

-- A checkpoint every 10 s: the Kafka offsets the job has read and what the
-- JDBC sinks have flushed advance together, so a restarted job resumes where
-- it left off. The sinks are upserts by primary key, so what a restart reads
-- twice is written twice with the same result.
SET 'execution.checkpointing.interval' = '10s';

-- Sources: each topic as a changelog. upsert-kafka reads a compacted topic as
-- "the latest value per key": a record is an insert or an update of its key,
-- a tombstone (null value) a delete. The key is the Coupa id as decimal text
-- ('raw' format, hence STRING); the value is Avro in Confluent's wire format,
-- decoded with the writer's schema fetched from the registry by id. Only the
-- columns named here are read; every other field of the record is skipped.
-- read_committed: only what coupa-kafka's transactions committed, never the
-- records of a transaction it aborted.

CREATE TABLE invoices_topic (
  kafka_key STRING NOT NULL,
  id BIGINT,
  invoice_number STRING,
  status STRING,
  invoice_date TIMESTAMP(3),
  updated_at TIMESTAMP(3),
  gross_total DECIMAL(38, 10),
  currency ROW<code STRING>,
  supplier ROW<id BIGINT, name STRING>,
  invoice_lines ARRAY<ROW<
    id BIGINT,
    line_num BIGINT,
    description STRING,
    quantity DECIMAL(30, 6),
    price DECIMAL(38, 20),
    total DECIMAL(38, 20),
    updated_at TIMESTAMP(3)>>,
  PRIMARY KEY (kafka_key) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${COUPA_TOPIC_PREFIX}invoices',
  'properties.bootstrap.servers' = '${KAFKA_BROKERS}',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'raw',
  'value.format' = 'avro-confluent',
  'value.avro-confluent.url' = '${SCHEMA_REGISTRY_URL}',
  'value.fields-include' = 'EXCEPT_KEY'
);

CREATE TABLE suppliers_topic (
  kafka_key STRING NOT NULL,
  id BIGINT,
  name STRING,
  number STRING,
  status STRING,
  updated_at TIMESTAMP(3),
  PRIMARY KEY (kafka_key) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka',
  'topic' = '${COUPA_TOPIC_PREFIX}suppliers',
  'properties.bootstrap.servers' = '${KAFKA_BROKERS}',
  'properties.isolation.level' = 'read_committed',
  'key.format' = 'raw',
  'value.format' = 'avro-confluent',
  'value.avro-confluent.url' = '${SCHEMA_REGISTRY_URL}',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- Sinks: PostgreSQL tables written by JDBC upserts (INSERT ... ON CONFLICT
-- DO UPDATE on the primary key) and deletes. Decimals stay DECIMAL here and
-- NUMERIC there; timestamps are UTC (coupa-kafka writes them as UTC instants;
-- TIMESTAMP(3) keeps that wall clock, and the columns are `timestamp`).

CREATE TABLE pg_invoices (
  id BIGINT NOT NULL,
  invoice_number STRING,
  status STRING,
  supplier_id BIGINT,
  currency STRING,
  gross_total DECIMAL(38, 10),
  invoice_date TIMESTAMP(3),
  updated_at TIMESTAMP(3),
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${JDBC_URL}',
  'table-name' = 'invoices',
  'sink.buffer-flush.interval' = '1s'
);

CREATE TABLE pg_invoice_lines (
  id BIGINT NOT NULL,
  invoice_id BIGINT,
  line_num BIGINT,
  description STRING,
  quantity DECIMAL(30, 6),
  price DECIMAL(38, 20),
  total DECIMAL(38, 20),
  updated_at TIMESTAMP(3),
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${JDBC_URL}',
  'table-name' = 'invoice_lines',
  'sink.buffer-flush.interval' = '1s'
);

CREATE TABLE pg_suppliers (
  id BIGINT NOT NULL,
  name STRING,
  number STRING,
  status STRING,
  updated_at TIMESTAMP(3),
  PRIMARY KEY (id) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${JDBC_URL}',
  'table-name' = 'suppliers',
  'sink.buffer-flush.interval' = '1s'
);

CREATE TABLE pg_spend_by_supplier (
  supplier_id BIGINT NOT NULL,
  currency STRING NOT NULL,
  supplier_name STRING,
  invoice_count BIGINT,
  gross_total DECIMAL(38, 10),
  PRIMARY KEY (supplier_id, currency) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${JDBC_URL}',
  'table-name' = 'spend_by_supplier',
  'sink.buffer-flush.interval' = '1s'
);

-- The jobs: one statement set, so each topic is read once.

-- Invoice headers: the fields a spend report needs, associations by id.
INSERT INTO pg_invoices
SELECT id, invoice_number, status, supplier.id, currency.code, gross_total, invoice_date, updated_at
FROM invoices_topic;

-- Invoice lines from the lines embedded in each invoice version. When an
-- invoice changes, Flink retracts the lines of its old version and inserts
-- those of the new one, so a line removed in Coupa is deleted here.
INSERT INTO pg_invoice_lines
SELECT l.id, i.id, l.line_num, l.description, l.quantity, l.price, l.total, l.updated_at
FROM invoices_topic AS i
CROSS JOIN UNNEST(i.invoice_lines) AS l (id, line_num, description, quantity, price, total, updated_at);

INSERT INTO pg_suppliers
SELECT id, name, number, status, updated_at
FROM suppliers_topic;

-- Spend by supplier and currency, kept live: an invoice's new version moves
-- its amount (and its count) from the old group to the new one; the
-- supplier's current name comes from the suppliers topic.
INSERT INTO pg_spend_by_supplier
SELECT a.supplier_id, a.currency, s.name, a.invoice_count, a.gross_total
FROM (
  SELECT supplier.id AS supplier_id, currency.code AS currency,
         COUNT(*) AS invoice_count, SUM(gross_total) AS gross_total
  FROM invoices_topic
  WHERE supplier.id IS NOT NULL AND currency.code IS NOT NULL
  GROUP BY supplier.id, currency.code
) AS a
LEFT JOIN suppliers_topic AS s ON a.supplier_id = s.id;
