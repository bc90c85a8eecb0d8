-- The PostgreSQL tables coupa.sql writes. Flink's JDBC sink upserts on the
-- primary key, so each table needs one. Timestamps are UTC.

CREATE TABLE IF NOT EXISTS invoices (
  id             bigint PRIMARY KEY,
  invoice_number text,
  status         text,
  supplier_id    bigint,
  currency       text,
  gross_total    numeric(38, 10),
  invoice_date   timestamp(3),
  updated_at     timestamp(3)
);

CREATE TABLE IF NOT EXISTS invoice_lines (
  id          bigint PRIMARY KEY,
  invoice_id  bigint,
  line_num    bigint,
  description text,
  quantity    numeric(30, 6),
  price       numeric(38, 20),
  total       numeric(38, 20),
  updated_at  timestamp(3)
);

CREATE TABLE IF NOT EXISTS suppliers (
  id         bigint PRIMARY KEY,
  name       text,
  number     text,
  status     text,
  updated_at timestamp(3)
);

CREATE TABLE IF NOT EXISTS spend_by_supplier (
  supplier_id   bigint,
  currency      text,
  supplier_name text,
  invoice_count bigint,
  gross_total   numeric(38, 10),
  PRIMARY KEY (supplier_id, currency)
);
