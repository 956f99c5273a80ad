-- The public service reads with a role that cannot write (docker-compose: service "api").
CREATE ROLE gebiedscheck_lezer LOGIN PASSWORD 'lezer';
GRANT CONNECT ON DATABASE gebiedscheck TO gebiedscheck_lezer;
GRANT USAGE ON SCHEMA public TO gebiedscheck_lezer;
ALTER DEFAULT PRIVILEGES FOR ROLE gebiedscheck IN SCHEMA public GRANT SELECT ON TABLES TO gebiedscheck_lezer;
