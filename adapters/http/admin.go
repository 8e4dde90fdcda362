package httpapi

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/fastdeal/fastdeal/application"
)

func (s *Server) createDrop(c *fiber.Ctx) error {
	var req createDropRequest
	if err := decodeJSON(c, &req, false); err != nil {
		return err
	}
	if err := s.validateStruct(req); err != nil {
		return err
	}
	p, err := req.params()
	if err != nil {
		return err
	}
	d, err := s.catalog.Create(c.UserContext(), p)
	if err != nil {
		return err
	}
	// A new drop has all its stock and nobody in line, so the answer needs no
	// second read of the stores.
	v := application.DropView{Drop: d, Status: d.StatusAt(time.Now()), Remaining: int64(d.Stock())}
	c.Status(http.StatusCreated)
	return c.JSON(dropJSON(v))
}

func (s *Server) updateDrop(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req patchDropRequest
	if err := decodeJSON(c, &req, false); err != nil {
		return err
	}
	if err := s.validateStruct(req); err != nil {
		return err
	}
	u, err := req.update()
	if err != nil {
		return err
	}
	if _, err := s.catalog.Update(c.UserContext(), id, u); err != nil {
		return err
	}
	// Catalog.Update refreshed this instance's drop cache, so the view shows
	// the change together with the live counters.
	v, err := s.sales.Drop(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(dropJSON(v))
}

func (s *Server) stats(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	st, err := s.catalog.Stats(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(statsJSON(st))
}

func (s *Server) dropIssuances(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	list, err := s.catalog.Issuances(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"issuances": issuancesJSON(list)})
}

func (s *Server) reconcile(c *fiber.Ctx) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	rep, err := s.catalog.Reconcile(c.UserContext(), id)
	if err != nil {
		return err
	}
	details := rep.Details
	if details == nil {
		details = []string{}
	}
	return c.JSON(fiber.Map{"repaired": rep.Repaired, "details": details})
}
