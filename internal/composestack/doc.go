// Package composestack proves docker-compose.yml's production stack as far as a machine without
// a Docker engine allows. Its tests build the binary exactly as the Dockerfile does
// (scripts/build-image.sh) and check it is static and runs as the image's non-root user, then
// run the compose setup jobs' own scripts (temporal-sql-tool against PostgreSQL, the namespace
// and search attributes through the operator API) and the worker and starter with the compose
// services' environment against a Temporal server on that PostgreSQL. docs/operations.md says
// what this covers and what it does not. The package has no code outside its tests.
package composestack
