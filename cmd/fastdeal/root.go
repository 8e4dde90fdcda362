package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/fastdeal/fastdeal/bootstrap"
	"github.com/fastdeal/fastdeal/test/load"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "fastdeal",
		Short:         "Sell a limited stock first come, first served, to a crowd that arrives at once",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCommand(), migrateCommand(), load.NewCommand(bootstrap.Embed), versionCommand())
	return root
}

func serveCommand() *cobra.Command {
	var demo bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the REST API (configured by FASTDEAL_* environment variables)",
		Long: `Serve the REST API. With no configuration it runs on in-memory storage on :8080.
Set FASTDEAL_MYSQL_DSN and FASTDEAL_REDIS_ADDR for the full, durable profile.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := bootstrap.LoadConfig()
			if err != nil {
				return err
			}
			cfg.Demo = cfg.Demo || demo
			return bootstrap.Serve(cfg)
		},
	}
	cmd.Flags().BoolVar(&demo, "demo", false, "also create two demo drops (demo-concert: seated, open; demo-coupons: general, queued)")
	return cmd
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			rev := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fastdeal %s (commit %s, %s)\n", version, rev, runtime.Version())
		},
	}
}

func migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:       "migrate up|down|status",
		Short:     "Apply, roll back (the last group) or list the database migrations of FASTDEAL_MYSQL_DSN",
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"up", "down", "status"},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := bootstrap.LoadConfig()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			lines, err := bootstrap.Migrate(ctx, cfg, args[0])
			for _, l := range lines {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			return err
		},
	}
}
