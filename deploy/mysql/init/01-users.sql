-- Users for the demo stack. Runs on MySQL 8.4 and MariaDB 10.11 / 11.4 alike: the official
-- images execute it once, on first start, from /docker-entrypoint-initdb.d/ (docker-compose.yml
-- mounts it there); scripts/test_demo.sh loads the very same file into a throwaway MariaDB.
--
-- DEMO PASSWORDS ONLY. 'exporter-demo-password' must match deploy/mysql/secrets/exporter_password
-- and 'kefu-demo-password' the demo service's KEFU_PASSWORD. Never reuse them anywhere real.

-- The application: database kefu, user kefu (what the pool `kefu-flask` in
-- deploy/exporter.yml matches on).
CREATE DATABASE IF NOT EXISTS kefu CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'kefu'@'%' IDENTIFIED BY 'kefu-demo-password';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON kefu.* TO 'kefu'@'%';

-- The exporter, least privilege:
--   PROCESS                       every session in information_schema.PROCESSLIST (not only
--                                 its own) and information_schema.INNODB_TRX;
--   REPLICATION CLIENT            SHOW BINARY LOGS / replication status, as mysqld_exporter
--                                 (MariaDB 10.5+: an alias of BINLOG MONITOR);
--   SELECT ON performance_schema  session_connect_attrs (per-process pool accounting).
-- SHOW GLOBAL STATUS / VARIABLES need no privilege. No SUPER or CONNECTION_ADMIN: the exporter
-- never kills anything. `kill-idle --execute` is meant to run with a separate admin account.
-- MAX_USER_CONNECTIONS caps what the exporter itself can take from max_connections: it keeps
-- one persistent connection per target; `check` and `kill-idle` runs open one more each.
CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED BY 'exporter-demo-password'
  WITH MAX_USER_CONNECTIONS 5;
GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'exporter'@'%';
GRANT SELECT ON performance_schema.* TO 'exporter'@'%';
