// Package infra holds the deployment topology of fastdeal: docker-compose.yml (at the
// repository root), the nginx, MySQL, Redis and Sentinel configuration under infra/, the
// single source of truth for ports and shared settings (infra/stack.env), and
// infra/local/stack, which runs the same topology as local processes where no Docker
// engine is available.
//
// The package has no code; its tests check that the compose file, the nginx upstream,
// .env.example and the local stack agree with infra/stack.env.
package infra
