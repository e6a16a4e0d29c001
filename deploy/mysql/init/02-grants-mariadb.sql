-- MariaDB only (10.5.9+, so 10.11 and 11.4): SHOW REPLICA STATUS moved from REPLICATION CLIENT
-- to its own privilege, SLAVE MONITOR (alias REPLICA MONITOR). MySQL 8.4 has no such privilege
-- and rejects this statement, so it lives in its own file that only the mariadb service mounts.
-- Read-only; grants nothing beyond replication status.
GRANT SLAVE MONITOR ON *.* TO 'exporter'@'%';
