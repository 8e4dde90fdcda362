package httpapi

import (
	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	"github.com/fastdeal/fastdeal/docs"
)

// OpenAPIJSON renders docs/openapi.yaml, the description of this API, as
// JSON: the YAML is what people edit and review, JSON is what tools fetch.
func OpenAPIJSON() ([]byte, error) {
	return yaml.YAMLToJSON(docs.OpenAPI)
}

// openAPI returns the handler of GET /v1/openapi.json. The document is
// converted once, when the routes are built, so a request only copies bytes;
// a document that does not convert (which its tests rule out) answers 500
// rather than stopping the server that sells.
func (s *Server) openAPI() fiber.Handler {
	body, err := OpenAPIJSON()
	if err != nil {
		s.log.Error("render the OpenAPI document; /v1/openapi.json will answer 500", zap.Error(err))
		return func(*fiber.Ctx) error { return err }
	}
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		// The document changes only with a new build.
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		return c.Send(body)
	}
}
