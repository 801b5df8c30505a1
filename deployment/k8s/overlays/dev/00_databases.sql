-- Run by the compose Postgres on its first start (docker-entrypoint-initdb.d).
-- One database per owning service; each service creates its own tables through
-- its migrations when it starts, so nothing else belongs here.
create database orders;   -- db_proxy
create database health;   -- health_check
create database lambo;    -- lambo_checker
create database sensors;  -- sensor_api
