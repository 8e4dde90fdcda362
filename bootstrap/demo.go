package bootstrap

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
)

// Demo drop ids, fixed so the README's curl walk-through can name them.
const (
	DemoSeatedID = "demo-concert"
	DemoQueuedID = "demo-coupons"
)

// createDemoDrops gives a newcomer something to hit: a seated drop with open
// claims and a general drop behind a waiting line. Existing ones are kept.
func createDemoDrops(ctx context.Context, cat *application.Catalog, log *zap.Logger) error {
	seats := make([]string, 0, 100)
	for _, row := range "ABCDEFGHIJ" {
		for n := 1; n <= 10; n++ {
			seats = append(seats, fmt.Sprintf("%c-%d", row, n))
		}
	}
	for _, p := range []drop.Params{
		{ID: DemoSeatedID, Name: "Demo concert (seated, open claims)", Kind: drop.KindSeated,
			Region: "eu-west", Venue: "Demo Arena", Seats: seats, Admission: drop.AdmissionOpen},
		{ID: DemoQueuedID, Name: "Demo coupons (general, waiting line)", Kind: drop.KindGeneral,
			Region: "eu-west", Venue: "Online", Stock: 50, Admission: drop.AdmissionQueued, AdmitRate: 5},
	} {
		if _, err := cat.Create(ctx, p); err != nil && !errors.Is(err, drop.ErrExists) {
			return fmt.Errorf("create demo drop %s: %w", p.ID, err)
		}
		log.Info("demo drop ready", zap.String("id", p.ID), zap.String("name", p.Name))
	}
	return nil
}
