// Package docs carries the project's documents that the binary serves. It
// exists because go:embed reaches only files at or below the embedding
// package's directory.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, the OpenAPI 3.1 description of the REST API,
// as written (YAML). The HTTP adapter serves it as JSON and its tests check it
// against the routes and the real answers.
//
//go:embed openapi.yaml
var OpenAPI []byte
